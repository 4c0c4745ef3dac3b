# IPv4 reassembly (RFC 791 3.2, RFC 815; BSD ip_reass, ipq).
#
# A datagram in reassembly has a slot (BSD's ipq), opts.IP_REASS_SLOTS of them, keyed by
# (source, destination, ID, protocol). Each fragment stays in the cluster it arrived in: m.off/m.len
# at its payload (its header is spent, except fragment 0's, which becomes the datagram's), its
# byte offset in the datagram in _fo[m.idx], the fragments linked in offset order through m.cont.
# Complete, the chain is the datagram as UDP, ICMP and raw IP take it: the first cluster from the
# IP header (total length set, MF and offset cleared, checksum anew), every next cluster its piece
# of payload. Nothing is copied: zero-copy for the fragments as they come, and ip_output sends an
# answer built on the chain (an echo reply) in the same clusters.
#
# The rules, in the order they are applied to a fragment:
#   - payload 0, or not a multiple of 8 while MF is set: ips_toosmall (BSD)
#   - offset + payload over 65535: ips_toolong; over opts.IP_MAXREASS (the largest datagram we
#     take: the clusters of IP_REASS_MBUFS full Ethernet fragments): ips_toolong, and its slot goes
#   - a last fragment (MF clear) that disagrees with the end already known, or ends before data
#     already held; a fragment that goes past the known end: dropped (the first to come wins)
#   - overlaps: the first copy wins. A fragment whose front is held already is trimmed; one that
#     brings nothing new is a duplicate (dropped); one that covers held fragments takes their
#     bytes over its own (their clusters go back); one whose tail is held is cut there. So every
#     boundary stays a multiple of 8 and the pieces never overlap.
# Every fragment dropped counts in ips_fragdropped too, as BSD counts them.
#
# The pool rule (DESIGN.md 3): a fragment kept waiting is held under HOLD_REASS (opts.IP_REASS_MBUFS
# clusters for all datagrams together). When the quota is full the oldest other datagram is
# dropped to make room (ips_fragdropped, per fragment); when there is none, the datagram cannot be
# reassembled within the quota and is dropped itself. A fragment that completes its datagram is
# not held: the datagram goes on at once. The slots' timer (route.pr_timers, made known with the
# first slot used) drops a datagram opts.IP_REASS_TTL_MS after its first fragment came
# (ips_fragtimeout, per fragment), answering ICMP time exceeded (reassembly) when fragment 0 is
# among them (RFC 792, RFC 1122 3.3.2).
#
# Delivery: UDP, ICMP and raw IP take the chain. A datagram that fits its first cluster (a small one
# sent in small fragments) is copied into it, for every protocol: a socket queue holds one cluster
# for it, not one per fragment. Another protocol (TCP) always gets one cluster: a larger datagram is
# dropped (ips_toolong).
from .compat import const, ticks_add, ticks_diff
from . import opts
from . import mbuf
from . import route
from . import in_proto
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_eq, in_copy
from .bcopy import bcopy
from .ip_icmp import icmp_error
from .stats import stat_inc, stat_add, ipstat, mbstat
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IPS_TOOSMALL = const(2)
_IPS_FRAGMENTS = const(11)
_IPS_FRAGDROPPED = const(12)
_IPS_FRAGTIMEOUT = const(18)
_IPS_REASSEMBLED = const(19)
_IPS_TOOLONG = const(26)
_MBS_QUOTADROPS = const(4)

_NSLOT = opts.IP_REASS_SLOTS
_NO_DEADLINE = const(-1)
_IP_MAXPACKET = const(65535)

_used = bytearray(_NSLOT)
_src = bytearray(4 * _NSLOT)
_dst = bytearray(4 * _NSLOT)
_proto = bytearray(_NSLOT)
_id = [0] * _NSLOT
_head = [None] * _NSLOT  # type: list  # the fragments, in offset order through m.cont
_end = [0] * _NSLOT  # bytes of payload of the whole datagram: known from the last fragment, else -1
_have = [0] * _NSLOT  # bytes of payload held (the pieces never overlap)
_hlen = bytearray(_NSLOT)  # fragment 0's header length; 0 until it came
_nfrag = bytearray(_NSLOT)
_flags = bytearray(_NSLOT)  # the fragments' M_BCAST/M_MCAST, or-ed
_ifp = [None] * _NSLOT  # type: list  # where fragment 0 came in (the time exceeded goes out there)
_deadline = [0] * _NSLOT
_fo = [0] * opts.NMBCLUSTERS  # a held fragment's byte offset in its datagram, by cluster (m.idx)
_nused = [0]


class _ReassTimer:
    """ipq timeout: on route.pr_timers (every interface's poll runs it)."""

    def next_timeout(self, now):
        if not _nused[0]:
            return _NO_DEADLINE
        best = _NO_DEADLINE
        for s in range(_NSLOT):
            if _used[s] and (best == _NO_DEADLINE or ticks_diff(_deadline[s], best) < 0):
                best = _deadline[s]
        return best

    def timeout(self, now):
        for s in range(_NSLOT):
            if _used[s] and ticks_diff(_deadline[s], now) <= 0:
                _expire(s, now)


_timer = _ReassTimer()


def _expire(s, now):
    """Reassembly time exceeded: ICMP to the sender when fragment 0 is here, then drop it all."""
    stat_add(ipstat, _IPS_FRAGTIMEOUT, _nfrag[s])
    hl = _hlen[s]
    m = _head[s]
    ifp = _ifp[s]
    if hl and m is not None and ifp is not None and ifp.up:
        # fragment 0 heads the chain; its header is still in front of its payload, as received
        m.off -= hl
        m.len += hl
        m.flags = _flags[s]
        icmp_error(ifp, m, ich.ICMP_TIMXCEED, ich.ICMP_TIMXCEED_REASS, now)
    _free_slot(s)


def _free_slot(s):
    m = _head[s]
    _head[s] = None
    _ifp[s] = None
    _used[s] = 0
    _nused[0] -= 1
    mbuf.m_free(m)  # the chain, releasing the holds


def _drop_slot(s):
    """Give a datagram up (quota, slots, a bad fragment): its fragments count as dropped."""
    stat_add(ipstat, _IPS_FRAGDROPPED, _nfrag[s])
    _free_slot(s)


def ip_reass_flush():
    """Drop every datagram in reassembly (BSD ip_drain): memory pressure, or a test's cleanup."""
    for s in range(_NSLOT):
        if _used[s]:
            _drop_slot(s)


def ip_reass_count():
    """Datagrams in reassembly now."""
    return _nused[0]


def _lookup(b, o):
    p = b[o + iph.IP_P]
    i = iph.ident(b, o)
    for s in range(_NSLOT):
        if (_used[s] and _id[s] == i and _proto[s] == p and in_eq(_src, 4 * s, b, o + iph.IP_SRC)
                and in_eq(_dst, 4 * s, b, o + iph.IP_DST)):
            return s
    return -1


def _oldest(skip):
    """The slot in use with the earliest deadline, other than skip; -1 if none."""
    best = -1
    for s in range(_NSLOT):
        if _used[s] and s != skip and (best < 0 or ticks_diff(_deadline[s], _deadline[best]) < 0):
            best = s
    return best


def _new_slot(ifp, b, o, now):
    s = -1
    for i in range(_NSLOT):
        if not _used[i]:
            s = i
            break
    if s < 0:
        s = _oldest(-1)  # every slot busy: the oldest datagram gives way
        _drop_slot(s)
    if _timer not in route.pr_timers:
        route.pr_timers.append(_timer)
    _used[s] = 1
    _nused[0] += 1
    in_copy(_src, 4 * s, b, o + iph.IP_SRC)
    in_copy(_dst, 4 * s, b, o + iph.IP_DST)
    _proto[s] = b[o + iph.IP_P]
    _id[s] = iph.ident(b, o)
    _head[s] = None
    _end[s] = -1
    _have[s] = 0
    _hlen[s] = 0
    _nfrag[s] = 0
    _flags[s] = 0
    _ifp[s] = ifp
    _deadline[s] = ticks_add(now, opts.IP_REASS_TTL_MS)
    return s


def _drop(m, why):
    stat_inc(ipstat, why)
    stat_inc(ipstat, _IPS_FRAGDROPPED)
    mbuf.m_free(m)


def ip_reass(ifp, m, now):
    """A fragment for us (m.off at its checked IP header, m.len its total length). Consumes m.
    Returns the whole datagram (a chain, m.off of its first cluster at the IP header) when this
    fragment completed it, else None."""
    b = m.buf
    o = m.off
    stat_inc(ipstat, _IPS_FRAGMENTS)
    hl = iph.hlen(b, o)
    fr = iph.frag(b, o)
    a = (fr & iph.IP_OFFMASK) << 3  # the piece [a, e) of the datagram's payload
    ln = m.len - hl
    e = a + ln
    mf = fr & iph.IP_MF
    if ln <= 0 or (mf and ln & 7):
        _drop(m, _IPS_TOOSMALL)
        return None
    s = _lookup(b, o)
    if e > opts.IP_MAXREASS or e > _IP_MAXPACKET:
        if s >= 0 and e <= _IP_MAXPACKET:
            _drop_slot(s)  # a datagram larger than we take: what came of it is of no use
        _drop(m, _IPS_TOOLONG)
        return None
    if s < 0:
        s = _new_slot(ifp, b, o, now)
    end = _end[s]
    if not mf:
        if end >= 0 and end != e:
            _drop_dup(m)  # a second end, not where the first said
            return None
        if end < 0:
            t = _head[s]
            while t is not None and t.cont is not None:
                t = t.cont
            if t is not None and _fo[t.idx] + t.len > e:
                _drop_dup(m)  # data held beyond this "last" fragment: it lies
                return None
            _end[s] = e
    elif end >= 0 and e > end:
        _drop_dup(m)
        return None
    # m from here on is the piece itself
    m.off = o + hl
    m.len = ln
    a0 = a
    prev = None
    c = _head[s]
    while c is not None:  # skip what ends before us; trim what we hold of our front
        cs = _fo[c.idx]
        ce = cs + c.len
        if ce <= a:
            prev = c
            c = c.cont
            continue
        if cs <= a:
            a = ce
            if a >= e:
                _drop_dup(m)  # nothing new
                return None
            prev = c
            c = c.cont
            continue
        break
    if a != a0:
        m.off += a - a0
        m.len -= a - a0
    while c is not None:  # pieces inside ours: their bytes over ours (the first copy wins)
        cs = _fo[c.idx]
        if cs >= e:
            break
        ce = cs + c.len
        if ce > e:
            e = cs  # our tail is held: cut it
            m.len = e - a
            break
        bcopy(c.buf, c.off, m.buf, m.off + cs - a, c.len)
        n = c.cont
        c.cont = None
        _have[s] -= c.len
        _nfrag[s] -= 1
        mbuf.m_free(c)
        c = n
    _fo[m.idx] = a
    m.cont = c
    if prev is None:
        _head[s] = m
    else:
        prev.cont = m
    if a0 == 0 and a == 0:
        _hlen[s] = hl
    _have[s] += e - a
    _nfrag[s] += 1
    _flags[s] |= m.flags
    if _end[s] >= 0 and _have[s] == _end[s]:
        return _complete(s)
    # wait for the rest, under the quota
    while True:
        c = m.cont
        m.cont = None
        ok = mbuf.m_hold(m, mbuf.HOLD_REASS, now)
        m.cont = c
        if ok:
            return None
        stat_inc(mbstat, _MBS_QUOTADROPS)
        t = _oldest(s)
        if t < 0:
            _drop_slot(s)  # the datagram alone needs more than the quota
            return None
        _drop_slot(t)


def _drop_dup(m):
    stat_inc(ipstat, _IPS_FRAGDROPPED)
    mbuf.m_free(m)


def _complete(s):
    """Slot s holds the whole datagram: make its chain the datagram and free the slot."""
    m = _head[s]
    hl = _hlen[s]
    n = hl + _end[s]
    flags = _flags[s]
    _head[s] = None
    _ifp[s] = None
    _used[s] = 0
    _nused[0] -= 1
    mbuf.m_unhold(m)
    m.off -= hl
    m.len += hl
    m.flags = flags
    b = m.buf
    o = m.off
    iph.set_total_len(b, o, n)
    iph.set_frag(b, o, iph.frag(b, o) & (iph.IP_DF | iph.IP_RF))
    stat_inc(ipstat, _IPS_REASSEMBLED)
    p = b[o + iph.IP_P]
    if m.cont is not None and (o + n <= opts.MCLBYTES or (p != iph.IPPROTO_UDP and p != iph.IPPROTO_ICMP
                                                          and in_proto.ip_protox[p] != 0)):
        # one that fits its first cluster (it came in small fragments) becomes one cluster for every
        # protocol: a socket queue then holds one cluster for it, not one per fragment (SB_MBUFS);
        # a protocol that reads one cluster (TCP) gets the pieces behind the header, when they fit
        c = m.cont
        if o + n > opts.MCLBYTES:
            stat_inc(ipstat, _IPS_TOOLONG)
            mbuf.m_free(m)
            return None
        mbuf.m_copydata(c, 0, n - m.len, b, o + m.len)
        m.len = n
        m.cont = None
        mbuf.m_free(c)
    iph.fill_cksum(b, o)
    return m
