# Raw IP sockets (BSD netinet/raw_ip.c): SOCK_RAW for one IP protocol. rip_input() is the default
# entry of ip_protox (protocols no one else claims) and where in_proto sends the ICMP messages
# the stack does not answer itself (echo replies, errors after ctlinput, ...), so that a program
# on the board can ping. What a raw socket reads starts at the IP header, as in BSD; what it
# writes is the payload, and rip_output() puts the IP header in front (no IP_HDRINCL).
#
# The datagram is queued in the mbuf it came in; the spent Ethernet header in front of the IP
# header is rewritten as the sender's address, as udp_input does with the UDP header, so the socket
# reads both kinds of queue alike (port 0 for raw).
from .compat import const
from . import opts
from . import mbuf
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_eq, in_copy, in_nullhost
from .in_pcb import Inpcbinfo
from . import ip_icmp
from .ip_output import ip_output, ip_moutput, ip_newpacket
from .stats import (stat_inc, ipstat, ripstat, IPS_NOPROTO, RIPS_DELIVERED, RIPS_NOSOCK, RIPS_FULLSOCK,
    RIPS_OPACKETS, RIPS_ONOMBUF)
from .errno import EMSGSIZE, ENOBUFS

ripcbinfo = Inpcbinfo("raw", opts.RAW_SOCKETS)
_FROM = const(8)  # the sender's address block sits 8 bytes before the data, as for UDP


def rip_input(ifp, m, hlen, now):
    """m.off at the IP header. Deliver to every raw socket of this protocol whose addresses match
    (each a copy, the last one the datagram itself, as BSD's rip_input); a socket with multicast
    options gets a group's datagrams only when it joined the group (imo_multi_filter). With none,
    a protocol no one claimed gets protocol unreachable (ICMP and IGMP messages do not: the stack
    handled them)."""
    b = m.buf
    o = m.off
    p = b[o + iph.IP_P]
    dst = o + iph.IP_DST
    mc = b[dst] & 0xF0 == 0xE0
    last = None
    for inp in ripcbinfo.pcbs:
        if not inp.attached or inp.proto != p:
            continue
        if not in_nullhost(inp.laddr, 0) and not in_eq(inp.laddr, 0, b, dst):
            continue
        if not in_nullhost(inp.faddr, 0) and not in_eq(inp.faddr, 0, b, o + iph.IP_SRC):
            continue
        if mc:
            imo = inp.so._imo
            if imo is not None and not imo.member(ifp, b, dst):
                continue
        if o < _FROM:
            break  # not a received frame (nothing in front of it): cannot happen from ip_input
        if last is None:
            b[o - _FROM] = 0  # port 0
            b[o - _FROM + 1] = 0
            in_copy(b, o - _FROM + 2, b, o + iph.IP_SRC)
        else:
            c = mbuf.m_copypacket(m, _FROM)
            if c is None:
                stat_inc(ripstat, RIPS_FULLSOCK)  # no cluster for this socket's copy
            else:
                _rip_append(last, c)
        last = inp
    if last is not None:
        _rip_append(last, m)
        return
    stat_inc(ripstat, RIPS_NOSOCK)
    if p != iph.IPPROTO_ICMP and p != iph.IPPROTO_IGMP:
        stat_inc(ipstat, IPS_NOPROTO)
        if ifp.ia.is_ours(b, dst):
            ip_icmp.icmp_error(ifp, m, ich.ICMP_UNREACH, ich.ICMP_UNREACH_PROTOCOL, now)
    mbuf.m_free(m)


def _rip_append(inp, m):
    if inp.so.sbappendaddr(m):
        stat_inc(ripstat, RIPS_DELIVERED)
    else:
        stat_inc(ripstat, RIPS_FULLSOCK)
        mbuf.m_free(m)


def rip_output(ifp, inp, src, n, faddr, foff, now):
    """Send n bytes of src as the payload of an IP datagram of inp's protocol to faddr[foff:].
    Returns 0 or an errno."""
    if n > ifp.mtu - iph.IP_HDR_LEN:
        return EMSGSIZE
    m = ip_newpacket(ifp, inp.laddr, inp.proto, src, n, 0, faddr, foff)
    if m is None:
        stat_inc(ripstat, RIPS_ONOMBUF)
        return ENOBUFS
    stat_inc(ripstat, RIPS_OPACKETS)
    if faddr[foff] & 0xF0 == 0xE0:
        ip_moutput(ifp, m, now, inp.so._imo)  # IP_MULTICAST_TTL, IP_MULTICAST_LOOP
    else:
        ip_output(ifp, m, now)
    return 0

