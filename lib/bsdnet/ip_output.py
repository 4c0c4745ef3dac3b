# ip_output(): complete the IPv4 header, pick the next hop and hand the packet to the link.
#
# The caller leaves m.off at a header whose protocol, source, destination and total length are
# set. We fill the total length, TTL, the ID and the checksum, then pick the next hop: the limited
# broadcast, multicast and destinations on ifp's own subnet go out of ifp directly (a reply leaves
# by the interface its request came in, and it is the cheapest test); anything else by the
# longest-prefix route (route.rtalloc): a connected subnet directly, RTF_GATEWAY to its gateway.
# The next-hop half is callable alone for a header that must not be touched again:
# ip_output_nexthop() (a raw socket's IP_HDRINCL datagram) and ip_output_rt() (ip_forward, which
# has looked the route up itself).
#
# Fragmentation (RFC 791 3.2, BSD ip_fragment): a datagram larger than the outgoing interface's
# MTU, or one that is a chain of clusters (m.cont: a large send, a reassembled echo request answered
# in place), leaves in fragments (ip_fragment, also ip_forward's for a datagram too big for the next
# hop). The code is in ip_frag.py, loaded with the first datagram that needs it (as TCP's is with
# the first segment): a board that never sends over its MTU does not carry it. When the heap has
# no room to load it, the datagram is dropped (ips_odropped; ENOBUFS to a sender).
#
# The IP ID (RFC 7739 5.3, "hash-based"): a table of 16-bit counters, random at boot, indexed by a
# keyed hash of (source, destination, protocol), plus a second keyed hash of the same as an
# offset. IDs for one destination follow each other (unique for 65536 datagrams, far beyond the
# reassembly lifetime at our rates), a peer learns nothing of our traffic to others, and nothing
# repeats across boots. The hashes are small multiplicative ones with 20-bit keys (no allocation,
# every value under 2**30), not cryptographic: they keep an observer from predicting, not a
# cryptanalyst.
import sys
from . import opts
from . import mbuf
from .hdr import ip as iph
from .inet import in_nullhost, in_multicast, in_allones
from .route import rtalloc, RTF_GATEWAY
from .if_ether import ether_output, arp_error
from .errno import EHOSTUNREACH
from .stats import stat_inc, ipstat
from .compat import const, getrandbits
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IPS_LOCALOUT = const(13)
_IPS_NOROUTE = const(14)
_IPS_ODROPPED = const(15)

_IDS = const(32)  # counters in the IP ID table (a power of two)
_idtab = [0] * _IDS
_idkey = [0, 0]


def ip_id_init():
    """A new random ID table and keys: at import, i.e. at every boot (tests call it to reboot)."""
    for i in range(_IDS):
        _idtab[i] = getrandbits(16)
    _idkey[0] = getrandbits(20)
    _idkey[1] = getrandbits(20)


ip_id_init()


def ip_output(ifp, m, now, ttl=opts.IP_DEFTTL):
    """m.off at the IP header; consumes m. True if the frame (every fragment) left now (False:
    held or dropped)."""
    b = m.buf
    o = m.off
    stat_inc(ipstat, _IPS_LOCALOUT)
    iph.set_total_len(b, o, m.len if m.cont is None else mbuf.m_pktlen(m))
    iph.set_ident(b, o, ip_newid(b, o))
    if ttl:
        iph.set_ttl(b, o, ttl)
    iph.fill_cksum(b, o)
    return ip_output_nexthop(ifp, m, b, o + iph.IP_DST, now)


def ip_newid(b, o):
    """The ID for a datagram we originate, its header at b[o] (its addresses and protocol set)."""
    h = _idkey[0]
    g = _idkey[1]
    for i in range(o + iph.IP_SRC, o + iph.IP_DST + 4):
        x = b[i]
        h = ((h ^ x) * 0x193) & 0xFFFFF
        g = ((g ^ x) * 0x1B3) & 0xFFFFF
    x = b[o + iph.IP_P]
    h = ((h ^ x) * 0x193) & 0xFFFFF
    g = ((g ^ x) * 0x1B3) & 0xFFFFF
    i = (h ^ (h >> 11)) & (_IDS - 1)
    v = _idtab[i]
    _idtab[i] = (v + 1) & 0xFFFF
    return (v + (g ^ (g >> 9))) & 0xFFFF


def ip_output_nexthop(ifp, m, dst, doff, now):
    """The second half of ip_output, for a datagram whose header is complete (nothing in it is
    changed but what fragmenting it takes): out to the next hop for dst (4 bytes at dst[doff]; the
    header's destination, or the address a raw IP_HDRINCL socket sent to). Consumes m. When it
    returns False, arp_error[0] says why, if it knows (0: held for ARP)."""
    arp_error[0] = 0  # not a reason left over from an earlier send
    if ifp.ia.is_local(dst, doff) or in_allones(dst, doff) or in_multicast(dst, doff):
        return _ip_send(ifp, m, dst, doff, now)
    rt = rtalloc(dst, doff)
    if rt is None:
        stat_inc(ipstat, _IPS_NOROUTE)
        arp_error[0] = EHOSTUNREACH
        mbuf.m_free(m)
        return False
    return ip_output_rt(rt, m, dst, doff, now)


def ip_output_rt(rt, m, dst, doff, now):
    """Out of route rt's interface: to its gateway (RTF_GATEWAY), else to dst itself, which is on
    the link (a connected route). ip_forward comes here with the route it looked up. Consumes m."""
    if rt.flags & RTF_GATEWAY:
        return _ip_send(rt.ifp, m, rt.gateway, 0, now)
    return _ip_send(rt.ifp, m, dst, doff, now)


def _ip_send(ifp, m, nh, nhoff, now):
    """To the link for next hop nh[nhoff:nhoff+4]: in one frame when it fits ifp's MTU."""
    if m.cont is None and m.len <= ifp.mtu:
        return ether_output(ifp, m, nh, nhoff, now)
    return ip_fragment(ifp, m, nh, nhoff, now)


_frag = [None]  # the ip_frag module, loaded with the first datagram that needs it


def _ip_frag():
    """ip_frag, loaded on first need; None (counted by the caller) when the heap has no room for it."""
    f = _frag[0]
    if f is None:
        try:
            from . import ip_frag as f
        except MemoryError:
            return None
        _frag[0] = f
    return f


def ip_fragment(ifp, m, nh, nhoff, now):
    """Send datagram m (header complete, m.off at it) in fragments that fit ifp.mtu, to next hop
    nh[nhoff:nhoff+4]; consumes m. True if every fragment left now."""
    f = _ip_frag()
    if f is None:
        stat_inc(ipstat, _IPS_ODROPPED)
        mbuf.m_free(m)
        return False
    return f.ip_fragment(ifp, m, nh, nhoff, now)


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
    the cluster's first byte. When it does not fit ifp's MTU, a chain cut for fragmentation
    (ip_frag.ip_newchain). None when the pool cannot supply every cluster (the caller counts it)."""
    if iph.IP_HDR_LEN + xhlen + n > ifp.mtu:
        f = _ip_frag()
        return f.ip_newchain(ifp, laddr, proto, src, n, xhlen, faddr, foff) if f is not None else None
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
