# ICMP (RFC 792), after FreeBSD ip_icmp.c: the echo server (icmp_reflect of an echo request, in
# place: no copy, no new mbuf), icmp_error() with the RFC 1122 3.2.2 rules and a rate limit
# (FreeBSD's badport_bandlim, net.inet.icmp.icmplim), and the errors we receive handed to the
# transport protocol of the quoted datagram (pr_ctlinput, as icmp_input's "deliver" path).
# Redirects and timestamps come with the IPv4 issue.
from .compat import const, ticks_diff
from . import opts
from . import mbuf
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_copy, in_nullhost, in_multicast, in_allones
from .ip_output import ip_output
from .bcopy import bcopy
from .stats import (stat_inc, icmpstat, ICPS_RECEIVED, ICPS_TOOSHORT, ICPS_CHECKSUM, ICPS_BADTYPE, ICPS_ECHO,
    ICPS_REFLECT, ICPS_BMCASTECHO, ICPS_OUTHIST_ECHOREPLY, ICPS_ERROR, ICPS_OLDICMP, ICPS_BMCASTERR, ICPS_RATELIMITED,
    ICPS_NOMBUF, ICPS_OUTHIST_UNREACH, ICPS_BADLEN, ICPS_UNREACH, ICPS_TIMXCEED)
from .errno import EHOSTUNREACH, ECONNREFUSED, ENOPROTOOPT, EMSGSIZE

def _no_raw(ifp, m, hlen, now):
    stat_inc(icmpstat, ICPS_BADTYPE)
    mbuf.m_free(m)


rip_deliver = _no_raw  # raw_ip.rip_input once raw_ip is imported (it imports this module)

# pr_ctlinput by protocol number: ctlinput(code_errno, quoted_ip_buf, ip_off) for errors about a
# datagram of that protocol (udp_usrreq registers itself; TCP will)
pr_ctlinput = {}  # type: dict



_ETHER_HDR_LEN = const(14)
_QUOTE = const(8)  # bytes of the offending datagram's payload quoted after its header (RFC 792)
_lim = [0, 0]  # [start of the current one-second window (ms), errors sent in it]


def icmp_error(ifp, m, type, code, now):
    """Answer the datagram in m (m.off at its IP header, as received) with an ICMP error; m is
    not consumed. RFC 1122 3.2.2: never about an ICMP error, a fragment other than the first,
    a datagram to a broadcast/multicast address or sent as link-level broadcast, or one whose
    source is not a unicast host. Rate limited to opts.ICMP_LIM errors per second."""
    b = m.buf
    o = m.off
    ia = ifp.ia
    hlen = iph.hlen(b, o)
    if iph.frag(b, o) & iph.IP_OFFMASK:
        return False
    if iph.proto(b, o) == iph.IPPROTO_ICMP and m.len >= hlen + 1:
        t = b[o + hlen]
        if t != ich.ICMP_ECHO and t != ich.ICMP_ECHOREPLY and t != ich.ICMP_TSTAMP and t != ich.ICMP_MASKREQ:
            stat_inc(icmpstat, ICPS_OLDICMP)
            return False
    dst = o + iph.IP_DST
    src = o + iph.IP_SRC
    if (ia.is_broadcast(b, dst) or in_multicast(b, dst) or (o >= _ETHER_HDR_LEN and b[o - _ETHER_HDR_LEN] & 1)
            or in_nullhost(b, src) or in_allones(b, src) or in_multicast(b, src) or b[src] == 127
            or ia.is_broadcast(b, src)):
        stat_inc(icmpstat, ICPS_BMCASTERR)
        return False
    if ticks_diff(now, _lim[0]) >= 1000 or ticks_diff(now, _lim[0]) < 0:
        _lim[0] = now
        _lim[1] = 0
    if _lim[1] >= opts.ICMP_LIM:
        stat_inc(icmpstat, ICPS_RATELIMITED)
        return False
    q = hlen + _QUOTE
    if q > m.len:
        q = m.len
    n = mbuf.m_get(opts.MAX_LINKHDR)
    if n is None:
        stat_inc(icmpstat, ICPS_NOMBUF)
        return False
    _lim[1] += 1
    stat_inc(icmpstat, ICPS_ERROR)
    if type == ich.ICMP_UNREACH:
        stat_inc(icmpstat, ICPS_OUTHIST_UNREACH)
    nb = n.buf
    no = n.off
    ic = no + iph.IP_HDR_LEN
    ich.emit(nb, ic, type, code, 0, 0)
    bcopy(b, o, nb, ic + ich.ICMP_MINLEN, q)
    ich.fill_cksum(nb, ic, ich.ICMP_MINLEN + q)
    iph.emit(nb, no, iph.IP_HDR_LEN, 0, 0, 0, 0, 0, iph.IPPROTO_ICMP, ia.addr, 0, b, src)
    n.len = iph.IP_HDR_LEN + ich.ICMP_MINLEN + q
    return ip_output(ifp, n, now)


def icmp_input(ifp, m, hlen, now):
    b = m.buf
    o = m.off
    stat_inc(icmpstat, ICPS_RECEIVED)
    ic = o + hlen
    icmplen = m.len - hlen
    r = ich.check(b, ic, icmplen)
    if r != 0:
        stat_inc(icmpstat, ICPS_TOOSHORT if r == ich.DROP_SHORT else ICPS_CHECKSUM)
        mbuf.m_free(m)
        return
    t = ich.msg_type(b, ic)
    if t == ich.ICMP_UNREACH or t == ich.ICMP_TIMXCEED:
        _notify(b, ic, icmplen, t)  # then raw sockets see it too, as in BSD
    if t != ich.ICMP_ECHO:
        rip_deliver(ifp, m, hlen, now)  # echo replies and the rest: for raw ICMP sockets
        return
    stat_inc(icmpstat, ICPS_ECHO)
    ia = ifp.ia
    if not ia.is_ours(b, o + iph.IP_DST):
        # net.inet.icmp.bmcastecho=0: no echo for broadcast or multicast (smurf amplification)
        stat_inc(icmpstat, ICPS_BMCASTECHO)
        mbuf.m_free(m)
        return
    # icmp_reflect(): echo reply to the sender, from our address, options dropped
    if hlen != iph.IP_HDR_LEN:
        # drop the options: slide the 20-byte base header up against the ICMP message
        extra = hlen - iph.IP_HDR_LEN
        for i in range(iph.IP_HDR_LEN - 1, -1, -1):
            b[o + extra + i] = b[o + i]
        o += extra
        m.off = o
        m.len -= extra
        b[o] = 0x45
        hlen = iph.IP_HDR_LEN
    ich.set_type(b, ic, ich.ICMP_ECHOREPLY)
    in_copy(b, o + iph.IP_DST, b, o + iph.IP_SRC)
    in_copy(b, o + iph.IP_SRC, ia.addr, 0)
    stat_inc(icmpstat, ICPS_REFLECT)
    stat_inc(icmpstat, ICPS_OUTHIST_ECHOREPLY)
    ip_output(ifp, m, now)


def _notify(b, ic, icmplen, t):
    """An error about a datagram we sent: check the quoted header (FreeBSD: at least the IP header
    and 8 bytes) and hand it to the quoted protocol's ctlinput with the errno it means."""
    q = ic + ich.ICMP_MINLEN
    if icmplen < ich.ICMP_MINLEN + iph.IP_HDR_LEN + 8 or b[q] >> 4 != 4:
        stat_inc(icmpstat, ICPS_BADLEN)
        return
    qhl = (b[q] & 0x0F) << 2
    if qhl < iph.IP_HDR_LEN or icmplen < ich.ICMP_MINLEN + qhl + 8:
        stat_inc(icmpstat, ICPS_BADLEN)
        return
    # inetctlerrmap: the errno a socket learns (RFC 1122 4.2.3.9: port and protocol unreachable are
    # the hard errors; the socket layer reports what it gets)
    if t == ich.ICMP_UNREACH:
        stat_inc(icmpstat, ICPS_UNREACH)
        code = ich.msg_code(b, ic)
        if code == ich.ICMP_UNREACH_PORT:
            err = ECONNREFUSED
        elif code == ich.ICMP_UNREACH_PROTOCOL:
            err = ENOPROTOOPT
        elif code == ich.ICMP_UNREACH_NEEDFRAG:
            err = EMSGSIZE  # path MTU discovery comes with the TCP speed issue
        else:
            err = EHOSTUNREACH
    else:
        stat_inc(icmpstat, ICPS_TIMXCEED)
        err = EHOSTUNREACH
    fn = pr_ctlinput.get(b[q + iph.IP_P])
    if fn is not None:
        fn(err, b, q)
