# Ethernet input/output and ARP (RFC 826), after FreeBSD's if_ethersubr.c and if_ether.c.
#
# The ARP table is a fixed set of slots (llentry): address, MAC, state, expiry, retries and a
# small hold queue (la_hold) of mbufs waiting for the answer. A full table evicts the least
# recently used entry that has nothing on hold. Entries are updated from any ARP packet whose
# sender is already known (RFC 826 "merge"), created only when the packet is for us; we answer
# requests only for our own address and send a gratuitous ARP when our address changes.
from .compat import const, ticks_add, ticks_diff
from . import opts
from . import mbuf
from .inet import in_eq, in_copy, in_nullhost, inet_ntoa
from .hdr import ether as eh
from .hdr import arp as ah
from .errno import EHOSTDOWN, EHOSTUNREACH, ENOBUFS
from .stats import stat_inc, stat_add, arpstat, etherstat, mbstat
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_ARPS_RECEIVED = const(0)
_ARPS_RXREQUESTS = const(1)
_ARPS_RXREPLIES = const(2)
_ARPS_TXREQUESTS = const(3)
_ARPS_TXREPLIES = const(4)
_ARPS_TXGRATUITOUS = const(5)
_ARPS_DROPPED = const(6)
_ARPS_BAD = const(7)
_ARPS_BADSHA = const(8)
_ARPS_BADSPA = const(9)
_ARPS_NOTFORUS = const(10)
_ARPS_DUPADDR = const(11)
_ARPS_DEFENDED = const(12)
_ARPS_TIMEOUTS = const(13)
_ARPS_HELD = const(14)
_ARPS_HOLDDROPS = const(15)
_ARPS_EVICTIONS = const(16)
_ARPS_TABLEFULL = const(17)
_ARPS_NOMBUF = const(18)
_ETHS_SHORT = const(0)
_ETHS_NOTFORUS = const(1)
_ETHS_NOPROTO = const(2)
_ETHS_MULTICAST = const(3)
_ETHS_BROADCAST = const(4)
_ETHS_MCASTFILTER = const(5)
_IFS_IERRORS = const(4)
_IFS_OERRORS = const(5)
_IFS_NOPROTO = const(7)
_IFS_NOTFORUS = const(8)
_MBS_QUOTADROPS = const(4)

_LLE_FREE = const(0)
_LLE_INCOMPLETE = const(1)  # request sent, no answer yet
_LLE_REACHABLE = const(2)
_LLE_DOWN = const(3)  # gave up after ARP_MAXTRIES: drop quickly instead of asking again

_NO_DEADLINE = const(-1)
_STATE_NAMES = ("free", "incomplete", "reachable", "down")

_BCAST = b"\xff\xff\xff\xff\xff\xff"
_ANY = b"\x00\x00\x00\x00"
_ALLHOSTS_MAC = b"\x01\x00\x5e\x00\x00\x01"  # 224.0.0.1 (RFC 1112 6.4): every host is in it
arp_error = [0]  # why the last ether_output did not send (EHOSTDOWN, ...): the sender reports it


class ArpTable:
    def __init__(self, ifp, size=opts.ARP_TABLE_SIZE):
        self.ifp = ifp
        self.size = size
        self.ip = bytearray(4 * size)
        self.mac = bytearray(6 * size)
        self.state = bytearray(size)
        self.asked = bytearray(size)  # la_asked: requests sent for an incomplete entry
        self.expire = [0] * size  # ticks: reachable -> stale; incomplete -> next retry; down -> free
        self.used = [0] * size  # ticks of last use, for LRU eviction
        self.hold = [None] * size  # la_hold: mbufs linked through m.next
        self.nhold = bytearray(size)
        self.npend = 0  # entries INCOMPLETE or DOWN (the ones with a timer): none is the common case
        self.last = 0  # the slot resolve() hit last: most traffic goes to one peer or the gateway
        self.defended = False  # an address conflict was answered at defend_at (RFC 5227 2.4)
        self.defend_at = 0
        self.probing = None  # RFC 5227 2.1.1: the address a DHCP client probes (4 bytes), while it does
        self.conflict = False  # ... and whether another host answered the probe or probed it too

    # --- lookup and slots ---------------------------------------------------------------
    def _set(self, i, s):
        old = self.state[i]
        self.npend += (s == _LLE_INCOMPLETE or s == _LLE_DOWN) - (old == _LLE_INCOMPLETE or old == _LLE_DOWN)
        self.state[i] = s

    def lookup(self, a, off):
        i = self.last
        if self.state[i] != _LLE_FREE and in_eq(self.ip, 4 * i, a, off):
            return i
        for i in range(self.size):
            if self.state[i] != _LLE_FREE and in_eq(self.ip, 4 * i, a, off):
                return i
        return -1

    def _alloc(self, a, off, now):
        """A slot for address a: a free one, else evict: a down entry, then the least recently used
        unanswered one, then the least recently used reachable one. Entries that answered are
        the last to go, so a flood of unresolvable (spoofed) addresses churns among its own
        entries and leaves the hosts we talk to in place."""
        victim = -1
        vrank = 0
        for i in range(self.size):
            st = self.state[i]
            if st == _LLE_FREE:
                victim = i
                break
            r = 3 if st == _LLE_DOWN else (2 if st == _LLE_INCOMPLETE else 1)
            if r > vrank or (r == vrank and ticks_diff(self.used[i], self.used[victim]) < 0):
                victim = i
                vrank = r
        if victim < 0:
            stat_inc(arpstat, _ARPS_TABLEFULL)
            return -1
        if self.state[victim] != _LLE_FREE:
            stat_inc(arpstat, _ARPS_EVICTIONS)
            self._clear(victim)
        in_copy(self.ip, 4 * victim, a, off)
        self.used[victim] = now
        self.asked[victim] = 0
        return victim

    def _clear(self, i):
        m = self.hold[i]
        if m is not None:
            stat_add(arpstat, _ARPS_HOLDDROPS, self.nhold[i])
            mbuf.m_freem(m)
        self.hold[i] = None
        self.nhold[i] = 0
        self._set(i, _LLE_FREE)
        self.asked[i] = 0

    def flush(self):
        for i in range(self.size):
            self._clear(i)

    def entries(self):
        out = []
        for i in range(self.size):
            s = self.state[i]
            if s != _LLE_FREE:
                mac = ":".join("%02x" % self.mac[6 * i + k] for k in range(6)) if s == _LLE_REACHABLE else ""
                out.append((inet_ntoa(self.ip, 4 * i), mac, _STATE_NAMES[s]))
        return out

    # --- output: arpresolve -------------------------------------------------------------
    def resolve(self, m, dst, doff, now):
        """arpresolve(): fill the destination MAC of the frame in m (m.off at the Ethernet header)
        for next hop dst. True: send now. False: m is held until the answer, or dropped (counted)."""
        i = self.lookup(dst, doff)
        if i >= 0 and self.state[i] == _LLE_REACHABLE:
            self.last = i
            self.used[i] = now
            eh.mac_copy(m.buf, m.off, self.mac, 6 * i)
            if ticks_diff(self.expire[i], now) <= 0:
                # stale: keep using it but ask again (unicast refresh would do too)
                self.expire[i] = ticks_add(now, opts.ARP_KEEP_MS)
                self._request(dst, doff, now)
            return True
        if i >= 0 and self.state[i] == _LLE_DOWN:
            stat_inc(arpstat, _ARPS_DROPPED)
            arp_error[0] = EHOSTDOWN  # the sender learns it (ARP gave up on this host lately)
            mbuf.m_free(m)
            return False
        if i < 0:
            if self.ifp.ia.is_ours(dst, doff) or self.ifp.ia.martian_src(dst, doff, False):
                # never ARP for our own address, or for one no host can have
                stat_inc(arpstat, _ARPS_DROPPED)
                arp_error[0] = EHOSTUNREACH
                mbuf.m_free(m)
                return False
            i = self._alloc(dst, doff, now)
            if i < 0:
                stat_inc(arpstat, _ARPS_DROPPED)
                arp_error[0] = ENOBUFS
                mbuf.m_free(m)
                return False
            self._set(i, _LLE_INCOMPLETE)
            self.asked[i] = 1
            self.expire[i] = ticks_add(now, opts.ARP_RETRY_MS)
            self._request(dst, doff, now)
        self.used[i] = now
        # la_hold: keep the newest ARP_HOLD packets of an entry, dropping the oldest; and all
        # entries together within ARP_HOLD_TOTAL clusters (the pool rule): the oldest held
        # packet of any entry makes room
        if self.nhold[i] >= opts.ARP_HOLD:
            self._drop_head(i)
        while not mbuf.m_hold(m, mbuf.HOLD_ARP, now):
            j = self._oldest_hold()
            if j < 0:
                stat_inc(arpstat, _ARPS_DROPPED)
                mbuf.m_free(m)
                return False
            self._drop_head(j)
            stat_inc(mbstat, _MBS_QUOTADROPS)
        m.next = None
        if self.hold[i] is None:
            self.hold[i] = m
        else:
            t = self.hold[i]
            while t.next is not None:
                t = t.next
            t.next = m
        self.nhold[i] += 1
        stat_inc(arpstat, _ARPS_HELD)
        return False

    def _drop_head(self, i):
        old = self.hold[i]
        self.hold[i] = old.next
        old.next = None
        mbuf.m_free(old)
        self.nhold[i] -= 1
        stat_inc(arpstat, _ARPS_HOLDDROPS)

    def _oldest_hold(self):
        """The entry whose first held packet is the oldest, or -1."""
        best = -1
        for i in range(self.size):
            h = self.hold[i]
            if h is not None and (best < 0 or ticks_diff(h.stamp, self.hold[best].stamp) < 0):
                best = i
        return best

    # --- timers -------------------------------------------------------------------------
    def next_timeout(self, now):
        if self.npend == 0:
            return _NO_DEADLINE
        best = _NO_DEADLINE
        for i in range(self.size):
            s = self.state[i]
            if s == _LLE_INCOMPLETE or s == _LLE_DOWN:
                e = self.expire[i]
                if best == _NO_DEADLINE or ticks_diff(e, best) < 0:
                    best = e
        return best

    def timeout(self, now):
        for i in range(self.size):
            s = self.state[i]
            if s == _LLE_FREE or s == _LLE_REACHABLE or ticks_diff(self.expire[i], now) > 0:
                continue
            if s == _LLE_DOWN:
                self._clear(i)
            elif self.asked[i] >= opts.ARP_MAXTRIES:
                # no answer: drop what waits and remember for a while that the host is down
                stat_inc(arpstat, _ARPS_TIMEOUTS)
                h = self.hold[i]
                if h is not None:
                    stat_add(arpstat, _ARPS_HOLDDROPS, self.nhold[i])
                    mbuf.m_freem(h)
                self.hold[i] = None
                self.nhold[i] = 0
                self._set(i, _LLE_DOWN)
                self.expire[i] = ticks_add(now, opts.ARP_DOWN_MS)
            else:
                self.asked[i] += 1
                self.expire[i] = ticks_add(now, opts.ARP_RETRY_MS)
                self._request(self.ip, 4 * i, now)

    # --- sending ARP --------------------------------------------------------------------
    def _request(self, tpa, toff, now):
        ifp = self.ifp
        if self._emit(ah.ARPOP_REQUEST, _BCAST, 0, ifp.ia.addr, 0, None, 0, tpa, toff):
            stat_inc(arpstat, _ARPS_TXREQUESTS)

    def _defend(self, b, sha, now):
        """RFC 5227 2.4 (b): log and announce our address once, then not again for
        ARP_DEFEND_MS (a hostile host repeating the claim gets one answer per interval)."""
        if self.defended and ticks_diff(now, self.defend_at) < opts.ARP_DEFEND_MS:
            return
        self.defended = True
        self.defend_at = now
        print("arp: %s is claimed by %02x:%02x:%02x:%02x:%02x:%02x: defending" % (
            inet_ntoa(self.ifp.ia.addr), b[sha], b[sha + 1], b[sha + 2], b[sha + 3], b[sha + 4], b[sha + 5]))
        stat_inc(arpstat, _ARPS_DEFENDED)
        self.announce(now)

    def probe(self, addr):
        """RFC 5227 2.1.1 ARP probe for addr (4 bytes) before using it: sender address 0.0.0.0, so
        no neighbour learns a binding from it. input() sets self.conflict when addr is in use."""
        self.probing = addr
        if self._emit(ah.ARPOP_REQUEST, _BCAST, 0, _ANY, 0, None, 0, addr, 0):
            stat_inc(arpstat, _ARPS_TXREQUESTS)

    def announce(self, now):
        """Gratuitous ARP: a request for our own address, so neighbours update their caches."""
        ia = self.ifp.ia
        if self._emit(ah.ARPOP_REQUEST, _BCAST, 0, ia.addr, 0, None, 0, ia.addr, 0):
            stat_inc(arpstat, _ARPS_TXGRATUITOUS)

    def _emit(self, op, dmac, dmoff, spa, soff, tha, thoff, tpa, toff):
        m = mbuf.m_get(opts.MAX_LINKHDR)
        if m is None:
            stat_inc(arpstat, _ARPS_NOMBUF)
            return False
        b = m.buf
        o = m.off
        ah.emit(b, o, op, self.ifp.lladdr, 0, spa, soff, tha, thoff, tpa, toff)
        m.len = ah.ARP_LEN
        mbuf.m_prepend(m, eh.ETHER_HDR_LEN)
        eh.emit(b, m.off, dmac, dmoff, self.ifp.lladdr, 0, eh.ETHERTYPE_ARP)
        return self.ifp.if_output(m)

    # --- input: arpintr / in_arpinput ---------------------------------------------------
    def input(self, m, now):
        """in_arpinput(): m.off at the ARP header. Consumes m."""
        stat_inc(arpstat, _ARPS_RECEIVED)
        b = m.buf
        o = m.off
        if ah.check(b, o, m.len) != 0:
            stat_inc(arpstat, _ARPS_BAD)
            mbuf.m_free(m)
            return
        ifp = self.ifp
        ia = ifp.ia
        op = ah.op(b, o)
        spa = o + ah.ARP_SPA
        tpa = o + ah.ARP_TPA
        sha = o + ah.ARP_SHA
        if op == ah.ARPOP_REQUEST:
            stat_inc(arpstat, _ARPS_RXREQUESTS)
        else:
            stat_inc(arpstat, _ARPS_RXREPLIES)
        if eh.mac_eq(b, sha, ifp.lladdr, 0):
            stat_inc(arpstat, _ARPS_BAD)  # our own frame looped back
            mbuf.m_free(m)
            return
        if b[sha] & 1:
            # a broadcast or multicast sender address (FreeBSD in_arpinput): never learnt
            stat_inc(arpstat, _ARPS_BADSHA)
            mbuf.m_free(m)
            return
        pa = self.probing
        if pa is not None and (in_eq(b, spa, pa, 0) or (in_nullhost(b, spa) and in_eq(b, tpa, pa, 0))):
            # RFC 5227 2.1.1: the probed address answers (or is announced), or another host probes it
            self.conflict = True
        if ia.configured and in_eq(b, spa, ia.addr, 0):
            # someone else claims our address (RFC 5227 2.4 (b)): defend it with one announcement
            # per ARP_DEFEND_MS; their packet teaches us nothing
            stat_inc(arpstat, _ARPS_DUPADDR)
            self._defend(b, sha, now)
            mbuf.m_free(m)
            return
        probe = in_nullhost(b, spa)  # an RFC 5227 probe: answer it, learn nothing from it
        if not probe and ia.martian_src(b, spa, False):
            stat_inc(arpstat, _ARPS_BADSPA)
            mbuf.m_free(m)
            return
        for_us = ia.configured and in_eq(b, tpa, ia.addr, 0)
        i = self.lookup(b, spa) if not probe else -1
        if i < 0 and for_us and not probe:
            i = self._alloc(b, spa, now)
        if i >= 0:
            mo = 6 * i
            for k in range(6):
                self.mac[mo + k] = b[sha + k]
            self._set(i, _LLE_REACHABLE)
            self.expire[i] = ticks_add(now, opts.ARP_KEEP_MS)
            self.asked[i] = 0
            h = self.hold[i]
            self.hold[i] = None
            self.nhold[i] = 0
            while h is not None:  # send what waited for this answer
                n = h.next
                h.next = None
                for k in range(6):
                    h.buf[h.off + k] = self.mac[mo + k]
                ifp.if_output(h)
                h = n
        if not for_us:
            stat_inc(arpstat, _ARPS_NOTFORUS)
            mbuf.m_free(m)
            return
        if op != ah.ARPOP_REQUEST:
            mbuf.m_free(m)
            return
        # reply in place: target <- sender, sender <- us
        ah.make_reply(b, o, ifp.lladdr, 0)
        m.len = ah.ARP_LEN
        mbuf.m_prepend(m, eh.ETHER_HDR_LEN)
        eh.emit(b, m.off, b, o + ah.ARP_THA, ifp.lladdr, 0, eh.ETHERTYPE_ARP)
        if ifp.if_output(m):
            stat_inc(arpstat, _ARPS_TXREPLIES)


def ether_input(ifp, m, now):
    """Ethernet input: m holds one frame at m.off. Dispatch on the EtherType; consumes m."""
    b = m.buf
    o = m.off
    if m.len < eh.ETHER_HDR_LEN:
        stat_inc(etherstat, _ETHS_SHORT)
        stat_inc(ifp.ifstat, _IFS_IERRORS)
        mbuf.m_free(m)
        return
    if b[o] & 1:
        # what the link layer knew travels with the packet (BSD's M_BCAST/M_MCAST): ICMP and TCP
        # must not answer a datagram that came in a broadcast or multicast frame
        if eh.mac_eq(b, o, _BCAST, 0):
            stat_inc(etherstat, _ETHS_BROADCAST)
            m.flags = mbuf.M_BCAST
        else:
            stat_inc(etherstat, _ETHS_MULTICAST)
            m.flags = mbuf.M_MCAST
            mc = getattr(ifp, "mcast", None)  # the groups joined here (igmp.EtherMulti); before the first, all-hosts
            if not (mc.match(b, o) if mc is not None else eh.mac_eq(b, o, _ALLHOSTS_MAC, 0)):
                # a group not joined here: the chip passes more than we joined (the ENC28J60's hash
                # filter; the W5500's MACRAW passes every multicast frame: MFEN must stay off, #1)
                stat_inc(etherstat, _ETHS_MCASTFILTER)
                mbuf.m_free(m)
                return
    elif not eh.mac_eq(b, o, ifp.lladdr, 0):
        # a chip in promiscuous mode (W5500 with MFEN off) passes unicast for others
        stat_inc(etherstat, _ETHS_NOTFORUS)
        stat_inc(ifp.ifstat, _IFS_NOTFORUS)
        mbuf.m_free(m)
        return
    t = eh.ethertype(b, o)
    m.off = o + eh.ETHER_HDR_LEN
    m.len -= eh.ETHER_HDR_LEN
    if t == eh.ETHERTYPE_IP:
        ifp.ipintr(ifp, m, now)  # ip_input, set by netif (if_ether must not import the IP layer)
    elif t == eh.ETHERTYPE_ARP:
        ifp.arp.input(m, now)
    else:
        stat_inc(etherstat, _ETHS_NOPROTO)
        stat_inc(ifp.ifstat, _IFS_NOPROTO)
        mbuf.m_free(m)


def ether_output(ifp, m, dst, doff, now):
    """ether_output(): m.off at the IP header. Prepend the Ethernet header, resolve the next hop
    dst (4 bytes at dst[doff]) and send, or hold for ARP. Consumes m. True if sent now; when it
    was dropped, arp_error[0] says why (0: held for ARP, or the driver refused it)."""
    arp_error[0] = 0
    if not mbuf.m_prepend(m, eh.ETHER_HDR_LEN):
        stat_inc(ifp.ifstat, _IFS_OERRORS)
        mbuf.m_free(m)
        return False
    b = m.buf
    o = m.off
    eh.emit(b, o, _BCAST, 0, ifp.lladdr, 0, eh.ETHERTYPE_IP)
    if ifp.ia.is_broadcast(dst, doff):
        return ifp.if_output(m)
    if dst[doff] & 0xF0 == 0xE0:
        # RFC 1112 §6.4: 01:00:5e + low 23 bits of the group
        b[o] = 0x01
        b[o + 1] = 0x00
        b[o + 2] = 0x5E
        b[o + 3] = dst[doff + 1] & 0x7F
        b[o + 4] = dst[doff + 2]
        b[o + 5] = dst[doff + 3]
        return ifp.if_output(m)
    if ifp.arp.resolve(m, dst, doff, now):
        return ifp.if_output(m)
    return False
