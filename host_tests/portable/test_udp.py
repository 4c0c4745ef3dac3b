# UDP: udp_input checks and delivery, udp_output, the inpcb rules and the socket API, over the
# fake device. The frames are checked with the hdr modules and the checksum routine.
from bsdnet import opts, mbuf, socket, bcopy
from bsdnet.compat import ticks_ms, ticks_add
from bsdnet.udp_usrreq import udbinfo
from bsdnet.stats import stat
from bsdnet.in_pcb import in_pcblookup, INPLOOKUP_WILDCARD
from bsdnet.in_cksum import in_cksum, in_pseudo
from bsdnet.inet import inet_aton
from bsdnet.hdr import ether as eh, arp as ah, ip as iph, icmp as ich, udp as udph
import netfix
import ptest
from netfix import HOST_MAC, BOARD_MAC, BCAST, arp_frame, udp_frame

HOST = "10.7.0.1"
BOARD = "10.7.0.2"
_socks = []


def _if():
    """Interface up, the host's MAC resolved, every UDP socket of earlier tests closed."""
    while _socks:
        _socks.pop().close()
    for inp in udbinfo.pcbs:
        assert not inp.attached, "a UDP pcb leaked from an earlier test"
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
    nic.poll()  # the clock's time: socket calls read ticks_ms() for the ARP entry's age too
    dev.sent.clear()
    return nic, dev


def _sock(port=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _socks.append(s)
    if port is not None:
        s.bind(("0.0.0.0", port))
    return s


def _count(name, fn):
    before = stat("udp", name)
    fn()
    return stat("udp", name) - before


def _check_udp(f, src, dst, sport, dport, payload):
    assert f[0:6] == HOST_MAC and f[6:12] == BOARD_MAC and eh.ethertype(f, 0) == eh.ETHERTYPE_IP
    assert iph.check(f, 14, len(f) - 14) == 0
    assert iph.proto(f, 14) == iph.IPPROTO_UDP
    assert f[26:30] == bytes(inet_aton(src)) and f[30:34] == bytes(inet_aton(dst))
    assert udph.sport(f, 34) == sport and udph.dport(f, 34) == dport
    assert udph.ulen(f, 34) == 8 + len(payload)
    assert udph.cksum(f, 34) != 0
    ul = udph.ulen(f, 34)
    assert in_cksum(f, 34, ul, in_pseudo(f, 26, f, 30, 17, ul)) == 0
    assert f[42:42 + len(payload)] == payload


def test_receive_and_reply():
    nic, dev = _if()
    s = _sock(7)
    dev.rxq.append(udp_frame(HOST, BOARD, 40000, 7, b"hello"))
    nic.poll()
    s.setblocking(False)
    data, addr = s.recvfrom(100)
    assert data == b"hello" and addr == (HOST, 40000)
    assert s.sendto(b"world!", addr) == 6
    assert len(dev.sent) == 1
    _check_udp(dev.sent[0], BOARD, HOST, 7, 40000, b"world!")
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_recv_into_truncates_and_frees():
    nic, dev = _if()
    s = _sock(9)
    dev.rxq.append(udp_frame(HOST, BOARD, 40000, 9, bytes(range(100))))
    dev.rxq.append(udp_frame(HOST, BOARD, 40000, 9, b"second"))
    nic.poll()
    buf = bytearray(10)
    assert s.recv_into(buf) == 10 and buf == bytes(range(10))  # the other 90 bytes are discarded
    n, addr = s.recvfrom_into(buf, 4)
    assert n == 4 and buf[:4] == b"seco" and addr == (HOST, 40000)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_no_checksum_is_accepted_bad_checksum_and_length_are_dropped():
    nic, dev = _if()
    s = _sock(9)
    s.setblocking(False)
    assert _count("udps_nosum", lambda: (dev.rxq.append(udp_frame(HOST, BOARD, 1, 9, b"x", cksum=False)),
                                         nic.poll())) == 1
    assert s.recv(10) == b"x"
    bad = bytearray(udp_frame(HOST, BOARD, 1, 9, b"abcd"))
    bad[43] ^= 0xFF
    assert _count("udps_badsum", lambda: (dev.rxq.append(bytes(bad)), nic.poll())) == 1
    assert _count("udps_badlen", lambda: (dev.rxq.append(udp_frame(HOST, BOARD, 1, 9, b"abcd", ulen=200)),
                                          nic.poll())) == 1
    assert _count("udps_badlen", lambda: (dev.rxq.append(udp_frame(HOST, BOARD, 1, 9, b"abcd", ulen=7)),
                                          nic.poll())) == 1
    e = ptest.raises(OSError, s.recv, 10)
    assert e.args[0] == socket.EAGAIN
    assert dev.sent == []
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_closed_port_gets_icmp_port_unreachable():
    nic, dev = _if()
    req = udp_frame(HOST, BOARD, 40000, 4242, b"anyone?")
    dev.rxq.append(req)
    before = stat("udp", "udps_noport")
    nic.poll()
    assert stat("udp", "udps_noport") == before + 1
    assert len(dev.sent) == 1
    f = dev.sent[0]
    assert iph.check(f, 14, len(f) - 14) == 0 and iph.proto(f, 14) == iph.IPPROTO_ICMP
    assert f[26:30] == bytes(inet_aton(BOARD)) and f[30:34] == bytes(inet_aton(HOST))
    ic = 34
    n = iph.total_len(f, 14) - 20
    assert ich.msg_type(f, ic) == ich.ICMP_UNREACH and ich.msg_code(f, ic) == ich.ICMP_UNREACH_PORT
    assert in_cksum(f, ic, n) == 0
    assert n == 8 + 20 + 8  # the offending IP header and the first 8 bytes of its payload
    assert f[ic + 8:ic + 8 + 28] == req[14:42]
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_no_icmp_error_for_broadcast_and_rate_limit():
    nic, dev = _if()
    before = stat("udp", "udps_noportbcast")
    dev.rxq.append(udp_frame(HOST, "10.7.0.255", 40000, 4242, b"x", dmac=BCAST))
    dev.rxq.append(udp_frame(HOST, "255.255.255.255", 40000, 4242, b"x", dmac=BCAST))
    nic.poll()
    assert stat("udp", "udps_noportbcast") == before + 2
    # unicast IP in a link-level broadcast frame: no error either (RFC 1122 3.2.2)
    dev.rxq.append(udp_frame(HOST, BOARD, 40000, 4242, b"x", dmac=BCAST))
    nic.poll()
    assert dev.sent == []
    # rate limit: at most ICMP_LIM errors in one second
    lim0 = stat("icmp", "icps_ratelimited")
    sent = 0
    t0 = ticks_ms()
    for i in range(opts.ICMP_LIM + 5):
        dev.rxq.append(udp_frame(HOST, BOARD, 40000, 4242, b"x"))
        nic.poll(ticks_add(t0, 1000 + i % 10))
        sent += len(dev.sent)
        dev.sent.clear()
    assert sent <= opts.ICMP_LIM and stat("icmp", "icps_ratelimited") - lim0 >= 5
    dev.rxq.append(udp_frame(HOST, BOARD, 40000, 4242, b"x"))
    nic.poll(ticks_add(t0, 2100))  # a new second
    assert len(dev.sent) == 1
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_full_queue_drops_and_counts():
    nic, dev = _if()
    s = _sock(9)
    full0 = stat("udp", "udps_fullsock")
    n = opts.UDP_RCVQ + 3
    for i in range(n):
        dev.rxq.append(udp_frame(HOST, BOARD, 40000, 9, bytes([i])))
        nic.poll()
    # the socket's own limit keeps the first ones; all queues' clusters together (SB_MBUFS, 2 on a
    # tiny heap: opts.TINY) make room by dropping the oldest
    q = min(opts.UDP_RCVQ, opts.SB_MBUFS)
    assert stat("udp", "udps_fullsock") - full0 == n - q
    assert mbuf.pool_free() == opts.NMBCLUSTERS - q
    first = 0 if opts.UDP_RCVQ <= opts.SB_MBUFS else n - q
    for i in range(first, first + q):
        assert s.recv(4) == bytes([i])  # in order
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_close_frees_the_queue_and_the_pcb():
    nic, dev = _if()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("", 5353))
    dev.rxq.append(udp_frame(HOST, BOARD, 40000, 5353, b"q"))
    nic.poll()
    assert mbuf.pool_free() == opts.NMBCLUSTERS - 1
    s.close()
    s.close()  # twice is harmless
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    assert not any(p.attached for p in udbinfo.pcbs)
    assert ptest.raises(OSError, s.recv, 1).args[0] == socket.EBADF
    t = _sock(5353)  # the port is free again
    assert t.getsockname() == ("0.0.0.0", 5353)


def test_bind_rules_and_ephemeral_ports():
    _if()
    a = _sock(7)
    assert ptest.raises(OSError, _sock, 7).args[0] == 98  # EADDRINUSE
    b = _sock()
    assert ptest.raises(OSError, b.bind, ("10.9.9.9", 1000)).args[0] == 99  # EADDRNOTAVAIL
    b.bind((BOARD, 1000))
    assert b.getsockname() == (BOARD, 1000)
    assert ptest.raises(OSError, b.bind, ("", 1001)).args[0] == 22  # already bound
    c = _sock()
    c.sendto(b"x", (HOST, 9))  # an unbound socket gets an ephemeral port on first send
    p = c.getsockname()[1]
    assert 49152 <= p <= 65535
    assert a.getsockname()[1] == 7
    for bad in (("10.7.0.1",), ("10.7.0.300", 7), (HOST, 70000), (HOST, "7"), "10.7.0.1:7"):
        e = ptest.raises(OSError, c.sendto, b"x", bad)
        assert e.args[0] == 22, bad


def test_socket_limit_and_unsupported_types():
    _if()
    for _ in range(opts.UDP_SOCKETS):
        _sock()
    e = ptest.raises(OSError, socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
    assert e.args[0] == 105  # ENOBUFS: every pcb is taken
    assert ptest.raises(OSError, socket.socket, socket.AF_INET, 7).args[0] == 93  # no such type
    assert ptest.raises(OSError, socket.socket, socket.AF_INET, socket.SOCK_DGRAM, 6).args[0] == 93
    assert ptest.raises(OSError, socket.socket, 10, socket.SOCK_DGRAM).args[0] == 97


def test_lookup_exact_before_wildcard_and_connected_peer_only():
    nic, dev = _if()
    wild = _sock(5000)
    conn = _sock()
    conn.bind((BOARD, 5001))
    conn.connect((HOST, 6000))
    assert conn.getpeername() == (HOST, 6000)
    f = udp_frame(HOST, BOARD, 6000, 5001, b"")
    inp = in_pcblookup(udbinfo, f, 26, 6000, f, 30, 5001, INPLOOKUP_WILDCARD)
    assert inp is conn._inp
    assert in_pcblookup(udbinfo, f, 26, 6001, f, 30, 5001, INPLOOKUP_WILDCARD) is None  # not its peer
    assert in_pcblookup(udbinfo, f, 26, 6000, f, 30, 5000, 0) is None  # wildcard needs the flag
    assert in_pcblookup(udbinfo, f, 26, 6000, f, 30, 5000, INPLOOKUP_WILDCARD) is wild._inp
    conn.setblocking(False)
    dev.rxq.append(udp_frame(HOST, BOARD, 6001, 5001, b"stranger"))
    dev.rxq.append(udp_frame(HOST, BOARD, 6000, 5001, b"peer"))
    nic.poll()
    assert conn.recv(20) == b"peer"
    assert ptest.raises(OSError, conn.recv, 20).args[0] == socket.EAGAIN
    assert len(dev.sent) == 1 and ich.msg_type(dev.sent[0], 34) == ich.ICMP_UNREACH  # the stranger
    assert conn.send(b"hi") == 2
    _check_udp(dev.sent[-1], BOARD, HOST, 5001, 6000, b"hi")
    assert ptest.raises(OSError, conn.sendto, b"x", (HOST, 1)).args[0] == 106  # EISCONN
    assert ptest.raises(OSError, wild.send, b"x").args[0] == 89  # EDESTADDRREQ


def test_broadcast_needs_so_broadcast():
    nic, dev = _if()
    s = _sock()
    e = ptest.raises(OSError, s.sendto, b"x", ("10.7.0.255", 9))
    assert e.args[0] == 13  # EACCES
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.sendto(b"x", ("10.7.0.255", 9))
    assert dev.sent[-1][0:6] == BCAST
    assert ptest.raises(OSError, s.setsockopt, 99, 99, 1).args[0] == 92


def test_big_datagram_and_no_route():
    nic, dev = _if()
    s = _sock()
    assert ptest.raises(OSError, s.sendto, bytes(opts.UDP_SENDSPACE + 1), (HOST, 9)).args[0] == 90
    s.sendto(bytes(1472), (HOST, 9))  # the largest in one frame; larger ones: test_ip_frag.py
    assert len(dev.sent[-1]) == 14 + 28 + 1472 and iph.frag(dev.sent[-1], 14) == 0
    nic.ifconfig((BOARD, "255.255.255.0", "0.0.0.0", "0.0.0.0"))
    assert ptest.raises(OSError, s.sendto, b"x", ("10.8.0.1", 9)).args[0] == 113  # EHOSTUNREACH
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_off_link_goes_to_the_gateway_after_arp():
    nic, dev = _if()
    s = _sock()
    s.sendto(b"far", ("10.99.0.5", 9))  # held while the gateway (10.7.0.1, resolved) ... is resolved
    f = dev.sent[-1]
    assert f[0:6] == HOST_MAC  # the gateway's MAC (the host answers for 10.7.0.1)
    _check_udp(f, BOARD, "10.99.0.5", s.getsockname()[1], 9, b"far")


def test_timeout_and_nonblocking():
    _if()
    s = _sock(9)
    s.settimeout(0)
    assert ptest.raises(OSError, s.recv, 1).args[0] == socket.EAGAIN
    s.settimeout(0.02)
    assert ptest.raises(OSError, s.recv, 1).args[0] == socket.ETIMEDOUT
    assert ptest.raises(OSError, s.settimeout, -1).args[0] == 22


def test_getaddrinfo_dotted_quad():
    ai = socket.getaddrinfo("10.7.0.1", 7)
    assert ai[0][0] == socket.AF_INET and ai[0][-1] == ("10.7.0.1", 7)
    # a name goes to the resolver (bsdnet.dns): without an interface there is no server to ask
    assert ptest.raises(OSError, socket.getaddrinfo, "example.org", 80).args[0] == -4
    assert ptest.raises(OSError, socket.getaddrinfo, "not..a.name", 80).args[0] == 22


def test_alloc_udp_path():
    """Heap per datagram: input to the socket queue and recv_into, then sendto back (the same
    address object, as an echo server holds it), and recvfrom_into from an unchanged sender."""
    dev = netfix.ReplayDev(udp_frame(HOST, BOARD, 40000, 7, bytes(64)))
    nic, _ = netfix.make_if(dev=dev)
    dev.frame_arp = arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD)
    while _socks:
        _socks.pop().close()
    s = _sock(7)
    s.setblocking(False)
    buf = bytearray(64)
    addr = (HOST, 40000)
    s.sendto(buf, addr)  # ARP for the host: held, then answered below
    dev_frame = dev.frame
    dev.frame = bytearray(dev.frame_arp)
    dev.count = 1
    nic.poll()
    dev.frame = dev_frame
    now = [2000]

    def rx():
        dev.count = 1
        nic.poll(now[0])
        s.recv_into(buf)

    def tx():
        s.sendto(buf, addr)

    def rxfrom():
        dev.count = 1
        nic.poll(now[0])
        s.recvfrom_into(buf)

    sent0 = dev.nsent
    tx()
    rx()
    rxfrom()
    assert dev.nsent == sent0 + 1 and dev.last_len == 14 + 28 + 64
    # the copy into the caller's buffer: 0 with the viper bcopy (boards), one 16-byte memoryview
    # slice with the portable one (the MicroPython VM); udp_input and the queue allocate nothing
    copy = 0 if bcopy.IMPL == "viper" else 16
    ptest.report_alloc("udp datagram in (udp_input, queue, recv_into; bcopy %s)" % bcopy.IMPL, rx, limit=copy)
    s.setblocking(True)  # the blocking path (it finds the datagram queued by the poll) costs no more

    def rx_queued():
        dev.count = 1
        nic.poll(now[0])
        s.recv_into(buf)

    ptest.report_alloc("udp datagram in, blocking socket", rx_queued, limit=copy)
    s.setblocking(False)
    ptest.report_alloc("udp datagram out (sendto, udp_output, ip_output, driver)", tx, limit=0)
    ptest.report_alloc("udp recvfrom_into (the (n, addr) tuple)", rxfrom, limit=copy + 32)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def _icmp_error_frame(quoted, type=3, code=3, src=HOST):
    """An ICMP error from src about the datagram whose IP header and first bytes are `quoted`."""
    n = 20 + 8 + len(quoted)
    b = bytearray(14 + n)
    eh.emit(b, 0, BOARD_MAC, 0, HOST_MAC, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, 20, 0, n, 77, 0, 64, iph.IPPROTO_ICMP, inet_aton(src), 0, inet_aton(BOARD), 0)
    iph.fill_cksum(b, 14)
    ich.emit(b, 34, type, code, 0, 0)
    b[42:] = quoted
    ich.fill_cksum(b, 34, 8 + len(quoted))
    return bytes(b)


def test_port_unreachable_reaches_the_connected_socket():
    nic, dev = _if()
    c = _sock()
    c.connect((HOST, 6000))
    assert c.getsockname()[0] == BOARD  # the source address is fixed at connect, as in_pcbconnect does
    u = _sock(5002)  # unconnected: an error cannot be told apart from its other peers' traffic
    c.send(b"are you there?")
    u.sendto(b"and you?", (HOST, 6001))
    sent_c, sent_u = dev.sent[-2], dev.sent[-1]
    c.setblocking(False)
    u.setblocking(False)
    dev.rxq.append(_icmp_error_frame(sent_c[14:14 + 28]))
    dev.rxq.append(_icmp_error_frame(sent_u[14:14 + 28]))
    n0 = stat("udp", "udps_ctlnotify")
    nic.poll()
    assert stat("udp", "udps_ctlnotify") == n0 + 1
    assert ptest.raises(OSError, c.recv, 10).args[0] == 111  # ECONNREFUSED, once
    assert ptest.raises(OSError, c.recv, 10).args[0] == socket.EAGAIN
    assert ptest.raises(OSError, u.recv, 10).args[0] == socket.EAGAIN
    # host unreachable (code 1) is reported on the next send
    dev.rxq.append(_icmp_error_frame(sent_c[14:14 + 28], code=1))
    nic.poll()
    assert ptest.raises(OSError, c.send, b"x").args[0] == 113  # EHOSTUNREACH
    assert c.send(b"x") == 1
    # quotes too short to hold the UDP ports are counted and ignored
    bl = stat("icmp", "icps_badlen")
    dev.rxq.append(_icmp_error_frame(sent_c[14:14 + 24]))
    nic.poll()
    assert stat("icmp", "icps_badlen") == bl + 1
    assert ptest.raises(OSError, c.recv, 10).args[0] == socket.EAGAIN
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_sending_what_is_not_bytes_is_a_clear_error_and_costs_nothing():
    nic, dev = _if()
    for sock in (_sock(), socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)):
        try:
            for bad in ("text", [1, 2, 3]):
                e = ptest.raises(TypeError, sock.sendto, bad, (HOST, 9))
                assert "bytes-like" in str(e)
            assert mbuf.pool_free() == opts.NMBCLUSTERS  # nothing leaked by the failed sends
            assert sock.sendto(bytearray(b"ok"), (HOST, 9)) == 2
        finally:
            sock.close()


def test_receiving_into_a_read_only_buffer_raises_and_costs_nothing():
    nic, dev = _if()
    s = _sock(9)
    s.setblocking(False)
    for _ in range(2):
        dev.rxq.append(udp_frame(HOST, BOARD, 40000, 9, b"data"))
    nic.poll()
    ro = b"read-only"
    ptest.raises(TypeError, s.recv_into, ro)
    ptest.raises(TypeError, s.recvfrom_into, memoryview(ro))
    assert ro == b"read-only"  # and it was not written into
    assert mbuf.pool_free() == opts.NMBCLUSTERS
