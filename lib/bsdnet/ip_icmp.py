# ICMP (RFC 792), after FreeBSD ip_icmp.c: the echo server (icmp_reflect of an echo request, in
# place: no copy, no new mbuf), icmp_error() with the RFC 1122 3.2.2 rules and a rate limit
# (FreeBSD's badport_bandlim, net.inet.icmp.icmplim), and the errors we receive handed to the
# transport protocol of the quoted datagram (pr_ctlinput, as icmp_input's "deliver" path).
# Redirects we receive update the routing table (icmp_redirect_input); timestamps are not answered.
from .compat import const, ticks_diff
from . import opts
from . import mbuf
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_eq, in_copy, in_nullhost, in_multicast
from .ip_output import ip_output
from . import route
from .bcopy import bcopy
from .in_cksum import in_cksum_chain
from .stats import stat_inc, icmpstat, ipstat
from .errno import EHOSTUNREACH, ECONNREFUSED, ENOPROTOOPT, EMSGSIZE
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_ICPS_RECEIVED = const(0)
_ICPS_TOOSHORT = const(1)
_ICPS_CHECKSUM = const(2)
_ICPS_BADCODE = const(4)
_ICPS_BADLEN = const(5)
_ICPS_ECHO = const(6)
_ICPS_REFLECT = const(7)
_ICPS_BMCASTECHO = const(8)
_ICPS_ERROR = const(9)
_ICPS_OLDICMP = const(10)
_ICPS_BMCASTERR = const(11)
_ICPS_RATELIMITED = const(13)
_ICPS_NOMBUF = const(14)
_ICPS_UNREACH = const(16)
_ICPS_TIMXCEED = const(17)
_ICPS_REDIRECT = const(18)
_ICPS_BADREDIRECT = const(19)
_ICPS_OUTHIST_ECHOREPLY = const(21)
_ICPS_OUTHIST_UNREACH = const(22)
_ICPS_OUTHIST_TIMXCEED = const(23)
_ICPS_OUTHIST_REDIRECT = const(24)
_ICPS_OUTHIST_PARAMPROB = const(25)
_IPS_REDIRECTSENT = const(24)

# what icmp_input() tells in_proto to do with the message after it (BSD's "deliver" and "raw")
ICMP_CONSUMED = const(0)  # answered or dropped: m is gone
ICMP_RAW = const(1)  # for raw ICMP sockets (echo replies, and the rest)
ICMP_NOTIFY = const(2)  # an error about a datagram we sent: icmp_notify to its protocol, then raw
icmp_notify = [0, 0, 0]  # [errno, quoted protocol, offset of the quoted IP header in m.buf]


_QUOTE = const(8)  # bytes of the offending datagram's payload quoted after its header (RFC 792)
_lim = [0, 0]  # [start of the current one-second window (ms), errors sent in it]


def icmp_error(ifp, m, type, code, now, arg=0):
    """Answer the datagram in m (m.off at its IP header, as received) with an ICMP error; m is
    not consumed. arg: the pointer of a parameter problem, or the next-hop MTU of "fragmentation
    needed". RFC 1122 3.2.2: never about an ICMP error, a fragment other than the first, a
    datagram to a broadcast/multicast address or sent as link-level broadcast/multicast (the
    mbuf's M_BCAST/M_MCAST), or one whose source is not a unicast host. Rate limited to
    opts.ICMP_LIM errors per second. A redirect (ip_forward) takes the gateway as arg: 4 bytes at
    arg[0]."""
    b = m.buf
    o = m.off
    ia = ifp.ia
    hlen = iph.hlen(b, o)
    if iph.frag(b, o) & iph.IP_OFFMASK:
        return False
    if iph.proto(b, o) == iph.IPPROTO_ICMP and m.len >= hlen + 1:
        t = b[o + hlen]
        if t != ich.ICMP_ECHO and t != ich.ICMP_ECHOREPLY and t != ich.ICMP_TSTAMP and t != ich.ICMP_MASKREQ:
            stat_inc(icmpstat, _ICPS_OLDICMP)
            return False
    dst = o + iph.IP_DST
    src = o + iph.IP_SRC
    if (m.flags & (mbuf.M_BCAST | mbuf.M_MCAST) or ia.is_broadcast(b, dst) or in_multicast(b, dst)
            or in_nullhost(b, src) or ia.martian_src(b, src, False)):
        stat_inc(icmpstat, _ICPS_BMCASTERR)
        return False
    if ticks_diff(now, _lim[0]) >= 1000 or ticks_diff(now, _lim[0]) < 0:
        _lim[0] = now
        _lim[1] = 0
    if _lim[1] >= opts.ICMP_LIM:
        stat_inc(icmpstat, _ICPS_RATELIMITED)
        return False
    q = hlen + _QUOTE
    if q > m.len:
        q = m.len
    n = mbuf.m_get(opts.MAX_LINKHDR)
    if n is None:
        stat_inc(icmpstat, _ICPS_NOMBUF)
        return False
    _lim[1] += 1
    stat_inc(icmpstat, _ICPS_ERROR)
    if type == ich.ICMP_UNREACH:
        stat_inc(icmpstat, _ICPS_OUTHIST_UNREACH)
    elif type == ich.ICMP_TIMXCEED:
        stat_inc(icmpstat, _ICPS_OUTHIST_TIMXCEED)
    elif type == ich.ICMP_PARAMPROB:
        stat_inc(icmpstat, _ICPS_OUTHIST_PARAMPROB)
    elif type == ich.ICMP_REDIRECT:
        stat_inc(icmpstat, _ICPS_OUTHIST_REDIRECT)
        stat_inc(ipstat, _IPS_REDIRECTSENT)
    nb = n.buf
    no = n.off
    ic = no + iph.IP_HDR_LEN
    ich.emit(nb, ic, type, code, arg << 8 if type == ich.ICMP_PARAMPROB else 0,
             arg if type == ich.ICMP_UNREACH else 0)
    if type == ich.ICMP_REDIRECT:
        in_copy(nb, ic + ich.ICMP_GWADDR, arg, 0)
    bcopy(b, o, nb, ic + ich.ICMP_MINLEN, q)
    ich.fill_cksum(nb, ic, ich.ICMP_MINLEN + q)
    iph.emit(nb, no, iph.IP_HDR_LEN, 0, 0, 0, 0, 0, iph.IPPROTO_ICMP, ia.addr, 0, b, src)
    n.len = iph.IP_HDR_LEN + ich.ICMP_MINLEN + q
    return ip_output(ifp, n, now)


def icmp_input(ifp, m, hlen, now):
    b = m.buf
    o = m.off
    stat_inc(icmpstat, _ICPS_RECEIVED)
    ic = o + hlen
    icmplen = m.len - hlen  # the bytes in this cluster (all of them but for a reassembled datagram)
    if m.cont is None:
        r = ich.check(b, ic, icmplen)
    else:
        r = _check_chain(m, hlen)
    if r != 0:
        stat_inc(icmpstat, _ICPS_TOOSHORT if r == ich.DROP_SHORT else _ICPS_CHECKSUM)
        mbuf.m_free(m)
        return ICMP_CONSUMED
    t = ich.msg_type(b, ic)
    if t == ich.ICMP_UNREACH or t == ich.ICMP_TIMXCEED:
        return _notify(b, ic, icmplen, t)  # then raw sockets see it too, as in BSD
    if t == ich.ICMP_REDIRECT:
        icmp_redirect_input(ifp, m, ic, icmplen)
        return ICMP_RAW  # raw sockets see it too (BSD: "also handed to anyone listening on a raw socket")
    if t != ich.ICMP_ECHO:
        return ICMP_RAW  # echo replies and the rest: for raw ICMP sockets
    stat_inc(icmpstat, _ICPS_ECHO)
    ia = ifp.ia
    if not ia.is_ours(b, o + iph.IP_DST) or m.flags & (mbuf.M_BCAST | mbuf.M_MCAST):
        # net.inet.icmp.bmcastecho=0: no echo for broadcast or multicast (smurf amplification),
        # nor for our address in a link-level broadcast or multicast frame
        stat_inc(icmpstat, _ICPS_BMCASTECHO)
        mbuf.m_free(m)
        return ICMP_CONSUMED
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
    stat_inc(icmpstat, _ICPS_REFLECT)
    stat_inc(icmpstat, _ICPS_OUTHIST_ECHOREPLY)
    ip_output(ifp, m, now)  # a reassembled request's reply leaves in fragments, in its clusters
    return ICMP_CONSUMED


def _check_chain(m, hlen):
    """ich.check() for a reassembled datagram (a chain of clusters): the ICMP header is in the
    first (a first fragment holds at least 8 bytes of payload), the checksum runs over the chain."""
    n = mbuf.m_pktlen(m) - hlen
    if n < ich.ICMP_MINLEN:
        return ich.DROP_SHORT
    if in_cksum_chain(m, hlen, n, 0) != 0:
        return ich.DROP_CKSUM
    return 0


def _notify(b, ic, icmplen, t):
    """An error about a datagram we sent: check the quoted header (FreeBSD: at least the IP header
    and 8 bytes) and tell in_proto the errno it means for the quoted protocol (icmp_notify)."""
    q = ic + ich.ICMP_MINLEN
    if icmplen < ich.ICMP_MINLEN + iph.IP_HDR_LEN + 8 or b[q] >> 4 != 4:
        stat_inc(icmpstat, _ICPS_BADLEN)
        return ICMP_RAW
    qhl = (b[q] & 0x0F) << 2
    if qhl < iph.IP_HDR_LEN or icmplen < ich.ICMP_MINLEN + qhl + 8:
        stat_inc(icmpstat, _ICPS_BADLEN)
        return ICMP_RAW
    # inetctlerrmap: the errno a socket learns (RFC 1122 4.2.3.9: port and protocol unreachable are
    # the hard errors; the socket layer reports what it gets)
    if t == ich.ICMP_UNREACH:
        stat_inc(icmpstat, _ICPS_UNREACH)
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
        stat_inc(icmpstat, _ICPS_TIMXCEED)
        err = EHOSTUNREACH
    icmp_notify[0] = err
    icmp_notify[1] = b[q + iph.IP_P]
    icmp_notify[2] = q
    return ICMP_NOTIFY


def icmp_redirect_input(ifp, m, ic, icmplen):
    """An ICMP redirect came in on ifp (m.off at its IP header, the message at ic): validate it
    (RFC 1122 3.2.2.2) and learn the host route it gives (route.rtredirect), or refuse it
    (icps_badredirect). Every network, TOS or host redirect is taken as a host redirect, as RFC 1122
    asks (RFC 1812 5.2.7.2: routers send host redirects only). A router ignores them (RFC 1812
    4.3.3.2 lets it). Refused: a redirect not sent to our own address, one that does not come from the
    gateway we use now for the quoted destination on this interface, a new gateway off this
    interface's subnet or one that is our address or no unicast host, a quoted datagram we did not
    send (its source is not our address). Returns True when a route was learnt."""

    b = m.buf
    o = m.off
    if route.ipforwarding[0]:
        stat_inc(icmpstat, _ICPS_BADREDIRECT)
        return False
    if ich.msg_code(b, ic) > ich.ICMP_REDIRECT_TOSHOST:
        stat_inc(icmpstat, _ICPS_BADCODE)
        return False
    q = ic + ich.ICMP_MINLEN
    if icmplen < ich.ICMP_MINLEN + iph.IP_HDR_LEN + 8 or b[q] >> 4 != 4 or (b[q] & 0x0F) < 5 or \
            icmplen < ich.ICMP_MINLEN + ((b[q] & 0x0F) << 2) + 8:
        stat_inc(icmpstat, _ICPS_BADLEN)
        return False
    ia = ifp.ia
    gw = ic + ich.ICMP_GWADDR
    qdst = q + iph.IP_DST
    src = o + iph.IP_SRC
    rt = route.rtalloc(b, qdst)
    if (m.flags & (mbuf.M_BCAST | mbuf.M_MCAST) or not ia.is_ours(b, o + iph.IP_DST)
            or not ia.is_ours(b, q + iph.IP_SRC)
            # the gateway ip_output uses now for the quoted destination: none when it is on our link
            or ia.is_local(b, qdst) or rt is None or not rt.flags & route.RTF_GATEWAY or rt.ifp is not ifp
            or not in_eq(rt.gateway, 0, b, src)
            # the new gateway: a unicast host on this interface's subnet, not us
            or not ia.is_local(b, gw) or ia.martian_src(b, gw, False)):
        stat_inc(icmpstat, _ICPS_BADREDIRECT)
        return False
    if in_eq(rt.gateway, 0, b, gw):
        stat_inc(icmpstat, _ICPS_REDIRECT)  # to where we send already: nothing to learn
        return True
    if not route.rtredirect(b, qdst, b, gw, ifp):
        stat_inc(icmpstat, _ICPS_BADREDIRECT)  # a static host route for it: the administrator's word stands
        return False
    stat_inc(icmpstat, _ICPS_REDIRECT)
    return True
