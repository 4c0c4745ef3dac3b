# tcp_output() (FreeBSD tcp_output.c): decide whether a segment should go, build it from the send
# ring into one cluster behind exactly MAX_LINKHDR bytes of room (the frame starts at the
# cluster's first byte) and hand it to ip_output; and the builders that the SYN cache and
# tcp_respond (RST and ACK without a tcpcb) share with it.
#
# The decision, in BSD's order: data when a full segment fits, or everything left fits and the
# connection is idle or TCP_NODELAY (Nagle, RFC 896), or half the peer's largest window, or we
# are retransmitting, or a probe is forced; a window update when the window opened by two
# segments or half the buffer (receiver silly-window avoidance, RFC 1122 4.2.3.3); an ACK that
# is owed; SYN, RST and FIN. Otherwise the persist timer when data waits on a zero window.
from .compat import const
from . import opts
from . import mbuf
from .hdr import ip as iph
from .hdr import tcp as tcph
from .ip_output import ip_output
from .sockbuf import sb_get
from .errno import EHOSTUNREACH
from .tcp_seq import seq_hi, seq_lo
from .tcp_var import (tcp_timer_activate, tcp_ts_hi, tcp_ifp, TT_REXMT, TT_PERSIST, TT_DELACK,
                      TCPS_CLOSED, TCPS_LISTEN, TCPS_ESTABLISHED,
                      TF_ACKNOW, TF_DELACK, TF_NODELAY, TF_SENTFIN, TF_REQ_SCALE, TF_REQ_TSTMP,
                      TF_RCVD_TSTMP, TF_FORCEDATA, TF_NEEDFIN, SS_CANTRCVMORE)
from .stats import stat_inc, tcpstat, stat_add
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_TCPS_SEGSTIMED = const(6)
_TCPS_DELACK = const(8)
_TCPS_SNDTOTAL = const(15)
_TCPS_SNDPACK = const(16)
_TCPS_SNDBYTE = const(17)
_TCPS_SNDREXMITPACK = const(18)
_TCPS_SNDREXMITBYTE = const(19)
_TCPS_SNDACKS = const(20)
_TCPS_SNDPROBE = const(21)
_TCPS_SNDWINUP = const(22)
_TCPS_SNDCTRL = const(23)
_TCPS_SNDRST = const(24)
_TCPS_NOMBUF = const(65)
_TCPS_NOROUTE = const(66)
_TCPS_ZEROWIN = const(70)

_IPH = const(20)
_TH_FIN = const(0x01)
_TH_SYN = const(0x02)
_TH_RST = const(0x04)
_TH_PUSH = const(0x08)
_TH_ACK = const(0x10)
TCPOLEN_TSTAMP_APPA = const(12)  # NOP NOP TS: the layout header prediction on the other side expects
_MAXWIN = const(65535)
_SENDALOT_MAX = const(16)  # segments one tcp_output call sends at most (the window bounds it first)

# tcp_outflags[state] (tcp_fsm.h)
tcp_outflags = (
    _TH_RST | _TH_ACK,  # CLOSED
    0,  # LISTEN
    _TH_SYN,  # SYN_SENT
    _TH_SYN | _TH_ACK,  # SYN_RECEIVED
    _TH_ACK,  # ESTABLISHED
    _TH_ACK,  # CLOSE_WAIT
    _TH_FIN | _TH_ACK,  # FIN_WAIT_1
    _TH_FIN | _TH_ACK,  # CLOSING
    _TH_FIN | _TH_ACK,  # LAST_ACK
    _TH_ACK,  # FIN_WAIT_2
    _TH_ACK,  # TIME_WAIT
)


def tcp_newpacket(ifp, laddr, faddr, foff):
    """A cluster with an IPv4 header from laddr (the interface's address when 0.0.0.0) to
    faddr[foff:], protocol TCP, behind MAX_LINKHDR bytes; the TCP header goes at m.off + 20.
    None when the pool is empty (the caller counts it)."""
    m = mbuf.m_get(opts.MAX_LINKHDR)
    if m is None:
        stat_inc(tcpstat, _TCPS_NOMBUF)
        return None
    if laddr[0] == 0 and laddr[1] == 0 and laddr[2] == 0 and laddr[3] == 0:
        laddr = ifp.ia.addr
    iph.emit(m.buf, m.off, _IPH, 0, 0, 0, 0, 0, iph.IPPROTO_TCP, laddr, 0, faddr, foff)
    return m


def tcp_send(ifp, m, n, now):
    """The TCP segment (n bytes: header, options, data) after m's IP header is complete but for
    its checksum: fill it and hand the packet to ip_output. Consumes m."""
    b = m.buf
    o = m.off
    m.len = _IPH + n
    tcph.fill_cksum(b, o + _IPH, n, b, o + iph.IP_SRC, b, o + iph.IP_DST)
    stat_inc(tcpstat, _TCPS_SNDTOTAL)
    ip_output(ifp, m, now)


def tcp_synopts(b, p, mss, wscale, ts, now, ecr_hi, ecr_lo):
    """The options of a SYN or SYN|ACK at b[p:]: MSS, then window scale when wscale >= 0, then
    timestamps when ts. Returns their length (a multiple of 4)."""
    n = tcph.emit_mss(b, p, mss)
    if wscale >= 0:
        n += tcph.emit_nop(b, p + n)
        n += tcph.emit_wscale(b, p + n, wscale)
    if ts:
        n += tcph.emit_nop(b, p + n)
        n += tcph.emit_nop(b, p + n)
        n += tcph.emit_ts(b, p + n, tcp_ts_hi(now), now & 0xFFFF, ecr_hi, ecr_lo)
    return n


def tcp_rcvwin(tp):
    """The receive window to offer: free ring space, none below a quarter of the buffer and one
    segment (receiver SWS avoidance), and never less than already offered (no shrinking)."""
    if tp.rb is None or tp.so_state & SS_CANTRCVMORE:
        win = 0
    else:
        win = tp.rb_hiwat - tp.rb_cc
        if win < (tp.rb_hiwat >> 2) and win < tp.t_maxseg:
            win = 0
    adv = tp.rcv_adv - tp.rcv_nxt
    if win < adv:
        win = adv
    return win


def tcp_rexmtval(tp):
    """RFC 6298 2.3: SRTT + 4 RTTVAR (t_srtt is ms << 3, t_rttvar ms << 2), at least the minimum RTO."""
    t = (tp.t_srtt >> 3) + tp.t_rttvar
    return t if t > opts.TCP_RTO_MIN_MS else opts.TCP_RTO_MIN_MS


def tcp_setpersist(tp, now):
    """Start the persist timer with the current backoff (tcp_setpersist)."""
    t = tcp_rexmtval(tp)
    if t < opts.TCP_RTO_MIN_MS:
        t = opts.TCP_RTO_MIN_MS
    t <<= tp.t_rxtshift if tp.t_rxtshift < 7 else 7
    if t < opts.TCP_PERSMIN_MS:
        t = opts.TCP_PERSMIN_MS
    elif t > opts.TCP_PERSMAX_MS:
        t = opts.TCP_PERSMAX_MS
    tcp_timer_activate(tp, TT_PERSIST, t, now)
    if tp.t_rxtshift < 12:
        tp.t_rxtshift += 1


def tcp_sendrst(tp, now):
    """A RST|ACK for tp (tcp_drop: SO_LINGER 0, a timeout, an abort), at snd_max."""
    ifp = tcp_ifp(tp)
    if ifp is not None:
        _send(tp, ifp, _TH_RST | _TH_ACK, 0, 0, TCPOLEN_TSTAMP_APPA if tp.t_flags & TF_RCVD_TSTMP else 0,
              False, now)


def tcp_output(tp, now):
    """Send what tp's state and windows allow (several segments when there is more to send).
    Returns 0, or an errno when the connection has no route."""
    ifp = tcp_ifp(tp)
    if ifp is None:
        stat_inc(tcpstat, _TCPS_NOROUTE)
        return EHOSTUNREACH
    # idle is judged once per call, as BSD does: a write of three segments into an idle
    # connection goes out whole, its short tail included (Nagle holds only later writes)
    idle = tp.snd_max == tp.snd_una
    i = 0
    while i < _SENDALOT_MAX and _output1(tp, ifp, idle, now):
        i += 1
    return 0


def _output1(tp, ifp, idle, now):
    """One segment, if one should go. True when tcp_output should look again (more to send)."""
    st = tp.state
    if st == TCPS_LISTEN or st == TCPS_CLOSED:
        return False
    flags = tcp_outflags[st]
    una = tp.snd_una
    off = tp.snd_nxt - una
    length = 0
    sendalot = False
    optlen = TCPOLEN_TSTAMP_APPA if tp.t_flags & TF_RCVD_TSTMP else 0
    maxlen = tp.t_maxseg - optlen
    if st < TCPS_ESTABLISHED:
        # the SYN (or SYN|ACK of a simultaneous open) goes from snd_una: first or retransmitted
        if off > 0 and not tp.t_flags & TF_ACKNOW:
            return False
        if off > 0:
            flags &= ~_TH_SYN  # an ACK in SYN_RECEIVED while our SYN is out
    else:
        if tp.snd_nxt < una:  # cannot happen; keep the arithmetic sane
            tp.snd_nxt = una
            off = 0
        cc = tp.sb_cc
        win = tp.snd_wnd if tp.snd_wnd < tp.snd_cwnd else tp.snd_cwnd
        sendwin = win
        if tp.t_flags & TF_FORCEDATA and win == 0 and off < cc:
            win = 1  # a zero-window probe: one byte
        length = (cc if cc < win else win) - off
        if length < 0:
            length = 0
            if sendwin == 0:
                # the window shrank to nothing: pull back and probe (BSD's "len < 0" case)
                tcp_timer_activate(tp, TT_REXMT, -1, now)
                tp.t_rxtshift = 0
                tp.snd_nxt = una
                off = 0
                if tp.t_timer[TT_PERSIST] < 0:
                    tcp_setpersist(tp, now)
        if length > maxlen:
            length = maxlen
            sendalot = True
        if flags & _TH_FIN and (not tp.t_flags & TF_NEEDFIN or off + length < cc):
            flags &= ~_TH_FIN  # the FIN goes with the last byte, and only once close() asked
        if length:
            if (length == maxlen or tp.t_flags & TF_FORCEDATA or tp.snd_nxt < tp.snd_max
                    or ((idle or tp.t_flags & TF_NODELAY) and off + length >= cc)
                    or (tp.max_sndwnd and length >= tp.max_sndwnd >> 1)):
                return _send(tp, ifp, flags, off, length, optlen, sendalot, now)
    if tp.t_flags & TF_ACKNOW or flags & (_TH_SYN | _TH_RST):
        return _send(tp, ifp, flags, off, length, optlen, False, now)
    if st >= TCPS_ESTABLISHED:
        # a window update: the window opened by two segments or half the buffer since offered
        if tp.rb is not None and not tp.so_state & SS_CANTRCVMORE:
            adv = tcp_rcvwin(tp) - (tp.rcv_adv - tp.rcv_nxt)
            if adv >= (tp.t_maxseg << 1) or (adv << 1) >= tp.rb_hiwat:
                stat_inc(tcpstat, _TCPS_SNDWINUP)
                return _send(tp, ifp, flags & ~_TH_FIN, off, 0, optlen, False, now)
        if flags & _TH_FIN and (not tp.t_flags & TF_SENTFIN or tp.snd_nxt == una):
            # the FIN goes with the data Nagle held back (it was not stripped: that data is the last)
            return _send(tp, ifp, flags, off, length, optlen, False, now)
        if (tp.sb_cc > off and tp.t_timer[TT_REXMT] < 0 and tp.t_timer[TT_PERSIST] < 0):
            tp.t_rxtshift = 0
            tcp_setpersist(tp, now)
    return False


def _send(tp, ifp, flags, off, length, optlen, sendalot, now):
    inp = tp.inp
    m = tcp_newpacket(ifp, inp.laddr, inp.faddr, 0)
    if m is None:
        # no cluster: the retransmit timer brings us back (the pool refills as frames go out)
        if tp.snd_nxt != tp.snd_una and tp.t_timer[TT_REXMT] < 0 and tp.t_timer[TT_PERSIST] < 0:
            tcp_timer_activate(tp, TT_REXMT, tp.t_rxtcur, now)
        return False
    b = m.buf
    th = m.off + _IPH
    p = th + tcph.TCP_HDR_LEN
    tf = tp.t_flags
    if flags & _TH_SYN:
        optlen = tcp_synopts(b, p, ifp.mtu - 40, tp.rcv_scale if tf & TF_REQ_SCALE else -1,
                             tf & TF_REQ_TSTMP, now, tp.ts_recent_hi, tp.ts_recent_lo)
    elif optlen:
        tcph.emit_nop(b, p)
        tcph.emit_nop(b, p + 1)
        tcph.emit_ts(b, p + 2, tcp_ts_hi(now), now & 0xFFFF, tp.ts_recent_hi, tp.ts_recent_lo)
    if flags & _TH_FIN and tf & TF_SENTFIN and tp.snd_nxt == tp.snd_max:
        tp.snd_nxt -= 1  # retransmit the FIN at its own sequence number
    persisting = tp.t_timer[TT_PERSIST] >= 0
    if length or flags & (_TH_SYN | _TH_FIN) or persisting:
        s = tp.snd_nxt
    else:
        s = tp.snd_max
    if length:
        pos = tp.sb_off + off
        if pos >= tp.sb_hiwat:
            pos -= tp.sb_hiwat
        sb_get(tp.sb, pos, b, p + optlen, length)
        if off + length == tp.sb_cc:
            flags |= _TH_PUSH
        if tp.snd_nxt < tp.snd_max:
            stat_inc(tcpstat, _TCPS_SNDREXMITPACK)
            stat_add(tcpstat, _TCPS_SNDREXMITBYTE, length)
        else:
            stat_inc(tcpstat, _TCPS_SNDPACK)
            stat_add(tcpstat, _TCPS_SNDBYTE, length)
        if tf & TF_FORCEDATA and tp.snd_wnd == 0:
            stat_inc(tcpstat, _TCPS_SNDPROBE)
    elif flags & (_TH_SYN | _TH_FIN | _TH_RST):
        stat_inc(tcpstat, _TCPS_SNDCTRL)
        if flags & _TH_RST:
            stat_inc(tcpstat, _TCPS_SNDRST)
    else:
        stat_inc(tcpstat, _TCPS_SNDACKS)
        if tf & TF_DELACK and not tf & TF_ACKNOW:
            stat_inc(tcpstat, _TCPS_DELACK)
    win = tcp_rcvwin(tp)
    if flags & _TH_SYN:
        wf = win if win < _MAXWIN else _MAXWIN  # a SYN's window is never scaled (RFC 7323 2.2)
    else:
        wf = win >> tp.rcv_scale
        if wf > _MAXWIN:
            wf = _MAXWIN
    if wf == 0 and tp.rb is not None:
        stat_inc(tcpstat, _TCPS_ZEROWIN)
    sbh = tp.snd_base_hi
    sbl = tp.snd_base_lo
    rbh = tp.rcv_base_hi
    rbl = tp.rcv_base_lo
    ack = tp.rcv_nxt
    tcph.emit(b, th, inp.lport, inp.fport, seq_hi(sbh, sbl, s), seq_lo(sbl, s),
              seq_hi(rbh, rbl, ack), seq_lo(rbl, ack), tcph.TCP_HDR_LEN + optlen,
              flags, wf, 0)
    if not flags & _TH_ACK:
        tcph.set_ack(b, th, 0, 0)  # our first SYN acknowledges nothing
    # sequence bookkeeping
    if not (tf & TF_FORCEDATA and persisting):
        start = tp.snd_nxt
        if flags & _TH_SYN:
            tp.snd_nxt += 1
        if flags & _TH_FIN:
            tp.snd_nxt += 1
            tp.t_flags |= TF_SENTFIN
        tp.snd_nxt += length
        if tp.snd_nxt > tp.snd_max:
            tp.snd_max = tp.snd_nxt
            if tp.t_rtttime < 0:  # time this segment (Karn: never a retransmitted one)
                tp.t_rtttime = now
                tp.t_rtseq = start
                stat_inc(tcpstat, _TCPS_SEGSTIMED)
        if tp.t_timer[TT_REXMT] < 0 and tp.snd_nxt != tp.snd_una:
            if persisting:
                tcp_timer_activate(tp, TT_PERSIST, -1, now)
                tp.t_rxtshift = 0
            tcp_timer_activate(tp, TT_REXMT, tp.t_rxtcur, now)
    else:
        x = tp.snd_nxt + length
        if flags & _TH_FIN:
            x += 1
            tp.t_flags |= TF_SENTFIN
        if x > tp.snd_max:
            tp.snd_max = x
    if win > 0 and ack + win > tp.rcv_adv:
        tp.rcv_adv = ack + win
    tp.last_ack_sent = ack
    tp.t_flags &= ~(TF_ACKNOW | TF_DELACK)
    if tp.t_timer[TT_DELACK] >= 0:
        tp.t_timer[TT_DELACK] = -1
    tcp_send(ifp, m, tcph.TCP_HDR_LEN + optlen + length, now)
    return sendalot


def tcp_respond(ifp, m, seq_h, seq_l, ack_h, ack_l, flags, now):
    """Answer the segment in m (m.off at its IP header, as received) with a bare RST or ACK built
    in m itself: addresses and ports swapped, no options, no data. Consumes m."""
    b = m.buf
    o = m.off
    hl = (b[o] & 0x0F) << 2
    th = o + hl
    sw = _swap
    for i in range(4):
        sw[i] = b[o + iph.IP_SRC + i]
        sw[4 + i] = b[o + iph.IP_DST + i]
    sport = (b[th] << 8) | b[th + 1]
    dport = (b[th + 2] << 8) | b[th + 3]
    o2 = th - _IPH  # a 20-byte IP header right before the TCP header (options dropped)
    iph.emit(b, o2, _IPH, 0, 0, 0, 0, 0, iph.IPPROTO_TCP, sw, 4, sw, 0)
    tcph.emit(b, th, dport, sport, seq_h, seq_l, ack_h, ack_l, tcph.TCP_HDR_LEN, flags, 0, 0)
    m.off = o2
    if flags & _TH_RST:
        stat_inc(tcpstat, _TCPS_SNDCTRL)
        stat_inc(tcpstat, _TCPS_SNDRST)
    else:
        stat_inc(tcpstat, _TCPS_SNDACKS)
    tcp_send(ifp, m, tcph.TCP_HDR_LEN, now)


_swap = bytearray(8)
