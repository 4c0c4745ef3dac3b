# Closing (RFC 9293 3.6): half-close with shutdown(SHUT_WR), close() with unsent data, SO_LINGER
# 0, every state through TIME_WAIT; and socket misuse with the right errno.
from bsdnet import opts, tcp_subr
from bsdnet import socket as bsock
from bsdnet.tcp_var import (TCPS_ESTABLISHED, TCPS_CLOSED, TCPS_FIN_WAIT_1, TCPS_FIN_WAIT_2, TCPS_TIME_WAIT,
                            TCPS_CLOSING, TCPS_CLOSE_WAIT, TCPS_LAST_ACK, TCPS_SYN_SENT)
from bsdnet.errno import ENOTCONN, EINVAL, EALREADY, EISCONN, EBADF, EPIPE
import tcpfix
from tcpfix import World, ACK, FIN, RST, PSH, add, tp, raises_oserror, read_all, pool_full, pattern


def _all_closed():
    assert tcp_subr.tcp_connections() == 0
    assert tcp_subr.tcp_bufs_free() == opts.TCP_MAXCONN
    assert pool_full()


def test_shutdown_wr_fin_after_queued_data_half_close():
    with World() as w:
        c = w.passive()
        c.send(b"one")
        w.recv()
        c.send(b"two")  # held by Nagle behind "one"
        w.recv_nothing()
        c.shutdown(bsock.SHUT_WR)
        f = w.recv()  # the FIN goes at once, with the data Nagle held (as BSD's tcp_output)
        assert f.payload == b"two" and f.flags & FIN and f.seq == add(w.bseq, 3)
        assert tp(c).state == TCPS_FIN_WAIT_1
        assert raises_oserror(c.send, b"x") == EPIPE
        w.bseq = add(w.bseq, 7)
        w.send(ACK)
        assert tp(c).state == TCPS_FIN_WAIT_2
        # the peer still sends: half-close
        w.push(b"more from the peer")
        assert read_all(c) == b"more from the peer"
        w.send(ACK | FIN)
        w.pseq = add(w.pseq, 1)
        a = w.recv_all()[-1]
        assert a.ack == w.pseq
        assert tp(c).state == TCPS_TIME_WAIT
        assert c.recv(10) == b""
        c.close()
        _all_closed()


def test_close_with_unsent_data_delivers_then_fin():
    with World() as w:
        c = w.passive()
        c.send(b"a")
        w.recv()
        w.bseq = add(w.bseq, 1)
        w.pwin = 0
        w.send(ACK)  # window closed
        d = pattern(3000)
        assert c.send(d) == 3000
        c.close()
        w.recv_nothing()
        w.pwin = 65535
        w.send(ACK)
        got = bytearray()
        fin = None
        for _ in range(10):
            segs = w.recv_all()
            for sg in segs:
                assert sg.seq == add(w.bseq, len(got))
                got += sg.payload
                if sg.flags & FIN:
                    fin = sg
            if fin is not None:
                break
            w.send(ACK, ack=add(w.bseq, len(got)))
        assert bytes(got) == d
        assert fin is not None and add(fin.seq, len(fin.payload)) == add(w.bseq, 3000)
        w.bseq = add(w.bseq, 3001)
        w.send(ACK | FIN)
        w.pseq = add(w.pseq, 1)
        w.recv_all()
        assert tcp_subr.tcp_timewait() == 1
        _all_closed()


def test_close_with_unsent_data_fin_follows_last_byte():
    with World() as w:
        c = w.passive()
        c.send(b"a")
        w.recv()
        w.bseq = add(w.bseq, 1)
        w.pwin = 0
        w.send(ACK)
        c.send(b"tail")
        c.close()
        w.recv_nothing()
        w.pwin = 65535
        w.send(ACK)
        segs = w.recv_all()
        data = b"".join(s.payload for s in segs)
        assert data == b"tail"
        assert segs[-1].flags & FIN and segs[-1].seq == add(w.bseq, 4 - len(segs[-1].payload))


def test_linger_zero_resets_and_frees():
    with World() as w:
        c = w.passive()
        t = tp(c)
        c.setsockopt(bsock.SOL_SOCKET, bsock.SO_LINGER, (1, 0))
        assert c.getsockopt(bsock.SOL_SOCKET, bsock.SO_LINGER) == (1, 0)
        c.close()
        r = w.recv()
        assert r.flags & RST and r.seq == w.bseq, r
        assert t.state == TCPS_CLOSED and not t.inp.attached
        assert tcp_subr.tcp_timewait() == 0
        _all_closed()


def test_active_close_states():
    with World() as w:
        c = w.passive()
        t = tp(c)
        c.close()
        f = w.recv()
        assert f.flags == FIN | ACK and f.seq == w.bseq and f.ack == w.pseq
        assert t.state == TCPS_FIN_WAIT_1
        w.bseq = add(w.bseq, 1)
        w.send(ACK)
        w.recv_nothing()
        assert t.state == TCPS_FIN_WAIT_2
        w.sanity(t, snd_una=w.bseq, snd_max=w.bseq)
        w.send(ACK | FIN)
        w.pseq = add(w.pseq, 1)
        a = w.recv()
        assert a.flags == ACK and a.seq == w.bseq and a.ack == w.pseq
        assert t.state == TCPS_TIME_WAIT
        w.tick(2 * opts.TCP_MSL_MS)
        assert t.state == TCPS_CLOSED
        _all_closed()


def test_fin_retransmitted():
    with World() as w:
        c = w.passive()
        rto = tp(c).t_rxtcur
        c.close()
        f = w.recv()
        w.tick(rto)
        f2 = w.recv()
        assert f2.flags & FIN and f2.seq == f.seq


def test_simultaneous_close():
    with World() as w:
        c = w.passive()
        t = tp(c)
        c.close()
        f = w.recv()
        assert f.flags & FIN
        # the peer's FIN crosses ours: it does not acknowledge our FIN
        w.send(ACK | FIN)
        w.pseq = add(w.pseq, 1)
        a = w.recv()
        assert a.ack == w.pseq
        assert t.state == TCPS_CLOSING
        w.bseq = add(w.bseq, 1)
        w.send(ACK)
        assert t.state == TCPS_TIME_WAIT
        w.tick(2 * opts.TCP_MSL_MS)
        assert t.state == TCPS_CLOSED
        _all_closed()


def test_passive_close_states():
    with World() as w:
        c = w.passive()
        t = tp(c)
        w.send(ACK | FIN)
        w.pseq = add(w.pseq, 1)
        w.recv()
        assert t.state == TCPS_CLOSE_WAIT
        assert c.recv(10) == b""
        c.send(b"bye")
        assert w.recv().payload == b"bye"
        c.close()
        f = w.recv()  # (Nagle: after the ACK of "bye" at the latest)
        if not f.flags & FIN:
            w.bseq = add(w.bseq, 3)
            w.send(ACK)
            f = w.recv()
        else:
            w.bseq = add(w.bseq, 3)
        assert f.flags & FIN and f.seq == w.bseq
        assert t.state == TCPS_LAST_ACK
        w.bseq = add(w.bseq, 1)
        w.send(ACK)
        assert t.state == TCPS_CLOSED and not t.inp.attached
        w.recv_nothing()
        _all_closed()


def test_data_after_close_gets_rst():
    with World() as w:
        c = w.passive()
        t = tp(c)
        c.close()
        w.recv()
        w.bseq = add(w.bseq, 1)
        w.send(ACK)
        assert t.state == TCPS_FIN_WAIT_2
        w.push(b"nobody reads this")
        r = w.recv()
        assert r.flags & RST
        assert t.state == TCPS_CLOSED
        _all_closed()


def test_all_closed_after_many_connections():
    with World() as w:
        ls = w.listen(backlog=4)
        for i in range(opts.TCP_MAXCONN + 2):
            w.pport = 20000 + i
            c = w.passive(listener=ls)
            c.send(b"hello")
            assert w.recv_data() == b"hello"
            w.push(b"bye", flags=ACK | PSH | FIN)
            w.pseq = add(w.pseq, 1)
            assert read_all(c) == b"bye"
            c.close()
            assert w.recv_all()[-1].flags & FIN  # LAST_ACK
            w.bseq = add(w.bseq, 1)
            w.send(ACK)
            assert tcp_subr.tcp_connections() == 0
        ls.close()
        _all_closed()


# --- misuse ----------------------------------------------------------------------------------------
def test_send_on_listener_enotconn():
    with World() as w:
        ls = w.listen()
        assert raises_oserror(ls.send, b"x") == ENOTCONN


def test_send_on_unconnected_enotconn():
    with World() as w:
        s = w.socket()
        assert raises_oserror(s.send, b"x") == ENOTCONN


def test_accept_on_unbound_or_not_listening_einval():
    with World() as w:
        s = w.socket()
        assert raises_oserror(s.accept) == EINVAL
        s.bind(("0.0.0.0", 8080))
        assert raises_oserror(s.accept) == EINVAL


def test_connect_twice():
    with World() as w:
        s, syn = w.connect()
        assert tp(s).state == TCPS_SYN_SENT
        assert raises_oserror(s.connect, (tcpfix.HOST, tcpfix.PPORT)) == EALREADY
        w.send(tcpfix.SYN | ACK, seq=tcpfix.IRS, options=tcpfix.tcp_opts(1460))
        w.pseq = add(tcpfix.IRS, 1)
        w.recv()
        assert tp(s).state == TCPS_ESTABLISHED
        assert raises_oserror(s.connect, (tcpfix.HOST, tcpfix.PPORT)) == EISCONN


def test_listen_on_connected_socket_einval():
    with World() as w:
        c = w.passive()
        assert raises_oserror(c.listen, 2) == EINVAL


def test_recv_after_close_ebadf():
    with World() as w:
        c = w.passive()
        c.close()
        assert raises_oserror(c.recv, 10) == EBADF
        assert raises_oserror(c.send, b"x") == EBADF


def test_sendto_on_tcp():
    with World() as w:
        c = w.passive()
        assert raises_oserror(c.sendto, b"x", (tcpfix.HOST, 1)) == EISCONN
        s = w.socket()
        assert raises_oserror(s.sendto, b"x", (tcpfix.HOST, 1)) == ENOTCONN
