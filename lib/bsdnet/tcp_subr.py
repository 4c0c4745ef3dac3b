# TCP's shared routines (FreeBSD tcp_subr.c): the pcb and buffer pools, tcp_close/tcp_drop,
# RFC 6528 initial sequence numbers, the MSS, moving a sequence base forward, ICMP errors
# (tcp_ctlinput), and the counts the firmware reports.
#
# Pools: tcbinfo has a fixed number of pcb slots; a slot's Tcpcb is made the first time the slot
# is used and kept. A connection that can carry data also takes a pair of rings (send, receive):
# TCP_PREALLOC pairs are made at import, more on first need up to TCP_MAXCONN, and kept. A
# listener holds no rings; TIME_WAIT and a connection closed with nothing left to read give
# them back at once.
from .compat import const, getrandbits, ticks_ms, ticks_diff
from . import opts
from .hdr import ip as iph
from .hdr import tcp as tcph
from .in_pcb import Inpcbinfo, in_pcballoc, in_pcbdetach, in_pcblookup, in_pcbreserve
from .tcp_seq import seq_off, seq_hi, seq_lo
from .tcp_var import (Tcpcb, TT_NTIMERS, TT_2MSL, TCPS_CLOSED, TCPS_LISTEN,
                      TCPS_SYN_SENT, TCPS_SYN_RECEIVED, TCPS_ESTABLISHED, TCPS_TIME_WAIT,
                      SS_NOFDREF, SS_ISDISCONNECTED)
from . import tcp_output
from .stats import stat_inc, tcpstat
from .errno import ECONNREFUSED, ETIMEDOUT
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_TCPS_DROPS = const(3)
_TCPS_CONNDROPS = const(4)
_ST_CLOSED = const(5)
_TCPS_RTTUPDATED = const(7)
_TCPS_TWRECYCLED = const(64)
_TCPS_CTLINPUT = const(71)
_TCPS_NOMEM = const(72)

tcbinfo = Inpcbinfo("tcp", opts.TCP_MAXCONN + opts.TCP_LISTEN + opts.TCP_TIMEWAIT)
# every tcpcb made so far, for the timer pass. The listeners' and the first TCP_PREALLOC
# connections' tcpcbs (~900 B each on a 32-bit port) are made by tcp_init(); the other slots' on
# their first use, and kept
tcb = []  # type: list
_inited = [False]
_reserved = [0]  # pcbs whose tcpcbs tcp_init made: those stay when their connection ends

_bufs_free = []  # type: list  # (send ring, receive ring) pairs not in use
_bufs_made = [0]  # pairs made so far (at most opts.TCP_MAXCONN)


tcp_bufsz = [opts.TCP_SNDBUF, opts.TCP_RCVBUF]  # ring sizes: send, receive


def tcp_init():
    """Reserve TCP's memory, once: at the first TCP socket, or earlier by a firmware that serves
    TCP (firmware/main.py calls it before its services load), so that a board that never uses
    TCP spends nothing on it. On a heap too small for full-size rings beside the code (a Pico
    that loads the stack from .mpy files has ~45 KB left once it serves), rings of half the size,
    so that as many connections fit at half the window. The tcpcbs of the listeners and of the
    first TCP_PREALLOC connections, and their rings, are made now, while the heap is in one piece:
    made later, between the small blocks a running firmware leaves, a 2 KiB ring may find no
    place (measured on the emulated Pico)."""
    if _inited[0]:
        return
    _inited[0] = True
    from . import tcp_timer  # (it imports this module)
    from . import route
    from .in_proto import pr_set_input
    from . import tcp_input

    route.pr_timers.append(tcp_timer.tcp_timers)
    pr_set_input(iph.IPPROTO_TCP, tcp_input.tcp_input)  # loaded now: no more lazy entry
    try:
        from gc import mem_free, mem_alloc

        if mem_free() + mem_alloc() < opts.TCP_SMALL_HEAP:
            tcp_bufsz[0] = opts.TCP_SNDBUF >> 1
            tcp_bufsz[1] = opts.TCP_RCVBUF >> 1
    except ImportError:
        pass
    _reserved[0] = opts.TCP_LISTEN + opts.TCP_PREALLOC
    in_pcbreserve(tcbinfo, _reserved[0])
    for inp in tcbinfo.pcbs[:_reserved[0]]:
        if inp.ppcb is None:
            inp.ppcb = Tcpcb(inp)
            tcb.append(inp.ppcb)
    for _ in range(opts.TCP_PREALLOC):
        pr = _newbufs()
        if pr is None:
            break
        _bufs_free.append(pr)


# set when a tcpcb or a ring pair could not be made for lack of heap (a shortage that closing
# connections may end), as against every slot being in use; the SYN cache reads it
tcp_nomem = [False]


def _newbufs():
    try:
        # memoryviews made once: the copies in and out of the rings never slice a bytearray
        pr = (memoryview(bytearray(tcp_bufsz[0])), memoryview(bytearray(tcp_bufsz[1])))
    except MemoryError:
        tcp_nomem[0] = True
        stat_inc(tcpstat, _TCPS_NOMEM)
        return None
    _bufs_made[0] += 1
    return pr


def tcp_bufs_free():
    """Pairs that a new connection could still take: the free ones and those not made yet."""
    return len(_bufs_free) + opts.TCP_MAXCONN - _bufs_made[0]


def tcp_getbufs(tp):
    """Give tp its rings; False when every pair is taken, or the heap cannot make another.
    Pairs are made on first need, so a board that serves two clients never spends the memory of
    eight (a 4 KiB ring pair costs 8 KiB of heap; 64 KiB for eight would not fit beside the
    firmware on a Pico); tcp_putbufs keeps the reserved number of them for the next ones."""
    if tp.bufs is not None:
        return True
    if _bufs_free:
        pr = _bufs_free.pop()
    elif _bufs_made[0] < opts.TCP_MAXCONN:
        pr = _newbufs()
        if pr is None:
            return False
    else:
        return False
    tp.bufs = pr
    tp.sb = pr[0]
    tp.rb = pr[1]
    tp.sb_hiwat = len(pr[0])
    tp.rb_hiwat = len(pr[1])
    tp.sb_off = tp.sb_cc = 0
    tp.rb_off = tp.rb_cc = 0
    tp.rq_n = 0
    return True


def tcp_putbufs(tp):
    """tp's rings back: kept for the next connection up to opts.TCP_PREALLOC pairs (what the board
    reserved), past that let go, so that a burst of connections does not keep its 4-8 KiB a pair
    for the board's life (the emulated ESP32's HTTP ran out of heap after one: measured)."""
    if tp.bufs is not None:
        if len(_bufs_free) < opts.TCP_PREALLOC:
            _bufs_free.append(tp.bufs)
        else:
            _bufs_made[0] -= 1
    tp.bufs = None
    tp.sb = tp.rb = None
    tp.sb_cc = tp.rb_cc = 0
    tp.rq_n = 0


def tcp_pcballoc(so):
    """A pcb and its tcpcb for a new socket or connection, recycling the oldest TIME_WAIT when
    every slot is taken. None when none can be had."""
    try:
        inp = in_pcballoc(tcbinfo, so)
    except OSError:
        if not tcp_tw_recycle():
            return None
        inp = in_pcballoc(tcbinfo, so)
    tp = inp.ppcb
    if tp is None:
        try:
            tp = inp.ppcb = Tcpcb(inp)
        except MemoryError:
            in_pcbdetach(inp)
            tcp_nomem[0] = True
            stat_inc(tcpstat, _TCPS_NOMEM)
            return None
        tcb.append(tp)
    else:
        tp.reset()
    tp.so = so
    return tp


def tcp_tw_recycle():
    """Close the TIME_WAIT connection closest to its end (the oldest), to free its slot."""
    best = None
    for tp in tcb:
        if tp.state == TCPS_TIME_WAIT and tp.so is None:
            if best is None or ticks_diff(tp.t_timer[TT_2MSL], best.t_timer[TT_2MSL]) < 0:
                best = tp
    if best is None:
        return False
    stat_inc(tcpstat, _TCPS_TWRECYCLED)
    tcp_close(best)
    return True


def tcp_close(tp):
    """The connection is over: stop its timers, give back its rings; the pcb goes back too unless
    a socket still refers to it (the socket's close() frees it then). Wakes the socket."""
    t = tp.t_timer
    for i in range(TT_NTIMERS):
        t[i] = -1
    was = tp.state
    tp.state = TCPS_CLOSED
    if was != TCPS_LISTEN and was != TCPS_CLOSED:
        stat_inc(tcpstat, _ST_CLOSED)
    tp.so_state |= SS_ISDISCONNECTED
    head = tp.so_head
    if head is not None:  # still in a listener's accept queue: it leaves it
        if tp in head.so_comp:
            head.so_comp.remove(tp)
        tp.so_head = None
        tp.so_state |= SS_NOFDREF
    so = tp.so
    if so is None or tp.so_state & SS_NOFDREF:
        tcp_pcbfree(tp)
    else:
        if tp.rb_cc == 0:
            tcp_putbufs(tp)  # nothing left to read: the rings serve the next connection now, not
            # when the application gets round to close() (a reset client must not hold them)
        so._wake()


def tcp_pcbfree(tp):
    """tp's slot is free again: its rings back to the pool, its pcb detached. A tcpcb beyond
    those tcp_init reserved is let go (~900 bytes of heap back; tcp_pcballoc makes one when the
    slot is next used): a board does not keep the memory of its busiest moment."""
    tcp_putbufs(tp)
    tp.so = None
    inp = tp.inp
    in_pcbdetach(inp)
    if inp.ppcb is tp and tcbinfo.pcbs.index(inp) >= _reserved[0]:
        inp.ppcb = None
        tcb.remove(tp)


def tcp_drop(tp, err, now):
    """Drop the connection with errno err for its socket, with a RST if it was synchronized."""
    if tp.state >= TCPS_SYN_RECEIVED:
        stat_inc(tcpstat, _TCPS_DROPS)
        tcp_output.tcp_sendrst(tp, now)
    else:
        stat_inc(tcpstat, _TCPS_CONNDROPS)
    if err and not (err == ETIMEDOUT and tp.t_softerror):  # a timeout reports the ICMP error seen, if any
        tp.so_error = err
    elif err:
        tp.so_error = tp.t_softerror
    tcp_close(tp)


def tcp_connections():
    """Connections the stack holds, TIME_WAIT and listeners not counted."""
    n = 0
    for tp in tcb:
        if tp.state >= TCPS_SYN_SENT and tp.state != TCPS_TIME_WAIT and tp.inp.attached:
            n += 1
    return n


def tcp_timewait():
    n = 0
    for tp in tcb:
        if tp.state == TCPS_TIME_WAIT:
            n += 1
    return n


# --- RFC 6528 initial sequence numbers -------------------------------------------------------
# ISN = M + F(localip, localport, remoteip, remoteport, secretkey): F a keyed hash (SHA-256 where
# the port has hashlib, else a keyed mix of 16-bit words), the key random at boot, M a clock of
# 4 us ticks. Computed once per connection.
_key = bytearray(16)
for _i in range(16):
    _key[_i] = getrandbits(8)
try:
    from hashlib import sha256 as _sha256
except ImportError:  # the MicroPython VM has no hashlib
    _sha256 = None  # type: ignore[misc, assignment]
_isnbuf = bytearray(28)


def tcp_isn_hash(laddr, lport, faddr, foff, fport, out):
    """F() into out[0:4] (hi, lo as bytes)."""
    b = _isnbuf
    for i in range(4):
        b[i] = laddr[i]
        b[4 + i] = faddr[foff + i]
    b[8] = lport >> 8
    b[9] = lport & 0xFF
    b[10] = fport >> 8
    b[11] = fport & 0xFF
    for i in range(16):
        b[12 + i] = _key[i]
    if _sha256 is not None:
        d = _sha256(b).digest()
        for i in range(4):
            out[i] = d[i]
        return
    h1 = 0x6A09
    h2 = 0xBB67
    for r in range(3):
        for i in range(0, 28, 2):
            w = (b[i] << 8) | b[i + 1]
            h1 = ((h1 ^ w) * 0x9E37 + h2 + r) & 0xFFFF
            h2 = ((h2 + h1) * 0x85EB ^ (h1 >> 7)) & 0xFFFF
    out[0] = h1 >> 8
    out[1] = h1 & 0xFF
    out[2] = h2 >> 8
    out[3] = h2 & 0xFF


_isn = bytearray(4)
# tests set (hi, lo) here to make every ISS (active opens and the SYN cache) this fixed value
iss_fixed = [None]  # type: list


def tcp_new_isn(tp, laddr, faddr, foff, lport, fport, now):
    """Set tp's send base (its ISS) per RFC 6528."""
    if iss_fixed[0] is not None:
        tp.snd_base_hi, tp.snd_base_lo = iss_fixed[0]
        return
    tcp_isn_hash(laddr, lport, faddr, foff, fport, _isn)
    hi = (_isn[0] << 8) | _isn[1]
    lo = (_isn[2] << 8) | _isn[3]
    # M: now in 4 us ticks, now * 250, added in halves so no int reaches 2**30
    m_lo = (now & 0xFFFF) * 250
    m_hi = (now >> 16) * 250 + (m_lo >> 16)
    lo += m_lo & 0xFFFF
    tp.snd_base_hi = (hi + m_hi + (lo >> 16)) & 0xFFFF
    tp.snd_base_lo = lo & 0xFFFF


def tcp_mss(tp, ifp, peer_mss):
    """t_maxseg from the peer's MSS option (536 when absent: RFC 9293 3.7.1) and our MTU."""
    mss = ifp.mtu - 40 if ifp is not None else opts.TCP_MSS
    if peer_mss <= 0:
        peer_mss = opts.TCP_MSS_DEFAULT
    if peer_mss < opts.TCP_MSS_MIN:
        peer_mss = opts.TCP_MSS_MIN
    tp.t_maxseg = peer_mss if peer_mss < mss else mss
    tp.snd_cwnd = tp.t_maxseg * opts.TCP_IW_SEGS
    tp.snd_ssthresh = 0x3FFFFFFF


def tcp_xmit_timer(tp, rtt):
    """RFC 6298 2.2/2.3 (t_srtt in ms << 3, t_rttvar in ms << 2, so RTO = srtt/8 + rttvar)."""
    stat_inc(tcpstat, _TCPS_RTTUPDATED)
    if rtt < 1:
        rtt = 1
    if tp.t_srtt:
        delta = rtt - (tp.t_srtt >> 3)
        tp.t_srtt += delta
        if tp.t_srtt <= 0:
            tp.t_srtt = 1
        if delta < 0:
            delta = -delta
        tp.t_rttvar += delta - (tp.t_rttvar >> 2)
        if tp.t_rttvar <= 0:
            tp.t_rttvar = 1
    else:
        tp.t_srtt = rtt << 3
        tp.t_rttvar = rtt << 1
    rto = (tp.t_srtt >> 3) + tp.t_rttvar
    if rto < opts.TCP_RTO_MIN_MS:
        rto = opts.TCP_RTO_MIN_MS
    elif rto > opts.TCP_RTO_MAX_MS:
        rto = opts.TCP_RTO_MAX_MS
    tp.t_rxtcur = rto
    tp.t_rxtshift = 0
    tp.t_rtttime = -1
    tp.t_softerror = 0


# --- moving a sequence base forward (tcp_seq.py) ------------------------------------------------
def tcp_snd_rebase(tp):
    d = tp.snd_una
    if d <= 0:
        return
    bl = tp.snd_base_lo
    tp.snd_base_hi = seq_hi(tp.snd_base_hi, bl, d)
    tp.snd_base_lo = seq_lo(bl, d)
    tp.snd_una = 0
    tp.snd_nxt -= d
    tp.snd_max -= d
    tp.snd_wl2 -= d
    tp.snd_recover -= d
    tp.t_rtseq -= d


def tcp_rcv_rebase(tp):
    d = tp.rcv_nxt
    if d <= 0:
        return
    bl = tp.rcv_base_lo
    tp.rcv_base_hi = seq_hi(tp.rcv_base_hi, bl, d)
    tp.rcv_base_lo = seq_lo(bl, d)
    tp.rcv_nxt = 0
    tp.rcv_adv -= d
    tp.last_ack_sent -= d
    tp.snd_wl1 -= d
    if tp.rcv_fin >= 0:
        tp.rcv_fin -= d
    for i in range(tp.rq_n):
        tp.rq_s[i] -= d
        tp.rq_e[i] -= d


# --- ICMP errors about our segments (tcp_ctlinput, RFC 5927) -----------------------------------
def tcp_ctlinput(err, b, q):
    """An ICMP unreachable/time exceeded quoting a segment we sent (q: its IP header in b). Only a
    quote whose sequence number lies in snd_una..snd_max is believed (RFC 5927 4.1). Port or
    protocol unreachable during the handshake refuses the connection; the rest are soft errors,
    reported if the connection then times out (RFC 1122 4.2.3.9)."""
    th = q + ((b[q] & 0x0F) << 2)
    inp = in_pcblookup(tcbinfo, b, q + iph.IP_DST, tcph.dport(b, th), b, q + iph.IP_SRC, tcph.sport(b, th), 0)
    if inp is None or inp.ppcb is None:
        return
    tp = inp.ppcb
    if tp.state < TCPS_SYN_SENT:
        return
    s = seq_off(tcph.seq_hi(b, th), tcph.seq_lo(b, th), tp.snd_base_hi, tp.snd_base_lo)
    if s < tp.snd_una or s > tp.snd_max:
        return
    stat_inc(tcpstat, _TCPS_CTLINPUT)
    if tp.state == TCPS_SYN_SENT and err == ECONNREFUSED:

        tcp_drop(tp, err, ticks_ms())
        return
    tp.t_softerror = err
    if tp.state < TCPS_ESTABLISHED and tp.so is not None:
        tp.so._wake()



def tcp_flush_all():
    """Forget every connection at once, without a segment (tests between cases; a stack reset).
    Sockets still open see their connection closed."""
    from . import tcp_syncache

    for sc in tcp_syncache.cache:
        tcp_syncache._free(sc)
    for i in range(len(tcb) - 1, -1, -1):  # backwards: a closed tcpcb may leave the list
        tp = tcb[i]
        if tp.inp.attached:
            del tp.so_comp[:]
            tp.so_head = None
            so = tp.so
            tp.so_state |= SS_NOFDREF
            tcp_close(tp)
            if so is not None:
                so._tp = None
                so._inp = None
                so._wake()
