# IPv4 fragmentation (ip_output.ip_fragment) and the IP ID: UDP and raw datagrams larger than the
# MTU leave in fragments built straight from the caller's data (checked by putting them together
# as a receiver does), the largest datagram, IP_DONTFRAG (EMSGSIZE), a short pool (ENOBUFS, nothing
# sent, nothing leaked), the copy path (a smaller MTU, options copied or not, a fragment fragmented
# again), what the board sends it reassembles itself, and IDs that differ per datagram and per boot.
from bsdnet import opts, mbuf, socket, bcopy, ip_output, ip_reass
from bsdnet.stats import stat
from bsdnet.in_cksum import in_cksum
from bsdnet.inet import inet_aton
from bsdnet.hdr import arp as ah, ip as iph, icmp as ich
import netfix
import ptest
import fragfix
from fragfix import HOST, BOARD, join, udp_ok, pattern, cut, echo_request
from netfix import HOST_MAC, BOARD_MAC, arp_frame

_socks = []


def _if():
    while _socks:
        _socks.pop().close()
    fragfix.reass_reset()
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
    nic.poll()
    dev.sent.clear()
    return nic, dev


def _sock(port=None, raw=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, raw) if raw else socket.socket(socket.AF_INET,
                                                                                        socket.SOCK_DGRAM)
    _socks.append(s)
    if port is not None:
        s.bind(("0.0.0.0", port))
    s.setblocking(False)
    return s


def _ip(name):
    return stat("ip", name)


def _full():
    return mbuf.pool_free() == opts.NMBCLUSTERS


def test_udp_4000_bytes_leave_in_three_fragments():
    nic, dev = _if()
    s = _sock(5000)
    data = pattern(4000)
    f0, o0, u0 = _ip("ips_fragmented"), _ip("ips_ofragments"), stat("udp", "udps_opackets")
    assert s.sendto(data, (HOST, 7)) == 4000
    assert len(dev.sent) == 3
    assert [len(f) for f in dev.sent] == [1514, 1514, 14 + 20 + 4008 - 2960]
    for f in dev.sent:
        assert f[0:6] == HOST_MAC and f[6:12] == BOARD_MAC
        assert f[26:30] == bytes(inet_aton(BOARD)) and f[30:34] == bytes(inet_aton(HOST))
        assert iph.hlen(f, 14) == 20 and iph.proto(f, 14) == iph.IPPROTO_UDP and iph.ttl(f, 14) == opts.IP_DEFTTL
    assert [iph.frag(f, 14) for f in dev.sent] == [iph.IP_MF, iph.IP_MF | 185, 370]
    hdr, d = join(dev.sent)
    assert udp_ok(hdr, d) and d[8:] == data and d[0:2] == b"\x13\x88" and d[2:4] == b"\x00\x07"
    assert _ip("ips_fragmented") == f0 + 1 and _ip("ips_ofragments") == o0 + 3
    assert stat("udp", "udps_opackets") == u0 + 1
    assert _full()


def test_largest_udp_datagram_and_what_is_over_it():
    nic, dev = _if()
    s = _sock()
    data = pattern(opts.UDP_SENDSPACE, 5)
    s.sendto(data, (HOST, 7))
    assert len(dev.sent) == 4 and [len(f) for f in dev.sent] == [1514] * 4
    hdr, d = join(dev.sent)
    assert udp_ok(hdr, d) and d[8:] == data
    assert ptest.raises(OSError, s.sendto, bytes(opts.UDP_SENDSPACE + 1), (HOST, 7)).args[0] == socket.EMSGSIZE
    # every size around the fragment boundaries
    for n in (1473, 1480, 1481, 2952, 2953, 2960, 4425):
        dev.sent.clear()
        data = pattern(n, 3)
        s.sendto(data, (HOST, 7))
        assert len(dev.sent) == 1 + (n + 8 - 1) // 1480, n
        hdr, d = join(dev.sent)
        assert udp_ok(hdr, d) and d[8:] == data, n
    assert _full()


def test_the_board_reassembles_what_it_sends():
    """The fragments of a datagram to ourselves (sent to the host, turned round on the wire) come
    back together: both halves agree on offsets, lengths and checksums."""
    nic, dev = _if()
    s = _sock(7000)
    data = pattern(5000, 9)
    s.sendto(data, (HOST, 7000))
    back = []
    for f in dev.sent:
        b = bytearray(f)
        b[0:6], b[6:12] = BOARD_MAC, HOST_MAC
        b[26:30], b[30:34] = f[30:34], f[26:30]  # from the host to us: the same pseudo-header sum
        iph.fill_cksum(b, 14)
        back.append(bytes(b))
    for f in back[::-1]:
        dev.rxq.append(f)
        nic.poll()
    got, addr = s.recvfrom(6000)
    assert got == data and addr == (HOST, 7000)
    assert _full()


def test_raw_datagrams_are_fragmented_too():
    nic, dev = _if()
    s = _sock(raw=1)
    req = echo_request(0x55, 1, pattern(3000))
    s.sendto(req, (HOST, 0))
    assert len(dev.sent) == 3
    hdr, d = join(dev.sent)
    assert iph.proto(hdr, 0) == iph.IPPROTO_ICMP and d == req
    assert ptest.raises(OSError, s.sendto, bytes(opts.IP_MAXREASS + 1), (HOST, 0)).args[0] == socket.EMSGSIZE
    assert _full()


def test_dontfrag_is_emsgsize_over_the_mtu():
    nic, dev = _if()
    s = _sock()
    assert s.getsockopt(socket.IPPROTO_IP, socket.IP_DONTFRAG) == 0
    s.setsockopt(socket.IPPROTO_IP, socket.IP_DONTFRAG, 1)
    assert s.getsockopt(socket.IPPROTO_IP, socket.IP_DONTFRAG) == 1
    c0 = _ip("ips_cantfrag")
    assert ptest.raises(OSError, s.sendto, bytes(1473), (HOST, 7)).args[0] == socket.EMSGSIZE
    assert _ip("ips_cantfrag") == c0 + 1 and dev.sent == []
    s.sendto(bytes(1472), (HOST, 7))
    assert len(dev.sent) == 1 and iph.frag(dev.sent[0], 14) == iph.IP_DF and len(dev.sent[0]) == 1514
    s.setsockopt(socket.IPPROTO_IP, socket.IP_DONTFRAG, 0)
    s.sendto(bytes(1473), (HOST, 7))
    assert len(dev.sent) == 3
    r = _sock(raw=253)
    r.setsockopt(socket.IPPROTO_IP, socket.IP_DONTFRAG, True)
    assert ptest.raises(OSError, r.sendto, bytes(1481), (HOST, 0)).args[0] == socket.EMSGSIZE
    r.sendto(bytes(1480), (HOST, 0))
    assert iph.frag(dev.sent[-1], 14) == iph.IP_DF
    assert _ip("ips_cantfrag") == c0 + 2
    # a datagram with DF that reaches ip_output too large (IP_HDRINCL, forwarding) is dropped there
    m = mbuf.m_get(opts.MAX_LINKHDR)
    b = m.buf
    iph.emit(b, m.off, 20, 0, 0, 0, iph.IP_DF, 64, 253, nic.ia.addr, 0, inet_aton(HOST), 0)
    m.len = 1520
    n = len(dev.sent)
    assert not ip_output.ip_output(nic, m, 0)
    assert _ip("ips_cantfrag") == c0 + 3 and len(dev.sent) == n
    assert _full()


def test_a_short_pool_sends_nothing_and_keeps_nothing():
    nic, dev = _if()
    s = _sock()
    taken = []
    while mbuf.pool_free() > 2:
        taken.append(mbuf.m_get())
    try:
        n0 = stat("udp", "udps_onombuf")
        assert ptest.raises(OSError, s.sendto, bytes(4000), (HOST, 7)).args[0] == socket.ENOBUFS
        assert stat("udp", "udps_onombuf") == n0 + 1 and dev.sent == [] and mbuf.pool_free() == 2
        s.sendto(bytes(2000), (HOST, 7))  # two clusters: enough
        assert len(dev.sent) == 2 and mbuf.pool_free() == 2
    finally:
        for m in taken:
            mbuf.m_free(m)
    assert _full()


def _send_raw(nic, hl, options, payload, frag=0, proto=253):
    m = mbuf.m_get(opts.MAX_LINKHDR)
    b = m.buf
    o = m.off
    iph.emit(b, o, hl, 0, 0, 0, frag, 64, proto, nic.ia.addr, 0, inet_aton(HOST), 0)
    b[o + 20:o + hl] = options
    b[o + hl:o + hl + len(payload)] = payload
    m.len = hl + len(payload)
    return ip_output.ip_output(nic, m, 0)


def test_copy_path_smaller_mtu_options_and_a_fragment_fragmented_again():
    nic, dev = _if()
    nic.mtu = 576
    # a 1000-byte ping: the reply is one cluster over the MTU, so it is copied into fragments
    req = echo_request(0x66, 2, pattern(1000))
    f = cut(req, 2000, 0x42, proto=1)[0]
    dev.rxq.append(f)
    nic.poll()
    assert len(dev.sent) == 2 and all(len(x) <= 14 + 576 for x in dev.sent)
    hdr, d = join(dev.sent)
    assert ich.msg_type(d, 0) == ich.ICMP_ECHOREPLY and in_cksum(d, 0, len(d)) == 0 and d[4:] == req[4:]
    # options: router alert is copied into every fragment, record route only into the first
    dev.sent.clear()
    opt = b"\x94\x04\x00\x00" + b"\x07\x03\x04" + b"\x00"
    payload = pattern(1200, 17)
    assert _send_raw(nic, 28, opt, payload)
    assert [iph.hlen(x, 14) for x in dev.sent] == [28, 24, 24]
    assert dev.sent[0][34:42] == opt and all(x[34:38] == opt[:4] for x in dev.sent[1:])
    hdr, d = join(dev.sent)
    assert d == payload and all(len(x) <= 14 + 576 for x in dev.sent)
    # a fragment (offset 800, MF) fragmented again: its pieces keep their place and the last its MF
    dev.sent.clear()
    assert _send_raw(nic, 20, b"", pattern(1000), frag=iph.IP_MF | 100)
    assert [iph.frag(x, 14) for x in dev.sent] == [iph.IP_MF | 100, iph.IP_MF | (100 + 552 // 8)]
    # and the last fragment of a datagram: its last piece without MF
    dev.sent.clear()
    assert _send_raw(nic, 20, b"", pattern(1000), frag=100)
    assert [iph.frag(x, 14) for x in dev.sent] == [iph.IP_MF | 100, 100 + 552 // 8]
    # UDP over the smaller MTU: the chain is cut for it
    dev.sent.clear()
    s = _sock()
    s.sendto(pattern(1500), (HOST, 7))
    assert len(dev.sent) == 3 and all(len(x) <= 14 + 576 for x in dev.sent)
    hdr, d = join(dev.sent)
    assert udp_ok(hdr, d)
    assert _full()


def test_ip_id_per_datagram_per_destination_and_per_boot():
    nic, dev = _if()
    s = _sock()

    def ids(dst, n):
        k = len(dev.sent)
        for _ in range(n):
            s.sendto(b"id?", (dst, 7))
        return [iph.ident(f, 14) for f in dev.sent[k:]]

    a = ids(HOST, 4)
    assert len(set(a)) == 4  # never the same twice in a row
    assert a == [(a[0] + i) & 0xFFFF for i in range(4)]  # RFC 7739: one counter per destination
    b = ids("192.0.2.9", 2)  # another destination (off link, by the gateway): a counter of its own
    assert b[1] == (b[0] + 1) & 0xFFFF
    # a reboot: a new random table and keys, so the next ID is not the one that was coming
    same = 0
    for _ in range(3):
        nxt = (ids(HOST, 1)[0] + 1) & 0xFFFF
        ip_output.ip_id_init()
        if ids(HOST, 1)[0] == nxt:
            same += 1
    assert same < 3
    firsts = set()
    for _ in range(4):
        ip_output.ip_id_init()
        firsts.add(ids(HOST, 1)[0])
    assert len(firsts) > 1
    assert _full()


def test_heap_per_fragmented_send():
    """Heap per 4000-byte datagram sent in 3 fragments (the device allocation-free)."""
    dev = netfix.ReplayDev(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
    nic, _ = netfix.make_if(dev=dev)
    dev.count = 1
    nic.poll()
    s = _sock()
    data = bytearray(4000)
    addr = (HOST, 7)

    def tx():
        s.sendto(data, addr)

    tx()
    assert dev.last_len == 14 + 20 + 4008 - 2960
    # each piece is copied with bcopy: a memoryview and a slice of it (32 bytes) with the portable
    # one, the MicroPython VM's; nothing with the viper one of a board
    limit = 0 if bcopy.IMPL == "viper" else 3 * 32
    ptest.report_alloc("udp 4000 bytes out in 3 fragments (bcopy %s)" % bcopy.IMPL, tx, limit=limit)
    assert ip_reass.ip_reass_count() == 0 and _full()


def test_chain_checksum_copy_and_truncate():
    """cksum_chain over clusters of any length (odd ones swap the next piece's sum), m_copydata
    across the chain from any offset, m_truncate freeing the clusters past the cut."""
    from bsdnet.in_cksum import cksum_chain, cksum_add, in_cksum_chain

    data = pattern(3001, 29)
    for cuts in ((1500, 1501), (1, 1500, 1500), (7, 993, 1001, 1000), (1000, 1, 1, 999, 1000),
                 (2, 3, 5, 7, 1484, 1500)):
        head = None
        t = None
        a = 0
        for k in cuts:
            m = mbuf.m_get(5 + a % 3)  # pieces at odd and even positions in their clusters
            m.buf[m.off:m.off + k] = data[a:a + k]
            m.len = k
            if head is None:
                head = m
            else:
                t.cont = m
            t = m
            a += k
        for off, n in ((0, 3001), (1, 3000), (3, 1500), (1000, 1), (2999, 2)):
            assert cksum_chain(head, off, n, 0) == cksum_add(data, off, n, 0), (cuts, off, n)
            out = bytearray(n + 2)
            mbuf.m_copydata(head, off, n, out, 1)
            assert out[1:1 + n] == data[off:off + n], (cuts, off, n)
        assert in_cksum_chain(head, 0, 3001, 0x1234) == in_cksum(data, 0, 3001, 0x1234)
        assert mbuf.m_pktlen(head) == 3001 and mbuf.m_clusters(head) == len(cuts)
        mbuf.m_truncate(head, 1000)
        keep = 0
        a = 0
        while a < 1000:
            a += cuts[keep]
            keep += 1
        assert mbuf.m_pktlen(head) == 1000 and mbuf.m_clusters(head) == keep
        assert mbuf.pool_free() == opts.NMBCLUSTERS - keep
        out = bytearray(1000)
        mbuf.m_copydata(head, 0, 1000, out, 0)
        assert out == data[:1000]
        mbuf.m_free(head)
    assert _full()
