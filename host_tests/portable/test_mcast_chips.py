# The chip's multicast filter, programmed from the stack's groups, on both emulated chips through the
# real drivers: the ENC28J60's hash table (EHT0-7 and ERXFCON.HTEN, DS39662E 8.4) checked bit by bit
# against a CRC-32 computed here from its definition, frames of other groups dropped by the chip
# (or, when their hash collides, by the stack); the W5500's MACRAW with MFEN off (W5500.md #1), the
# stack filtering alone. No chip rule broken (chip.violations), the pool full at the end.
from bsdnet import opts, mbuf, socket, igmp
from bsdnet.netif import Interface
from bsdnet.stats import stat
import ptest
import igmpfix as fx
from igmpfix import HOST, join, leave, igmp_sent
from netfix import BOARD_MAC, udp_frame

G1 = "239.1.2.3"
ALLHOSTS_MAC = b"\x01\x00\x5e\x00\x00\x01"


# --- a reference CRC, from its definition ------------------------------------------------------------
def _crc32(data):
    """CRC-32 of IEEE 802.3 as every FCS is computed: reflected polynomial EDB88320, preset and final
    inversion (CRC-32/ISO-HDLC; its check value: CRC of b"123456789" = CBF43926)."""
    c = 0xFFFFFFFF
    for x in data:
        c ^= x
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def _ref_hash_bit(mac):
    """DS39662E 8.4 / Microchip's SetRXHashTableEntry: the CRC register of the destination address
    (most significant bit first, no final inversion) is the bit reverse of the reflected register
    before its inversion; bits 28:23 of it select the hash table bit."""
    r = _crc32(mac) ^ 0xFFFFFFFF
    n = 0
    for i in range(32):
        if r >> i & 1:
            n |= 1 << (31 - i)
    return (n >> 23) & 0x3F


def _eht(macs):
    t = bytearray(8)
    for m in macs:
        k = _ref_hash_bit(m)
        t[k >> 3] |= 1 << (k & 7)
    return bytes(t)


def test_reference_crc_and_hash_bits_agree_with_driver_and_emulator():
    from bsdnet.dev.enc28j60 import hash_bit as drv_bit
    from emu.enc28j60 import hash_bit as emu_bit

    assert _crc32(b"123456789") == 0xCBF43926
    seen = set()
    for i in range(300):
        mac = bytes(((i * 37) & 0xFF, 0x00, 0x5E, (i * 11) & 0x7F, (i * 101) & 0xFF, (i * 7 + 3) & 0xFF))
        k = _ref_hash_bit(mac)
        assert drv_bit(mac, 0) == k and emu_bit(mac) == k, (mac, k)
        seen.add(k)
    assert len(seen) > 50  # spread over the table
    k = _ref_hash_bit(ALLHOSTS_MAC)
    assert drv_bit(ALLHOSTS_MAC, 0) == k and emu_bit(ALLHOSTS_MAC) == k


# --- the boards ----------------------------------------------------------------------------------
def _board(chip_name):
    if chip_name == "w5500":
        from emu import w5500 as emu
    else:
        from emu import enc28j60 as emu
    chip, spi, cs, rst, intn = emu.make()
    ctor = Interface.w5500 if chip_name == "w5500" else Interface.enc28j60
    nic = ctor(spi, cs, rst=rst, intr=intn, mac=BOARD_MAC)
    nic.active(True)
    nic.ifconfig((fx.BOARD, "255.255.255.0", HOST, "0.0.0.0"))
    out = []
    chip.on_transmit = lambda f: out.append(bytes(f))
    fx.use_clock()
    return nic, chip, emu, out


class _Sent:
    """igmp_sent() over the frames the chip put on the wire."""

    def __init__(self, out):
        self.sent = out
        self.mac = BOARD_MAC


def _collider(mac, k_want, avoid):
    """A group address whose MAC differs from mac but hashes to bit k_want (not in avoid)."""
    for x in range(1, 256):
        for y in range(0, 256, 7):
            g = "239.%d.%d.%d" % ((x + 5) & 0x7F, x, y)
            m = fx.group_mac(g)
            if m != mac and m not in avoid and _ref_hash_bit(m) == k_want:
                return g
    raise AssertionError("no colliding group found")


def _other_bit_group(avoid_bits):
    for y in range(1, 255):
        g = "239.3.3.%d" % y
        if _ref_hash_bit(fx.group_mac(g)) not in avoid_bits:
            return g
    raise AssertionError("no group with a free bit")


def _delta(table, name, fn):
    before = stat(table, name)
    fn()
    return stat(table, name) - before


def test_enc28j60_hash_filter_follows_joins_and_leaves():
    nic, chip, emu, out = _board("enc28j60")
    try:
        r = chip.reg
        assert r(emu.ERXFCON) == 0xA3  # no group yet: every multicast passes (MCEN), the stack keeps all-hosts
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.bind(("0.0.0.0", 5000))
        join(s, G1)
        g1 = fx.group_mac(G1)
        assert r(emu.ERXFCON) == 0xA5  # UCEN | CRCEN | HTEN | BCEN: the hash table from now on
        assert bytes(r(emu.EHT0 + i) for i in range(8)) == _eht([ALLHOSTS_MAC, g1])
        fx.tick(nic)
        assert igmp_sent(_Sent(out)) == [(0x16, G1, G1)]  # the report went out through the chip
        # the group's frames pass the chip and reach the socket
        assert chip.deliver(udp_frame(HOST, G1, 4000, 5000, b"through the hash", dmac=g1))
        fx.tick(nic)
        assert s.recvfrom(100) == (b"through the hash", (HOST, 4000))
        # another group, its bit clear: the chip drops it
        bits = (_ref_hash_bit(ALLHOSTS_MAC), _ref_hash_bit(g1))
        g_other = _other_bit_group(bits)
        f0 = chip.drops["filter"]
        assert not chip.deliver(udp_frame(HOST, g_other, 4000, 5000, b"x", dmac=fx.group_mac(g_other)))
        assert chip.drops["filter"] == f0 + 1
        # a group whose MAC hashes to G1's bit: the chip lets it in, the stack's list drops it
        g_coll = _collider(g1, bits[1], (ALLHOSTS_MAC,))
        assert chip.deliver(udp_frame(HOST, g_coll, 4000, 5000, b"x", dmac=fx.group_mac(g_coll)))
        assert _delta("ether", "mcastfilter", lambda: fx.tick(nic)) == 1
        # a reset (interface down and up) programs the table again
        nic.active(False)
        nic.active(True)
        assert r(emu.ERXFCON) == 0xA5
        assert bytes(r(emu.EHT0 + i) for i in range(8)) == _eht([ALLHOSTS_MAC, g1])
        leave(s, G1)
        assert igmp_sent(_Sent(out)) == [(0x17, G1, "224.0.0.2")]
        assert bytes(r(emu.EHT0 + i) for i in range(8)) == _eht([ALLHOSTS_MAC])
        assert not chip.deliver(udp_frame(HOST, G1, 4000, 5000, b"gone", dmac=g1)) or \
            _ref_hash_bit(g1) == _ref_hash_bit(ALLHOSTS_MAC)
        s.close()
        assert chip.violations == [], chip.violations
        assert mbuf.pool_free() == opts.NMBCLUSTERS
    finally:
        fx.restore_clock()
        igmp.igmp_flush()


def test_enc28j60_igmp_query_passes_the_hash_filter():
    nic, chip, emu, out = _board("enc28j60")
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        join(s, G1)
        fx.tick(nic, 10001)
        del out[:]
        assert chip.deliver(fx.query(code=10))  # to 224.0.0.1: its bit is always set
        fx.tick(nic)
        got = []
        for _ in range(60):
            fx.tick(nic, 20)
            got += igmp_sent(_Sent(out))
        assert got == [(0x16, G1, G1)]
        s.close()
        del out[:]
        assert chip.violations == []
    finally:
        fx.restore_clock()
        igmp.igmp_flush()


def test_w5500_macraw_passes_all_multicast_and_the_stack_keeps_its_groups():
    nic, chip, emu, out = _board("w5500")
    try:
        assert chip.sock[0][emu.SN_MR] == 0x04  # MFEN stays off (W5500.md #1)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setblocking(False)
        s.bind(("0.0.0.0", 5000))
        join(s, G1)
        assert chip.sock[0][emu.SN_MR] == 0x04
        assert nic.mcast.n == 2  # all-hosts and G1 (given to set_multicast, which has nothing to program)
        fx.tick(nic)
        assert igmp_sent(_Sent(out)) == [(0x16, G1, G1)]
        assert chip.deliver(udp_frame(HOST, G1, 4000, 5000, b"macraw", dmac=fx.group_mac(G1)))
        fx.tick(nic)
        assert s.recvfrom(100) == (b"macraw", (HOST, 4000))
        # every other group reaches the driver and is counted by the stack
        assert chip.deliver(udp_frame(HOST, "239.9.9.9", 4000, 5000, b"x", dmac=fx.group_mac("239.9.9.9")))
        assert _delta("ether", "mcastfilter", lambda: fx.tick(nic)) == 1
        twin = "239.129.2.3"  # G1's MAC, another group
        assert chip.deliver(udp_frame(HOST, twin, 4000, 5000, b"x", dmac=fx.group_mac(twin)))
        assert _delta("ip", "ips_notmember", lambda: fx.tick(nic)) == 1
        e = ptest.raises(OSError, s.recv, 10)
        assert e.args[0] == socket.EAGAIN
        s.close()
        assert nic.mcast.n == 1
        del out[:]
        assert getattr(chip, "violations", []) == []
        assert mbuf.pool_free() == opts.NMBCLUSTERS
    finally:
        fx.restore_clock()
        igmp.igmp_flush()
