# tcp_input rules on a synchronized connection (RFC 9293 3.10.7.4, RFC 5961, RFC 7323): header
# prediction, trimming to the window, reassembly, bad ACKs, window updates, RST and SYN rules,
# closed ports, URG, FIN, PAWS, checksums.
from bsdnet import opts, tcp_subr
from bsdnet.stats import stat_index
from bsdnet.tcp_var import TCPS_ESTABLISHED, TCPS_CLOSE_WAIT, TCPS_CLOSED
from bsdnet.errno import ECONNRESET
import tcpfix
from tcpfix import World, SYN, ACK, RST, FIN, PSH, URG, add, tp, raises_oserror, read_all, pool_full, pattern

TCPS_PREDACK = stat_index("tcp", "predack")
TCPS_PREDDAT = stat_index("tcp", "preddat")
TCPS_RCVBYTEAFTERWIN = stat_index("tcp", "rcvbyteafterwin")
TCPS_RCVOOPACK = stat_index("tcp", "rcvoopack")
TCPS_RCVOOPACKDROP = stat_index("tcp", "rcvoopackdrop")
TCPS_RCVACKTOOMUCH = stat_index("tcp", "rcvacktoomuch")
TCPS_BADRST = stat_index("tcp", "badrst")
TCPS_BADSYN = stat_index("tcp", "badsyn")
TCPS_NOPORT = stat_index("tcp", "noport")
TCPS_PAWSDROP = stat_index("tcp", "pawsdrop")
TCPS_RCVBADSUM = stat_index("tcp", "rcvbadsum")
TCPS_RCVPARTDUPPACK = stat_index("tcp", "rcvpartduppack")
TCPS_RCVDUPPACK = stat_index("tcp", "rcvduppack")
TCPS_RCVPACKAFTERWIN = stat_index("tcp", "rcvpackafterwin")


# --- header prediction -------------------------------------------------------------------------
def test_header_prediction_pure_ack_and_data():
    with World() as w:
        c = w.passive()
        w.mark()
        assert c.send(b"x" * 100) == 100
        assert w.recv_data() == b"x" * 100  # the peer's ACK: the predicted pure ACK
        assert w.delta(TCPS_PREDACK) == 1
        w.sanity(tp(c), snd_una=w.bseq, snd_max=w.bseq)
        assert tp(c).t_timer[0] == -1  # everything acknowledged: no retransmit timer
        w.push(b"y" * 200)
        assert w.delta(TCPS_PREDDAT) == 1
        assert read_all(c) == b"y" * 200
        w.sanity(tp(c), rcv_nxt=w.pseq)
        assert pool_full()


# --- trimming to the window ----------------------------------------------------------------------
def test_out_of_window_segment_acked_and_dropped():
    with World() as w:
        c = w.passive()
        w.send(ACK | PSH, b"far away", seq=add(w.pseq, 100000))
        a = w.recv()
        assert a.flags == ACK and a.ack == w.pseq and not a.payload
        assert read_all(c) == b""
        w.sanity(tp(c), state=TCPS_ESTABLISHED, rcv_nxt=w.pseq)
        # old data entirely before rcv_nxt: acknowledged at once, dropped
        w.push(b"abc")
        w.tick(opts.TCP_DELACK_MS)
        w.recv_all()
        w.mark()
        w.send(ACK | PSH, b"abc", seq=add(w.pseq, -3))
        a = w.recv()
        assert a.ack == w.pseq and w.delta(TCPS_RCVDUPPACK) == 1
        assert read_all(c) == b"abc"


def test_data_partly_before_rcv_nxt_trimmed():
    with World() as w:
        c = w.passive()
        w.push(b"hello ")
        w.mark()
        w.send(ACK | PSH, b"o world", seq=add(w.pseq, -2))  # "o " again, then "world"
        w.pseq = add(w.pseq, 5)
        assert w.delta(TCPS_RCVPARTDUPPACK) == 1
        assert read_all(c) == b"hello world"
        w.sanity(tp(c), rcv_nxt=w.pseq)


def test_data_past_window_trimmed():
    with World() as w:
        c = w.passive()
        w.mark()
        data = pattern(4200)
        for i in range(3):
            w.send(ACK, data[1400 * i:1400 * (i + 1)], seq=add(w.pseq, 1400 * i))
        assert w.delta(TCPS_RCVBYTEAFTERWIN) == 4200 - tcp_subr.tcp_bufsz[1]
        assert w.delta(TCPS_RCVPACKAFTERWIN) == 1
        w.tick(opts.TCP_DELACK_MS)
        acks = w.recv_all()
        assert acks[-1].ack == add(w.pseq, tcp_subr.tcp_bufsz[1]) and acks[-1].win == 0
        got = read_all(c)
        assert got == data[:tcp_subr.tcp_bufsz[1]]
        w.pseq = add(w.pseq, tcp_subr.tcp_bufsz[1])
        w.recv_all()  # the window update reading made
        w.push(data[tcp_subr.tcp_bufsz[1]:])
        assert read_all(c) == data[tcp_subr.tcp_bufsz[1]:]
        assert pool_full()


# --- reassembly ------------------------------------------------------------------------------------
def test_out_of_order_kept_then_delivered():
    with World() as w:
        c = w.passive()
        w.mark()
        d = pattern(300)
        w.send(ACK | PSH, d[100:200], seq=add(w.pseq, 100))
        a = w.recv()  # a duplicate ACK at once (RFC 5681 4.2)
        assert a.ack == w.pseq
        assert w.delta(TCPS_RCVOOPACK) == 1
        assert read_all(c) == b""
        assert pool_full()  # reassembly holds no mbuf
        w.send(ACK | PSH, d[200:300], seq=add(w.pseq, 200))
        assert w.recv().ack == w.pseq
        w.send(ACK, d[0:100])
        a = w.recv()  # filling the hole: ACK at once, of everything
        assert a.ack == add(w.pseq, 300)
        w.pseq = add(w.pseq, 300)
        assert read_all(c) == d
        w.sanity(tp(c), rcv_nxt=w.pseq)
        assert tp(c).rq_n == 0


def test_out_of_order_overlap_merged():
    with World() as w:
        c = w.passive()
        d = pattern(400, 3)
        w.send(ACK, d[100:200], seq=add(w.pseq, 100))
        w.send(ACK, d[150:300], seq=add(w.pseq, 150))
        w.send(ACK, d[250:400], seq=add(w.pseq, 250))
        assert tp(c).rq_n == 1
        w.recv_all()
        w.send(ACK, d[0:120])
        assert w.recv().ack == add(w.pseq, 400)
        w.pseq = add(w.pseq, 400)
        assert read_all(c) == d


def test_too_many_holes_dropped_and_counted():
    with World() as w:
        c = w.passive()
        w.mark()
        d = pattern(2000, 5)
        n = opts.TCP_REASS_MAX + 1
        for i in range(n):  # [100,200) [300,400) ... : n separate ranges
            s = 200 * i + 100
            w.send(ACK, d[s:s + 100], seq=add(w.pseq, s))
        w.recv_all()
        assert tp(c).rq_n == opts.TCP_REASS_MAX
        assert w.delta(TCPS_RCVOOPACKDROP) == 1
        assert w.delta(TCPS_RCVOOPACK) == opts.TCP_REASS_MAX
        assert pool_full()
        # the peer retransmits everything in order: all of it arrives
        end = 200 * n
        for s in range(0, end, 100):
            w.send(ACK, d[s:s + 100], seq=add(w.pseq, s))
        w.pseq = add(w.pseq, end)
        assert read_all(c) == d[:end]
        w.sanity(tp(c), rcv_nxt=w.pseq)
        assert pool_full()


# --- ACK processing ---------------------------------------------------------------------------------
def test_ack_of_data_never_sent():
    with World() as w:
        c = w.passive()
        w.mark()
        w.send(ACK, ack=add(w.bseq, 1000))
        a = w.recv()
        assert a.flags == ACK and a.seq == w.bseq and a.ack == w.pseq
        assert w.delta(TCPS_RCVACKTOOMUCH) == 1
        w.sanity(tp(c), state=TCPS_ESTABLISHED, snd_una=w.bseq)


def test_old_segment_does_not_shrink_window():
    with World() as w:
        c = w.passive()
        t = tp(c)
        w.push(b"0123456789")
        w.push(b"abcdefghij")
        assert t.snd_wnd == 65535
        # a retransmission of the first segment, with a smaller window: SEG.SEQ < SND.WL1 (the
        # second segment's), so RFC 9293 3.10.7.4 says: no window update
        w.send(ACK, b"0123456789", seq=add(w.pseq, -20), win=100)
        assert t.snd_wnd == 65535, "an old segment shrank the window to %d" % t.snd_wnd
        assert read_all(c) == b"0123456789abcdefghij"


def test_newer_segment_updates_window():
    with World() as w:
        c = w.passive()
        t = tp(c)
        w.push(b"0123456789")
        w.push(b"abcdefghij")
        # a newer segment may shrink it (RFC 9293: SND.WL1 < SEG.SEQ)
        w.push(b"k", flags=ACK)
        w.pwin = 1000
        w.push(b"l", flags=ACK)
        assert t.snd_wnd == 1000
        # the same seq with a newer ACK updates it too (SND.WL1 = SEG.SEQ and SND.WL2 < SEG.ACK)
        c.send(b"z" * 10)
        w.recv_data(ack=False)
        w.send(ACK, win=2000)
        assert t.snd_wnd == 2000
        assert read_all(c) == b"0123456789abcdefghijkl"


# --- RST and SYN (RFC 5961) --------------------------------------------------------------------------
def test_rst_exactly_at_rcv_nxt_resets():
    with World() as w:
        c = w.passive()
        w.send(RST)
        w.recv_nothing()
        assert tp(c).state == TCPS_CLOSED
        assert raises_oserror(c.recv, 10) == ECONNRESET
        assert tcp_subr.tcp_connections() == 0
        assert pool_full()


def test_rst_in_window_not_exact_gets_challenge_ack():
    with World() as w:
        c = w.passive()
        w.mark()
        w.send(RST, seq=add(w.pseq, 10))
        a = w.recv()
        assert a.flags == ACK and a.ack == w.pseq and a.seq == w.bseq
        assert tp(c).state == TCPS_ESTABLISHED and w.delta(TCPS_BADRST) == 1
        w.push(b"still here")
        assert read_all(c) == b"still here"


def test_rst_outside_window_ignored():
    with World() as w:
        c = w.passive()
        w.send(RST, seq=add(w.pseq, 100000))
        w.send(RST, seq=add(w.pseq, -1))
        w.recv_nothing()
        assert tp(c).state == TCPS_ESTABLISHED


def test_syn_on_established_gets_challenge_ack():
    with World() as w:
        c = w.passive()
        w.mark()
        for s in (w.pseq, add(w.pseq, 5), add(w.pseq, -1000)):
            w.send(SYN, seq=s, options=tcpfix.tcp_opts(1460))
            a = w.recv()
            assert a.flags == ACK and a.ack == w.pseq and a.seq == w.bseq, a
        assert tp(c).state == TCPS_ESTABLISHED
        assert w.delta(TCPS_BADSYN) == 3


# --- closed ports --------------------------------------------------------------------------------------
def test_closed_port_rst_numbers():
    with World() as w:
        w.mark()
        w.send(ACK | PSH, b"data", seq=1000, ack=0x12345678, dport=81)
        r = w.recv()
        assert r.flags == RST and r.seq == 0x12345678  # <SEQ=SEG.ACK><CTL=RST>
        w.send(SYN, seq=0xFFFFFFFF, dport=81, options=tcpfix.tcp_opts(1460))
        r = w.recv()
        assert r.flags == RST | ACK and r.seq == 0 and r.ack == 0  # SEG.SEQ + 1 wraps to 0
        w.send(PSH, b"12345", seq=5000, dport=81)
        r = w.recv()
        assert r.flags == RST | ACK and r.ack == 5005
        w.send(SYN | FIN, b"abc", seq=7000, dport=81)
        r = w.recv()
        assert r.flags == RST | ACK and r.ack == 7005
        assert r.sport == 81 and r.dport == tcpfix.PPORT and not r.payload
        assert w.delta(TCPS_NOPORT) == 4


def test_never_rst_for_rst():
    with World() as w:
        w.send(RST, seq=1, dport=81)
        w.send(RST | ACK, seq=1, ack=2, dport=81)
        w.recv_nothing()
        c = w.passive()
        w.send(RST)  # resets the connection: no answer
        w.recv_nothing()
        assert tp(c).state == TCPS_CLOSED
        w.send(RST | ACK)  # no connection any more: still no answer
        w.recv_nothing()
        assert w.delta(TCPS_NOPORT) == 3


# --- URG, FIN ------------------------------------------------------------------------------------------
def test_urgent_data_delivered_inline():
    with World() as w:
        c = w.passive()
        w.send(ACK | URG | PSH, b"abc!def", urp=4)
        w.pseq = add(w.pseq, 7)
        assert read_all(c) == b"abc!def"
        w.sanity(tp(c), rcv_nxt=w.pseq)


def test_fin_in_established_close_wait():
    with World() as w:
        c = w.passive()
        w.push(b"last words", flags=ACK | PSH | FIN)
        w.pseq = add(w.pseq, 1)
        a = w.recv()
        assert a.flags == ACK and a.ack == w.pseq
        assert tp(c).state == TCPS_CLOSE_WAIT
        assert c.recv(100) == b"last words"
        assert c.recv(100) == b""
        assert c.recv_into(bytearray(10)) == 0
        # we can still send in CLOSE_WAIT
        assert c.send(b"reply") == 5
        assert w.recv().payload == b"reply"


def test_out_of_order_fin_waits_for_the_hole():
    with World() as w:
        c = w.passive()
        w.send(ACK | FIN, b"tail", seq=add(w.pseq, 4))
        a = w.recv()
        assert a.ack == w.pseq and tp(c).state == TCPS_ESTABLISHED
        w.send(ACK, b"head")
        w.pseq = add(w.pseq, 9)
        a = w.recv_all()[-1]
        assert a.ack == w.pseq
        assert tp(c).state == TCPS_CLOSE_WAIT
        assert read_all(c) == b"headtail"


# --- PAWS, checksum ------------------------------------------------------------------------------------
def test_paws_drops_old_timestamp():
    with World() as w:
        c = w.passive(ts=5000)
        assert tp(c).t_flags & 0x0100  # TF_RCVD_TSTMP
        w.push(b"new")
        assert read_all(c) == b"new"
        w.mark()
        w.ts -= 100  # an old timestamp: a segment from an earlier incarnation of the numbers
        w.send(ACK | PSH, b"old")
        a = w.recv()
        assert a.flags == ACK and a.ack == w.pseq and a.ts is not None
        assert w.delta(TCPS_PAWSDROP) == 1
        assert read_all(c) == b""
        w.ts += 200
        w.push(b"ok")
        assert read_all(c) == b"ok"


def test_bad_checksum_counted_not_answered():
    with World() as w:
        c = w.passive()
        w.mark()
        w.send(ACK | PSH, b"corrupt", bad_cksum=True)
        w.send(SYN, seq=1, dport=81, bad_cksum=True)
        w.recv_nothing()
        assert w.delta(TCPS_RCVBADSUM) == 2
        assert read_all(c) == b""
        assert pool_full()

