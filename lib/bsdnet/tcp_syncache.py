# The SYN cache (FreeBSD tcp_syncache.c): a SYN to a listener makes a small entry here, not a
# tcpcb; the SYN|ACK is sent (and retransmitted with backoff) from the entry; only the third ACK
# makes the connection (syncache_expand), which then waits in the listener's accept queue.
#
# Bounded: TCP_SYNCACHE entries in all, TCP_SYNCACHE_BUCKETLIMIT per bucket, the bucket a keyed
# hash of the peer's address and ports (the key random at boot, so a flood cannot aim at one
# bucket). A full bucket, or a full cache, gives up its oldest entry (BSD does the same). An
# entry lives through TCP_SYNCACHE_RXTMAX retransmissions (1 + 2 + 4 s, then 8 s more) and goes.
from .compat import const, getrandbits, ticks_add, ticks_diff
from . import opts
from .hdr import ip as iph
from .hdr import tcp as tcph
from .inet import in_eq, in_copy
from .tcp_seq import seq_off
from .tcp_var import (tcp_ts_hi, tcp_deadline, TCPS_ESTABLISHED, TCPS_SYN_RECEIVED, TF_REQ_SCALE, TF_RCVD_SCALE,
                      TF_REQ_TSTMP, TF_RCVD_TSTMP, TF_SACK_PERMIT, TF_NODELAY, TT_KEEP, tcp_timer_activate)
from .tcp_output import tcp_newpacket, tcp_send, tcp_synopts
from .tcp_subr import tcp_nomem, tcp_xmit_timer, tcp_bufsz, tcp_new_isn, tcp_pcballoc, tcp_getbufs, tcp_mss, tcp_close
from .stats import stat_inc, tcpstat
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_TCPS_ACCEPTS = const(1)
_TCPS_CONNECTS = const(2)
_TCPS_LISTENDROP = const(52)
_TCPS_SC_ADDED = const(53)
_TCPS_SC_RETRANSMITTED = const(54)
_TCPS_SC_DUPSYN = const(55)
_TCPS_SC_DROPPED = const(56)
_TCPS_SC_COMPLETED = const(57)
_TCPS_SC_BUCKETOVERFLOW = const(58)
_TCPS_SC_CACHEOVERFLOW = const(59)
_TCPS_SC_RESET = const(60)
_TCPS_SC_STALE = const(61)

_MAXWIN = 65535
# our window scale: the least shift that fits the receive ring in 16 bits (0 for the default
# 4 KiB; we still send the option, so that the peer may scale its own window)
RCV_SCALE = 0
while (opts.TCP_RCVBUF >> RCV_SCALE) > _MAXWIN:
    RCV_SCALE += 1

# expand() results besides a tcpcb
SC_NONE = 0  # no entry: answer with RST
SC_DROP = 1  # drop quietly (accept queue full: the peer's retransmission will try again)


class Syncache:
    __slots__ = ("used", "bucket", "laddr", "faddr", "lport", "fport", "irs_hi", "irs_lo", "iss_hi",
                 "iss_lo", "mss", "wscale", "ts", "tsr_hi", "tsr_lo", "sackok", "ifp", "lp", "rxt",
                 "at", "born")

    def __init__(self):
        self.used = False
        self.laddr = bytearray(4)
        self.faddr = bytearray(4)
        self.ifp = None
        self.lp = None


cache = [Syncache() for _ in range(opts.TCP_SYNCACHE)]
_key = getrandbits(16)


class _IssOut:
    __slots__ = ("snd_base_hi", "snd_base_lo")


_tp_iss = _IssOut()  # where tcp_new_isn leaves the ISS of an entry (the same RFC 6528 function)


def _bucket(b, fa, fport, lport):
    h = _key ^ fport ^ (lport << 1) ^ (b[fa] << 8) ^ b[fa + 1] ^ (b[fa + 2] << 4) ^ (b[fa + 3] << 9)
    h ^= h >> 7
    return h % opts.TCP_SYNCACHE_BUCKETS


def _lookup(b, src, dst, sport, dport):
    for sc in cache:
        if (sc.used and sc.fport == sport and sc.lport == dport and in_eq(sc.faddr, 0, b, src)
                and in_eq(sc.laddr, 0, b, dst)):
            return sc
    return None


def _free(sc):
    sc.used = False
    sc.lp = None
    sc.ifp = None


def syncache_add(lp, ifp, m, th, to, now):
    """A SYN (no ACK) for listener lp, in m with its TCP header at th and options parsed in to."""
    b = m.buf
    o = m.off
    src = o + iph.IP_SRC
    dst = o + iph.IP_DST
    sport = tcph.sport(b, th)
    dport = tcph.dport(b, th)
    sc = _lookup(b, src, dst, sport, dport)
    if sc is not None:
        # a retransmitted SYN: our SYN|ACK was lost; send it again (BSD does, without backoff)
        stat_inc(tcpstat, _TCPS_SC_DUPSYN)
        syncache_respond(sc, now)
        return
    bk = _bucket(b, src, sport, dport)
    inb = 0
    oldest_b = None
    oldest = None
    free = None
    for e in cache:
        if not e.used:
            if free is None:
                free = e
            continue
        if oldest is None or ticks_diff(e.born, oldest.born) < 0:
            oldest = e
        if e.bucket == bk:
            inb += 1
            if oldest_b is None or ticks_diff(e.born, oldest_b.born) < 0:
                oldest_b = e
    if inb >= opts.TCP_SYNCACHE_BUCKETLIMIT:
        stat_inc(tcpstat, _TCPS_SC_BUCKETOVERFLOW)
        _free(oldest_b)
        free = oldest_b
    elif free is None:
        if oldest is None:
            stat_inc(tcpstat, _TCPS_SC_DROPPED)
            return
        stat_inc(tcpstat, _TCPS_SC_CACHEOVERFLOW)
        _free(oldest)
        free = oldest
    sc = free
    sc.used = True
    sc.bucket = bk
    in_copy(sc.laddr, 0, b, dst)
    in_copy(sc.faddr, 0, b, src)
    sc.lport = dport
    sc.fport = sport
    sc.irs_hi = tcph.seq_hi(b, th)
    sc.irs_lo = tcph.seq_lo(b, th)
    # RFC 6528 ISS: the same keyed hash as an active open, plus the 4 us clock
    tcp_new_isn(_tp_iss, sc.laddr, sc.faddr, 0, dport, sport, now)
    sc.iss_hi = _tp_iss.snd_base_hi
    sc.iss_lo = _tp_iss.snd_base_lo
    f = to.to_flags
    sc.mss = to.to_mss if f & tcph.TOF_MSS else 0
    sc.wscale = to.to_wscale if f & tcph.TOF_SCALE else -1
    sc.ts = bool(f & tcph.TOF_TS)
    sc.tsr_hi = to.to_tsval_hi
    sc.tsr_lo = to.to_tsval_lo
    sc.sackok = bool(f & tcph.TOF_SACKPERM)
    sc.ifp = ifp
    sc.lp = lp
    sc.rxt = 0
    sc.born = now
    stat_inc(tcpstat, _TCPS_SC_ADDED)
    syncache_respond(sc, now)


def _arm(sc, now):
    sc.at = ticks_add(now, opts.TCP_RTO_INIT_MS << sc.rxt)
    tcp_deadline(sc.at, now)


def syncache_respond(sc, now):
    """Send the entry's SYN|ACK (MSS; window scale and timestamps when the SYN offered them)."""
    _arm(sc, now)
    ifp = sc.ifp
    m = tcp_newpacket(ifp, sc.laddr, sc.faddr, 0)
    if m is None:
        return
    b = m.buf
    th = m.off + 20
    n = tcp_synopts(b, th + tcph.TCP_HDR_LEN, ifp.mtu - 40, RCV_SCALE if sc.wscale >= 0 else -1, sc.ts, now,
                    sc.tsr_hi, sc.tsr_lo)
    win = tcp_bufsz[1] if tcp_bufsz[1] < _MAXWIN else _MAXWIN
    rl = sc.irs_lo + 1
    tcph.emit(b, th, sc.lport, sc.fport, sc.iss_hi, sc.iss_lo, (sc.irs_hi + (rl >> 16)) & 0xFFFF, rl & 0xFFFF,
              tcph.TCP_HDR_LEN + n, tcph.TH_SYN | tcph.TH_ACK, win, 0)
    tcp_send(ifp, m, tcph.TCP_HDR_LEN + n, now)


def syncache_expand(lp, ifp, m, th, to, now):
    """The third ACK for listener lp: the connection, ESTABLISHED and in lp's accept queue, as a
    tcpcb; SC_NONE when no entry matches (the caller resets); SC_DROP to drop quietly."""
    b = m.buf
    o = m.off
    sc = _lookup(b, o + iph.IP_SRC, o + iph.IP_DST, tcph.sport(b, th), tcph.dport(b, th))
    if sc is None:
        return SC_NONE
    if seq_off(tcph.ack_hi(b, th), tcph.ack_lo(b, th), sc.iss_hi, sc.iss_lo) != 1:
        return SC_NONE  # not the ACK of our SYN|ACK: RST (the entry stays for the real one)
    s = seq_off(tcph.seq_hi(b, th), tcph.seq_lo(b, th), sc.irs_hi, sc.irs_lo)
    if s < 1 or s > tcp_bufsz[1]:
        return SC_DROP  # outside the window we offered (BSD: a spurious segment, dropped)
    # s > 1: the third ACK was lost and a later data segment completes the handshake; its data
    # waits as out of order until the retransmission of the first fills the hole
    if len(lp.so_comp) >= lp.so_qlimit:
        stat_inc(tcpstat, _TCPS_LISTENDROP)  # the accept queue is full: the peer will retransmit
        return SC_DROP
    tcp_nomem[0] = False
    tp = tcp_pcballoc(None)
    if tp is None or not tcp_getbufs(tp):
        if tp is not None:
            tcp_close(tp)
        stat_inc(tcpstat, _TCPS_LISTENDROP)
        if tcp_nomem[0]:
            # the heap is short for now (the connections closing give rings back for reuse): drop
            # the ACK and keep the entry; the SYN|ACK retransmission or the peer's brings it back,
            # as Linux does with a full accept queue
            return SC_DROP
        _free(sc)
        return SC_NONE  # every connection slot is in use: refuse cleanly with a RST
    inp = tp.inp
    in_copy(inp.laddr, 0, sc.laddr, 0)
    in_copy(inp.faddr, 0, sc.faddr, 0)
    inp.lport = sc.lport
    inp.fport = sc.fport
    tp.state = TCPS_SYN_RECEIVED
    tp.snd_base_hi = sc.iss_hi
    tp.snd_base_lo = sc.iss_lo
    tp.rcv_base_hi = sc.irs_hi
    tp.rcv_base_lo = sc.irs_lo
    tp.snd_una = tp.snd_nxt = tp.snd_max = 1  # our SYN is acknowledged
    tp.snd_wl2 = 1
    tp.rcv_nxt = 1
    tp.snd_wl1 = 0
    tp.rcv_adv = 1 + (tcp_bufsz[1] if tcp_bufsz[1] < _MAXWIN else _MAXWIN)
    tp.last_ack_sent = 1
    if sc.wscale >= 0:
        tp.t_flags |= TF_REQ_SCALE | TF_RCVD_SCALE
        tp.snd_scale = sc.wscale
        tp.rcv_scale = RCV_SCALE
    if sc.ts:
        tp.t_flags |= TF_REQ_TSTMP | TF_RCVD_TSTMP
        tp.ts_recent_hi = sc.tsr_hi
        tp.ts_recent_lo = sc.tsr_lo
        tp.ts_recent_age = now
    if sc.sackok:
        tp.t_flags |= TF_SACK_PERMIT
    tp.ifp = sc.ifp
    tp.rtgen = -1
    tcp_mss(tp, ifp, sc.mss)
    # the listener's options carry over (BSD sonewconn copies so_options)
    tp.so_options = lp.so_options
    tp.t_flags |= lp.t_flags & TF_NODELAY
    tp.keepidle = lp.keepidle
    tp.keepintvl = lp.keepintvl
    tp.keepcnt = lp.keepcnt
    if sc.rxt == 0:
        # the handshake's round trip is the first RTT sample (Karn: only if the SYN|ACK went once)
        rtt = ticks_diff(now, sc.born)
        if sc.ts and (to.to_tsecr_hi | to.to_tsecr_lo) and to.to_flags & tcph.TOF_TS:
            rtt = seq_off(tcp_ts_hi(now), now & 0xFFFF, to.to_tsecr_hi, to.to_tsecr_lo)
        if 0 <= rtt < 0x1000000:
            tcp_xmit_timer(tp, rtt)
    tp.t_rcvtime = now
    tp.t_starttime = now
    _free(sc)
    tp.state = TCPS_ESTABLISHED
    stat_inc(tcpstat, _TCPS_SC_COMPLETED)
    stat_inc(tcpstat, _TCPS_ACCEPTS)
    stat_inc(tcpstat, _TCPS_CONNECTS)
    if tp.so_options & 0x0008:  # SO_KEEPALIVE
        tcp_timer_activate(tp, TT_KEEP, tp.keepidle, now)
    tp.so_head = lp
    lp.so_comp.append(tp)
    if lp.so is not None:
        lp.so._wake()
    return tp


def syncache_chkrst(m, th):
    """A RST to a listener: it removes the entry it names, if its sequence number is exactly the
    one expected (RFC 5961 3.2: a blind RST must guess it)."""
    b = m.buf
    o = m.off
    sc = _lookup(b, o + iph.IP_SRC, o + iph.IP_DST, tcph.sport(b, th), tcph.dport(b, th))
    if sc is not None and seq_off(tcph.seq_hi(b, th), tcph.seq_lo(b, th), sc.irs_hi, sc.irs_lo) == 1:
        stat_inc(tcpstat, _TCPS_SC_RESET)
        _free(sc)


def syncache_drop_listener(lp):
    """A listener closed: its embryonic connections go."""
    for sc in cache:
        if sc.used and sc.lp is lp:
            _free(sc)


def syncache_timer(now):
    for sc in cache:
        if not sc.used:
            continue
        if ticks_diff(sc.at, now) <= 0:
            if sc.rxt >= opts.TCP_SYNCACHE_RXTMAX:
                stat_inc(tcpstat, _TCPS_SC_STALE)
                _free(sc)
                continue
            sc.rxt += 1
            stat_inc(tcpstat, _TCPS_SC_RETRANSMITTED)
            syncache_respond(sc, now)
        else:
            tcp_deadline(sc.at, now)


def syncache_count():
    n = 0
    for sc in cache:
        if sc.used:
            n += 1
    return n




