# IGMPv2, the host side (RFC 2236), after FreeBSD netinet/igmp.c and the in_multi part of
# in_mcast.c: the groups this host is in, per interface, and the protocol that tells the routers.
#
# The in_multi table is a fixed set of opts.IP_MAX_MEMBERSHIPS slots, one per (interface, group),
# each counting the sockets that joined it (in_mcast.py keeps a socket's memberships as a bitmask
# of slots). 224.0.0.1, all-hosts, is joined on every interface without a slot (RFC 1112 4: every
# host is in it; RFC 2236 3: never reported): ip_input accepts it always.
#
# RFC 2236 host states per group: Non-Member (a free slot), Delaying Member (a report is due at
# inm_timer) and Idle Member. On join: one report at once, and a second one after a random delay of
# up to the Unsolicited Report Interval (10 s), in case the first is lost (section 3). A query
# (general to 224.0.0.1, or for one group) starts a random delay of up to its Max Response Time for
# each group it covers; a running timer is only shortened. Another host's report for the group
# stops our timer (suppression) and clears "we were the last to report". On the last socket's
# leave: a Leave Group to 224.0.0.2 if we were the last to report. While an IGMPv1 querier is
# present (a query with Max Response Time 0, within 400 s) reports are v1 and no leave is sent.
# Every message leaves with TTL 1 and the Router Alert option (RFC 2113).
#
# Timers: one object in route.pr_timers (netif's contract: next_timeout(now) -> tick or -1,
# timeout(now)), put there by the first join; it costs one counter test while nothing is due.
from .compat import const, ticks_add, ticks_diff, jitter
from . import opts
from . import mbuf
from . import route
from .hdr import ip as iph
from .hdr import ether as eh
from .inet import in_eq, in_copy, in_nullhost, inet_ntoa
from .in_cksum import in_cksum
from .ip_output import ip_output
from .errno import ENOBUFS
from . import stats
from .stats import stat_inc

# igmpstat (netinet/igmp_var.h struct igmpstat), with its names, here and not in stats.py: this
# module loads with the first multicast option a socket sets, and on a Pico a board that uses none
# cannot spare the table (measured: netif.stats() found no 584-byte block on the emulated Pico with
# it in stats.TABLES). It joins stats.TABLES when IGMP loads (below), so netif.stats(), HTTP /stats
# and stats.stat("igmp", ...) report it from then on. The indices are private consts (no RAM).
IGPS_NAMES = (
    "igps_rcv_total igps_rcv_tooshort igps_rcv_badttl igps_rcv_badsum igps_rcv_v1v2_queries "
    "igps_rcv_v3_queries igps_rcv_badqueries igps_rcv_gen_queries igps_rcv_group_queries igps_rcv_reports "
    "igps_rcv_badreports igps_rcv_ourreports igps_snd_reports igps_snd_leaves igps_snd_nombuf"
)
_IGPS_RCV_TOTAL = const(0)
_IGPS_RCV_TOOSHORT = const(1)
_IGPS_RCV_BADTTL = const(2)  # not TTL 1: IGMP is link scope
_IGPS_RCV_BADSUM = const(3)
_IGPS_RCV_V1V2_QUERIES = const(4)
_IGPS_RCV_V3_QUERIES = const(5)  # answered as IGMPv2 queries (RFC 3376 7.2.1: a v2 host)
_IGPS_RCV_BADQUERIES = const(6)  # a general query not to 224.0.0.1, a group query not to its group
_IGPS_RCV_GEN_QUERIES = const(7)
_IGPS_RCV_GROUP_QUERIES = const(8)
_IGPS_RCV_REPORTS = const(9)  # another host's report for a group we are in (ours is then suppressed)
_IGPS_RCV_BADREPORTS = const(10)  # group not multicast, or not the destination
_IGPS_RCV_OURREPORTS = const(11)
_IGPS_SND_REPORTS = const(12)
_IGPS_SND_LEAVES = const(13)
_IGPS_SND_NOMBUF = const(14)  # a report or leave not sent: the pool was empty
_IGPS_N = const(15)
igmpstat = [0] * _IGPS_N
stats.TABLES.append(("igmp", igmpstat, IGPS_NAMES, ""))

IGMP_MINLEN = const(8)
IGMP_HOST_MEMBERSHIP_QUERY = const(0x11)
IGMP_V1_MEMBERSHIP_REPORT = const(0x12)
IGMP_V2_MEMBERSHIP_REPORT = const(0x16)
IGMP_V2_LEAVE_GROUP = const(0x17)

_NOT_MEMBER = const(0)  # a free slot
_DELAYING = const(1)  # a report is due at inm_timer
_IDLE = const(2)

_UNSOLICITED_MS = const(10000)  # RFC 2236 8.10 Unsolicited Report Interval
_V1_ROUTER_MS = const(400000)  # RFC 2236 8.11 Version 1 Router Present Timeout
_V1_MAXRESP = const(100)  # tenths of a second: what a v1 query (code 0) means (RFC 2236 4)
_NO_DEADLINE = const(-1)
_N = opts.IP_MAX_MEMBERSHIPS
_IGMP_HLEN = const(24)  # IP header + Router Alert
_TOS = const(0xC0)  # IPTOS_PREC_INTERNETCONTROL, as FreeBSD and Linux send IGMP

ALLHOSTS = b"\xe0\x00\x00\x01"  # 224.0.0.1
ALLRTRS = b"\xe0\x00\x00\x02"  # 224.0.0.2: where leaves go

# the in_multi table: one slot per (interface, group)
inm_addr = bytearray(4 * _N)
inm_ifp = [None] * _N
inm_refs = bytearray(_N)  # sockets holding the slot
inm_state = bytearray(_N)
inm_timer = [0] * _N  # tick a report is due (_DELAYING)
inm_last = bytearray(_N)  # RFC 2236's flag: we were the last host to report the group
_npend = [0]  # slots in _DELAYING
_v1_ifp = []  # type: list  # interfaces with an IGMPv1 querier heard, and until when
_v1_until = []  # type: list


# --- membership --------------------------------------------------------------------------------
def inm_lookup(ifp, a, off):
    """The slot of group a[off:off+4] on ifp, or -1 (per multicast datagram: no allocation)."""
    for s in range(_N):
        if inm_ifp[s] is ifp and in_eq(inm_addr, 4 * s, a, off):
            return s
    return -1


def in_mcast_member(ifp, a, off):
    """Is this host in group a[off:] on ifp (ip_input's check; all-hosts always)?"""
    if a[off] == 224 and a[off + 1] == 0 and a[off + 2] == 0 and a[off + 3] == 1:
        return True
    return inm_lookup(ifp, a, off) >= 0


def in_joingroup(ifp, a, off, now):
    """A socket joins group a[off:] on ifp: the slot it holds from now on (one more reference when
    the group is joined there already). A new group is added to the chip's filter and reported.
    OSError(ENOBUFS) when the table is full."""
    s = inm_lookup(ifp, a, off)
    if s >= 0:
        inm_refs[s] += 1
        return s
    for s in range(_N):
        if inm_state[s] == _NOT_MEMBER:
            break
    else:
        raise OSError(ENOBUFS, "%d multicast memberships in use (opts.IP_MAX_MEMBERSHIPS)" % _N)
    if_addmulti(ifp, a, off)
    in_copy(inm_addr, 4 * s, a, off)
    inm_ifp[s] = ifp
    inm_refs[s] = 1
    inm_state[s] = _IDLE
    inm_last[s] = 0
    if not _allhosts(inm_addr, 4 * s):
        _report(s, now)
        # RFC 2236 3: repeat the unsolicited report once, after a random delay
        _delay(s, _UNSOLICITED_MS, now)
    _attach()
    return s


def _attach():
    """Once: the timers into the interfaces' loop (route.pr_timers)."""
    if igmp_timers not in route.pr_timers:
        route.pr_timers.append(igmp_timers)


def in_leavegroup(s, now):
    """A socket drops its reference to slot s; the last one leaves the group (Leave Group to
    224.0.0.2 when we were the last to report it, RFC 2236 3) and takes it off the chip's filter."""
    if inm_refs[s] > 1:
        inm_refs[s] -= 1
        return
    ifp = inm_ifp[s]
    if (inm_last[s] and not _allhosts(inm_addr, 4 * s) and not _v1_present(ifp, now)):
        _sendpkt(ifp, IGMP_V2_LEAVE_GROUP, inm_addr, 4 * s, ALLRTRS, 0, now)
    if_delmulti(ifp, inm_addr, 4 * s)
    _free(s)


def _free(s):
    if inm_state[s] == _DELAYING:
        _npend[0] -= 1
    inm_state[s] = _NOT_MEMBER
    inm_ifp[s] = None
    inm_refs[s] = 0
    inm_last[s] = 0
    for i in range(4):
        inm_addr[4 * s + i] = 0


def igmp_groups():
    """[(interface address, group, sockets, state)] for reporting (not the data path)."""
    out = []
    for s in range(_N):
        st = inm_state[s]
        if st != _NOT_MEMBER:
            out.append((inet_ntoa(inm_ifp[s].ia.addr), inet_ntoa(inm_addr, 4 * s), inm_refs[s],
                        "delaying" if st == _DELAYING else "idle"))
    return out


def igmp_flush():
    """Forget every membership and querier (tests: what a test left must not reach the next)."""
    for s in range(_N):
        if inm_state[s] != _NOT_MEMBER:
            ifp = inm_ifp[s]
            while inm_refs[s] > 1:
                inm_refs[s] -= 1
            if_delmulti(ifp, inm_addr, 4 * s)
            _free(s)
    del _v1_ifp[:]
    del _v1_until[:]


def _allhosts(a, off):
    return a[off] == 224 and a[off + 1] == 0 and a[off + 2] == 0 and a[off + 3] == 1


def _delay(s, max_ms, now):
    """Delaying Member with a report due after a random 0..max_ms; a running timer that is due
    sooner than max_ms is kept (RFC 2236 3: reset only if the Max Response Time is less)."""
    if inm_state[s] == _DELAYING:
        if ticks_diff(inm_timer[s], now) <= max_ms:
            return
    else:
        _npend[0] += 1
        inm_state[s] = _DELAYING
    inm_timer[s] = ticks_add(now, jitter(22) % (max_ms + 1))


# --- the interface's link-level list (BSD net/if.c if_multiaddrs, if_addmulti/if_delmulti) -------
_NMULTI = _N + 1


class EtherMulti:
    """An interface's link-level multicast addresses (ifp.mcast, made with the first group joined on
    it): the MAC of 224.0.0.1 always (RFC 1112: every host is in the all-hosts group, and IGMP queries
    come to it), then the MAC of each group joined on the interface, counted (two groups can share a
    MAC: only the low 23 bits of a group map to it, RFC 1112 6.4). The chip's filter gets this list
    (dev.set_multicast) on every change and after init (netif); ether_input keeps exactly these,
    whatever the chip passed. Before the first join ether_input keeps the all-hosts MAC alone and
    the chip passes what its driver passes by default (every multicast frame)."""

    def __init__(self):
        self.macs = bytearray(6 * _NMULTI)  # n MACs back to back: what dev.set_multicast gets
        self.refs = bytearray(_NMULTI)
        self.n = 1
        ether_map_multicast(ALLHOSTS, 0, self.macs, 0)
        self.refs[0] = 1

    def match(self, b, o):
        """The destination MAC at b[o] is one of ours (per multicast frame: no allocation)."""
        macs = self.macs
        for i in range(0, 6 * self.n, 6):
            if eh.mac_eq(b, o, macs, i):
                return True
        return False

    def program(self, dev):
        """The chip's multicast filter from the list (driver contract: set_multicast(macs, n)); a
        device without one passes every multicast frame and match() does the filtering."""
        f = getattr(dev, "set_multicast", None)
        if f is not None:
            f(self.macs, self.n)


def if_addmulti(ifp, a, off):
    """Group a[off:] joined on ifp: its MAC on the interface's list (counted: groups can share
    one, RFC 1112 6.4), and the chip's filter programmed when the list changed. The list holds
    IP_MAX_MEMBERSHIPS + 1 (all-hosts): it cannot overflow before the in_multi table does."""
    em = getattr(ifp, "mcast", None)
    if em is None:
        em = ifp.mcast = EtherMulti()  # the interface's if_multiaddrs from now on (ether_input, netif)
    mac = _mac
    ether_map_multicast(a, off, mac, 0)
    i = _mac_find(em, mac)
    if i >= 0:
        em.refs[i] += 1
        return
    eh.mac_copy(em.macs, 6 * em.n, mac, 0)
    em.refs[em.n] = 1
    em.n += 1
    em.program(ifp.dev)


def if_delmulti(ifp, a, off):
    em = getattr(ifp, "mcast", None)
    if em is None:
        return
    mac = _mac
    ether_map_multicast(a, off, mac, 0)
    i = _mac_find(em, mac)
    if i <= 0:
        return  # not there, or the all-hosts MAC, which stays
    em.refs[i] -= 1
    if em.refs[i]:
        return
    last = em.n - 1
    if i != last:
        eh.mac_copy(em.macs, 6 * i, em.macs, 6 * last)
        em.refs[i] = em.refs[last]
    em.refs[last] = 0
    em.n = last
    em.program(ifp.dev)


def ether_map_multicast(group, goff, mac, moff):
    """RFC 1112 6.4: 01:00:5e, then the low 23 bits of the group (ETHER_MAP_IP_MULTICAST; ether_output
    does the same for the frames it sends)."""
    mac[moff] = 0x01
    mac[moff + 1] = 0x00
    mac[moff + 2] = 0x5E
    mac[moff + 3] = group[goff + 1] & 0x7F
    mac[moff + 4] = group[goff + 2]
    mac[moff + 5] = group[goff + 3]


def _mac_find(em, mac):
    for i in range(em.n):
        if eh.mac_eq(em.macs, 6 * i, mac, 0):
            return i
    return -1


_mac = bytearray(6)


# --- IGMPv1 querier present (per interface) ----------------------------------------------------
def _v1_present(ifp, now):
    for i in range(len(_v1_ifp)):
        if _v1_ifp[i] is ifp:
            return ticks_diff(_v1_until[i], now) > 0
    return False


def _v1_heard(ifp, now):
    until = ticks_add(now, _V1_ROUTER_MS)
    for i in range(len(_v1_ifp)):
        if _v1_ifp[i] is ifp:
            _v1_until[i] = until
            return
    _v1_ifp.append(ifp)  # once per interface and querier change: not the data path
    _v1_until.append(until)
    _attach()


# --- output ------------------------------------------------------------------------------------
def _report(s, now):
    ifp = inm_ifp[s]
    t = IGMP_V1_MEMBERSHIP_REPORT if _v1_present(ifp, now) else IGMP_V2_MEMBERSHIP_REPORT
    if _sendpkt(ifp, t, inm_addr, 4 * s, inm_addr, 4 * s, now):
        inm_last[s] = 1


def _sendpkt(ifp, type, grp, goff, dst, doff, now):
    """One IGMP message about group grp[goff:] to dst[doff:] (the group itself, or 224.0.0.2 for a
    leave): TTL 1, Router Alert (RFC 2236 2), from the interface's address (0.0.0.0 before it has
    one). Not looped back to our own sockets."""
    if not ifp.up:
        return False
    m = mbuf.m_get(opts.MAX_LINKHDR)
    if m is None:
        stat_inc(igmpstat, _IGPS_SND_NOMBUF)
        return False
    b = m.buf
    o = m.off
    iph.emit(b, o, _IGMP_HLEN, _TOS, _IGMP_HLEN + IGMP_MINLEN, 0, 0, 1, iph.IPPROTO_IGMP, ifp.ia.addr, 0,
             dst, doff)
    b[o + 20] = iph.IPOPT_RA  # RFC 2113: routers look at this datagram, though it is not for them
    b[o + 21] = 4
    b[o + 22] = 0
    b[o + 23] = 0
    ic = o + _IGMP_HLEN
    b[ic] = type
    b[ic + 1] = 0
    b[ic + 2] = 0
    b[ic + 3] = 0
    in_copy(b, ic + 4, grp, goff)
    c = in_cksum(b, ic, IGMP_MINLEN)
    b[ic + 2] = c >> 8
    b[ic + 3] = c & 0xFF
    m.len = _IGMP_HLEN + IGMP_MINLEN
    stat_inc(igmpstat, _IGPS_SND_LEAVES if type == IGMP_V2_LEAVE_GROUP else _IGPS_SND_REPORTS)
    ip_output(ifp, m, now, 1)
    return True


# --- input -------------------------------------------------------------------------------------
def igmp_input(ifp, m, hlen, now):
    """m.off at the IP header (ip_input let it in: all-hosts or a group we are in). True when the
    message is good: in_proto then hands it to raw sockets too, as BSD's igmp_input does; False
    when it was dropped (freed)."""
    b = m.buf
    o = m.off
    ic = o + hlen
    n = m.len - hlen
    stat_inc(igmpstat, _IGPS_RCV_TOTAL)
    if n < IGMP_MINLEN:
        stat_inc(igmpstat, _IGPS_RCV_TOOSHORT)
        mbuf.m_free(m)
        return False
    if in_cksum(b, ic, n) != 0:
        stat_inc(igmpstat, _IGPS_RCV_BADSUM)
        mbuf.m_free(m)
        return False
    if b[o + iph.IP_TTL] != 1:
        stat_inc(igmpstat, _IGPS_RCV_BADTTL)  # link scope only (FreeBSD igmp_input)
        mbuf.m_free(m)
        return False
    t = b[ic]
    if t == IGMP_HOST_MEMBERSHIP_QUERY:
        _query_input(ifp, b, o, ic, n, now)
    elif t == IGMP_V1_MEMBERSHIP_REPORT or t == IGMP_V2_MEMBERSHIP_REPORT:
        _report_input(ifp, b, o, ic)
    return True


def _query_input(ifp, b, o, ic, n, now):
    code = b[ic + 1]
    if n == IGMP_MINLEN:
        stat_inc(igmpstat, _IGPS_RCV_V1V2_QUERIES)
        if code == 0:
            code = _V1_MAXRESP  # an IGMPv1 query: answer within 10 s, in v1, for a while
            _v1_heard(ifp, now)
    else:
        # RFC 3376 7.2.1: an IGMPv2 host answers an IGMPv3 query as a v2 one; 4.1.1: a code of
        # 128 or more is a floating-point value
        stat_inc(igmpstat, _IGPS_RCV_V3_QUERIES)
        if code >= 128:
            code = ((code & 0x0F) | 0x10) << (((code >> 4) & 0x07) + 3)
    max_ms = code * 100
    g = ic + 4
    if in_nullhost(b, g):
        if not _allhosts(b, o + iph.IP_DST):
            stat_inc(igmpstat, _IGPS_RCV_BADQUERIES)
            return
        stat_inc(igmpstat, _IGPS_RCV_GEN_QUERIES)
        for s in range(_N):
            if inm_ifp[s] is ifp and not _allhosts(inm_addr, 4 * s):
                _delay(s, max_ms, now)
        return
    if b[g] & 0xF0 != 0xE0:
        stat_inc(igmpstat, _IGPS_RCV_BADQUERIES)
        return
    stat_inc(igmpstat, _IGPS_RCV_GROUP_QUERIES)
    s = inm_lookup(ifp, b, g)
    if s >= 0 and not _allhosts(b, g):
        _delay(s, max_ms, now)


def _report_input(ifp, b, o, ic):
    g = ic + 4
    if b[g] & 0xF0 != 0xE0 or not in_eq(b, g, b, o + iph.IP_DST):
        stat_inc(igmpstat, _IGPS_RCV_BADREPORTS)
        return
    if ifp.ia.is_ours(b, o + iph.IP_SRC):
        stat_inc(igmpstat, _IGPS_RCV_OURREPORTS)
        return
    stat_inc(igmpstat, _IGPS_RCV_REPORTS)
    s = inm_lookup(ifp, b, g)
    if s >= 0 and inm_state[s] == _DELAYING:
        # RFC 2236 3: another member answered: ours is not needed, and it is not the last reporter
        _npend[0] -= 1
        inm_state[s] = _IDLE
        inm_last[s] = 0


# --- timers ------------------------------------------------------------------------------------
class _IgmpTimers:
    """The reports that are due, and the end of an IGMPv1 querier's presence."""

    def next_timeout(self, now):
        if _npend[0] == 0 and not _v1_ifp:
            return _NO_DEADLINE
        best = _NO_DEADLINE
        for s in range(_N):
            if inm_state[s] == _DELAYING:
                t = inm_timer[s]
                if best == _NO_DEADLINE or ticks_diff(t, best) < 0:
                    best = t
        for t in _v1_until:
            if best == _NO_DEADLINE or ticks_diff(t, best) < 0:
                best = t
        return best

    def timeout(self, now):
        if _npend[0]:
            for s in range(_N):
                if inm_state[s] == _DELAYING and ticks_diff(inm_timer[s], now) <= 0:
                    _npend[0] -= 1
                    inm_state[s] = _IDLE
                    _report(s, now)
        i = len(_v1_until) - 1
        while i >= 0:
            if ticks_diff(_v1_until[i], now) <= 0:
                del _v1_ifp[i]  # back to IGMPv2 (RFC 2236 4)
                del _v1_until[i]
            i -= 1


igmp_timers = _IgmpTimers()
