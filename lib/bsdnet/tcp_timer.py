# TCP timers (FreeBSD tcp_timer.c): retransmit, persist, keepalive (and the connection-
# establishment limit), 2MSL (TIME_WAIT, and FIN_WAIT_2 after close), delayed ACK.
#
# Deadlines live in each tcpcb's t_timer (tcp_var.tcp_timer_activate). No task, Timer object or
# allocation per connection or per timer: the interface loop calls tcp_timers.timeout(now) when
# tcp_var.tcp_next says a deadline may be due, and one pass runs whatever is.
from .compat import const, ticks_diff
from . import opts
from .tcp_var import (tcp_next, tcp_deadline, tcp_timer_activate, TT_KEEP,
                      TT_2MSL, TT_NTIMERS, TCPS_CLOSED, TCPS_LISTEN, TCPS_SYN_SENT,
                      TCPS_ESTABLISHED, TCPS_CLOSING, TCPS_TIME_WAIT, TCP_MAXRXTSHIFT,
                      TCP_SYNRETRIES, TF_ACKNOW, TF_FORCEDATA, TF_FASTRECOVERY, SS_NOFDREF)
from .tcp_output import tcp_output, tcp_setpersist, tcp_rexmtval, tcp_newpacket, tcp_send, tcp_rcvwin
from .tcp_subr import tcb, tcp_close, tcp_drop
from .tcp_seq import seq_hi, seq_lo
from .hdr import tcp as tcph
from . import tcp_syncache
from .tcp_var import tcp_ifp
from .stats import stat_inc, tcpstat
from .errno import ETIMEDOUT
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_TCPS_TIMEOUTDROP = const(9)
_TCPS_REXMTTIMEO = const(10)
_TCPS_PERSISTTIMEO = const(11)
_TCPS_KEEPTIMEO = const(12)
_TCPS_KEEPPROBE = const(13)
_TCPS_KEEPDROPS = const(14)

SO_KEEPALIVE = 0x0008  # so_options bit (the socket option's number, as BSD keeps it)
SO_LINGER = 0x0080


def tcp_timer_rexmt(tp, now):
    tp.t_rxtshift += 1
    limit = TCP_SYNRETRIES if tp.state == TCPS_SYN_SENT else TCP_MAXRXTSHIFT
    if tp.t_rxtshift > limit:
        tp.t_rxtshift = limit
        stat_inc(tcpstat, _TCPS_TIMEOUTDROP)
        tcp_drop(tp, ETIMEDOUT, now)
        return
    stat_inc(tcpstat, _TCPS_REXMTTIMEO)
    rto = tcp_rexmtval(tp) << tp.t_rxtshift
    tp.t_rxtcur = rto if rto < opts.TCP_RTO_MAX_MS else opts.TCP_RTO_MAX_MS
    # RFC 5681 3.1 (loss detected by the timer): ssthresh = max(FlightSize / 2, 2 SMSS), cwnd = 1 SMSS
    flight = tp.snd_max - tp.snd_una
    w = (flight if flight < tp.snd_wnd else tp.snd_wnd) >> 1
    mss = tp.t_maxseg
    tp.snd_ssthresh = w if w > (mss << 1) else (mss << 1)
    tp.snd_cwnd = mss
    tp.t_dupacks = 0
    tp.t_flags &= ~TF_FASTRECOVERY
    tp.snd_recover = tp.snd_max
    tp.snd_nxt = tp.snd_una  # go back to the first unacknowledged byte
    tp.t_rtttime = -1  # Karn: no RTT sample from a retransmitted segment
    tcp_output(tp, now)


def tcp_timer_persist(tp, now):
    """The peer's window is zero and we have data: probe with one byte, backing off."""
    stat_inc(tcpstat, _TCPS_PERSISTTIMEO)
    tcp_setpersist(tp, now)
    tp.t_flags |= TF_FORCEDATA
    tcp_output(tp, now)
    tp.t_flags &= ~TF_FORCEDATA


def tcp_timer_keep(tp, now):
    stat_inc(tcpstat, _TCPS_KEEPTIMEO)
    if tp.state < TCPS_ESTABLISHED:  # the connection-establishment limit (75 s)
        tcp_drop(tp, ETIMEDOUT, now)
        return
    if tp.so_options & SO_KEEPALIVE and tp.state <= TCPS_CLOSING:
        idle = ticks_diff(now, tp.t_rcvtime)
        if idle >= tp.keepidle + tp.keepcnt * tp.keepintvl:
            stat_inc(tcpstat, _TCPS_KEEPDROPS)
            tcp_drop(tp, ETIMEDOUT, now)
            return
        if idle >= tp.keepidle:
            tcp_keepprobe(tp, now)
            tcp_timer_activate(tp, TT_KEEP, tp.keepintvl, now)
            return
        tcp_timer_activate(tp, TT_KEEP, tp.keepidle - idle, now)


def tcp_keepprobe(tp, now):
    """A keepalive probe: an ACK with the sequence number snd_una - 1, so the peer must answer
    (RFC 1122 4.2.3.6), and no data."""
    ifp = tcp_ifp(tp)
    if ifp is None:
        return
    inp = tp.inp
    m = tcp_newpacket(ifp, inp.laddr, inp.faddr, 0)
    if m is None:
        return
    stat_inc(tcpstat, _TCPS_KEEPPROBE)
    s = tp.snd_una - 1
    a = tp.rcv_nxt
    w = tcp_rcvwin(tp) >> tp.rcv_scale
    tcph.emit(m.buf, m.off + 20, inp.lport, inp.fport, seq_hi(tp.snd_base_hi, tp.snd_base_lo, s),
              seq_lo(tp.snd_base_lo, s), seq_hi(tp.rcv_base_hi, tp.rcv_base_lo, a), seq_lo(tp.rcv_base_lo, a),
              tcph.TCP_HDR_LEN, tcph.TH_ACK, w if w < 65535 else 65535, 0)
    tcp_send(ifp, m, tcph.TCP_HDR_LEN, now)


def tcp_timer_2msl(tp, now):
    if tp.state != TCPS_TIME_WAIT and tp.so_state & SS_NOFDREF:
        # FIN_WAIT_2 after close(): wait for the peer's FIN while it keeps talking, else give up
        idle = ticks_diff(now, tp.t_rcvtime)
        if idle < opts.TCP_FINWAIT2_MS:
            tcp_timer_activate(tp, TT_2MSL, opts.TCP_FINWAIT2_MS - idle, now)
            return
    tcp_close(tp)


def tcp_timer_delack(tp, now):
    tp.t_flags |= TF_ACKNOW
    tcp_output(tp, now)


_handlers = (tcp_timer_rexmt, tcp_timer_persist, tcp_timer_keep, tcp_timer_2msl, tcp_timer_delack)


def tcp_timer_run(now):
    """Run every due timer of every connection and the SYN cache; recompute tcp_next."""
    tcp_next[0] = -1
    h = _handlers
    for j in range(len(tcb) - 1, -1, -1):  # backwards: a tcpcb closed here may leave the list
        tp = tcb[j]
        st = tp.state
        if st == TCPS_CLOSED or st == TCPS_LISTEN:
            continue
        t = tp.t_timer
        for i in range(TT_NTIMERS):
            d = t[i]
            if d >= 0 and ticks_diff(d, now) <= 0:
                t[i] = -1
                h[i](tp, now)
                if tp.state == TCPS_CLOSED:
                    break
        if tp.state != TCPS_CLOSED:
            for i in range(TT_NTIMERS):
                if t[i] >= 0:
                    tcp_deadline(t[i], now)
    tcp_syncache.syncache_timer(now)


class TcpTimers:
    """The object netif's timer list calls: next_timeout(now) -> tick or -1, timeout(now)."""

    def next_timeout(self, now):
        return tcp_next[0]

    def timeout(self, now):
        tcp_timer_run(now)


tcp_timers = TcpTimers()
