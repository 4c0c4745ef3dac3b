# Raw IP sockets (BSD netinet/raw_ip.c): SOCK_RAW for one IP protocol. rip_input() is the default
# entry of ip_protox (protocols no one else claims) and where in_proto sends the ICMP messages
# the stack does not answer itself (echo replies, errors after ctlinput, ...), so that a program
# on the board can ping. What a raw socket reads starts at the IP header, as in BSD; what it
# writes is the payload, and rip_output() puts the IP header in front, unless the socket has
# IP_HDRINCL: then it writes the header too (rip_output_hdrincl).
#
# The datagram is queued in the mbuf it came in; the spent Ethernet header in front of the IP
# header is rewritten as the sender's address, as udp_input does with the UDP header, so the socket
# reads both kinds of queue alike (port 0 for raw). A reassembled datagram is queued as the chain
# it is (m.cont); one larger than the MTU is sent in fragments (ip_output).
import sys
from .compat import const
from . import opts
from . import mbuf
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_eq, in_copy, in_nullhost
from .in_pcb import Inpcbinfo, INP_DONTFRAG
from . import ip_icmp
from . import ip_output as _ip_output
from .ip_output import ip_output, ip_moutput, ip_newpacket, ip_newid, ip_output_nexthop
from .if_ether import arp_error
from .stats import stat_inc, ipstat, ripstat
from .errno import EMSGSIZE, ENOBUFS, EINVAL
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IPS_NOPROTO = const(10)
_IPS_CANTFRAG = const(22)
_IPS_RAWOUT = const(25)
_RIPS_DELIVERED = const(0)
_RIPS_NOSOCK = const(1)
_RIPS_FULLSOCK = const(2)
_RIPS_OPACKETS = const(3)
_RIPS_ONOMBUF = const(4)

ripcbinfo = Inpcbinfo("raw", opts.RAW_SOCKETS)
_FROM = const(8)  # the sender's address block sits 8 bytes before the data, as for UDP


def rip_input(ifp, m, hlen, now):
    """m.off at the IP header. Deliver to the raw socket of this protocol whose addresses match;
    with none, a protocol no one claimed gets protocol unreachable (ICMP and IGMP messages do not:
    the stack handled them). Several raw sockets of a protocol, or one with multicast options, load
    in_mcast (socket layer), whose rip_input_multi gives each matching socket a copy, as BSD's
    rip_input does."""
    g = sys.modules.get("bsdnet.in_mcast")
    if g is not None and g.rip_input_multi(ifp, m):
        return
    b = m.buf
    o = m.off
    p = b[o + iph.IP_P]
    for inp in ripcbinfo.pcbs:
        if not inp.attached or inp.proto != p:
            continue
        if not in_nullhost(inp.laddr, 0) and not in_eq(inp.laddr, 0, b, o + iph.IP_DST):
            continue
        if not in_nullhost(inp.faddr, 0) and not in_eq(inp.faddr, 0, b, o + iph.IP_SRC):
            continue
        if o < _FROM:
            break  # not a received frame (nothing in front of it): cannot happen from ip_input
        rip_append(inp, m)
        return
    stat_inc(ripstat, _RIPS_NOSOCK)
    if p != iph.IPPROTO_ICMP and p != iph.IPPROTO_IGMP:
        stat_inc(ipstat, _IPS_NOPROTO)
        if ifp.ia.is_ours(b, o + iph.IP_DST):
            ip_icmp.icmp_error(ifp, m, ich.ICMP_UNREACH, ich.ICMP_UNREACH_PROTOCOL, now)
    mbuf.m_free(m)


def rip_append(inp, m):
    """Queue m (m.off at its IP header, a received frame) on inp's socket, the sender's address in
    the 8 bytes before it (port 0)."""
    b = m.buf
    o = m.off
    b[o - _FROM] = 0
    b[o - _FROM + 1] = 0
    in_copy(b, o - _FROM + 2, b, o + iph.IP_SRC)
    if inp.so.sbappendaddr(m):
        stat_inc(ripstat, _RIPS_DELIVERED)
    else:
        stat_inc(ripstat, _RIPS_FULLSOCK)
        mbuf.m_free(m)


def rip_output(ifp, inp, src, n, faddr, foff, now, hdrincl=False):
    """Send n bytes of src as the payload of an IP datagram of inp's protocol to faddr[foff:]
    (hdrincl: src is the whole datagram, header included: rip_output_hdrincl). Returns 0 or an
    errno."""
    if hdrincl:
        return rip_output_hdrincl(ifp, inp, src, n, faddr, foff, now)
    if n > opts.IP_MAXREASS:
        return EMSGSIZE  # over MTU - 20 it leaves in fragments, up to what we could reassemble
    df = inp.flags & INP_DONTFRAG
    if df and n > ifp.mtu - iph.IP_HDR_LEN:
        stat_inc(ipstat, _IPS_CANTFRAG)
        return EMSGSIZE  # IP_DONTFRAG: no fragments
    m = ip_newpacket(ifp, inp.laddr, inp.proto, src, n, 0, faddr, foff)
    if m is None:
        stat_inc(ripstat, _RIPS_ONOMBUF)
        return ENOBUFS
    if df:
        iph.set_frag(m.buf, m.off, iph.IP_DF)
    stat_inc(ripstat, _RIPS_OPACKETS)
    if faddr[foff] & 0xF0 == 0xE0:
        ip_moutput(ifp, m, now, inp.so._imo)  # IP_MULTICAST_TTL, IP_MULTICAST_LOOP; no ARP
    elif not ip_output(ifp, m, now):
        return arp_error[0]  # ARP gave up on the next hop (EHOSTDOWN), ...; 0 when held
    return 0


def rip_output_hdrincl(ifp, inp, src, n, faddr, foff, now):
    """IP_HDRINCL: src holds the datagram with its IP header. Checked as FreeBSD's rip_output does
    (version 4, a header of 20 bytes or more within the data, well-formed options, a total length
    equal to the data's; 0 is taken too and filled, as Linux does) and completed as Linux's
    raw_send_hdrinc does: the total length and the header checksum always, the ID when it is 0,
    the source when it is 0.0.0.0 (the socket's bound address, else the interface's). The rest is
    the user's (TTL, DF, the protocol, the destination; the next hop is chosen for faddr, the
    address given to sendto or connect). Larger than the MTU: EMSGSIZE, unless DF is clear and
    ip_output can fragment. Counted ips_rawout. Returns 0 or an errno."""
    if n < iph.IP_HDR_LEN or n > opts.MCLBYTES - opts.MAX_LINKHDR:
        return EMSGSIZE if n >= iph.IP_HDR_LEN else EINVAL
    big = n > ifp.mtu
    if big and getattr(_ip_output, "ip_fragment", None) is None:
        return EMSGSIZE
    m = mbuf.m_get(opts.MAX_LINKHDR)
    if m is None:
        stat_inc(ripstat, _RIPS_ONOMBUF)
        return ENOBUFS
    b = m.buf
    o = m.off
    try:
        b[o:o + n] = src if len(src) == n else memoryview(src)[:n]
    except Exception:  # not a bytes-like object (TypeError on CPython, NotImplementedError on MicroPython)
        mbuf.m_free(m)
        raise TypeError("a bytes-like object is required, not %r" % type(src).__name__)
    m.len = n
    hl = iph.hlen(b, o)
    tl = iph.total_len(b, o)
    if (iph.version(b, o) != 4 or hl < iph.IP_HDR_LEN or hl > n or (tl != n and tl != 0)
            or (hl > iph.IP_HDR_LEN and iph.opt_errptr(b, o))):
        mbuf.m_free(m)
        return EINVAL
    if big and iph.frag(b, o) & iph.IP_DF:
        mbuf.m_free(m)
        return EMSGSIZE
    iph.set_total_len(b, o, n)
    if in_nullhost(b, o + iph.IP_SRC):
        in_copy(b, o + iph.IP_SRC, ifp.ia.addr if in_nullhost(inp.laddr, 0) else inp.laddr, 0)
    if iph.ident(b, o) == 0:
        iph.set_ident(b, o, ip_newid(b, o))
    iph.fill_cksum(b, o)
    stat_inc(ipstat, _IPS_RAWOUT)
    stat_inc(ripstat, _RIPS_OPACKETS)
    if not ip_output_nexthop(ifp, m, faddr, foff, now):  # in fragments when bigger than the MTU
        return arp_error[0]  # ARP gave up on the next hop (EHOSTDOWN), ...; 0 when held
    return 0
