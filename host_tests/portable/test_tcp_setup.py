# Connection setup: the passive open through the SYN cache (RFC 9293 3.5, FreeBSD syncache) and
# the active open (SYN_SENT), simultaneous open, refused and timed-out attempts.
from bsdnet import opts, tcp_subr, tcp_syncache
from bsdnet import socket as bsock
from bsdnet.stats import stat_index
from bsdnet.tcp_var import TCPS_SYN_SENT, TCPS_SYN_RECEIVED, TCPS_ESTABLISHED, TCPS_CLOSED, TCP_SYNRETRIES
from bsdnet.errno import ECONNREFUSED, ETIMEDOUT, EAGAIN
import tcpfix
from tcpfix import World, SYN, ACK, RST, FIN, PSH, add, tp, raises_oserror, read_all, pool_full, tcp_opts

TCPS_SC_ADDED = stat_index("tcp", "sc_added")
TCPS_SC_DUPSYN = stat_index("tcp", "sc_dupsyn")
TCPS_SC_RETRANSMITTED = stat_index("tcp", "sc_retransmitted")
TCPS_SC_STALE = stat_index("tcp", "sc_stale")
TCPS_SC_BUCKETOVERFLOW = stat_index("tcp", "sc_bucketoverflow")
TCPS_SC_CACHEOVERFLOW = stat_index("tcp", "sc_cacheoverflow")
TCPS_SC_RESET = stat_index("tcp", "sc_reset")
TCPS_SC_BADACK = stat_index("tcp", "sc_badack")
TCPS_LISTENDROP = stat_index("tcp", "listendrop")
TCPS_BADADDR = stat_index("tcp", "badaddr")
TCPS_SC_COMPLETED = stat_index("tcp", "sc_completed")
TCPS_CONNDROPS = stat_index("tcp", "conndrops")
TCPS_RCVRST = stat_index("tcp", "rcvrst")


def _sc_count():
    return tcp_syncache.syncache_count()


# --- passive open: the SYN cache ---------------------------------------------------------------
def test_syn_gets_synack_with_options_offered():
    with World() as w:
        w.listen()
        w.syn(mss=1200, wscale=7, ts=1000, sackperm=True)
        sa = w.recv()
        assert sa.flags == SYN | ACK
        assert sa.seq == tcpfix.ISS and sa.ack == add(tcpfix.IRS, 1)
        assert sa.sport == tcpfix.LPORT and sa.dport == tcpfix.PPORT
        assert sa.mss == 1460  # ours: the interface's MTU - 40
        assert sa.wscale == tcp_syncache.RCV_SCALE == 0
        assert sa.ts is not None and sa.ts[1] == 1000  # TSecr echoes the SYN's TSval
        assert sa.win == tcp_subr.tcp_bufsz[1]
        assert w.delta(TCPS_SC_ADDED) == 1
        assert tcp_subr.tcp_connections() == 0 and _sc_count() == 1
        assert pool_full()


def test_syn_without_options_gets_mss_only():
    with World() as w:
        w.listen()
        w.send(SYN, seq=tcpfix.IRS, options=b"")
        sa = w.recv()
        assert sa.flags == SYN | ACK and sa.mss == 1460
        assert sa.wscale is None and sa.ts is None and not sa.sackperm
        assert len(sa.optbytes) == 4


def test_no_tcpcb_before_third_ack_then_accept():
    with World() as w:
        ls = w.listen()
        w.syn()
        sa = w.recv()
        assert tcp_subr.tcp_connections() == 0
        assert raises_oserror(ls.accept) == EAGAIN
        w.bseq = add(sa.seq, 1)
        w.send(ACK)
        w.recv_nothing()
        assert tcp_subr.tcp_connections() == 1 and _sc_count() == 0
        assert w.delta(TCPS_SC_COMPLETED) == 1
        c, addr = ls.accept()
        c.setblocking(False)
        assert addr == (tcpfix.HOST, tcpfix.PPORT)
        w.sanity(tp(c), state=TCPS_ESTABLISHED, snd_una=w.bseq, snd_nxt=w.bseq, rcv_nxt=w.pseq)
        assert tp(c).t_maxseg == 1460
        c.close()


def test_passive_peer_mss_and_default():
    with World() as w:
        c = w.passive(mss=1000)
        assert tp(c).t_maxseg == 1000
    with World(pport=50001) as w:
        w.listen()
        w.send(SYN, seq=tcpfix.IRS, options=b"")
        w.pseq = add(tcpfix.IRS, 1)
        w.bseq = add(w.recv().seq, 1)
        w.send(ACK)
        c, _ = w.socks[0].accept()
        assert tp(c).t_maxseg == opts.TCP_MSS_DEFAULT  # 536 when the SYN has no MSS option
        c.close()


def test_third_ack_with_bad_ack_number_gets_rst():
    with World() as w:
        w.listen()
        w.syn()
        sa = w.recv()
        bad = add(sa.seq, 5)
        w.send(ACK, ack=bad)
        r = w.recv()
        assert r.flags == RST and r.seq == bad  # RFC 9293: <SEQ=SEG.ACK><CTL=RST>
        assert w.delta(TCPS_SC_BADACK) == 1
        assert tcp_subr.tcp_connections() == 0
        assert _sc_count() == 1  # the entry stays for the real third ACK
        w.bseq = add(sa.seq, 1)
        w.send(ACK)
        w.recv_nothing()
        assert tcp_subr.tcp_connections() == 1


def test_ack_without_entry_gets_rst():
    with World() as w:
        w.listen()
        w.send(ACK, seq=1000, ack=5555)
        r = w.recv()
        assert r.flags == RST and r.seq == 5555
        assert w.delta(TCPS_SC_BADACK) == 1


def test_duplicate_syn_gets_same_synack():
    with World() as w:
        w.listen()
        w.syn(mss=1460)
        a = w.recv()
        w.now += 300
        w.syn(mss=1460)
        b = w.recv()
        assert (b.flags, b.seq, b.ack, b.mss) == (a.flags, a.seq, a.ack, a.mss)
        assert w.delta(TCPS_SC_DUPSYN) == 1 and _sc_count() == 1


def test_synack_retransmitted_with_backoff_then_stale():
    with World() as w:
        w.listen()
        w.syn()
        t0 = w.now
        first = w.recv()
        for i, at in enumerate((1000, 3000, 7000)):  # 1 s, 2 s, 4 s after each other
            w.now = t0 + at - 1
            w.tick()
            w.recv_nothing()
            w.tick(1)
            sa = w.recv()
            assert sa.flags == SYN | ACK and sa.seq == first.seq and sa.ack == first.ack, (i, sa)
        assert w.delta(TCPS_SC_RETRANSMITTED) == 3
        # after the last retransmission the entry lives 8 s more, then goes unanswered
        w.now = t0 + 15000 - 1
        w.tick()
        assert _sc_count() == 1
        w.tick(1)
        w.recv_nothing()
        assert _sc_count() == 0 and w.delta(TCPS_SC_STALE) == 1
        # a third ACK now finds nothing: RST
        w.bseq = add(first.seq, 1)
        w.send(ACK)
        assert w.recv().flags == RST


def test_syncache_bucket_and_total_limits():
    with World() as w:
        w.listen()
        ports = list(range(40000, 40000 + 3 * opts.TCP_SYNCACHE))
        for i, p in enumerate(ports):
            w.now += 1  # each entry younger than the one before
            w.send(SYN, seq=1000 * i, sport=p, options=tcp_opts(1460))
            sa = w.recv()
            assert sa.flags == SYN | ACK and sa.dport == p
            assert _sc_count() <= opts.TCP_SYNCACHE
            per = [0] * opts.TCP_SYNCACHE_BUCKETS
            for sc in tcp_syncache.cache:
                if sc.used:
                    per[sc.bucket] += 1
            assert max(per) <= opts.TCP_SYNCACHE_BUCKETLIMIT
        assert _sc_count() == opts.TCP_SYNCACHE
        over = w.delta(TCPS_SC_BUCKETOVERFLOW) + w.delta(TCPS_SC_CACHEOVERFLOW)
        assert over == len(ports) - opts.TCP_SYNCACHE
        assert w.delta(TCPS_SC_CACHEOVERFLOW) + w.delta(TCPS_SC_BUCKETOVERFLOW) > 0
        # the newest SYN always got its entry; the very first one was evicted long ago
        last = ports[-1]
        assert any(sc.used and sc.fport == last for sc in tcp_syncache.cache)
        assert not any(sc.used and sc.fport == ports[0] for sc in tcp_syncache.cache)
        assert pool_full()


def test_syncache_evicts_oldest_when_full():
    """A full cache gives up its oldest entry (bucket limit == total limit / buckets: fill a
    bucket with one peer port pattern until the bucket overflows, the oldest of it goes)."""
    with World() as w:
        w.listen()
        born = {}
        for i in range(opts.TCP_SYNCACHE + 1):
            w.now += 10
            p = 41000 + i
            w.send(SYN, seq=77 + i, sport=p, options=tcp_opts(1460))
            w.recv()
            born[p] = w.now
        alive = [sc.fport for sc in tcp_syncache.cache if sc.used]
        assert len(alive) == opts.TCP_SYNCACHE
        gone = [p for p in born if p not in alive]
        assert len(gone) == 1
        if w.delta(TCPS_SC_CACHEOVERFLOW):
            assert gone[0] == 41000  # the oldest of all
        else:  # a bucket overflowed: its oldest went
            assert w.delta(TCPS_SC_BUCKETOVERFLOW) == 1


def test_listen_backlog_full_drops_third_ack_quietly():
    with World() as w:
        ls = w.listen(backlog=1)
        # first connection fills the queue (not accepted)
        w.syn()
        w.bseq = add(w.recv().seq, 1)
        w.send(ACK)
        w.recv_nothing()
        assert len(tp(ls).so_comp) == 1
        # a second peer port: SYN|ACK, but its third ACK is dropped quietly
        w.pport = PP2 = 49200
        w.syn(irs=9000)
        sa = w.recv()
        w.bseq = add(sa.seq, 1)
        w.send(ACK)
        w.recv_nothing()
        assert w.delta(TCPS_LISTENDROP) == 1
        assert tcp_subr.tcp_connections() == 1 and _sc_count() == 1
        # accept makes room; the peer's retransmitted ACK now completes the connection
        c1, a1 = ls.accept()
        assert a1[1] == tcpfix.PPORT
        w.send(ACK)
        w.recv_nothing()
        c2, a2 = ls.accept()
        assert a2[1] == PP2
        c1.close()
        c2.close()


def test_syn_to_broadcast_or_multicast_dropped_never_answered():
    with World() as w:
        w.listen()
        for dst, dmac in (("10.7.0.255", b"\xff" * 6), ("255.255.255.255", b"\xff" * 6),
                          ("224.0.0.1", b"\x01\x00\x5e\x00\x00\x01")):
            w.send(SYN, seq=1, options=tcp_opts(1460), dst=dst, dmac=dmac)
            w.recv_nothing()
        # from a broadcast source too (RFC 1122 4.2.3.10)
        w.send(SYN, seq=1, options=tcp_opts(1460), src="10.7.0.255")
        w.recv_nothing()
        assert w.delta(TCPS_BADADDR) >= 3
        assert _sc_count() == 0


def test_rst_to_listener_removes_entry_only_at_exact_seq():
    with World() as w:
        w.listen()
        w.syn()
        w.recv()
        w.send(RST, seq=add(w.pseq, 1))
        w.send(RST, seq=add(w.pseq, -1))
        w.send(RST, seq=add(w.pseq, 1000))
        w.recv_nothing()
        assert _sc_count() == 1 and w.delta(TCPS_SC_RESET) == 0
        w.send(RST)  # exactly IRS + 1
        w.recv_nothing()
        assert _sc_count() == 0 and w.delta(TCPS_SC_RESET) == 1


def test_synack_to_listener_gets_rst():
    with World() as w:
        w.listen()
        w.send(SYN | ACK, seq=500, ack=777)
        r = w.recv()
        assert r.flags == RST and r.seq == 777


# --- active open ---------------------------------------------------------------------------------
def test_connect_nonblocking_syn_options():
    with World() as w:
        s, syn = w.connect()
        assert syn.seq == tcpfix.ISS and syn.ack == 0
        assert syn.mss == 1460 and syn.wscale == 0 and syn.ts is not None and syn.ts[1] == 0
        assert syn.win == tcp_subr.tcp_bufsz[1]
        w.sanity(tp(s), state=TCPS_SYN_SENT, snd_una=tcpfix.ISS, snd_nxt=add(tcpfix.ISS, 1))
        assert raises_oserror(s.send, b"x") == EAGAIN
        assert raises_oserror(s.recv, 10) == EAGAIN


def test_synack_establishes_peer_mss_honoured():
    with World() as w:
        s = w.active(mss=1000)
        t = tp(s)
        w.sanity(t, state=TCPS_ESTABLISHED, snd_una=w.bseq, snd_nxt=w.bseq, rcv_nxt=w.pseq)
        assert t.t_maxseg == 1000
        assert s.getpeername() == (tcpfix.HOST, tcpfix.PPORT)
        assert s.send(b"hello") == 5
        d = w.recv()
        assert d.payload == b"hello" and d.seq == w.bseq and d.flags & ACK


def test_synack_without_mss_gives_536():
    with World() as w:
        s, syn = w.connect()
        w.send(SYN | ACK, seq=tcpfix.IRS, options=b"")
        w.pseq = add(tcpfix.IRS, 1)
        a = w.recv()
        assert a.flags == ACK and a.ts is None  # no timestamps: the peer did not answer them
        assert tp(s).t_maxseg == opts.TCP_MSS_DEFAULT
        assert tp(s).snd_scale == 0


def test_rst_ack_refuses():
    with World() as w:
        s, syn = w.connect()
        w.send(RST | ACK, seq=0, ack=w.bseq)
        w.recv_nothing()
        assert w.delta(TCPS_RCVRST) == 1
        assert tp(s).state == TCPS_CLOSED
        assert raises_oserror(s.send, b"x") == ECONNREFUSED  # the pending error, once
        assert tcp_subr.tcp_connections() == 0


def test_rst_ack_refuses_reported_by_send():
    with World() as w:
        s, syn = w.connect()
        w.send(RST | ACK, seq=0, ack=w.bseq)
        assert s.getsockopt(bsock.SOL_SOCKET, bsock.SO_ERROR) == ECONNREFUSED
        assert tcp_subr.tcp_connections() == 0


def test_rst_with_wrong_ack_in_syn_sent_ignored():
    with World() as w:
        s, syn = w.connect()
        w.send(RST | ACK, seq=0, ack=add(w.bseq, 10))
        w.recv_nothing()  # no RST for a RST
        assert tp(s).state == TCPS_SYN_SENT


def test_ack_for_wrong_number_in_syn_sent_gets_rst():
    with World() as w:
        s, syn = w.connect()
        bad = add(w.bseq, 100)
        w.send(SYN | ACK, seq=tcpfix.IRS, ack=bad, options=tcp_opts(1460))
        r = w.recv()
        assert r.flags == RST and r.seq == bad
        assert tp(s).state == TCPS_SYN_SENT
        w.send(ACK, seq=tcpfix.IRS, ack=tcpfix.ISS)  # acknowledges nothing of ours (SND.UNA)
        r = w.recv()
        assert r.flags == RST and r.seq == tcpfix.ISS
        assert tp(s).state == TCPS_SYN_SENT


def test_syn_retransmitted_with_backoff_then_etimedout():
    with World() as w:
        s, syn = w.connect()
        t0 = w.now
        at = 0
        rto = opts.TCP_RTO_INIT_MS
        times = []
        while True:
            at += rto
            if at >= opts.TCP_KEEPINIT_MS:
                break
            w.now = t0 + at - 1
            w.tick()
            w.recv_nothing()
            w.tick(1)
            segs = w.recv_all()
            if not segs:
                break
            assert len(segs) == 1 and segs[0].flags == SYN and segs[0].seq == syn.seq, segs
            times.append(at)
            rto *= 2
        # 1, 3, 7, 15, 31, 63 s: six retransmissions (TCP_SYNRETRIES), then the 75 s limit or the count
        assert times[:4] == [1000, 3000, 7000, 15000], times
        assert len(times) <= TCP_SYNRETRIES
        w.now = t0 + opts.TCP_KEEPINIT_MS + 1000
        w.tick()
        for _ in range(8):
            w.tick(60000)
        assert tp(s).state == TCPS_CLOSED
        assert s.getsockopt(bsock.SOL_SOCKET, bsock.SO_ERROR) == ETIMEDOUT
        assert w.delta(TCPS_CONNDROPS) == 1
        assert tcp_subr.tcp_connections() == 0


def test_connect_timeout_reports_etimedout():
    with World() as w:
        s, syn = w.connect()
        for _ in range(100):
            w.tick(1000)
        w.recv_all()
        assert tcp_subr.tcp_connections() == 0
        assert s.getsockopt(bsock.SOL_SOCKET, bsock.SO_ERROR) == ETIMEDOUT


def test_simultaneous_open():
    with World() as w:
        s, syn = w.connect()
        # the peer's own SYN crosses ours
        w.send(SYN, seq=tcpfix.IRS, options=tcp_opts(1400))
        w.pseq = add(tcpfix.IRS, 1)
        sa = w.recv()
        assert sa.flags == SYN | ACK and sa.seq == syn.seq and sa.ack == w.pseq, sa
        assert tp(s).state == TCPS_SYN_RECEIVED
        # then the peer's SYN|ACK (or ACK) of our SYN
        w.send(SYN | ACK, seq=tcpfix.IRS, options=tcp_opts(1400))
        w.recv_all()
        w.send(ACK)
        assert tp(s).state == TCPS_ESTABLISHED
        w.sanity(tp(s), snd_una=w.bseq, rcv_nxt=w.pseq)
        assert s.send(b"hi") == 2
        d = w.recv()
        assert d.payload == b"hi" and d.seq == w.bseq and d.ack == w.pseq


def test_simultaneous_open_ack_only():
    with World() as w:
        s, syn = w.connect()
        w.send(SYN, seq=tcpfix.IRS, options=tcp_opts(1400))
        w.pseq = add(tcpfix.IRS, 1)
        w.recv()
        w.send(ACK)
        w.recv_nothing()
        assert tp(s).state == TCPS_ESTABLISHED
        w.sanity(tp(s), snd_una=w.bseq, rcv_nxt=w.pseq)
        w.push(b"abc")
        assert read_all(s) == b"abc"


def test_data_on_synack():
    with World() as w:
        s, syn = w.connect()
        w.send(SYN | ACK | PSH, b"early", seq=tcpfix.IRS, options=tcp_opts(1460))
        w.pseq = add(tcpfix.IRS, 6)
        w.tick(opts.TCP_DELACK_MS)
        a = w.recv_all()[-1]
        assert a.ack == w.pseq
        assert read_all(s) == b"early"


def test_fin_on_synack():
    with World() as w:
        s, syn = w.connect()
        w.send(SYN | ACK | FIN, seq=tcpfix.IRS, options=tcp_opts(1460))
        w.pseq = add(tcpfix.IRS, 2)
        a = w.recv_all()[-1]
        assert a.ack == w.pseq
        assert s.recv(10) == b""



def _handshake(w, port, irs):
    """SYN and third ACK from peer port `port`: the board's answer to the ACK (None: nothing)."""
    w.pport = port
    w.syn(irs=irs)
    sa = w.recv()
    assert sa.flags == SYN | ACK, sa
    w.bseq = add(sa.seq, 1)
    w.send(ACK)
    segs = w.recv_all()
    return segs[0] if segs else None


def test_every_connection_slot_taken_third_ack_gets_rst():
    # past opts.TCP_MAXCONN connections a client is refused cleanly: a RST at its third ACK
    with World() as w:
        ls = w.listen(backlog=opts.TCP_MAXCONN)
        for i in range(opts.TCP_MAXCONN):
            assert _handshake(w, 40000 + i, 1000 * (i + 1)) is None
            ls.accept()[0].setblocking(False)
        assert tcp_subr.tcp_bufs_free() == 0
        r = _handshake(w, 41000, 99000)
        assert r is not None and r.flags & RST and r.seq == w.bseq, r
        assert w.delta(TCPS_LISTENDROP) == 1 and _sc_count() == 0
        assert tcp_subr.tcp_connections() == opts.TCP_MAXCONN


def test_heap_short_third_ack_dropped_quietly_then_completes():
    # no ring pair free and the heap cannot make one (the emulated Pico's case): the ACK is
    # dropped, the SYN cache entry kept, and the handshake completes once a pair is back
    saved_new = tcp_subr._newbufs
    saved_free = list(tcp_subr._bufs_free)
    saved_made = tcp_subr._bufs_made[0]

    def nomem():
        tcp_subr.tcp_nomem[0] = True
        return None

    with World() as w:
        ls = w.listen()
        try:
            del tcp_subr._bufs_free[:]
            tcp_subr._bufs_made[0] = 0  # more pairs may be made: the heap is what says no
            tcp_subr._newbufs = nomem
            assert _handshake(w, 42000, 5000) is None
            assert w.delta(TCPS_LISTENDROP) == 1 and _sc_count() == 1
            assert tcp_subr.tcp_connections() == 0
        finally:
            tcp_subr._newbufs = saved_new
            tcp_subr._bufs_free[:] = saved_free
            tcp_subr._bufs_made[0] = saved_made
        w.send(ACK)  # the peer's retransmission, say
        w.recv_nothing()
        c, addr = ls.accept()
        assert addr[1] == 42000 and _sc_count() == 0
        c.close()


def test_tcp_code_loads_with_the_first_segment():
    # before any TCP socket, ip_protox's TCP entry loads tcp_input on the first segment (a board
    # that never meets TCP does not carry its code); the segment is then answered as usual
    from bsdnet import in_proto, tcp_input

    with World(lport=4444) as w:
        p = in_proto.ip_protox[6]
        in_proto.pr_input[p] = in_proto._tcp_input  # as at boot
        w.send(SYN)
        r = w.recv()
        assert r.flags == RST | ACK and r.ack == add(tcpfix.IRS, 1), r
        assert in_proto.pr_input[p] is tcp_input.tcp_input
