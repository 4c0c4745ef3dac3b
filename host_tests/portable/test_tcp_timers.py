# TCP timers with explicit time: RTT estimation (RFC 6298), Karn's rule, RTO backoff and the drop
# after TCP_MAXRXTSHIFT, keepalive (RFC 1122 4.2.3.6) through setsockopt, FIN_WAIT_2 after
# close(), TIME_WAIT for 2 MSL, TIME_WAIT slots recycled.
from bsdnet import opts, tcp_subr, tcp_input
from bsdnet import socket as bsock
from bsdnet.stats import stat_index
from bsdnet.tcp_var import (TCPS_ESTABLISHED, TCPS_CLOSED, TCPS_FIN_WAIT_2, TCPS_TIME_WAIT, TCP_MAXRXTSHIFT)
from bsdnet.errno import ETIMEDOUT
import tcpfix
from tcpfix import World, SYN, ACK, FIN, RST, add, tp, raises_oserror, pool_full, tcp_opts

TCPS_RTTUPDATED = stat_index("tcp", "rttupdated")
TCPS_KEEPPROBE = stat_index("tcp", "keepprobe")
TCPS_KEEPDROPS = stat_index("tcp", "keepdrops")
TCPS_TWRECYCLED = stat_index("tcp", "twrecycled")
TCPS_TIMEOUTDROP = stat_index("tcp", "timeoutdrop")
TCPS_REXMTTIMEO = stat_index("tcp", "rexmttimeo")


def _active_rtt(w, r):
    s, syn = w.connect()
    w.now += r
    w.send(SYN | ACK, seq=tcpfix.IRS, options=tcp_opts(1460))
    w.pseq = add(tcpfix.IRS, 1)
    w.recv()
    return s


def test_rtt_first_sample_rfc6298():
    with World() as w:
        s = _active_rtt(w, 300)
        t = tp(s)
        assert t.t_srtt >> 3 == 300  # SRTT <- R
        assert t.t_rttvar >> 2 == 150  # RTTVAR <- R/2
        assert t.t_rxtcur == 300 + 4 * 150  # RTO <- SRTT + 4 RTTVAR (above the 200 ms minimum)


def test_rtt_first_sample_after_another_connections_old_ack():
    """The SYN|ACK's sample must not depend on the previous segment tcp_input handled."""
    with World() as w:
        c = w.passive()
        w.send(ACK, ack=add(w.bseq, -1))  # an old ACK on that connection (acknowledges nothing new)
        w.recv_all()
        w.pport = 49999
        s = _active_rtt(w, 300)
        assert tp(c).state == TCPS_ESTABLISHED
        t = tp(s)
        assert t.t_srtt >> 3 == 300, "no RTT sample from the SYN|ACK (t_srtt %d)" % t.t_srtt


def test_passive_first_sample_is_the_handshake_or_the_data_not_the_idle_time():
    """After a passive open, a connection idle for 30 s sends data the peer ACKs 50 ms later: the
    RTT is 50 ms (or the handshake's), never the 30 s since the SYN."""
    with World() as w:
        c = w.passive()
        t = tp(c)
        w.tick(30000)
        c.send(b"d" * 10)
        w.recv()
        w.now += 50
        w.bseq = add(w.bseq, 10)
        w.send(ACK)
        assert t.t_srtt >> 3 <= 50, "RTT sample %d ms: measured from the SYN, not the segment" % (t.t_srtt >> 3)
        assert t.t_rxtcur <= 250, t.t_rxtcur


def test_rtt_estimator_rfc6298_math():
    """tcp_xmit_timer alone: first sample R, then R' (RFC 6298 2.2, 2.3, 2.4)."""
    with World() as w:
        c = w.passive()
        t = tp(c)
        t.t_srtt = 0
        t.t_rttvar = opts.TCP_RTO_INIT_MS
        tcp_input.tcp_xmit_timer(t, 20)
        assert t.t_srtt >> 3 == 20 and t.t_rttvar >> 2 == 10
        assert t.t_rxtcur == opts.TCP_RTO_MIN_MS  # 20 + 4 * 10 < 200
        tcp_input.tcp_xmit_timer(t, 100)
        # RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R'| = 7.5 + 20; SRTT = 7/8 SRTT + 1/8 R' = 30
        assert t.t_srtt >> 3 == 30
        assert abs((t.t_rttvar >> 2) - 27) <= 1
        tcp_input.tcp_xmit_timer(t, 400)
        assert t.t_rxtcur == (t.t_srtt >> 3) + t.t_rttvar and t.t_rxtcur > opts.TCP_RTO_MIN_MS
        tcp_input.tcp_xmit_timer(t, 1000000)
        assert t.t_rxtcur == opts.TCP_RTO_MAX_MS


def test_karn_no_sample_from_retransmission():
    with World() as w:
        c = w.passive()
        t = tp(c)
        srtt = t.t_srtt
        rto = t.t_rxtcur
        c.send(b"k" * 100)
        w.recv()
        w.tick(rto)
        r = w.recv()
        assert r.seq == w.bseq  # retransmitted
        w.mark()
        w.now += 50
        w.bseq = add(w.bseq, 100)
        w.send(ACK)
        assert w.delta(TCPS_RTTUPDATED) == 0 and t.t_srtt == srtt


def test_rto_backoff_then_drop_etimedout():
    with World() as w:
        c = w.passive()
        t = tp(c)
        rto = t.t_rxtcur
        c.send(b"r" * 100)
        w.recv()
        w.mark()
        gaps = []
        while True:
            dt = w.advance(10 * opts.TCP_RTO_MAX_MS)
            if dt is None or t.state == TCPS_CLOSED:
                break
            segs = w.recv_all()
            if not any(s.payload for s in segs):
                break
            assert segs[0].seq == w.bseq
            gaps.append(dt)
        assert gaps[0] == rto
        for i in range(1, len(gaps)):
            assert gaps[i] == min(gaps[i - 1] * 2, opts.TCP_RTO_MAX_MS) or gaps[i] == min(rto << i, opts.TCP_RTO_MAX_MS)
        assert gaps[-1] == opts.TCP_RTO_MAX_MS
        assert len(gaps) == TCP_MAXRXTSHIFT  # 12 retransmissions, then the drop
        assert w.delta(TCPS_REXMTTIMEO) == TCP_MAXRXTSHIFT
        assert t.state == TCPS_CLOSED and w.delta(TCPS_TIMEOUTDROP) == 1
        assert raises_oserror(c.recv, 10) == ETIMEDOUT
        assert tcp_subr.tcp_connections() == 0 and pool_full()


def test_timeout_drop_sends_rst():
    """tcp_drop of a synchronized connection tells the peer with a RST (BSD tcp_drop)."""
    with World() as w:
        c = w.passive()
        c.send(b"r" * 100)
        w.recv()
        last = []
        for _ in range(40):
            if tp(c).state == TCPS_CLOSED:
                break
            if w.advance(10 * opts.TCP_RTO_MAX_MS) is None:
                break
            last = w.recv_all()
        assert tp(c).state == TCPS_CLOSED
        assert last and last[-1].flags & RST, "no RST when the connection was dropped: %r" % (last,)


def _keepalive(c, idle, intvl, cnt):
    c.setsockopt(bsock.IPPROTO_TCP, bsock.TCP_KEEPIDLE, idle)
    c.setsockopt(bsock.IPPROTO_TCP, bsock.TCP_KEEPINTVL, intvl)
    c.setsockopt(bsock.IPPROTO_TCP, bsock.TCP_KEEPCNT, cnt)
    c.setsockopt(bsock.SOL_SOCKET, bsock.SO_KEEPALIVE, 1)
    assert c.getsockopt(bsock.SOL_SOCKET, bsock.SO_KEEPALIVE) == 1
    assert c.getsockopt(bsock.IPPROTO_TCP, bsock.TCP_KEEPIDLE) == idle
    assert c.getsockopt(bsock.IPPROTO_TCP, bsock.TCP_KEEPINTVL) == intvl
    assert c.getsockopt(bsock.IPPROTO_TCP, bsock.TCP_KEEPCNT) == cnt


def test_keepalive_two_hours_probes_then_drop():
    with World() as w:
        c = w.passive()
        _keepalive(c, 7200, 75, 8)
        w.mark()
        times = []
        for _ in range(8):
            dt = w.advance(8 * 3600 * 1000)
            assert dt is not None
            p = w.recv()
            assert p.flags == ACK and p.seq == add(w.bseq, -1) and p.ack == w.pseq and not p.payload, p
            times.append(dt)
        assert times[0] == 7200 * 1000
        assert times[1:] == [75000] * 7, times
        assert w.delta(TCPS_KEEPPROBE) == 8
        assert tp(c).state == TCPS_ESTABLISHED
        w.tick(75000)
        w.recv_all()
        assert tp(c).state == TCPS_CLOSED and w.delta(TCPS_KEEPDROPS) == 1
        assert raises_oserror(c.recv, 10) == ETIMEDOUT
        assert pool_full()


def test_keepalive_answered_keeps_connection():
    with World() as w:
        c = w.passive()
        _keepalive(c, 10, 5, 3)
        for _ in range(5):
            dt = w.advance(60000)
            assert dt == 10000, dt  # idle again after each answer
            p = w.recv()
            assert p.seq == add(w.bseq, -1)
            w.send(ACK)  # the peer answers the probe
            w.recv_nothing()
        assert tp(c).state == TCPS_ESTABLISHED
        c.setsockopt(bsock.SOL_SOCKET, bsock.SO_KEEPALIVE, 0)
        assert w.advance(3 * 3600 * 1000) is None
        assert tp(c).state == TCPS_ESTABLISHED


def test_fin_wait_2_timeout_after_close():
    with World() as w:
        c = w.passive()
        t = tp(c)
        c.close()
        f = w.recv()
        assert f.flags == FIN | ACK
        w.bseq = add(w.bseq, 1)
        w.send(ACK)
        assert t.state == TCPS_FIN_WAIT_2
        w.tick(opts.TCP_FINWAIT2_MS - 1)
        assert t.state == TCPS_FIN_WAIT_2
        w.tick(1)
        assert t.state == TCPS_CLOSED and not t.inp.attached
        assert tcp_subr.tcp_connections() == 0 and tcp_subr.tcp_bufs_free() == opts.TCP_MAXCONN
        w.recv_nothing()


def test_time_wait_lasts_2msl():
    with World() as w:
        c = w.passive()
        t = tp(c)
        c.close()
        w.recv()
        w.bseq = add(w.bseq, 1)
        w.send(ACK | FIN)
        w.pseq = add(w.pseq, 1)
        a = w.recv()
        assert a.flags == ACK and a.ack == w.pseq
        assert t.state == TCPS_TIME_WAIT and tcp_subr.tcp_timewait() == 1
        assert tcp_subr.tcp_bufs_free() == opts.TCP_MAXCONN  # TIME_WAIT holds no rings
        # the peer's FIN again (our ACK was lost): ACKed, and 2 MSL start over
        w.tick(30000)
        w.send(ACK | FIN, seq=add(w.pseq, -1))
        assert w.recv().ack == w.pseq
        w.tick(2 * opts.TCP_MSL_MS - 1)
        assert t.state == TCPS_TIME_WAIT
        w.tick(1)
        assert t.state == TCPS_CLOSED and not t.inp.attached and tcp_subr.tcp_timewait() == 0
        w.recv_nothing()


def test_time_wait_slots_recycled():
    with World() as w:
        npcb = tcp_subr.tcbinfo.size
        w.mark()
        for i in range(npcb + 3):
            w.pport = 30000 + i
            s = w.active()
            s.close()
            assert w.recv().flags == FIN | ACK
            w.bseq = add(w.bseq, 1)
            w.send(ACK | FIN)
            w.pseq = add(w.pseq, 1)
            w.recv()
            assert tcp_subr.tcp_timewait() == min(i + 1, npcb)
            w.socks.remove(s)
        assert w.delta(TCPS_TWRECYCLED) == 3
        assert tcp_subr.tcp_connections() == 0 and tcp_subr.tcp_bufs_free() == opts.TCP_MAXCONN
        assert pool_full()
        # every slot was made on the way (pcbs on first need, at most size); once the TIME_WAITs
        # end, only the tcpcbs tcp_init reserved stay: the heap of the busiest moment comes back
        assert len(tcp_subr.tcbinfo.pcbs) == npcb
        w.tick(2 * opts.TCP_MSL_MS)
        assert tcp_subr.tcp_timewait() == 0
        kept = [p for p in tcp_subr.tcbinfo.pcbs if p.ppcb is not None]
        assert len(kept) == len(tcp_subr.tcb) == tcp_subr._reserved[0] < npcb
        assert kept == tcp_subr.tcbinfo.pcbs[:len(kept)]
        # and a slot whose tcpcb went serves the next connection with a new one
        w.pport = 31000
        s = w.active()
        assert tp(s).inp.attached and tp(s) in tcp_subr.tcb


