# tcp_input() (FreeBSD tcp_input.c), in the notes' order: checksum, lookup (exact, then the
# listener), LISTEN through the SYN cache, TIME_WAIT apart, header prediction for the two common
# cases of a one-way transfer, then the general path of RFC 9293 3.10.7 as helpers: PAWS, RST
# and SYN rules (RFC 5961), trimming to the window, ACK processing with RTT (RFC 6298, Karn) and
# congestion control (RFC 5681: slow start, avoidance, fast retransmit), the window update
# (snd_wl1/snd_wl2), data into the receive ring (tcp_reass), FIN in every state.
#
# One record per segment: _seg (sequence numbers as offsets of the connection's bases, the
# flags, window, data place) and _to (the options) are made once and filled for each segment.
# Helpers return what to do with the segment (_DROP, _DROPWITHRESET, _DROPAFTERACK, _DONE),
# acted on in one place instead of BSD's goto labels. The input cluster is freed before any
# answer is built, so an answer never needs a second cluster while we hold the first.
from .compat import const, ticks_diff
from . import opts
from . import mbuf
from .hdr import ip as iph
from .hdr import tcp as tcph
from .in_pcb import in_pcblookup, INPLOOKUP_WILDCARD
from .tcp_seq import seq_off, seq_hi, seq_lo, SEQ_REBASE
from .tcp_var import (tcp_timer_activate, tcp_ts_hi, TCPS_CLOSED, TCPS_LISTEN, TCPS_SYN_SENT,
                      TCPS_SYN_RECEIVED, TCPS_ESTABLISHED, TCPS_CLOSE_WAIT, TCPS_FIN_WAIT_1,
                      TCPS_CLOSING, TCPS_LAST_ACK, TCPS_FIN_WAIT_2, TCPS_TIME_WAIT, TF_ACKNOW,
                      TF_DELACK, TF_REQ_SCALE, TF_RCVD_SCALE, TF_REQ_TSTMP, TF_RCVD_TSTMP, TF_SACK_PERMIT,
                      TF_SENTFIN, TF_FASTRECOVERY, SS_CANTRCVMORE, SS_NOFDREF, SS_ISCONNECTED,
                      TT_REXMT, TT_PERSIST, TT_KEEP, TT_2MSL, TT_DELACK)
from .tcp_output import tcp_output, tcp_respond, tcp_rcvwin
from .tcp_subr import (tcbinfo, tcp_close, tcp_putbufs, tcp_mss, tcp_snd_rebase, tcp_rcv_rebase,
                       tcp_xmit_timer)
from .tcp_reass import tcp_reass
from . import tcp_syncache
from .stats import stat_inc, tcpstat, stat_add
from .errno import ECONNREFUSED, ECONNRESET
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_TCPS_CONNECTS = const(2)
_TCPS_DROPS = const(3)
_TCPS_RCVTOTAL = const(25)
_TCPS_RCVBADSUM = const(28)
_TCPS_RCVBADOFF = const(29)
_TCPS_RCVSHORT = const(30)
_TCPS_RCVDUPPACK = const(31)
_TCPS_RCVDUPBYTE = const(32)
_TCPS_RCVPARTDUPPACK = const(33)
_TCPS_RCVPACKAFTERWIN = const(36)
_TCPS_RCVBYTEAFTERWIN = const(37)
_TCPS_RCVAFTERCLOSE = const(38)
_TCPS_RCVWINPROBE = const(39)
_TCPS_RCVDUPACK = const(40)
_TCPS_RCVACKTOOMUCH = const(41)
_TCPS_RCVACKPACK = const(42)
_TCPS_RCVACKBYTE = const(43)
_TCPS_RCVWINUPD = const(44)
_TCPS_PAWSDROP = const(45)
_TCPS_PREDACK = const(46)
_TCPS_PREDDAT = const(47)
_TCPS_BADSYN = const(48)
_TCPS_BADRST = const(49)
_TCPS_BADADDR = const(50)
_TCPS_NOPORT = const(51)
_TCPS_SC_BADACK = const(62)
_TCPS_FASTREXMT = const(63)
_TCPS_BADOPT = const(67)
_TCPS_RCVRST = const(68)
_TCPS_RCVMEMDROP = const(69)

_TH_FIN = const(0x01)
_TH_SYN = const(0x02)
_TH_RST = const(0x04)
_TH_PUSH = const(0x08)
_TH_ACK = const(0x10)
_TH_URG = const(0x20)

_DONE = const(0)  # the segment was consumed (m freed or reused)
_DROP = const(1)
_DROPWITHRESET = const(2)
_DROPAFTERACK = const(3)
_CONTINUE = const(4)  # a helper's "go on with the next step"

_WIN_CLAMP = const(0x1000000)  # a scaled peer window is clamped to 16 MiB before it meets a sequence
# RFC 7323 5.5 says 24 days; ms ticks wrap at 2**30 (12.4 days) and ticks_diff reaches 6.2, so a
# timestamp is taken as stale after 6 days idle (a little less PAWS protection, never a wrong verdict)
_PAWS_IDLE = const(6 * 24 * 3600 * 1000)
_SO_KEEPALIVE = const(0x0008)


class _Seg:
    __slots__ = ("seq", "ack", "flags", "win", "len", "th", "data", "seq_hi", "seq_lo", "ack_hi", "ack_lo")

    def __init__(self):
        self.seq = self.ack = self.flags = self.win = self.len = 0
        self.th = self.data = 0
        self.seq_hi = self.seq_lo = self.ack_hi = self.ack_lo = 0


_seg = _Seg()
_to = tcph.TcpOpt()
_DROP_STAT = (0, _TCPS_RCVSHORT, _TCPS_RCVBADOFF, _TCPS_RCVBADSUM)


def tcp_input(ifp, m, hlen, now):
    """m.off at the IP header (checked by ip_input), m.len its total length. Consumes m."""
    stat_inc(tcpstat, _TCPS_RCVTOTAL)
    b = m.buf
    o = m.off
    th = o + hlen
    tlen = m.len - hlen
    r = tcph.check(b, th, tlen, b, o + iph.IP_SRC, b, o + iph.IP_DST)
    if r:
        stat_inc(tcpstat, _DROP_STAT[r])
        mbuf.m_free(m)
        return
    ia = ifp.ia
    if (m.flags & (mbuf.M_BCAST | mbuf.M_MCAST) or not ia.is_ours(b, o + iph.IP_DST)
            or ia.martian_src(b, o + iph.IP_SRC, False)):
        # TCP is unicast only (RFC 1122 4.2.3.10): broadcast/multicast SYNs, our address in a
        # link-level broadcast frame, and martian sources are dropped, never answered
        stat_inc(tcpstat, _TCPS_BADADDR)
        mbuf.m_free(m)
        return
    seg = _seg
    thl = tcph.hlen(b, th)
    seg.th = th
    seg.data = th + thl
    seg.len = tlen - thl
    seg.flags = b[th + 13]
    seg.win = tcph.win(b, th)
    seg.seq_hi = tcph.seq_hi(b, th)
    seg.seq_lo = tcph.seq_lo(b, th)
    seg.ack_hi = tcph.ack_hi(b, th)
    seg.ack_lo = tcph.ack_lo(b, th)
    to = _to
    to.to_flags = 0
    if thl > tcph.TCP_HDR_LEN and tcph.parse_options(b, th + tcph.TCP_HDR_LEN, thl - tcph.TCP_HDR_LEN, to):
        stat_inc(tcpstat, _TCPS_BADOPT)  # what was parsed before the bad option stays (BSD does the same)
    inp = in_pcblookup(tcbinfo, b, o + iph.IP_SRC, (b[th] << 8) | b[th + 1], b, o + iph.IP_DST,
                       (b[th + 2] << 8) | b[th + 3], INPLOOKUP_WILDCARD)
    tp = inp.ppcb if inp is not None else None
    if tp is not None and tp.state == TCPS_TIME_WAIT:
        if _twcheck(tp, ifp, m, now) == _DONE:
            return
        else:  # a new SYN recycled the TIME_WAIT: look for the listener
            inp = in_pcblookup(tcbinfo, b, o + iph.IP_SRC, (b[th] << 8) | b[th + 1], b, o + iph.IP_DST,
                               (b[th + 2] << 8) | b[th + 3], INPLOOKUP_WILDCARD)
            tp = inp.ppcb if inp is not None else None
    if tp is None or tp.state == TCPS_CLOSED:
        stat_inc(tcpstat, _TCPS_NOPORT)
        _finish(_DROPWITHRESET, None, ifp, m, now)
        return
    if tp.state == TCPS_LISTEN:
        r = _listen(tp, ifp, m, now)
        if r != _CONTINUE:
            _finish(r, None, ifp, m, now)
            return
        tp = _expanded[0]
        _expanded[0] = None
    _finish(tcp_do_segment(tp, ifp, m, now), tp, ifp, m, now)


_expanded = [None]  # the tcpcb syncache_expand made, for the rest of tcp_input


def _finish(r, tp, ifp, m, now):
    """Act on a helper's verdict, in one place (BSD's drop/dropwithreset/dropafterack labels)."""
    if r == _DONE:
        return
    if r == _DROPWITHRESET:
        _dropwithreset(ifp, m, now)
        return
    mbuf.m_free(m)
    if r == _DROPAFTERACK and tp is not None:
        tp.t_flags |= TF_ACKNOW
        tcp_output(tp, now)


def _dropwithreset(ifp, m, now):
    """RFC 9293 3.10.7.1: a RST for a segment that has no connection; never for a RST. With an
    ACK the RST takes its sequence number from it; else it acknowledges the segment."""
    seg = _seg
    f = seg.flags
    if f & _TH_RST:
        mbuf.m_free(m)
        return
    if f & _TH_ACK:
        tcp_respond(ifp, m, seg.ack_hi, seg.ack_lo, 0, 0, _TH_RST, now)
    else:
        n = seg.len
        if f & _TH_SYN:
            n += 1
        if f & _TH_FIN:
            n += 1
        tcp_respond(ifp, m, 0, 0, seq_hi(seg.seq_hi, seg.seq_lo, n), seq_lo(seg.seq_lo, n), _TH_RST | _TH_ACK, now)


def _listen(lp, ifp, m, now):
    seg = _seg
    f = seg.flags
    if f & _TH_RST:
        tcp_syncache.syncache_chkrst(m, seg.th)
        return _DROP
    if f & _TH_ACK:
        if f & _TH_SYN:
            return _DROPWITHRESET  # a SYN|ACK to a listener (RFC 9293: RST)
        tp = tcp_syncache.syncache_expand(lp, ifp, m, seg.th, _to, now)
        if tp is tcp_syncache.SC_NONE:
            stat_inc(tcpstat, _TCPS_SC_BADACK)
            return _DROPWITHRESET
        if tp is tcp_syncache.SC_DROP:
            return _DROP
        _expanded[0] = tp
        return _CONTINUE
    if f & _TH_SYN:
        tcp_syncache.syncache_add(lp, ifp, m, seg.th, _to, now)
    return _DROP


def _twcheck(tp, ifp, m, now):
    """A segment for a connection in TIME_WAIT (BSD tcp_twcheck). _CONTINUE means the TIME_WAIT
    was closed for a new SYN (the caller looks for the listener); _DONE otherwise."""
    seg = _seg
    f = seg.flags
    s = seq_off(seg.seq_hi, seg.seq_lo, tp.rcv_base_hi, tp.rcv_base_lo)
    if f & _TH_RST:
        mbuf.m_free(m)  # RFC 1337: a RST does not cut TIME_WAIT short
        return _DONE
    if f & _TH_SYN and not f & _TH_ACK and s > tp.rcv_nxt:
        tcp_close(tp)  # a new incarnation above the old sequence space (RFC 9293 3.10.7.4 note)
        return _CONTINUE
    if f & _TH_FIN and s + seg.len + 1 == tp.rcv_nxt:
        tcp_timer_activate(tp, TT_2MSL, opts.TCP_MSL_MS << 1, now)  # the peer lost our last ACK
    a = seq_off(seg.ack_hi, seg.ack_lo, tp.snd_base_hi, tp.snd_base_lo)
    mbuf.m_free(m)
    if f != _TH_ACK or seg.len or s != tp.rcv_nxt or a != tp.snd_nxt:
        tp.t_flags |= TF_ACKNOW
        tcp_output(tp, now)
    return _DONE


def tcp_do_segment(tp, ifp, m, now):
    seg = _seg
    f = seg.flags
    b = m.buf
    to = _to
    synsent = tp.state == TCPS_SYN_SENT
    if synsent:
        r = _synsent(tp, ifp, m, now)
        if r != _CONTINUE:
            return r
        f = seg.flags  # ESTABLISHED now: data or a FIN that came with the SYN|ACK follow
    else:
        seg.seq = seq_off(seg.seq_hi, seg.seq_lo, tp.rcv_base_hi, tp.rcv_base_lo)
        seg.ack = seq_off(seg.ack_hi, seg.ack_lo, tp.snd_base_hi, tp.snd_base_lo)
    tp.t_rcvtime = now
    if tp.so_options & _SO_KEEPALIVE and tp.state >= TCPS_ESTABLISHED:
        tcp_timer_activate(tp, TT_KEEP, tp.keepidle, now)
    tiwin = seg.win
    if not f & _TH_SYN and tp.snd_scale:
        tiwin = _WIN_CLAMP if tiwin >= (_WIN_CLAMP >> tp.snd_scale) else tiwin << tp.snd_scale
    ts = to.to_flags & tcph.TOF_TS and tp.t_flags & TF_RCVD_TSTMP
    # --- header prediction (the two common cases of a one-way transfer) -----------------------
    if (tp.state == TCPS_ESTABLISHED and f & (_TH_SYN | _TH_FIN | _TH_RST | _TH_URG | _TH_ACK) == _TH_ACK
            and seg.seq == tp.rcv_nxt and tiwin and tiwin == tp.snd_wnd and tp.snd_nxt == tp.snd_max
            and (not ts or seq_off(to.to_tsval_hi, to.to_tsval_lo, tp.ts_recent_hi, tp.ts_recent_lo) >= 0)):
        if ts and seg.seq <= tp.last_ack_sent:
            tp.ts_recent_hi = to.to_tsval_hi
            tp.ts_recent_lo = to.to_tsval_lo
            tp.ts_recent_age = now
        a = seg.ack
        if seg.len == 0:
            if tp.snd_una < a <= tp.snd_max and not tp.t_flags & TF_FASTRECOVERY and tp.t_dupacks == 0:
                stat_inc(tcpstat, _TCPS_PREDACK)
                tp.snd_wl1 = seg.seq
                _rtt_sample(tp, ts, now)
                acked = a - tp.snd_una
                stat_inc(tcpstat, _TCPS_RCVACKPACK)
                stat_add(tcpstat, _TCPS_RCVACKBYTE, acked)
                _cc_ack(tp, acked)
                _sbdrop(tp, acked)
                tp.snd_una = a
                tp.snd_wl2 = a
                if a == tp.snd_max:
                    tp.t_timer[TT_REXMT] = -1
                elif tp.t_timer[TT_PERSIST] < 0:
                    tcp_timer_activate(tp, TT_REXMT, tp.t_rxtcur, now)
                if a >= SEQ_REBASE[0]:
                    tcp_snd_rebase(tp)
                mbuf.m_free(m)
                if tp.so is not None:
                    tp.so._wake()
                if tp.sb_cc > tp.snd_nxt - tp.snd_una or tp.t_flags & TF_ACKNOW:
                    tcp_output(tp, now)
                return _DONE
        elif (a == tp.snd_una and tp.rq_n == 0 and tp.rb is not None and not tp.so_state & SS_CANTRCVMORE
              and seg.len <= tp.rb_hiwat - tp.rb_cc):
            stat_inc(tcpstat, _TCPS_PREDDAT)
            tp.snd_wl1 = seg.seq  # pull snd_wl1 up: an older segment must not move the window
            tcp_reass(tp, seg.seq, b, seg.data, seg.len)
            if tp.rcv_nxt >= SEQ_REBASE[0]:
                tcp_rcv_rebase(tp)
            mbuf.m_free(m)
            if tp.so is not None:
                tp.so._wake()
            _delack(tp, now)
            return _DONE
    # --- the general path -----------------------------------------------------------------------
    if not synsent:  # (_synsent did its own checks and took the ACK)
        r = _checks(tp, to, ts, m, now)
        if r != _CONTINUE:
            return r
        f = seg.flags
        if not f & _TH_ACK:
            if tp.state == TCPS_SYN_RECEIVED:
                return _step6(tp, tiwin, m, now)
            return _DROPAFTERACK if tp.t_flags & TF_ACKNOW else _DROP
        r = _ack(tp, tiwin, ts, m, now)
        if r != _CONTINUE:
            return r
    return _step6(tp, tiwin, m, now)


def _synsent(tp, ifp, m, now):
    """SYN_SENT (RFC 9293 3.10.7.3). _CONTINUE when the connection is established and the
    segment goes on to the rest of tcp_do_segment (data or FIN with the SYN|ACK)."""
    seg = _seg
    f = seg.flags
    to = _to
    a = seq_off(seg.ack_hi, seg.ack_lo, tp.snd_base_hi, tp.snd_base_lo)
    if f & _TH_ACK and (a <= 0 or a > tp.snd_max):
        return _DROP if f & _TH_RST else _DROPWITHRESET
    if f & _TH_RST:
        if f & _TH_ACK:
            stat_inc(tcpstat, _TCPS_RCVRST)
            _reset(tp, ECONNREFUSED)
        return _DROP
    if not f & _TH_SYN:
        return _DROP
    # the peer's SYN: its ISN is our receive base
    tp.rcv_base_hi = seg.seq_hi
    tp.rcv_base_lo = seg.seq_lo
    tp.rcv_nxt = 1
    tp.rcv_adv = 1
    tp.last_ack_sent = 0
    _synopts(tp, ifp, to, now)
    tp.t_flags |= TF_ACKNOW
    tp.t_timer[TT_REXMT] = -1
    if f & _TH_ACK:
        tp.snd_una = a
        if tp.snd_nxt < a:
            tp.snd_nxt = a
        seg.ack = a  # before the RTT sample, which reads it
        stat_inc(tcpstat, _TCPS_CONNECTS)
        _rtt_sample(tp, to.to_flags & tcph.TOF_TS and tp.t_flags & TF_RCVD_TSTMP, now)
        tp.t_timer[TT_KEEP] = -1
        if tp.so_options & _SO_KEEPALIVE:
            tcp_timer_activate(tp, TT_KEEP, tp.keepidle, now)
        tp.state = TCPS_ESTABLISHED
        tp.so_state |= SS_ISCONNECTED
        if tp.so is not None:
            tp.so._wake()
        # window from the SYN|ACK (never scaled), then its data or FIN (if any) from rcv_nxt
        tp.snd_wnd = seg.win
        if seg.win > tp.max_sndwnd:
            tp.max_sndwnd = seg.win
        tp.snd_wl1 = 0
        tp.snd_wl2 = a
        seg.seq = 1
        seg.ack = a
        seg.flags = f & ~_TH_SYN
        if not seg.len and not f & _TH_FIN:
            mbuf.m_free(m)
            tcp_output(tp, now)
            return _DONE
        return _CONTINUE
    # a SYN without ACK: simultaneous open (RFC 9293 3.5, figure 8)
    tp.state = TCPS_SYN_RECEIVED
    tp.snd_nxt = tp.snd_una  # our SYN goes again, now with the ACK
    tp.snd_wnd = seg.win
    tp.snd_wl1 = 0
    mbuf.m_free(m)
    tcp_output(tp, now)
    return _DONE


def _reset(tp, err):
    """The peer reset the connection: no RST in answer (RFC 9293 3.10.7.4 second)."""
    tp.so_error = err
    tcp_close(tp)


def _synopts(tp, ifp, to, now):
    f = to.to_flags
    if tp.t_flags & TF_REQ_SCALE and f & tcph.TOF_SCALE:
        tp.t_flags |= TF_RCVD_SCALE
        tp.snd_scale = to.to_wscale
        tp.rcv_scale = tcp_syncache.RCV_SCALE
    else:
        tp.snd_scale = tp.rcv_scale = 0
    if tp.t_flags & TF_REQ_TSTMP and f & tcph.TOF_TS:
        tp.t_flags |= TF_RCVD_TSTMP
        tp.ts_recent_hi = to.to_tsval_hi
        tp.ts_recent_lo = to.to_tsval_lo
        tp.ts_recent_age = now
    else:
        tp.t_flags &= ~TF_REQ_TSTMP
    if f & tcph.TOF_SACKPERM:
        tp.t_flags |= TF_SACK_PERMIT
    tcp_mss(tp, ifp, to.to_mss if f & tcph.TOF_MSS else 0)


def _checks(tp, to, ts, m, now):
    """PAWS, the RST and SYN rules, trimming to the window, data after close, ts_recent."""
    seg = _seg
    f = seg.flags
    # PAWS (RFC 7323 5.3)
    if ts and not f & _TH_RST and (tp.ts_recent_hi | tp.ts_recent_lo):
        if seq_off(to.to_tsval_hi, to.to_tsval_lo, tp.ts_recent_hi, tp.ts_recent_lo) < 0:
            if ticks_diff(now, tp.ts_recent_age) > _PAWS_IDLE:
                tp.ts_recent_hi = tp.ts_recent_lo = 0  # idle so long the timestamp is stale
            else:
                stat_inc(tcpstat, _TCPS_PAWSDROP)
                stat_inc(tcpstat, _TCPS_RCVDUPPACK)
                return _DROPAFTERACK
    if tp.state == TCPS_SYN_RECEIVED and f & _TH_ACK and (seg.ack <= tp.snd_una or seg.ack > tp.snd_max):
        return _DROPWITHRESET
    rwin = tcp_rcvwin(tp)
    if f & _TH_RST:
        # RFC 5961 3.2: exactly rcv_nxt resets; elsewhere in the window, a challenge ACK; outside, nothing
        if seg.seq == tp.rcv_nxt:
            stat_inc(tcpstat, _TCPS_RCVRST)
            st = tp.state
            if st == TCPS_SYN_RECEIVED:
                _reset(tp, ECONNREFUSED)
            elif st >= TCPS_CLOSING and st != TCPS_FIN_WAIT_2:
                tcp_close(tp)
            else:
                stat_inc(tcpstat, _TCPS_DROPS)
                _reset(tp, ECONNRESET)
            return _DROP
        stat_inc(tcpstat, _TCPS_BADRST)
        if tp.rcv_nxt < seg.seq < tp.rcv_nxt + (rwin if rwin else 1):
            return _DROPAFTERACK
        return _DROP
    if f & _TH_SYN and tp.state != TCPS_SYN_RECEIVED:
        # RFC 5961 4: a SYN never resets a synchronized connection; it gets a challenge ACK
        stat_inc(tcpstat, _TCPS_BADSYN)
        return _DROPAFTERACK
    # trim what we have already (RFC 9293 3.10.7.4)
    todrop = tp.rcv_nxt - seg.seq
    if f & _TH_SYN:  # simultaneous open: the SYN itself
        f &= ~_TH_SYN
        seg.seq += 1
        todrop -= 1
    if todrop > 0:
        if todrop > seg.len or (todrop == seg.len and not f & _TH_FIN):
            # a complete duplicate: acknowledge it, then let its ACK and window count
            stat_inc(tcpstat, _TCPS_RCVDUPPACK)
            stat_add(tcpstat, _TCPS_RCVDUPBYTE, seg.len)
            tp.t_flags |= TF_ACKNOW
            todrop = seg.len
            f &= ~_TH_FIN
        else:
            stat_inc(tcpstat, _TCPS_RCVPARTDUPPACK)
        seg.data += todrop
        seg.seq += todrop
        seg.len -= todrop
    # data after the application closed: the peer must learn it will not be read (RFC 9293 3.10.7.4)
    if tp.so_state & SS_NOFDREF and tp.state > TCPS_CLOSE_WAIT and seg.len:
        stat_inc(tcpstat, _TCPS_RCVAFTERCLOSE)
        tcp_close(tp)
        return _DROPWITHRESET
    # trim what lies past the window
    todrop = seg.seq + seg.len - (tp.rcv_nxt + rwin)
    if todrop > 0:
        stat_inc(tcpstat, _TCPS_RCVPACKAFTERWIN)
        if todrop >= seg.len:
            stat_add(tcpstat, _TCPS_RCVBYTEAFTERWIN, seg.len)
            if rwin == 0 and seg.seq == tp.rcv_nxt:
                stat_inc(tcpstat, _TCPS_RCVWINPROBE)
                tp.t_flags |= TF_ACKNOW
            else:
                seg.flags = f
                return _DROPAFTERACK
        else:
            stat_add(tcpstat, _TCPS_RCVBYTEAFTERWIN, todrop)
        seg.len -= todrop if todrop < seg.len else seg.len
        f &= ~(_TH_PUSH | _TH_FIN)
    # RFC 7323 4.3: remember the timestamp of the segment that covers last_ack_sent
    if ts and seg.seq <= tp.last_ack_sent and tp.last_ack_sent <= seg.seq + seg.len + (1 if f & _TH_FIN else 0):
        tp.ts_recent_hi = to.to_tsval_hi
        tp.ts_recent_lo = to.to_tsval_lo
        tp.ts_recent_age = now
    seg.flags = f
    return _CONTINUE


def _ack(tp, tiwin, ts, m, now):
    """ACK processing (RFC 9293 3.10.7.4 fifth; RFC 5681)."""
    seg = _seg
    a = seg.ack
    if tp.state == TCPS_SYN_RECEIVED:
        # simultaneous open: our SYN is acknowledged
        stat_inc(tcpstat, _TCPS_CONNECTS)
        tp.state = TCPS_ESTABLISHED
        tp.so_state |= SS_ISCONNECTED
        tp.t_timer[TT_KEEP] = -1
        if tp.so_options & _SO_KEEPALIVE:
            tcp_timer_activate(tp, TT_KEEP, tp.keepidle, now)
        tp.snd_una += 1  # the SYN
        tp.snd_wl1 = seg.seq - 1
        if tp.so is not None:
            tp.so._wake()
    if a <= tp.snd_una:
        if seg.len == 0 and tiwin == tp.snd_wnd and a == tp.snd_una and tp.snd_max > tp.snd_una:
            stat_inc(tcpstat, _TCPS_RCVDUPACK)
            _dupack(tp, now)
        else:
            tp.t_dupacks = 0
        return _CONTINUE
    if a > tp.snd_max:
        stat_inc(tcpstat, _TCPS_RCVACKTOOMUCH)  # an ACK of data never sent: answer with an ACK, drop
        return _DROPAFTERACK
    if tp.t_flags & TF_FASTRECOVERY:
        tp.t_flags &= ~TF_FASTRECOVERY
        tp.snd_cwnd = tp.snd_ssthresh  # Reno: deflate the window (NewReno comes with the loss issue)
    tp.t_dupacks = 0
    acked = a - tp.snd_una
    stat_inc(tcpstat, _TCPS_RCVACKPACK)
    stat_add(tcpstat, _TCPS_RCVACKBYTE, acked)
    _rtt_sample(tp, ts, now)
    if a == tp.snd_max:
        tp.t_timer[TT_REXMT] = -1
    elif tp.t_timer[TT_PERSIST] < 0:
        tcp_timer_activate(tp, TT_REXMT, tp.t_rxtcur, now)
    _cc_ack(tp, acked)
    finacked = False
    if acked > tp.sb_cc:
        tp.snd_wnd -= tp.sb_cc
        _sbdrop(tp, tp.sb_cc)
        finacked = tp.t_flags & TF_SENTFIN and a == tp.snd_max
    else:
        _sbdrop(tp, acked)
        tp.snd_wnd -= acked
    if tp.snd_wnd < 0:
        tp.snd_wnd = 0
    tp.snd_una = a
    if tp.snd_nxt < a:
        tp.snd_nxt = a
    if tp.so is not None:
        tp.so._wake()
    st = tp.state
    if finacked:
        if st == TCPS_FIN_WAIT_1:
            tp.state = TCPS_FIN_WAIT_2
            if tp.so_state & SS_NOFDREF:
                tcp_timer_activate(tp, TT_2MSL, opts.TCP_FINWAIT2_MS, now)
        elif st == TCPS_CLOSING:
            _twstart(tp, now)
            mbuf.m_free(m)
            return _DONE
        elif st == TCPS_LAST_ACK:
            tcp_close(tp)
            mbuf.m_free(m)
            return _DONE
    if tp.snd_una >= SEQ_REBASE[0]:
        tcp_snd_rebase(tp)
    return _CONTINUE


def _dupack(tp, now):
    """Fast retransmit on the third duplicate ACK (RFC 5681 3.2, Reno)."""
    tp.t_dupacks += 1
    mss = tp.t_maxseg
    if tp.t_dupacks == 3 and not tp.t_flags & TF_FASTRECOVERY:
        stat_inc(tcpstat, _TCPS_FASTREXMT)
        flight = tp.snd_max - tp.snd_una
        w = (flight if flight < tp.snd_wnd else tp.snd_wnd) >> 1
        tp.snd_ssthresh = w if w > (mss << 1) else (mss << 1)
        tp.snd_recover = tp.snd_max
        tp.t_flags |= TF_FASTRECOVERY
        onxt = tp.snd_nxt
        tp.snd_nxt = tp.snd_una
        tp.snd_cwnd = mss
        tp.t_timer[TT_REXMT] = -1
        tp.t_rtttime = -1
        tcp_output(tp, now)
        tp.snd_cwnd = tp.snd_ssthresh + mss * 3
        if onxt > tp.snd_nxt:
            tp.snd_nxt = onxt
    elif tp.t_dupacks > 3 and tp.t_flags & TF_FASTRECOVERY:
        tp.snd_cwnd += mss
        tcp_output(tp, now)


def _cc_ack(tp, acked):
    """Congestion window growth (RFC 5681 3.1 with RFC 3465's byte counting, at most one SMSS)."""
    if tp.t_flags & TF_FASTRECOVERY:
        return
    mss = tp.t_maxseg
    cw = tp.snd_cwnd
    if cw <= tp.snd_ssthresh:
        cw += acked if acked < mss else mss
    else:
        inc = mss * mss // cw
        cw += inc if inc else 1
    if cw > _WIN_CLAMP:
        cw = _WIN_CLAMP
    tp.snd_cwnd = cw


def _rtt_sample(tp, ts, now):
    """RTT from the echoed timestamp, else from the timed segment (Karn: none from a
    retransmission, t_rtttime is cleared when one is sent)."""
    if ts and (_to.to_tsecr_hi | _to.to_tsecr_lo):
        rtt = seq_off(tcp_ts_hi(now), now & 0xFFFF, _to.to_tsecr_hi, _to.to_tsecr_lo)
        if 0 <= rtt < 0x1000000:
            tcp_xmit_timer(tp, rtt)
            return
    if tp.t_rtttime >= 0 and _seg.ack > tp.t_rtseq:
        tcp_xmit_timer(tp, ticks_diff(now, tp.t_rtttime))


def _sbdrop(tp, n):
    """Drop n acknowledged bytes from the front of the send ring."""
    if n <= 0 or tp.sb is None:
        return
    tp.sb_cc -= n
    o = tp.sb_off + n
    size = tp.sb_hiwat
    if o >= size:
        o -= size
    tp.sb_off = 0 if tp.sb_cc == 0 else o


def _step6(tp, tiwin, m, now):
    """Window update, data, FIN; then the answer (RFC 9293 3.10.7.4 sixth to eighth)."""
    seg = _seg
    f = seg.flags
    needout = False
    if f & _TH_ACK and (tp.snd_wl1 < seg.seq or (tp.snd_wl1 == seg.seq and (
            tp.snd_wl2 < seg.ack or (tp.snd_wl2 == seg.ack and tiwin > tp.snd_wnd)))):
        if seg.len == 0 and tp.snd_wl2 == seg.ack and tiwin > tp.snd_wnd:
            stat_inc(tcpstat, _TCPS_RCVWINUPD)
        tp.snd_wnd = tiwin
        tp.snd_wl1 = seg.seq
        tp.snd_wl2 = seg.ack
        if tiwin > tp.max_sndwnd:
            tp.max_sndwnd = tiwin
        needout = True
    st = tp.state
    fin = False
    # states that still take data: the peer's FIN has not come
    if st == TCPS_ESTABLISHED or st == TCPS_FIN_WAIT_1 or st == TCPS_FIN_WAIT_2 or st == TCPS_SYN_RECEIVED:
        if seg.len:
            if tp.rb is None or tp.so_state & SS_CANTRCVMORE:
                # shutdown(SHUT_RD): in-order data is acknowledged and thrown away
                if seg.seq == tp.rcv_nxt:
                    tp.rcv_nxt += seg.len
                    stat_inc(tcpstat, _TCPS_RCVMEMDROP)
                tp.t_flags |= TF_ACKNOW
            else:
                inorder = seg.seq == tp.rcv_nxt and tp.rq_n == 0
                got = tcp_reass(tp, seg.seq, m.buf, seg.data, seg.len)
                if inorder:
                    _delack_flag(tp, now)
                else:
                    tp.t_flags |= TF_ACKNOW  # RFC 5681 4.2: out of order, or filling a hole: ACK now
                if got > 0 and tp.so is not None:
                    tp.so._wake()
                if tp.rcv_nxt >= SEQ_REBASE[0]:
                    tcp_rcv_rebase(tp)
        if f & _TH_FIN:
            end = seg.seq + seg.len
            if end == tp.rcv_nxt:
                fin = True
            elif end > tp.rcv_nxt:
                tp.rcv_fin = end  # an out-of-order FIN: it counts once the data before it is in
                tp.t_flags |= TF_ACKNOW
        if not fin and tp.rcv_fin >= 0 and tp.rcv_fin == tp.rcv_nxt:
            fin = True
    elif f & _TH_FIN:
        tp.t_flags |= TF_ACKNOW  # a FIN again (CLOSE_WAIT, CLOSING, LAST_ACK): our ACK was lost
    mbuf.m_free(m)
    if fin:
        _rcvfin(tp, now)
        if tp.state == TCPS_CLOSED:
            return _DONE
    if needout or tp.t_flags & TF_ACKNOW:
        tcp_output(tp, now)
    elif tp.sb_cc > tp.snd_nxt - tp.snd_una and tp.state >= TCPS_ESTABLISHED:
        tcp_output(tp, now)
    return _DONE


def _rcvfin(tp, now):
    """The peer's FIN is in sequence (RFC 9293 3.10.7.4 eighth)."""
    tp.rcv_nxt += 1
    tp.rcv_fin = -1
    tp.so_state |= SS_CANTRCVMORE
    tp.t_flags |= TF_ACKNOW
    st = tp.state
    if st == TCPS_SYN_RECEIVED or st == TCPS_ESTABLISHED:
        tp.state = TCPS_CLOSE_WAIT
    elif st == TCPS_FIN_WAIT_1:
        tp.state = TCPS_CLOSING
    elif st == TCPS_FIN_WAIT_2:
        _twstart(tp, now)
    if tp.so is not None:
        tp.so._wake()


def _twstart(tp, now):
    """Enter TIME_WAIT for 2 MSL. The rings go back unless the socket still has data to read."""
    tp.state = TCPS_TIME_WAIT
    t = tp.t_timer
    for i in range(len(t)):
        t[i] = -1
    tcp_timer_activate(tp, TT_2MSL, opts.TCP_MSL_MS << 1, now)
    if tp.so is None or tp.so_state & SS_NOFDREF:
        tcp_putbufs(tp)
    if tp.so is not None:
        tp.so._wake()


def _delack_flag(tp, now):
    """ACK every second full segment at once, else within the delayed-ACK time (RFC 1122 4.2.3.2)."""
    if tp.t_flags & TF_DELACK:
        tp.t_flags |= TF_ACKNOW
    else:
        tp.t_flags |= TF_DELACK
        tcp_timer_activate(tp, TT_DELACK, opts.TCP_DELACK_MS, now)


def _delack(tp, now):
    _delack_flag(tp, now)
    if tp.t_flags & TF_ACKNOW:
        tcp_output(tp, now)

