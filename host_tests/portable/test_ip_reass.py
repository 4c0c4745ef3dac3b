# IPv4 reassembly (ip_reass.py) over the fake device: fragments in order, out of order, overlapping
# (the first copy wins) and duplicated; the quota (the oldest datagram goes, receive never starves);
# the timeout with ICMP time exceeded; the largest datagram and the ones too long; the chain as UDP,
# ICMP (a big ping answered in fragments) and raw sockets take it; TCP gets one cluster. Heap per
# fragment in the VM.
from bsdnet import opts, mbuf, socket, bcopy, ip_reass, route
from bsdnet.stats import stat
from bsdnet.in_cksum import in_cksum
from bsdnet.inet import inet_aton
from bsdnet.hdr import arp as ah, ip as iph, icmp as ich
import netfix
import ptest
import fragfix
from fragfix import HOST, BOARD, frag, cut, join, udp_datagram, echo_request, pattern
from netfix import HOST_MAC, arp_frame, echo_frame

_socks = []


def _if(now=1000):
    while _socks:
        _socks.pop().close()
    fragfix.reass_reset()
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
    nic.poll(now)
    dev.sent.clear()
    return nic, dev


def _sock(port, proto=None):
    if proto is None:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_RAW, proto)
    s.setblocking(False)
    _socks.append(s)
    return s


def _feed(nic, dev, frames, now=1001):
    for f in frames:
        dev.rxq.append(f)
        nic.poll(now)


def _ip(name):
    return stat("ip", name)


def _full():
    return mbuf.pool_free() == opts.NMBCLUSTERS and mbuf.held[mbuf.HOLD_REASS] == 0


def test_in_order_and_out_of_order():
    nic, dev = _if()
    s = _sock(7777)
    data = pattern(4000)
    d = udp_datagram(40000, 7777, data)
    fr = cut(d, 1480, 0x1111)
    assert len(fr) == 3
    f0, r0, h0 = _ip("ips_fragments"), _ip("ips_reassembled"), _ip("ips_delivered")
    _feed(nic, dev, fr[:2])
    assert ip_reass.ip_reass_count() == 1 and mbuf.held[mbuf.HOLD_REASS] == 2
    assert ptest.raises(OSError, s.recvfrom, 5000).args[0] == socket.EAGAIN
    _feed(nic, dev, fr[2:])
    assert ip_reass.ip_reass_count() == 0 and mbuf.held[mbuf.HOLD_REASS] == 0
    got, addr = s.recvfrom(5000)
    assert got == data and addr == (HOST, 40000)
    assert _ip("ips_fragments") == f0 + 3 and _ip("ips_reassembled") == r0 + 1 and _ip("ips_delivered") == h0 + 1
    # out of order: last first, then the middle, fragment 0 last; recv_into copies across the chain
    for order in ((2, 1, 0), (1, 2, 0), (0, 2, 1), (2, 0, 1)):
        fr = cut(d, 1480, 0x2000 + order[0] * 10 + order[1])
        _feed(nic, dev, [fr[i] for i in order])
        buf = bytearray(5000)
        n, addr = s.recvfrom_into(buf)
        assert n == 4000 and buf[:n] == data, order
    # a smaller reader gets the front of the datagram, the rest is discarded, as for any datagram
    _feed(nic, dev, cut(d, 1480, 0x3000))
    assert s.recv(1000) == data[:1000]
    assert dev.sent == [] and _full()


def test_fragments_of_many_sizes_and_with_options():
    nic, dev = _if()
    s = _sock(7777)
    for n, size in ((16, 8), (100, 40), (1473, 1472), (2960, 1480), (1500, 512)):
        data = pattern(n, 3)
        fr = cut(udp_datagram(1234, 7777, data), size, n)
        assert len(fr) <= opts.IP_REASS_MBUFS
        _feed(nic, dev, fr[::-1])
        assert s.recv(5000) == data, (n, size)
    # IP options in fragment 0 (kept in the datagram's header) and in the others (dropped)
    data = pattern(2000, 5)
    d = udp_datagram(1234, 7777, data)
    opt = b"\x94\x04\x00\x00"  # router alert
    _feed(nic, dev, [frag(d, 1472, len(d), 77, options=opt), frag(d, 0, 1472, 77, options=opt)])
    assert s.recv(5000) == data
    assert _full()


def test_a_small_datagram_in_small_fragments_takes_one_cluster():
    """900 bytes in three fragments (a small MTU on the path) fit one cluster: delivered as one, so
    the socket queue holds one cluster for it, not three of its SB_MBUFS."""
    nic, dev = _if()
    s = _sock(7777)
    data = pattern(900, 2)
    fr = cut(udp_datagram(555, 7777, data), 296, 0x5151)
    assert len(fr) == 4
    _feed(nic, dev, fr[::-1])
    assert mbuf.held[mbuf.HOLD_SOCK] == 1 and mbuf.pool_free() == opts.NMBCLUSTERS - 1
    assert s.recv(5000) == data
    # the same for raw IP, and for a ping (answered in one frame)
    r = _sock(0, proto=253)
    _feed(nic, dev, cut(pattern(1400), 512, 0x5252, proto=253)[::-1])
    assert mbuf.held[mbuf.HOLD_SOCK] == 1
    got = r.recv(5000)
    assert iph.total_len(got, 0) == 1420 and got[20:] == pattern(1400)
    dev.sent.clear()
    _feed(nic, dev, cut(echo_request(1, 1, pattern(1000)), 504, 0x5353, proto=1))
    assert len(dev.sent) == 1 and iph.frag(dev.sent[0], 14) == 0 and iph.total_len(dev.sent[0], 14) == 1028
    assert _full()


def test_raw_socket_reads_the_whole_datagram_from_its_header():
    nic, dev = _if()
    r = _sock(0, proto=253)
    data = pattern(3500)
    _feed(nic, dev, cut(data, 1480, 0x4242, proto=253))
    got, addr = r.recvfrom(5000)
    assert addr == (HOST, 0) and len(got) == 20 + 3500
    assert iph.check(got, 0, len(got)) == 0 and iph.total_len(got, 0) == 3520
    assert iph.frag(got, 0) == 0 and iph.ident(got, 0) == 0x4242 and got[20:] == data
    assert dev.sent == [] and _full()


def test_big_ping_is_answered_in_fragments():
    nic, dev = _if()
    data = pattern(4000, 11)
    req = echo_request(0x77, 5, data)
    r0, o0 = stat("icmp", "icps_reflect"), _ip("ips_ofragments")
    for order in ((0, 1, 2), (2, 1, 0)):
        dev.sent.clear()
        _feed(nic, dev, [cut(req, 1480, 0x99 + order[0], proto=1)[i] for i in order])
        assert len(dev.sent) == 3
        for f in dev.sent:
            assert f[0:6] == HOST_MAC and f[26:30] == bytes(inet_aton(BOARD)) and f[30:34] == bytes(inet_aton(HOST))
            assert iph.proto(f, 14) == iph.IPPROTO_ICMP and len(f) <= 1514
        hdr, rep = join(dev.sent)
        assert ich.msg_type(rep, 0) == ich.ICMP_ECHOREPLY and in_cksum(rep, 0, len(rep)) == 0
        assert rep[4:] == req[4:]
    assert stat("icmp", "icps_reflect") == r0 + 2 and _ip("ips_ofragments") == o0 + 6
    assert _full()


def test_overlaps_first_copy_wins_and_duplicates_are_dropped():
    nic, dev = _if()
    s = _sock(7777)
    data = pattern(2992, 13)
    d = udp_datagram(555, 7777, data)  # 3000 bytes of IP payload
    bad = lambda a, b: bytes(0xEE for _ in range(b - a))  # noqa: E731 - what a later copy forges
    p1 = frag(d, 800, 1600, 9)
    # fragment 0 whose tail [800, 1480) is held already: cut at 800 (its forged tail never counts)
    p2 = frag(d, 0, 1480, 9, data=d[0:800] + bad(800, 1480))
    p3 = frag(d, 2400, 2408, 9)
    p5 = frag(d, 800, 1600, 9, data=bad(800, 1600))  # a duplicate of p1, forged: dropped
    p6 = frag(d, 792, 808, 9, data=bad(792, 808))  # held on both sides: nothing new
    # the last fragment covers p3: p3's bytes stay (copied over its forged ones), p3's cluster goes
    p4 = frag(d, 1600, 3000, 9, data=d[1600:2400] + bad(2400, 2408) + d[2408:3000])
    dr, bs = _ip("ips_fragdropped"), stat("udp", "udps_badsum")
    _feed(nic, dev, [p1, p2, p3, p5, p6])
    assert _ip("ips_fragdropped") == dr + 2 and mbuf.held[mbuf.HOLD_REASS] == 3
    assert ptest.raises(OSError, s.recv, 5000).args[0] == socket.EAGAIN
    _feed(nic, dev, [p4])
    assert s.recv(5000) == data  # a forged byte anywhere would have failed the UDP checksum
    assert stat("udp", "udps_badsum") == bs
    # a later fragment whose front is held: trimmed to what it brings
    q = [frag(d, 0, 1480, 10), frag(d, 1472, 2952, 10, data=bad(1472, 1480) + d[1480:2952]), frag(d, 2952, 3000, 10)]
    _feed(nic, dev, q)
    assert s.recv(5000) == data
    # an exact duplicate of fragment 0, and of the last one
    _feed(nic, dev, [q[0], q[0], q[2], q[2]])
    assert _ip("ips_fragdropped") == dr + 4 and mbuf.held[mbuf.HOLD_REASS] == 2
    _feed(nic, dev, [frag(d, 1480, 2952, 10)])
    assert s.recv(5000) == data
    assert _full()


def test_bad_fragments_are_counted_and_dropped():
    nic, dev = _if()
    s = _sock(7777)
    d = udp_datagram(555, 7777, pattern(2992))
    cases = (
        (frag(d, 0, 13, 20), "ips_toosmall"),  # MF and not a multiple of 8
        (frag(d, 0, 0, 21, mf=True), "ips_toosmall"),  # no payload
        (frag(d, 65528, 65528, 22, mf=False, data=bytes(16)), "ips_toolong"),  # past 65535
        (frag(d, opts.IP_MAXREASS - 8, 0, 23, mf=False, data=bytes(16)), "ips_toolong"),  # past IP_MAXREASS
    )
    for f, name in cases:
        before, dr = _ip(name), _ip("ips_fragdropped")
        _feed(nic, dev, [f])
        assert _ip(name) == before + 1 and _ip("ips_fragdropped") == dr + 1, name
    assert ip_reass.ip_reass_count() == 0
    # a datagram that grows past IP_MAXREASS: what came of it goes too
    dr, tl = _ip("ips_fragdropped"), _ip("ips_toolong")
    _feed(nic, dev, [frag(d, 0, 1480, 30), frag(d, 1480, 2960, 30)])
    assert ip_reass.ip_reass_count() == 1
    _feed(nic, dev, [frag(d, opts.IP_MAXREASS, 0, 30, mf=False, data=bytes(8))])
    assert _ip("ips_toolong") == tl + 1 and _ip("ips_fragdropped") == dr + 3 and ip_reass.ip_reass_count() == 0
    # two different ends, and a fragment past the end: the first end wins
    dr = _ip("ips_fragdropped")
    _feed(nic, dev, [frag(d, 2960, 3000, 31), frag(d, 2960, 2968, 31, mf=False),
                     frag(d, 2960, 3008, 31, mf=True, data=bytes(48))])
    assert _ip("ips_fragdropped") == dr + 2
    _feed(nic, dev, [frag(d, 0, 1480, 31), frag(d, 1480, 2960, 31)])
    assert len(s.recv(5000)) == 2992
    # a "last" fragment ending before data already held
    _feed(nic, dev, [frag(d, 1480, 2960, 32), frag(d, 8, 1000, 32, mf=False)])
    assert _ip("ips_fragdropped") == dr + 3
    ip_reass.ip_reass_flush()
    assert dev.sent == [] and _full()


def test_largest_datagram_and_one_byte_more():
    nic, dev = _if()
    s = _sock(7777)
    n = opts.IP_MAXREASS - 8
    assert n == opts.UDP_SENDSPACE
    fr = cut(udp_datagram(555, 7777, pattern(n)), 1480, 40)  # (6 KB blocks are few on a Pico)
    assert len(fr) == opts.IP_REASS_MBUFS
    _feed(nic, dev, fr[::-1])
    del fr
    buf = bytearray(n + 1)
    assert s.recv_into(buf) == n and fragfix.is_pattern(buf, n)
    del buf
    tl = _ip("ips_toolong")
    _feed(nic, dev, cut(udp_datagram(555, 7777, pattern(n + 1)), 1480, 41))
    assert _ip("ips_toolong") == tl + 1 and ip_reass.ip_reass_count() == 0
    assert ptest.raises(OSError, s.recv, 1).args[0] == socket.EAGAIN
    assert _full()


def test_quota_drops_the_oldest_and_receive_never_starves():
    nic, dev = _if()
    s = _sock(7777)
    assert opts.IP_REASS_MBUFS == 4 and opts.IP_REASS_SLOTS == 2  # the figures this test walks through
    d = udp_datagram(555, 7777, pattern(5000))
    A = cut(d, 1000, 100)
    B = cut(d, 1000, 101)
    dr, qd = _ip("ips_fragdropped"), stat("mbuf", "quotadrops")
    _feed(nic, dev, [A[0], A[1], B[0], B[1]], now=1001)
    assert mbuf.held[mbuf.HOLD_REASS] == 4 and mbuf.pool_free() == opts.NMBCLUSTERS - 4
    _feed(nic, dev, [B[2]], now=1002)  # the quota is full: A (the oldest) goes
    assert _ip("ips_fragdropped") == dr + 2 and mbuf.held[mbuf.HOLD_REASS] == 3 and ip_reass.ip_reass_count() == 1
    assert stat("mbuf", "quotadrops") == qd + 1
    C = cut(d, 1000, 102)
    _feed(nic, dev, [C[0]], now=1003)  # a free slot again, and room for one
    assert mbuf.held[mbuf.HOLD_REASS] == 4 and ip_reass.ip_reass_count() == 2
    D = cut(d, 1000, 103)
    _feed(nic, dev, [D[3]], now=1004)  # no slot: the oldest datagram (B, 3 fragments) gives way
    assert _ip("ips_fragdropped") == dr + 5 and mbuf.held[mbuf.HOLD_REASS] == 2
    # a hostile host cannot make reassembly take more than its quota: the board still answers
    for i in range(20):
        _feed(nic, dev, [frag(d, 8 * i, 8 * i + 8, 200 + i)], now=1005 + i)
        assert mbuf.held[mbuf.HOLD_REASS] <= opts.IP_REASS_MBUFS
        assert mbuf.pool_free() >= opts.NMBCLUSTERS - opts.IP_REASS_MBUFS
    dev.sent.clear()
    _feed(nic, dev, [echo_frame(HOST, BOARD)], now=1100)
    assert len(dev.sent) == 1
    # a datagram that needs more clusters than the quota (sent in 8-byte fragments) is dropped whole
    ip_reass.ip_reass_flush()
    dr = _ip("ips_fragdropped")
    small = cut(udp_datagram(555, 7777, pattern(64)), 8, 300)
    _feed(nic, dev, small[:opts.IP_REASS_MBUFS + 1], now=1200)
    assert _ip("ips_fragdropped") == dr + opts.IP_REASS_MBUFS + 1 and ip_reass.ip_reass_count() == 0
    assert ptest.raises(OSError, s.recv, 1).args[0] == socket.EAGAIN
    ip_reass.ip_reass_flush()
    assert _full()


def test_timeout_sends_time_exceeded_when_fragment_0_came():
    nic, dev = _if(now=5000)
    d = udp_datagram(555, 7777, pattern(4000))
    fr = cut(d, 1480, 0x5151)
    _feed(nic, dev, [fr[0], fr[2]], now=5000)
    _feed(nic, dev, [cut(d, 1480, 0x5252)[1]], now=6000)  # no fragment 0: no ICMP for this one
    assert ip_reass.ip_reass_count() == 2
    assert ip_reass._timer.next_timeout(5000) == 5000 + opts.IP_REASS_TTL_MS  # the interface sleeps until then
    assert nic.next_deadline(5000) <= opts.IP_REASS_TTL_MS
    t0, x0 = _ip("ips_fragtimeout"), stat("icmp", "icps_outhist_timxceed")
    nic.poll(5000 + opts.IP_REASS_TTL_MS - 1)
    assert ip_reass.ip_reass_count() == 2 and dev.sent == []
    nic.poll(5000 + opts.IP_REASS_TTL_MS)
    assert ip_reass.ip_reass_count() == 1 and _ip("ips_fragtimeout") == t0 + 2
    assert stat("icmp", "icps_outhist_timxceed") == x0 + 1 and len(dev.sent) == 1
    f = dev.sent[0]
    assert f[0:6] == HOST_MAC and iph.check(f, 14, len(f) - 14) == 0 and iph.proto(f, 14) == iph.IPPROTO_ICMP
    assert f[26:30] == bytes(inet_aton(BOARD)) and f[30:34] == bytes(inet_aton(HOST))
    ic = 34
    n = iph.total_len(f, 14) - 20
    assert ich.msg_type(f, ic) == ich.ICMP_TIMXCEED and ich.msg_code(f, ic) == ich.ICMP_TIMXCEED_REASS
    assert in_cksum(f, ic, n) == 0 and n == 8 + 20 + 8
    # the quote: fragment 0's header as it came (ID, MF, offset 0) and its first 8 bytes (UDP ports)
    assert f[ic + 8:ic + 8 + 28] == fr[0][14:14 + 28]
    assert ip_reass._timer.next_timeout(6000) == 6000 + opts.IP_REASS_TTL_MS
    nic.poll(6000 + opts.IP_REASS_TTL_MS)
    assert ip_reass.ip_reass_count() == 0 and len(dev.sent) == 1 and _ip("ips_fragtimeout") == t0 + 3
    assert ip_reass._timer.next_timeout(7000 + opts.IP_REASS_TTL_MS) == -1  # nothing left to time
    assert _full()


def test_no_time_exceeded_for_a_broadcast_datagram():
    nic, dev = _if(now=5000)
    d = udp_datagram(555, 7777, pattern(2000), dst="10.7.0.255")
    _feed(nic, dev, [frag(d, 0, 1480, 61, dst="10.7.0.255", dmac=b"\xff" * 6)], now=5000)
    assert ip_reass.ip_reass_count() == 1
    nic.poll(5000 + opts.IP_REASS_TTL_MS)
    assert ip_reass.ip_reass_count() == 0 and dev.sent == []
    assert _full()


def test_broadcast_fragments_are_reassembled_and_delivered():
    nic, dev = _if()
    s = _sock(7777)
    data = pattern(2000, 9)
    d = udp_datagram(555, 7777, data, dst="10.7.0.255")
    _feed(nic, dev, [frag(d, a, b, 62, dst="10.7.0.255", dmac=b"\xff" * 6) for a, b in ((1480, len(d)), (0, 1480))])
    assert s.recv(5000) == data
    assert _full()


def test_udp_to_a_closed_port_quotes_the_reassembled_header():
    nic, dev = _if()
    d = udp_datagram(555, 4242, pattern(3000))
    _feed(nic, dev, cut(d, 1480, 63))
    assert len(dev.sent) == 1
    f = dev.sent[0]
    assert ich.msg_type(f, 34) == ich.ICMP_UNREACH and ich.msg_code(f, 34) == ich.ICMP_UNREACH_PORT
    q = 42
    assert iph.total_len(f, q) == 20 + len(d) and iph.frag(f, q) == 0 and iph.ident(f, q) == 63
    assert _full()


def test_tcp_in_fragments_gets_one_cluster():
    """TCP reads one cluster: a small segment sent in fragments is put together in the first (a SYN
    to a closed port is answered with RST), one larger than a cluster is dropped (ips_toolong)."""
    nic, dev = _if()
    from bsdnet.hdr import tcp as tcph

    seg = bytearray(40)
    tcph.emit(seg, 0, 40000, 4242, 0, 1000, 0, 0, 20, tcph.TH_SYN, 1024, 0)  # and 20 bytes of data
    tcph.fill_cksum(seg, 0, 40, inet_aton(HOST), 0, inet_aton(BOARD), 0)
    seg = bytes(seg)
    _feed(nic, dev, [frag(seg, 8, 40, 64, proto=6), frag(seg, 0, 8, 64, proto=6)])
    assert len(dev.sent) == 1
    f = dev.sent[0]
    assert iph.proto(f, 14) == iph.IPPROTO_TCP and f[34 + 13] & tcph.TH_RST
    tl = _ip("ips_toolong")
    _feed(nic, dev, cut(pattern(2000), 1480, 65, proto=6))
    assert _ip("ips_toolong") == tl + 1 and len(dev.sent) == 1
    assert _full()


def test_heap_per_fragment():
    """Heap the stack allocates per fragment: a 3-fragment datagram in, reassembled, queued on a
    UDP socket and read with recv_into (the device allocation-free); a 3-fragment ping answered in
    its clusters; fragments held and dropped by the quota."""
    d = udp_datagram(40000, 7777, pattern(4000))
    dev = fragfix.SeqReplayDev(cut(d, 1480, 0x6161))
    nic, _ = netfix.make_if(dev=dev)
    fragfix.reass_reset()
    dev.frames.append(bytearray(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD)))
    dev.i = 3
    dev.left = 1
    nic.poll(1000)
    dev.frames.pop()
    dev.i = 0
    s = _sock(7777)
    buf = bytearray(4000)

    def rx():
        dev.left = 3
        nic.poll(1001)
        s.recv_into(buf)

    rx()
    assert buf == pattern(4000)
    # copying out of the chain: one bcopy per cluster, 16 bytes each with the portable bcopy
    copy = 0 if bcopy.IMPL == "viper" else 16 * 3
    ptest.report_alloc("udp datagram in 3 fragments, reassembled, recv_into (bcopy %s)" % bcopy.IMPL, rx, limit=copy)
    dev.frames = [bytearray(f) for f in cut(echo_request(1, 2, pattern(4000)), 1480, 0x6262, proto=1)]
    dev.i = 0
    sent = dev.nsent

    def ping():
        dev.left = 3
        nic.poll(1002)

    ping()
    assert dev.nsent == sent + 3
    ptest.report_alloc("ping of 4000 bytes in 3 fragments answered in 3 fragments", ping, limit=0)
    # fragments that never complete: held, then the quota drops the oldest datagram
    dev.frames = [bytearray(frag(d, 0, 1480, 0x7000 + i)) for i in range(8)]
    dev.i = 0

    def held():
        dev.left = 1
        nic.poll(1003)

    held()
    ptest.report_alloc("fragment held (the quota dropping the oldest datagram)", held, limit=0)
    ip_reass.ip_reass_flush()
    assert _full()
    assert route.pr_timers.count(ip_reass._timer) == 1
