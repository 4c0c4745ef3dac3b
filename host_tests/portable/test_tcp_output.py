# tcp_output decisions: Nagle (RFC 896), delayed ACK (RFC 1122 4.2.3.2), receiver SWS avoidance
# (RFC 1122 4.2.3.3), zero window and persist probes, retransmission from snd_una, fast
# retransmit (RFC 5681 3.2), window scaling (RFC 7323 2).
from bsdnet import opts, tcp_subr
from bsdnet import socket as bsock
from bsdnet.stats import stat_index
from bsdnet.tcp_var import TCPS_ESTABLISHED
from bsdnet.errno import EAGAIN
import tcpfix
from tcpfix import World, ACK, PSH, SYN, add, tp, raises_oserror, read_all, pool_full, pattern, tcp_opts

TCPS_FASTREXMT = stat_index("tcp", "fastrexmt")
TCPS_PERSISTTIMEO = stat_index("tcp", "persisttimeo")
TCPS_SNDPROBE = stat_index("tcp", "sndprobe")


def test_nagle_holds_second_small_write():
    with World() as w:
        c = w.passive()
        assert c.send(b"a" * 10) == 10
        s = w.recv()
        assert s.payload == b"a" * 10 and s.flags & PSH
        assert c.send(b"b" * 10) == 10
        w.recv_nothing()  # data in flight: the small write waits
        assert c.send(b"c" * 10) == 10
        w.recv_nothing()
        w.bseq = add(w.bseq, 10)
        w.send(ACK)
        s = w.recv()
        assert s.payload == b"b" * 10 + b"c" * 10 and s.seq == w.bseq


def test_nodelay_sends_small_writes_at_once():
    with World() as w:
        c = w.passive()
        c.setsockopt(bsock.IPPROTO_TCP, bsock.TCP_NODELAY, 1)
        assert c.getsockopt(bsock.IPPROTO_TCP, bsock.TCP_NODELAY) == 1
        c.send(b"a" * 10)
        assert w.recv().payload == b"a" * 10
        c.send(b"b" * 10)
        s = w.recv()
        assert s.payload == b"b" * 10 and s.seq == add(w.bseq, 10)


def test_nagle_full_segment_goes():
    with World() as w:
        c = w.passive()
        c.send(b"a")
        w.recv()
        d = pattern(2000)
        c.send(d)
        s = w.recv()  # one full segment goes although data is unacknowledged; the rest waits
        assert len(s.payload) == 1460 and s.payload == d[:1460]


def test_delayed_ack_one_segment():
    with World() as w:
        c = w.passive()
        w.push(pattern(1460))
        w.recv_nothing()
        w.tick(opts.TCP_DELACK_MS - 1)
        w.recv_nothing()
        w.tick(1)
        a = w.recv()
        assert a.flags == ACK and a.ack == w.pseq
        assert read_all(c) == pattern(1460)


def test_delayed_ack_two_segments_ack_at_once():
    with World() as w:
        c = w.passive()
        w.push(pattern(1460))
        w.recv_nothing()
        w.push(pattern(1460, 1))
        a = w.recv()
        assert a.flags == ACK and a.ack == w.pseq
        w.tick(opts.TCP_DELACK_MS)
        w.recv_nothing()  # nothing owed any more
        assert read_all(c) == pattern(1460) + pattern(1460, 1)


def test_receiver_sws_window_update_rules():
    with World() as w:
        c = w.passive()
        w.push(pattern(1460))
        w.push(pattern(1460))
        w.push(pattern(tcp_subr.tcp_bufsz[1] - 2920))
        w.tick(opts.TCP_DELACK_MS)
        a = w.recv_all()[-1]
        assert a.ack == w.pseq and a.win == 0
        buf = bytearray(tcp_subr.tcp_bufsz[1])
        assert c.recv_into(buf, 500) == 500
        w.recv_nothing()  # 500 free: less than a segment and a quarter of the buffer
        assert c.recv_into(buf, 1000) == 1000
        w.recv_nothing()  # 1500: less than 2 segments and half the buffer
        half = tcp_subr.tcp_bufsz[1] // 2
        assert c.recv_into(buf, half - 1500) == half - 1500
        u = w.recv()  # half the buffer: a window update
        assert u.flags == ACK and u.ack == w.pseq and u.win == half
        assert c.recv_into(buf, 100) == 100
        w.recv_nothing()


def test_zero_window_persist_then_resume():
    with World() as w:
        c = w.passive()
        c.send(b"x" * 100)
        w.recv()
        w.bseq = add(w.bseq, 100)
        w.pwin = 0
        w.send(ACK)  # all acknowledged, window closed
        assert tp(c).snd_wnd == 0
        w.mark()
        data = pattern(1000)
        assert c.send(data) == 1000
        w.recv_nothing()
        times = []
        for _ in range(8):
            dt = w.advance(120000)
            assert dt is not None
            p = w.recv()
            assert len(p.payload) == 1 and p.seq == w.bseq and p.payload == data[:1], p
            times.append(dt)
            w.send(ACK)  # still closed: the byte not taken
        assert times[0] == opts.TCP_PERSMIN_MS, times
        for a, b in zip(times, times[1:]):
            assert b >= a and b <= opts.TCP_PERSMAX_MS, times
        assert times[-1] > times[0], "no backoff: %r" % (times,)
        assert w.delta(TCPS_PERSISTTIMEO) == 8 and w.delta(TCPS_SNDPROBE) == 8
        assert tp(c).state == TCPS_ESTABLISHED
        w.pwin = 65535
        w.send(ACK)  # the window opens: everything goes
        assert w.recv_data() == data
        w.sanity(tp(c), snd_una=w.bseq, snd_max=w.bseq)
        assert tp(c).t_timer[1] == -1  # no persist timer left
        assert pool_full()


def test_retransmit_from_snd_una_after_rto():
    with World() as w:
        c = w.passive()
        rto = tp(c).t_rxtcur
        d = pattern(2920)
        c.send(d)
        segs = w.recv_all()
        assert [len(s.payload) for s in segs] == [1460, 1460]
        w.tick(rto - 1)
        w.recv_nothing()
        w.tick(1)
        r = w.recv()
        assert r.seq == w.bseq and r.payload == d[:1460]  # from snd_una, one segment (cwnd = 1 SMSS)
        w.sanity(tp(c), snd_una=w.bseq, snd_nxt=add(w.bseq, 1460), snd_max=add(w.bseq, 2920))
        w.bseq = add(w.bseq, 1460)
        w.send(ACK)
        got = w.recv_all()
        assert got and got[0].seq == w.bseq and got[0].payload == d[1460:1460 + len(got[0].payload)]


def test_fast_retransmit_on_third_dup_ack():
    with World() as w:
        c = w.passive()
        d = pattern(2920)
        c.send(d)
        segs = w.recv_all()
        assert len(segs) == 2
        w.mark()
        w.send(ACK)
        w.send(ACK)
        w.recv_nothing()
        w.send(ACK)
        r = w.recv()
        assert r.seq == w.bseq and r.payload == d[:1460]
        assert w.delta(TCPS_FASTREXMT) == 1
        w.bseq = add(w.bseq, 2920)
        w.send(ACK)
        w.recv_all()
        w.sanity(tp(c), snd_una=w.bseq, snd_max=w.bseq)


def test_window_scaling_peer_shift_7():
    with World() as w:
        s, syn = w.connect()
        assert syn.wscale == 0  # ours is 0 for a 4 KiB buffer, but the option is sent
        w.send(SYN | ACK, seq=tcpfix.IRS, win=1000, options=tcp_opts(1460, 7))
        w.pseq = add(tcpfix.IRS, 1)
        a = w.recv()
        assert a.win == tcp_subr.tcp_bufsz[1]  # our field: not shifted (rcv_scale 0)
        t = tp(s)
        assert t.snd_scale == 7 and t.rcv_scale == 0
        assert t.snd_wnd == 1000  # the SYN|ACK's window is never scaled
        w.send(ACK, win=100)
        assert t.snd_wnd == 100 << 7
        d = pattern(4096)
        s.send(d)
        assert w.recv_stream(4096) == d


def test_window_scaling_passive():
    with World() as w:
        w.pwin = 64
        c = w.passive(wscale=7)
        t = tp(c)
        assert t.snd_scale == 7 and t.snd_wnd == 64 << 7
        c.send(b"x")
        assert w.recv().win == tcp_subr.tcp_bufsz[1]


def test_send_buffer_full_eagain():
    with World() as w:
        c = w.passive()
        w.pwin = 0
        c.send(b"x")
        w.recv()
        w.bseq = add(w.bseq, 1)
        w.send(ACK)
        assert c.send(pattern(tcp_subr.tcp_bufsz[0] + 100)) == tcp_subr.tcp_bufsz[0]
        assert raises_oserror(c.send, b"y") == EAGAIN
        w.recv_all()
