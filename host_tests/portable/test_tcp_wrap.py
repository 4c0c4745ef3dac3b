# Sequence numbers across 2**32 (DESIGN.md 4a): an ISS and a peer ISN just below 2**32, several
# KiB both ways byte-exact; and with the rebase threshold lowered to 4 KiB, ~200 KiB both ways so
# the bases move many times, the wire numbers continuous mod 2**32.
from bsdnet import opts, tcp_seq, tcp_subr
from tcpfix import World, add, tp, read_all, pool_full, pattern

_ISS = 0xFFFFFF00
_IRS = 0xFFFFFE00


def _board_to_peer(w, c, data):
    """The application writes data; the peer takes every segment and acknowledges it."""
    sent = 0
    got = bytearray()
    for _ in range(10 * (len(data) // 1000 + 10)):
        if sent < len(data):
            sent += c.send(memoryview(data)[sent:sent + 2048]) if c._pr.sendspace(c) else 0
        got += w.recv_data()
        if len(got) == len(data):
            break
    assert bytes(got) == data
    w.sanity(tp(c), snd_una=w.bseq, snd_max=w.bseq)


def _peer_to_board(w, c, data):
    got = bytearray()
    for i in range(0, len(data), 1460):
        w.push(data[i:i + 1460])
        got += read_all(c)
        for a in w.recv_all():
            assert a.ack == w.pseq or a.ack == add(w.pseq, -len(data[i:i + 1460])), (a, w.pseq)
    w.tick(opts.TCP_DELACK_MS)
    segs = w.recv_all()
    assert not segs or segs[-1].ack == w.pseq
    got += read_all(c)
    assert bytes(got) == data
    w.sanity(tp(c), rcv_nxt=w.pseq)


def test_isn_just_below_2_32_passive():
    with World(iss=_ISS) as w:
        c = w.passive(irs=_IRS)
        assert w.bseq == add(_ISS, 1)
        _board_to_peer(w, c, pattern(8192, 1))
        assert w.bseq < 0x10000  # we went through the wrap
        _peer_to_board(w, c, pattern(8192, 2))
        assert w.pseq < 0x10000
        assert pool_full()


def test_isn_just_below_2_32_active():
    with World(iss=0xFFFFFFFF) as w:
        s = w.active(irs=0xFFFFFFFF)
        assert w.bseq == 0 and w.pseq == 0  # both SYNs took the last number
        _board_to_peer(w, s, pattern(5000, 3))
        _peer_to_board(w, s, pattern(5000, 4))
        assert pool_full()


def test_many_rebases_200k_both_ways():
    with World(iss=_ISS) as w:
        tcp_seq.SEQ_REBASE[0] = 4096
        c = w.passive(irs=_IRS)
        t = tp(c)
        n = 200 * 1024
        data = pattern(n, 5)
        _board_to_peer(w, c, data)
        _peer_to_board(w, c, data)
        assert w.bseq == add(_ISS, 1 + n) and w.pseq == add(_IRS, 1 + n)
        # the offsets stayed small: the bases moved with the data
        assert 0 <= t.snd_una <= 4096 + tcp_subr.tcp_bufsz[0] and 0 <= t.rcv_nxt <= 4096 + tcp_subr.tcp_bufsz[1]
        # still a working connection after all that
        w.push(b"ping")
        assert read_all(c) == b"ping"
        c.send(b"pong")
        assert w.recv_stream(4) == b"pong"
        assert pool_full()
