# The TCP control block (BSD netinet/tcp_var.h struct tcpcb), the connection states
# (tcp_fsm.h) and the flags. One Tcpcb is made per TCP pcb slot on its first use and reused.
#
# Sequence variables are offsets from a per-direction base (tcp_seq.py): the send side from
# snd_base (the ISS at first: iss is offset 0), the receive side from rcv_base (the IRS: irs is
# offset 0). Timers are deadlines in t_timer (ms ticks, -1 = off), run by tcp_timer from the
# interface loop. The send and receive buffers are rings over bytearrays that a connection takes
# from a pool (tcp_subr) while it can carry data and gives back when it closes or enters
# TIME_WAIT; a listener holds none.
from .compat import const, ticks_add, ticks_diff
from . import opts
from . import route

# connection states, in BSD's order: "state >= TCPS_ESTABLISHED" means synchronized
TCPS_CLOSED = const(0)
TCPS_LISTEN = const(1)
TCPS_SYN_SENT = const(2)
TCPS_SYN_RECEIVED = const(3)
TCPS_ESTABLISHED = const(4)
TCPS_CLOSE_WAIT = const(5)
TCPS_FIN_WAIT_1 = const(6)
TCPS_CLOSING = const(7)
TCPS_LAST_ACK = const(8)
TCPS_FIN_WAIT_2 = const(9)
TCPS_TIME_WAIT = const(10)
TCP_STATES = ("CLOSED", "LISTEN", "SYN_SENT", "SYN_RECEIVED", "ESTABLISHED", "CLOSE_WAIT", "FIN_WAIT_1",
              "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT")

# t_flags
TF_ACKNOW = const(0x0001)  # ACK at once
TF_DELACK = const(0x0002)  # ACK soon (delack timer)
TF_NODELAY = const(0x0004)  # TCP_NODELAY: no Nagle
TF_NOOPT = const(0x0008)
TF_SENTFIN = const(0x0010)  # our FIN has been sent (snd_max counts it)
TF_REQ_SCALE = const(0x0020)
TF_RCVD_SCALE = const(0x0040)
TF_REQ_TSTMP = const(0x0080)
TF_RCVD_TSTMP = const(0x0100)
TF_SACK_PERMIT = const(0x0200)  # the peer sent SACK-permitted (parsed; SACK comes later)
TF_NEEDFIN = const(0x0400)  # send a FIN once the data before it is out
TF_FASTRECOVERY = const(0x0800)
TF_FORCEDATA = const(0x1000)  # persist probe / keepalive: send even into a zero window
TF_WASIDLE = const(0x2000)

# so_state bits kept in the tcpcb, so that a connection waiting in a listener's queue (no socket
# object yet) has them too
SS_CANTRCVMORE = const(0x01)  # the peer's FIN arrived, or shutdown(SHUT_RD)
SS_CANTSENDMORE = const(0x02)  # shutdown(SHUT_WR) or close()
SS_NOFDREF = const(0x04)  # the application closed its socket: free the tcpcb when TCP is done
SS_ISCONNECTED = const(0x08)
SS_ISDISCONNECTED = const(0x10)  # the tcpcb is gone; so_error says why when it was not a close
SS_LINGER0 = const(0x20)  # SO_LINGER with l_linger 0: close() resets

# timers: t_timer indices (tcp_timer.h)
TT_REXMT = const(0)
TT_PERSIST = const(1)
TT_KEEP = const(2)
TT_2MSL = const(3)
TT_DELACK = const(4)
TT_NTIMERS = const(5)
TCP_MAXRXTSHIFT = const(12)  # retransmissions before a connection is dropped
TCP_SYNRETRIES = const(6)  # SYN retransmissions (with the 75 s keepinit limit)


class Tcpcb:
    __slots__ = (
        "inp", "so", "state", "t_flags", "so_state", "so_error", "so_options", "ifp", "rtgen",
        # send sequence space (offsets from snd_base)
        "snd_base_hi", "snd_base_lo", "snd_una", "snd_nxt", "snd_max", "snd_wnd", "snd_wl1", "snd_wl2",
        "snd_cwnd", "snd_ssthresh", "max_sndwnd", "snd_recover", "t_dupacks",
        # receive sequence space (offsets from rcv_base)
        "rcv_base_hi", "rcv_base_lo", "rcv_nxt", "rcv_adv", "last_ack_sent", "rcv_fin",
        # options
        "t_maxseg", "snd_scale", "rcv_scale", "ts_recent_hi", "ts_recent_lo", "ts_recent_age",
        # RTT
        "t_rtttime", "t_rtseq", "t_srtt", "t_rttvar", "t_rxtcur", "t_rxtshift", "t_softerror",
        "t_starttime", "t_rcvtime", "t_keepcnt",
        "t_timer",
        # buffers: the send ring holds snd_una..; the receive ring holds rcv data not yet read
        "sb", "sb_off", "sb_cc", "rb", "rb_off", "rb_cc", "bufs", "sb_hiwat", "rb_hiwat",
        # reassembly ranges beyond rcv_nxt (tcp_reass), as [start, end) offsets
        "rq_s", "rq_e", "rq_n",
        # a listener's queues (so_qlimit, so_comp) and a queued connection's listener (so_head)
        "so_qlimit", "so_comp", "so_head", "keepidle", "keepintvl", "keepcnt",
    )

    def __init__(self, inp):
        self.inp = inp
        self.t_timer = [-1] * TT_NTIMERS
        self.rq_s = [0] * opts.TCP_REASS_MAX
        self.rq_e = [0] * opts.TCP_REASS_MAX
        self.so_comp = []
        self.reset()

    def reset(self):
        """tcp_newtcpcb(): a fresh CLOSED connection with the defaults."""
        self.so = None
        self.state = TCPS_CLOSED
        self.t_flags = 0
        self.so_state = 0
        self.so_error = 0
        self.so_options = 0
        self.ifp = None
        self.rtgen = -1
        self.snd_base_hi = self.snd_base_lo = 0
        self.snd_una = self.snd_nxt = self.snd_max = 0
        self.snd_wnd = self.snd_wl1 = self.snd_wl2 = 0
        self.snd_cwnd = self.snd_ssthresh = 0
        self.max_sndwnd = 0
        self.snd_recover = 0
        self.t_dupacks = 0
        self.rcv_base_hi = self.rcv_base_lo = 0
        self.rcv_nxt = self.rcv_adv = self.last_ack_sent = 0
        self.rcv_fin = -1
        self.t_maxseg = opts.TCP_MSS_DEFAULT
        self.snd_scale = self.rcv_scale = 0
        self.ts_recent_hi = self.ts_recent_lo = 0
        self.ts_recent_age = 0
        self.t_rtttime = -1
        self.t_rtseq = 0
        self.t_srtt = 0
        self.t_rttvar = opts.TCP_RTO_INIT_MS  # RFC 6298 2.1: RTO = 1 s before a measurement (srtt 0)
        self.t_rxtcur = opts.TCP_RTO_INIT_MS
        self.t_rxtshift = 0
        self.t_softerror = 0
        self.t_starttime = 0
        self.t_rcvtime = 0
        self.t_keepcnt = 0
        t = self.t_timer
        for i in range(TT_NTIMERS):
            t[i] = -1
        self.sb = None
        self.rb = None
        self.bufs = None
        self.sb_off = self.sb_cc = 0
        self.rb_off = self.rb_cc = 0
        self.sb_hiwat = self.rb_hiwat = 0  # the rings' sizes (tcp_subr.tcp_bufsz when made)
        self.rq_n = 0
        self.so_qlimit = 0
        del self.so_comp[:]
        self.so_head = None
        self.keepidle = opts.TCP_KEEPIDLE_MS
        self.keepintvl = opts.TCP_KEEPINTVL_MS
        self.keepcnt = opts.TCP_KEEPCNT


def tcp_state_name(tp):
    return TCP_STATES[tp.state]


# --- timers: deadlines in the tcpcb, one hint for the interface loop ---------------------------
# tcp_next[0]: a tick at or before the earliest deadline of any connection or SYN cache entry (-1:
# none). It may be early (a timer was stopped): the timer pass then finds nothing due and
# recomputes it. Never late.
tcp_next = [-1]


def tcp_timer_activate(tp, which, delta, now):
    """Start timer `which` to fire `delta` ms after now; delta < 0 stops it."""
    if delta < 0:
        tp.t_timer[which] = -1
        return
    at = ticks_add(now, delta)
    tp.t_timer[which] = at
    tcp_deadline(at, now)


def tcp_deadline(at, now):
    """Make sure the timer pass runs by tick `at`."""
    n = tcp_next[0]
    if n < 0 or ticks_diff(at, n) < 0:
        tcp_next[0] = at


# --- the timestamp clock (RFC 7323 5.4): ms, 32 bits as two halves ------------------------------
# ms ticks wrap at 2**30; the two bits above them count the wraps, so TSval keeps going up through
# a wrap (a peer's PAWS would otherwise drop everything we send for 12 days).
_ts = [0, 0]  # [last now seen, wraps mod 4]


def tcp_ts_hi(now):
    if now < _ts[0]:
        _ts[1] = (_ts[1] + 1) & 3
    _ts[0] = now
    return (now >> 16) | (_ts[1] << 14)


# --- the route a connection's segments take, cached (BSD inp_route) ----------------------------
def tcp_ifp(tp):
    """The interface tp's segments leave by, looked up again only when the routing table changed;
    None when there is no route."""
    g = route.rtgen[0]
    if tp.rtgen != g:
        tp.ifp = route.rtalloc_ifp(tp.inp.faddr, 0)
        tp.rtgen = g
    return tp.ifp
