# ip_output(): complete the IPv4 header, pick the next hop and hand the packet to the link.
#
# The caller leaves m.off at a header whose protocol, source, destination and total length are
# set. We fill the total length, TTL, the ID and the checksum, then pick the next hop: the limited
# broadcast, multicast and destinations on ifp's own subnet go out of ifp directly (a reply leaves
# by the interface its request came in, and it is the cheapest test); anything else by the
# longest-prefix route (route.rtalloc): a connected subnet directly, RTF_GATEWAY to its gateway.
# No fragmentation yet: a packet larger than the MTU is dropped and counted.
# The next-hop half is callable alone for a header that must not be touched again:
# ip_output_nexthop() (a raw socket's IP_HDRINCL datagram) and ip_output_rt() (ip_forward, which
# has looked the route up itself).
import sys
from . import opts
from . import mbuf
from .hdr import ip as iph
from .inet import in_nullhost, in_multicast, in_allones
from .route import rtalloc, RTF_GATEWAY
from .if_ether import ether_output
from .stats import stat_inc, ipstat
from .compat import const
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IPS_LOCALOUT = const(13)
_IPS_NOROUTE = const(14)
_IPS_ODROPPED = const(15)
_ip_id = [1]


def ip_output(ifp, m, now, ttl=opts.IP_DEFTTL):
    """m.off at the IP header; consumes m. True if the frame left now (False: held or dropped)."""
    b = m.buf
    o = m.off
    stat_inc(ipstat, _IPS_LOCALOUT)
    if m.len > ifp.mtu:
        stat_inc(ipstat, _IPS_ODROPPED)
        mbuf.m_free(m)
        return False
    iph.set_total_len(b, o, m.len)
    iph.set_ident(b, o, ip_newid(b, o))
    if ttl:
        iph.set_ttl(b, o, ttl)
    iph.fill_cksum(b, o)
    return ip_output_nexthop(ifp, m, b, o + iph.IP_DST, now)


def ip_newid(b, o):
    """The ID for a datagram we originate, its header at b[o] (a counter for now)."""
    i = _ip_id[0]
    _ip_id[0] = (i + 1) & 0xFFFF
    return i


def ip_output_nexthop(ifp, m, dst, doff, now):
    """The second half of ip_output, for a datagram whose header is complete (nothing in it is
    changed): out to the next hop for dst (4 bytes at dst[doff]; the header's destination, or the
    address a raw IP_HDRINCL socket sent to). Consumes m."""
    if ifp.ia.is_local(dst, doff) or in_allones(dst, doff) or in_multicast(dst, doff):
        return ether_output(ifp, m, dst, doff, now)
    rt = rtalloc(dst, doff)
    if rt is None:
        stat_inc(ipstat, _IPS_NOROUTE)
        mbuf.m_free(m)
        return False
    return ip_output_rt(rt, m, dst, doff, now)


def ip_output_rt(rt, m, dst, doff, now):
    """Out of route rt's interface: to its gateway (RTF_GATEWAY), else to dst itself, which is on
    the link (a connected route). ip_forward comes here with the route it looked up. Consumes m."""
    if rt.flags & RTF_GATEWAY:
        return ether_output(rt.ifp, m, rt.gateway, 0, now)
    return ether_output(rt.ifp, m, dst, doff, now)


def ip_moutput(ifp, m, now, imo):
    """ip_output for a datagram to a group from a socket with multicast options imo (or None): the
    options' TTL and loopback are in_mcast's (ip_moutput), loaded with the first option a socket
    set; before that no socket is in a group, and the datagram leaves with TTL 1 (RFC 1112 6.1)."""
    g = sys.modules.get("bsdnet.in_mcast")
    if g is not None:
        return g.ip_moutput(ifp, m, now, imo)
    return ip_output(ifp, m, now, 1)


def ip_newpacket(ifp, laddr, proto, src, n, xhlen, faddr, foff):
    """A new packet for a transport's output: an IPv4 header from laddr (the interface's address
    when it is 0.0.0.0) to faddr[foff:foff+4], xhlen bytes left for the transport header, then n
    bytes of src. Built behind exactly MAX_LINKHDR bytes of room, so the finished frame starts at
    the cluster's first byte. None when the pool is empty (the caller counts it)."""
    m = mbuf.m_get(opts.MAX_LINKHDR)
    if m is None:
        return None
    b = m.buf
    o = m.off
    if in_nullhost(laddr, 0):
        laddr = ifp.ia.addr
    p = o + iph.IP_HDR_LEN + xhlen
    if n:
        try:
            b[p:p + n] = src if len(src) == n else memoryview(src)[:n]
        except Exception:  # TypeError on CPython, NotImplementedError on MicroPython for a list
            mbuf.m_free(m)  # not a bytes-like object: the caller's mistake must not cost a cluster
            raise TypeError("a bytes-like object is required, not %r" % type(src).__name__)
    m.len = iph.IP_HDR_LEN + xhlen + n
    iph.emit(b, o, iph.IP_HDR_LEN, 0, m.len, 0, 0, 0, proto, laddr, 0, faddr, foff)
    return m
