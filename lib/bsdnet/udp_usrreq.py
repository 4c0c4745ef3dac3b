# UDP (RFC 768), after FreeBSD udp_usrreq.c: udp_input() delivers to the socket found by
# in_pcblookup(), udp_output() prepends the UDP and IP headers in the mbuf's leading space.
#
# A datagram is queued on the socket in the very mbuf it arrived in: no copy. The eight bytes of
# the UDP header are no longer needed once the checksum is verified, so udp_input() makes them the
# sender's address (what sbappendaddr() puts in front of the data in BSD):
#     m.off - 8: source port (uh_sport, where it was), source address (4, over uh_dport/uh_ulen),
#     2 bytes unused
# and leaves m.off/m.len on the payload. The socket reads them back (udp_fromport, FROM_ADDR).
# A reassembled datagram is a chain of clusters (m.cont): the UDP header is in the first, the
# checksum runs over the chain, and the socket queues and copies out the chain as it is. A datagram
# larger than the MTU is sent as a chain cut for fragmentation (ip_newpacket, ip_output).
import sys
from .compat import const
from . import opts
from . import mbuf
from .hdr import ip as iph
from .hdr import udp as udph
from .hdr import icmp as ich
from .inet import in_copy, in_nullhost
from .in_pcb import Inpcbinfo, in_pcblookup, INPLOOKUP_WILDCARD, INP_DONTFRAG
from .in_cksum import in_cksum_chain, in_pseudo
from .ip_icmp import icmp_error
from .ip_output import ip_output, ip_moutput, ip_newpacket
from .if_ether import arp_error
from .errno import EMSGSIZE, ENOBUFS
from .stats import stat_inc, udpstat, ipstat
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_UDPS_IPACKETS = const(0)
_UDPS_HDROPS = const(1)
_UDPS_NOSUM = const(4)
_UDPS_NOPORT = const(5)
_UDPS_NOPORTBCAST = const(6)
_UDPS_FULLSOCK = const(7)
_UDPS_FILTERMCAST = const(8)
_UDPS_PORT0 = const(9)
_UDPS_OPACKETS = const(10)
_UDPS_ONOMBUF = const(11)
_UDPS_CTLNOTIFY = const(13)
_IPS_CANTFRAG = const(22)

udbinfo = Inpcbinfo("udp", opts.UDP_SOCKETS)

UDP_HDR_LEN = const(8)
FROM_PORT = const(8)  # offsets back from m.off of a queued datagram
FROM_ADDR = const(6)


def udp_input(ifp, m, hlen, now):
    """m.off at the IP header (checked by ip_input), m.len the IP total length. Consumes m."""
    b = m.buf
    o = m.off
    u = o + hlen
    stat_inc(udpstat, _UDPS_IPACKETS)
    if m.cont is None:
        r = udph.check(b, u, m.len - hlen, b, o + iph.IP_SRC, b, o + iph.IP_DST)
    else:
        r = _check_chain(m, hlen)  # a reassembled datagram
    if r != 0:
        stat_inc(udpstat, _UDPS_HDROPS - 1 + r)  # udph.DROP_* in the order of the counters
        mbuf.m_free(m)
        return
    if not (b[u + udph.UDP_SUM] | b[u + udph.UDP_SUM + 1]):
        stat_inc(udpstat, _UDPS_NOSUM)
    if not (b[u + 2] | b[u + 3]):
        # destination port 0 is reserved: no socket has it, and no port unreachable goes back
        # (a scanner's favourite; FreeBSD drops it before the lookup)
        stat_inc(udpstat, _UDPS_PORT0)
        mbuf.m_free(m)
        return
    dst = o + iph.IP_DST
    mc = b[dst] & 0xF0 == 0xE0
    if mc or ifp.ia.is_broadcast(b, dst) or in_nullhost(b, dst):
        g = sys.modules.get("bsdnet.in_mcast")
        if g is not None:
            g.udp_input_mcast(ifp, m, hlen)  # to every socket it matches
            return
        # before in_mcast is loaded (the first multicast option, or SO_REUSEADDR/SO_REUSEPORT on a
        # datagram socket) no socket is in a group and a port has one socket: the lookup finds it
    inp = in_pcblookup(udbinfo, b, o + iph.IP_SRC, udph.sport(b, u), b, dst, udph.dport(b, u),
                       INPLOOKUP_WILDCARD)
    if mc and inp is not None:
        stat_inc(udpstat, _UDPS_FILTERMCAST)  # it joined no group (BSD imo_multi_filter)
        inp = None
    if inp is None:
        if not ifp.ia.is_ours(b, dst):  # ip_input let it in: ours, else broadcast or multicast
            stat_inc(udpstat, _UDPS_NOPORTBCAST)
        else:
            stat_inc(udpstat, _UDPS_NOPORT)
            icmp_error(ifp, m, ich.ICMP_UNREACH, ich.ICMP_UNREACH_PORT, now)
        mbuf.m_free(m)
        return
    # the sender's address over uh_dport/uh_ulen (uh_sport stays: see the top of this file), then
    # the payload only
    ulen = udph.ulen(b, u)
    in_copy(b, u + 2, b, o + iph.IP_SRC)
    m.len -= hlen + UDP_HDR_LEN  # what the first cluster holds after the UDP header
    m.off = u + UDP_HDR_LEN
    mbuf.m_truncate(m, ulen - UDP_HDR_LEN)  # bytes past uh_ulen (Ethernet padding) are not UDP's
    if not inp.so.sbappendaddr(m):
        stat_inc(udpstat, _UDPS_FULLSOCK)
        mbuf.m_free(m)


def _check_chain(m, hlen):
    """udph.check() for a datagram that is a chain of clusters: the UDP header is in the first
    (a first fragment holds at least 8 bytes of payload), the checksum runs over the chain."""
    b = m.buf
    o = m.off
    u = o + hlen
    n = mbuf.m_pktlen(m) - hlen
    if n < UDP_HDR_LEN:
        return udph.DROP_SHORT
    ul = udph.ulen(b, u)
    if ul < UDP_HDR_LEN or ul > n:
        return udph.DROP_LEN
    if (b[u + udph.UDP_SUM] | b[u + udph.UDP_SUM + 1]) and in_cksum_chain(
            m, hlen, ul, in_pseudo(b, o + iph.IP_SRC, b, o + iph.IP_DST, iph.IPPROTO_UDP, ul)) != 0:
        return udph.DROP_CKSUM
    return 0


def udp_fromport(m):
    """The sender's port of a queued datagram; its address is the 4 bytes at m.off - FROM_ADDR."""
    o = m.off - FROM_PORT
    return (m.buf[o] << 8) | m.buf[o + 1]


def udp_output(ifp, inp, src, n, faddr, foff, fport, now):
    """Send n bytes of src (a bytes-like) from inp's local half to faddr[foff:foff+4]:fport.
    Returns 0 or an errno (the socket layer raises it)."""
    if n > opts.UDP_SENDSPACE:
        return EMSGSIZE  # over what we could reassemble ourselves (opts.IP_MAXREASS)
    df = inp.flags & INP_DONTFRAG
    if df and iph.IP_HDR_LEN + UDP_HDR_LEN + n > ifp.mtu:
        stat_inc(ipstat, _IPS_CANTFRAG)
        return EMSGSIZE  # IP_DONTFRAG: no fragments
    m = ip_newpacket(ifp, inp.laddr, iph.IPPROTO_UDP, src, n, UDP_HDR_LEN, faddr, foff)
    if m is None:
        stat_inc(udpstat, _UDPS_ONOMBUF)
        return ENOBUFS
    b = m.buf
    o = m.off
    u = o + iph.IP_HDR_LEN
    ul = n + UDP_HDR_LEN
    udph.emit(b, u, inp.lport, fport, ul)
    if m.cont is None:
        udph.fill_cksum(b, u, ul, b, o + iph.IP_SRC, b, o + iph.IP_DST)
    else:  # a chain cut for fragmentation (ip_newpacket): the sum runs over it
        s = in_cksum_chain(m, iph.IP_HDR_LEN, ul, in_pseudo(b, o + iph.IP_SRC, b, o + iph.IP_DST,
                                                             iph.IPPROTO_UDP, ul))
        if s == 0:
            s = 0xFFFF
        b[u + udph.UDP_SUM] = s >> 8
        b[u + udph.UDP_SUM + 1] = s & 0xFF
    if df:
        iph.set_frag(b, o, iph.IP_DF)
    stat_inc(udpstat, _UDPS_OPACKETS)
    if faddr[foff] & 0xF0 == 0xE0:
        ip_moutput(ifp, m, now, inp.so._imo)  # IP_MULTICAST_TTL, IP_MULTICAST_LOOP; no ARP
    elif not ip_output(ifp, m, now):
        return arp_error[0]  # ARP gave up on the next hop (EHOSTDOWN), ...; 0 when held or queued
    return 0


def udp_ctlinput(err, b, q):
    """An ICMP error about a datagram we sent (q: its quoted IP header in b). As BSD's
    udp_ctlinput/in_pcbnotify: only a connected socket whose association matches exactly learns
    it (so_error); an unconnected one cannot tell which of its peers the error is about."""
    u = q + ((b[q] & 0x0F) << 2)
    # the quoted datagram went from us (its source) to the peer (its destination)
    inp = in_pcblookup(udbinfo, b, q + iph.IP_DST, udph.dport(b, u), b, q + iph.IP_SRC, udph.sport(b, u), 0)
    if inp is not None and inp.fport != 0:
        stat_inc(udpstat, _UDPS_CTLNOTIFY)
        inp.so.sonotify(err)

