# ip_input checks and the ICMP echo server over the fake device.
from bsdnet import opts, mbuf, stats
from bsdnet.stats import stat
from bsdnet.in_cksum import in_cksum
from bsdnet.hdr import ether as eh, arp as ah, ip as iph, icmp as ich
import netfix
import ptest
from netfix import HOST_MAC, BOARD_MAC, arp_frame, echo_frame


def _resolved_if():
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    nic.poll(1000)
    dev.sent.clear()
    return nic, dev


def _check_reply(req, rep):
    assert rep[0:6] == HOST_MAC and rep[6:12] == BOARD_MAC
    assert eh.ethertype(rep, 0) == eh.ETHERTYPE_IP
    assert iph.check(rep, 14, len(rep) - 14) == 0
    assert rep[14 + iph.IP_SRC:14 + iph.IP_SRC + 4] == bytes([10, 7, 0, 2])
    assert rep[14 + iph.IP_DST:14 + iph.IP_DST + 4] == req[14 + iph.IP_SRC:14 + iph.IP_SRC + 4]
    hl = iph.hlen(rep, 14)
    ic = 14 + hl
    n = iph.total_len(rep, 14) - hl
    assert ich.msg_type(rep, ic) == ich.ICMP_ECHOREPLY
    assert in_cksum(rep, ic, n) == 0
    rhl = iph.hlen(req, 14)
    assert rep[ic + 4:ic + n] == req[14 + rhl + 4:14 + iph.total_len(req, 14)]


def test_echo_reply():
    nic, dev = _resolved_if()
    req = echo_frame("10.7.0.1", "10.7.0.2", payload=bytes(range(56)))
    dev.rxq.append(req)
    nic.poll(1001)
    assert len(dev.sent) == 1
    _check_reply(req, dev.sent[0])


def test_echo_with_ip_options_is_answered_without_them():
    nic, dev = _resolved_if()
    req = echo_frame("10.7.0.1", "10.7.0.2", options=b"\x01\x01\x01\x00")
    dev.rxq.append(req)
    nic.poll(1001)
    assert len(dev.sent) == 1
    assert iph.hlen(dev.sent[0], 14) == 20
    _check_reply(req, dev.sent[0])


def test_padded_short_frame_is_trimmed():
    nic, dev = _resolved_if()
    req = echo_frame("10.7.0.1", "10.7.0.2", payload=b"")
    dev.rxq.append(req + b"\0" * (60 - len(req)))  # Ethernet pads to 60
    nic.poll(1001)
    assert len(dev.sent) == 1
    assert iph.total_len(dev.sent[0], 14) == 28


def test_bad_input_is_counted_and_dropped():
    nic, dev = _resolved_if()
    good = echo_frame("10.7.0.1", "10.7.0.2")
    cases = []
    b = bytearray(good)
    b[14 + iph.IP_SUM] ^= 0xFF
    cases.append((bytes(b), "ips_badsum"))
    b = bytearray(good)
    b[14] = 0x65
    cases.append((bytes(b), "ips_badvers"))
    b = bytearray(good)
    b[14] = 0x44
    iph.fill_cksum(b, 14)
    cases.append((bytes(b), "ips_badhlen"))
    cases.append((good[:14 + 12], "ips_toosmall"))
    b = bytearray(good)
    iph.set_total_len(b, 14, 400)
    iph.fill_cksum(b, 14)
    cases.append((bytes(b), "ips_tooshort"))
    cases.append((echo_frame("10.7.0.1", "10.7.0.77"), "ips_cantforward"))
    b = bytearray(echo_frame("10.7.0.1", "10.7.0.2", payload=b"abc"))
    iph.set_frag(b, 14, iph.IP_MF)  # a first fragment whose length is not a multiple of 8
    iph.fill_cksum(b, 14)
    cases.append((bytes(b), "ips_fragdropped"))
    for frame, name in cases:
        before = stat("ip", name)
        dev.rxq.append(frame)
        nic.poll(1002)
        assert stat("ip", name) == before + 1, name
    assert dev.sent == []
    b = bytearray(good)
    b[14 + 20 + 8] ^= 0x55  # a payload byte: the ICMP checksum is now wrong
    before = stat("icmp", "icps_checksum")
    dev.rxq.append(bytes(b))
    nic.poll(1003)
    assert stat("icmp", "icps_checksum") == before + 1
    assert dev.sent == []


def test_no_echo_to_broadcast():
    nic, dev = _resolved_if()
    before = stat("icmp", "icps_bmcastecho")
    dev.rxq.append(echo_frame("10.7.0.1", "10.7.0.255", dmac=b"\xff" * 6))
    nic.poll(1001)
    assert dev.sent == []
    assert stat("icmp", "icps_bmcastecho") == before + 1


def test_frames_not_for_our_mac_are_dropped():
    nic, dev = _resolved_if()
    before = nic.ifstat[stats.stat_index("if", "notforus")]
    dev.rxq.append(echo_frame("10.7.0.1", "10.7.0.2", dmac=b"\x02\x00\x00\x00\x00\x99"))
    nic.poll(1001)
    assert dev.sent == []
    assert nic.ifstat[stats.stat_index("if", "notforus")] == before + 1


def test_reply_to_offlink_goes_to_gateway():
    nic, dev = _resolved_if()  # 10.7.0.1 is the gateway and is resolved
    req = echo_frame("192.0.2.5", "10.7.0.2")
    dev.rxq.append(req)
    nic.poll(1001)
    assert len(dev.sent) == 1 and dev.sent[0][0:6] == HOST_MAC


def test_echo_path_heap():
    """Heap bytes the stack itself allocates per ping answered (device allocation-free)."""
    nic, dev = _resolved_if()
    rdev = netfix.ReplayDev(echo_frame("10.7.0.1", "10.7.0.2", payload=bytes(56)))
    nic.dev = rdev

    def one():
        rdev.count = 1
        nic.poll(1001)

    for _ in range(5):
        one()
    assert rdev.nsent == 5 and rdev.last_len == 14 + 20 + 8 + 56
    per = ptest.report_alloc("stack per ping answered", one, n=50, limit=0)
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    if per is not None:
        print("heap per ping answered (stack only): %d bytes" % per)
