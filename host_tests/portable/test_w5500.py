# W5500 MACRAW driver (lib/bsdnet/dev/w5500.py) against the SPI-level chip model (tools/emu/w5500.py).
# Portable: pytest and the MicroPython VM. Every test ends with chip.violations == [] (the driver never
# uses the chip illegally), checked in _done().
import errno

import ptest
from bsdnet.compat import ticks_ms, ticks_diff
from bsdnet.dev.w5500 import W5500
from emu import w5500 as emu
from emu.spi import SPI, Pin, FloatingBus

MAC = b"\x02\x00\x00\xaa\xbb\x01"
PEER = b"\x02\x00\x00\xcc\xdd\x02"
BCAST = b"\xff\xff\xff\xff\xff\xff"


def _board(mac=MAC, intr=False, **kw):
    chip, spi, cs, rst, intn = emu.make(**kw)
    drv = W5500(spi, cs, rst=rst, intr=intn if intr else None, mac=mac)
    drv.init()
    return chip, drv


def _done(chip):
    assert chip.violations == [], chip.violations


def _frame(n, seq=0, dst=MAC, src=PEER, etype=0x0800):
    f = bytearray(n)
    for i in range(6):
        f[i] = dst[i]
        f[6 + i] = src[i]
    f[12] = etype >> 8
    f[13] = etype & 0xFF
    for i in range(14, n):
        f[i] = (i * 7 + seq * 13) & 0xFF
    return f


_FR = [_frame(100 + i) for i in range(40)]


class Sink:
    """The wire side of on_transmit: keeps a copy of every frame the chip puts on the wire."""

    def __init__(self, chip):
        self.frames = []
        chip.on_transmit = self.take

    def take(self, f):
        self.frames.append(bytes(f))


# ---------------------------------------------------------------------------------------- bring-up
def test_init_programs_the_chip():
    lows = []

    chip, spi, cs, rst, intn = emu.make()

    def on_rst(level):
        lows.append((level, ticks_ms()))
        chip.rst_changed(level)

    rst.on_change = on_rst
    chip.common[0x01] = 0x55  # GAR: a stale value the reset must clear
    drv = W5500(spi, cs, rst=rst, mac=MAC)
    drv.init()
    assert [x[0] for x in lows] == [0, 1]
    assert chip.resets == 2  # RSTn pulse, then MR.RST
    assert ticks_diff(lows[1][1], lows[0][1]) >= 1  # RSTn held low >= 1 ms
    c = chip.common
    assert c[0x01] == 0
    assert c[emu.MR] == 0x10  # PB: the hardware engine does not answer ping
    assert bytes(c[emu.SHAR:emu.SHAR + 6]) == MAC
    assert bytes(c[emu.SIPR:emu.SIPR + 4]) == b"\x00\x00\x00\x00"
    assert c[emu.SIMR] == 0
    s0 = chip.sock[0]
    assert s0[emu.SN_MR] == 0x04  # MACRAW, MFEN off (multicast must pass)
    assert s0[emu.SN_SR] == emu.SOCK_MACRAW
    assert s0[emu.SN_RXBUF_SIZE] == 16 and s0[emu.SN_TXBUF_SIZE] == 16
    for n in range(1, 8):
        assert chip.sock[n][emu.SN_RXBUF_SIZE] == 0 and chip.sock[n][emu.SN_TXBUF_SIZE] == 0
    assert chip.rx_size[0] == 16384 and chip.tx_size[0] == 16384
    assert drv.mac == MAC
    assert drv.link_up()
    assert drv.recv_into(bytearray(1514)) == 0
    assert not drv.pending()
    _done(chip)


def test_init_with_interrupt_pin_and_slow_chip():
    # MR.RST visible for 5 reads, Sn_CR clearing only after 3 reads: the driver polls, bounded
    chip, drv = _board(intr=True, rst_polls=5, cr_delay=3)
    assert chip.sock[0][emu.SN_IMR] == 0x04
    assert chip.common[emu.SIMR] == 0x01
    assert chip.sock[0][emu.SN_SR] == emu.SOCK_MACRAW
    assert drv.intr.value() == 1
    sink = Sink(chip)
    f = _frame(100)
    assert drv.send(f, len(f))
    assert chip.deliver(_frame(80, 1))
    assert drv.pending()
    buf = bytearray(1514)
    n = drv.recv_into(buf)
    assert n == 80 and buf[:n] == _frame(80, 1)
    assert drv.send(f, len(f))
    assert len(sink.frames) == 1  # SEND runs when Sn_CR clears, after 3 reads of it
    assert drv.recv_into(buf) == 0  # the query polls Sn_CR
    assert sink.frames == [bytes(f), bytes(f)]
    _done(chip)


def test_default_mac_is_local_unicast():
    chip, spi, cs, rst, intn = emu.make()
    drv = W5500(spi, cs, rst=rst)
    assert len(drv.mac) == 6
    assert drv.mac[0] & 0x02 and not drv.mac[0] & 0x01
    drv.init()
    assert bytes(chip.common[emu.SHAR:emu.SHAR + 6]) == drv.mac
    ptest.raises(ValueError, W5500, spi, cs, None, None, b"\x01\x00\x00\x00\x00\x01")
    ptest.raises(ValueError, W5500, spi, cs, None, None, b"\x02\x00")
    _done(chip)


def test_no_chip_raises_enodev():
    for level in (0x00, 0xFF):
        cs = Pin("CS", 1)
        spi = SPI(FloatingBus(level), cs)
        drv = W5500(spi, cs, mac=MAC)
        t0 = ticks_ms()
        e = ptest.raises(OSError, drv.init)
        assert e.args[0] == errno.ENODEV
        msg = e.args[1]
        assert msg == "W5500: VERSIONR read 0x%02x, expected 0x04 (is the chip wired and powered?)" % level, msg
        assert ticks_diff(ticks_ms(), t0) < 2000  # bounded


# ---------------------------------------------------------------------------------------- send
def test_send_emits_the_frame_exactly_and_pads_short_ones():
    chip, drv = _board()
    sink = Sink(chip)
    arp = _frame(42, 1, dst=BCAST)  # 42-byte ARP: the chip pads to 60 on the wire
    full = _frame(1514, 2)
    mid = _frame(300, 3)
    big = bytearray(1536)  # a cluster larger than the frame: only buf[0:n] goes out
    big[:200] = _frame(200, 4)
    for b in (big,):
        for i in range(200, 1536):
            b[i] = 0xEE
    assert drv.send(arp, 42)
    assert drv.send(full, 1514)
    assert drv.send(mid, 300)
    assert drv.send(big, 200)
    assert drv.send(memoryview(big), 200)
    assert len(sink.frames) == 5
    assert sink.frames[0] == bytes(arp) + bytes(18)
    assert sink.frames[1] == bytes(full)
    assert sink.frames[2] == bytes(mid)
    assert sink.frames[3] == bytes(big[:200])
    assert sink.frames[4] == bytes(big[:200])
    assert drv.tx_frames == 5 and drv.tx_bytes == 42 + 1514 + 300 + 200 + 200
    assert drv.tx_errors == 0
    assert chip.tx_frames == 5
    ptest.raises(ValueError, drv.send, full, 1515)
    ptest.raises(ValueError, drv.send, bytearray(1600), 1515)
    ptest.raises(ValueError, drv.send, full, 1600)
    _done(chip)


# ---------------------------------------------------------------------------------------- receive
def test_receive_frames_exactly():
    chip, drv = _board()
    sizes = (60, 61, 64, 100, 1000, 1514, 77)
    for i, n in enumerate(sizes):
        assert chip.deliver(_frame(n, i))
    assert drv.pending()
    buf = bytearray(1536)
    for i, n in enumerate(sizes):
        got = drv.recv_into(buf)
        assert got == n, (i, got, n)
        assert buf[:n] == _frame(n, i)
    assert drv.recv_into(buf) == 0
    assert not drv.pending()
    assert drv.rx_frames == len(sizes) and drv.rx_bytes == sum(sizes)
    assert drv.rx_errors == 0 and drv.rx_dropped == 0
    # the chip itself keeps runts and giants off (section 5 / 12 #10)
    assert not chip.deliver(_frame(59))
    assert not chip.deliver(bytearray(1515))
    assert chip.drop_runt == 1 and chip.drop_giant == 1
    assert drv.recv_into(buf) == 0
    _done(chip)


def test_software_filter_keeps_ours_broadcast_multicast():
    chip, drv = _board()
    mcast4 = b"\x01\x00\x5e\x00\x00\xfb"  # mDNS group: MFEN=1 would drop it (section 12 #1)
    mcast6 = b"\x33\x33\x00\x00\x00\x01"
    other = b"\x02\x00\x00\x99\x99\x99"
    frames = [_frame(80, 0), _frame(70, 1, dst=other), _frame(90, 2, dst=BCAST), _frame(100, 3, dst=mcast4),
              _frame(64, 4, dst=other), _frame(110, 5, dst=mcast6, etype=0x86DD)]
    for f in frames:
        assert chip.deliver(f)
    buf = bytearray(1536)
    got = []
    while True:
        n = drv.recv_into(buf)
        if not n:
            break
        got.append(bytes(buf[:n]))
    assert got == [bytes(frames[i]) for i in (0, 2, 3, 5)]
    assert drv.rx_dropped == 2
    assert drv.rx_frames == 4
    _done(chip)


def test_frame_longer_than_buffer_is_dropped_and_counted():
    chip, drv = _board()
    chip.deliver(_frame(600, 1))
    chip.deliver(_frame(100, 2))
    small = bytearray(200)
    assert drv.recv_into(small) == 100
    assert small[:100] == _frame(100, 2)
    assert drv.rx_dropped == 1
    _done(chip)


def test_pointer_and_buffer_wrap_around():
    # pointers start just below 0xFFFF: the 16-bit counters wrap at once, and > 64 KB each way makes the
    # 16 KB buffers wrap several times, with headers and frames straddling the end
    chip, drv = _board(pointer_start=0xFFF0, cr_delay=2)  # Sn_CR clears after 2 reads: polled
    sink = Sink(chip)
    buf = bytearray(1536)
    total = 0
    sent = []
    for i in range(120):
        n = 60 + (i * 397) % 1455
        f = _frame(n, i)
        assert chip.deliver(f)
        if i % 3 == 0:
            chip.deliver(_frame(61 + i % 5, i + 1000))
        got = drv.recv_into(buf)
        assert got == n and buf[:n] == f, i
        if i % 3 == 0:
            m = 61 + i % 5
            assert drv.recv_into(buf) == m and buf[:m] == _frame(m, i + 1000)
        total += n + 2
        t = _frame(n, i + 5000, dst=PEER, src=MAC)
        assert drv.send(t, n)
        sent.append(bytes(t))
    assert total > 65536
    assert chip.rx_wr[0] != 0xFFF0
    assert drv.recv_into(buf) == 0  # polls Sn_CR: the last SEND runs
    assert sink.frames == sent
    assert drv.rx_errors == 0 and drv.tx_errors == 0
    _done(chip)


def test_rx_overflow_when_driver_is_slow_then_recovers():
    chip, drv = _board()
    stored = []
    i = 0
    while True:
        f = _frame(1000, i)
        if not chip.deliver(f):
            break
        stored.append(f)
        i += 1
    assert len(stored) == 16  # 16 records of 1002 bytes fit in 16 KB, the 17th does not
    for k in range(5):
        assert not chip.deliver(_frame(1000, 100 + k))
    assert chip.drop_overflow == 6
    buf = bytearray(1536)
    for f in stored:
        n = drv.recv_into(buf)
        assert n == 1000 and buf[:n] == f
    assert drv.recv_into(buf) == 0
    assert drv.overflows == 1  # found without room for a full-size frame once
    assert drv.rx_errors == 0
    # room again: traffic flows
    for k in range(20):
        assert chip.deliver(_frame(1400, 200 + k))
        assert drv.recv_into(buf) == 1400 and buf[:1400] == _frame(1400, 200 + k)
    _done(chip)


# ---------------------------------------------------------------------------------------- link
def test_link_down_send_fails_bounded_then_recovers():
    chip, drv = _board()
    sink = Sink(chip)
    f = _frame(100, 1, dst=PEER)
    chip.set_link(False)
    assert not drv.link_up()
    t0 = ticks_ms()
    x0 = chip.selects
    assert not drv.send(f, 100)
    assert chip.selects - x0 == 1  # one query saw PHYCFGR.LNK = 0
    assert ticks_diff(ticks_ms(), t0) < 500
    assert drv.tx_errors == 1 and sink.frames == []
    assert not chip.deliver(_frame(80))  # nothing arrives either
    chip.set_link(True)
    assert drv.link_up()
    assert drv.send(f, 100)
    assert sink.frames == [bytes(f)]
    _done(chip)


def test_link_drops_while_sending():
    # SEND is accepted, the link goes down before it runs: the chip drops the frame, no SENDOK.
    # The next send sees the link down; once it is back, the empty buffer without SENDOK is counted
    # and sending goes on without a reset.
    chip, drv = _board(cr_delay=1)
    sink = Sink(chip)
    f = _frame(100, 1, dst=PEER)
    assert drv.send(f, 100)
    chip.set_link(False)
    assert not drv.send(f, 100)
    chip.set_link(True)
    assert drv.send(f, 100)
    assert drv.send(f, 100)
    chip.cr_delay = 0
    assert drv.send(f, 100)
    assert len(sink.frames) == 3
    assert chip.tx_dropped == 1
    assert drv.reopens == 0
    assert drv.tx_errors == 2  # the link-down refusal and the frame the chip dropped
    _done(chip)


def test_sendok_never_comes():
    chip, drv = _board()
    sink = Sink(chip)
    f = _frame(200, 1, dst=PEER)
    chip.tx_hold = True
    assert drv.send(f, 200)  # queued in the chip; it never completes
    t0 = ticks_ms()
    assert not drv.send(f, 200)
    assert ticks_diff(ticks_ms(), t0) < 1000  # bounded wait
    assert drv.tx_errors == 1 and drv.reopens == 1
    chip.tx_hold = False
    assert drv.send(f, 200)
    assert drv.send(f, 200)
    assert sink.frames == [bytes(f), bytes(f)]
    chip.deliver(_frame(70))
    assert drv.recv_into(bytearray(1536)) == 70
    _done(chip)


# ---------------------------------------------------------------------------------------- errors
def _corrupt_next_header(chip, value):
    rd = chip.rx_rdc[0]
    chip.rxmem[chip.rx_phys(rd)] = value >> 8
    chip.rxmem[chip.rx_phys(rd + 1)] = value & 0xFF


def test_garbage_length_recovery():
    for bad in (0x0000, 0xFFFF, 0x0030, 1517):
        chip, drv = _board(pointer_start=0x3FF0)
        buf = bytearray(1536)
        chip.deliver(_frame(100, 1))
        chip.deliver(_frame(120, 2))
        _corrupt_next_header(chip, bad)
        assert drv.recv_into(buf) == 0
        assert drv.rx_errors == 1 and drv.reopens == 1
        assert chip.sock[0][emu.SN_SR] == emu.SOCK_MACRAW
        assert drv.recv_into(buf) == 0  # the reopen flushed the untrusted buffer
        chip.deliver(_frame(130, 3))
        assert drv.recv_into(buf) == 130 and buf[:130] == _frame(130, 3)
        assert drv.rx_errors == 1
        _done(chip)


def test_length_beyond_rsr_waits_then_recovers():
    # a header that claims more than RSR holds (section 12 #8): never read past RX_WR; if it never
    # completes, it is garbage after a bounded number of looks
    chip, drv = _board()
    buf = bytearray(1536)
    chip.deliver(_frame(100, 1))
    _corrupt_next_header(chip, 1000)  # plausible, but only 102 bytes are there
    for _ in range(10):
        assert drv.recv_into(buf) == 0
    assert drv.rx_errors == 0
    for _ in range(100):
        drv.recv_into(buf)
    assert drv.rx_errors == 1 and drv.reopens == 1
    chip.deliver(_frame(90, 2))
    assert drv.recv_into(buf) == 90
    _done(chip)


def test_recv_that_times_out_never_reads_past_rx_wr():
    # The chip holds one RECV in Sn_CR for `hold` reads of it: longer than the driver's bounded poll,
    # so the commits behind it give up with RX_RD and RECV unwritten. RSR then counts from the chip's
    # older RX_RD while the driver's copy is ahead; the driver takes the chip's RX_RD along with RSR and
    # never reads beyond RX_WR (#8: the model makes such a read a violation, asserted by _done). Every
    # frame arrives once, in order, and nothing is reset. The sweep of hold values puts the RECV's end
    # in each of the driver's polls: in a commit, in a query, between them. (A driver that used RSR from
    # its own RX_RD read a header past RX_WR with holds of 1200-1300 reads, 200 polls per wait.)
    first = [_frame(1400, i) for i in range(10)]  # 3 records pass _COMMIT_AT: commits mid-burst
    later = [_frame(300 + i, 100 + i) for i in range(3)]
    buf = bytearray(1536)
    for hold in range(100, 3100, 100):
        chip, drv = _board()
        for f in first:
            assert chip.deliver(f)
        chip.hold_next(emu.CMD_RECV, hold)
        got = []
        for _ in range(len(first) + 40):
            n = drv.recv_into(buf)
            if n:
                got.append(bytes(buf[:n]))
            if len(got) == len(first):
                break
        assert got == [bytes(f) for f in first], (hold, len(got))
        for f in later:
            assert chip.deliver(f)
        for _ in range(40):
            n = drv.recv_into(buf)
            if n:
                got.append(bytes(buf[:n]))
            if len(got) == len(first) + len(later):
                break
        assert got == [bytes(f) for f in first + later], (hold, len(got))
        assert drv.recv_into(buf) == 0 and not drv.pending()
        assert drv.rx_errors == 0 and drv.reopens == 0, hold
        assert chip.stale_reads == 0
        assert chip._rsr(0) == 0  # everything read was handed back in the end
        _done(chip)


def test_emulator_read_beyond_rx_wr_is_a_violation():
    chip, drv = _board(pointer_start=0x1000)
    chip.deliver(_frame(100, 1))
    spi = drv._spi
    cs = drv._cs
    assert _raw(spi, cs, b"\x10\x00\x18", 102)[3:5] == b"\x00\x66"  # the whole record: fine
    assert chip.violations == []
    _raw(spi, cs, b"\x10\x00\x18", 103)  # one byte more
    assert len(chip.violations) == 1 and "beyond RX_WR" in chip.violations[0], chip.violations
    _raw(spi, cs, b"\x10\x66\x1a\x00\x00")  # a header where no record is yet (FDM, 2 bytes)
    assert len(chip.violations) == 2 and chip.stale_reads == 2
    assert chip.counters()["violations"] == 2
    del chip.violations[:]
    assert drv.recv_into(bytearray(1536)) == 100
    _done(chip)


# ---------------------------------------------------------------------------------------- two-read rule
def _raw_rsr_once(spi, cs):
    b = bytearray(5)
    cs.value(0)
    spi.write_readinto(bytearray(b"\x00\x26\x0a\x00\x00"), b)
    cs.value(1)
    return (b[3] << 8) | b[4]


def test_torture_mode_tears_single_reads():
    # the model really changes RSR between the two byte reads: a single read sees neither value
    chip, spi, cs, rst, intn = emu.make(torture=True)
    drv = W5500(spi, cs, rst=rst, mac=MAC)
    drv.init()
    seen = []
    old = 0
    for i in range(8):
        chip.deliver(_frame(300, i))
        v = _raw_rsr_once(spi, cs)
        new = chip._rsr(0)
        seen.append((old, v, new))
        old = new
    assert chip.torn_reads > 0
    assert [s for s in seen if s[1] != s[2]], seen  # at least one torn value read
    assert [s for s in seen if s[1] > s[2]], seen  # ... and one above the truth (high byte first)
    _done(chip)


def test_torture_two_read_rule_keeps_driver_correct():
    chip, drv = _board(torture=True, pointer_start=0xFF00)
    sink = Sink(chip)
    buf = bytearray(1536)
    expect = []
    got = []
    for i in range(60):
        for k in range(i % 4 + 1):
            f = _frame(200 + ((i * 5 + k * 37) % 300), i * 10 + k)
            chip.deliver(f)
            expect.append(bytes(f))
        for _ in range(i % 3 + 1):
            n = drv.recv_into(buf)
            if n:
                got.append(bytes(buf[:n]))
        t = _frame(100 + i * 7, i, dst=PEER, src=MAC)
        assert drv.send(t, len(t))
    for _ in range(300):
        n = drv.recv_into(buf)
        if not n:
            break
        got.append(bytes(buf[:n]))
    chip.settle()
    assert got == expect
    assert len(sink.frames) == 60
    assert chip.torn_reads > 10, chip.torn_reads
    assert drv.rx_errors == 0 and drv.tx_errors == 0 and drv.reopens == 0
    _done(chip)


# ---------------------------------------------------------------------------------------- interrupts
def test_intn_pending_and_sendok_does_not_stick():
    chip, drv = _board(intr=True)
    sink = Sink(chip)
    buf = bytearray(1536)
    assert not drv.pending() and drv.intr.value() == 1
    chip.deliver(_frame(100, 1))
    assert drv.intr.value() == 0 and drv.pending()
    assert drv.recv_into(buf) == 100
    assert drv.recv_into(buf) == 0
    assert drv.intr.value() == 1 and not drv.pending()
    # SENDOK sets Sn_IR but Sn_IMR enables RECV only: INTn stays high (no wake-up per sent frame),
    # and the driver still sees SENDOK when it polls Sn_IR before the next send
    f = _frame(100, 2, dst=PEER)
    assert drv.send(f, 100)
    assert drv.intr.value() == 1 and not drv.pending()
    assert drv.recv_into(buf) == 0
    assert drv.send(f, 100)
    assert len(sink.frames) == 2 and drv.tx_errors == 0
    # a frame that lands after the drain asserts INTn again
    chip.deliver(_frame(90, 3))
    assert drv.pending()
    assert drv.recv_into(buf) == 90
    _done(chip)


# ---------------------------------------------------------------------------------------- budgets
def test_spi_transactions_per_frame():
    chip, drv = _board()
    sink = Sink(chip)
    buf = bytearray(1536)
    f = _frame(500, 1)
    n = 40
    # one frame at a time: query, frame, commit
    x0, s0 = drv.spi_xfers, chip.selects
    for _i in range(n):
        chip.deliver(f)
        assert drv.recv_into(buf) == 500
    rx_one = (chip.selects - s0) / n
    assert drv.spi_xfers - x0 == chip.selects - s0  # the driver counts every CS transaction
    # a burst of 8 waiting frames
    x0, s0 = drv.spi_xfers, chip.selects
    for _i in range(n // 8):
        for _k in range(8):
            chip.deliver(f)
        for _k in range(8):
            assert drv.recv_into(buf) == 500
    rx_burst = (chip.selects - s0) / n
    # the empty look that ends a drain
    s0 = chip.selects
    assert drv.recv_into(buf) == 0
    rx_empty = chip.selects - s0
    t = _frame(500, 2, dst=PEER)
    s0 = chip.selects
    for _i in range(n):
        assert drv.send(t, 500)
    tx_one = (chip.selects - s0) / n
    assert len(sink.frames) == n
    print("W5500 SPI transactions: rx %.2f/frame one at a time, %.2f/frame in bursts of 8, "
          "%d per empty look; tx %.2f/frame" % (rx_one, rx_burst, rx_empty, tx_one))
    assert rx_one <= 3
    assert rx_burst <= 2
    assert rx_empty == 1
    assert tx_one <= 3
    _done(chip)


def test_heap_per_frame():
    chip, drv = _board()
    buf = bytearray(1536)
    f = _frame(100, 1)
    for _ in range(60):  # pre-filled: what is measured is the driver (and the chip's SPI side)
        assert chip.deliver(f)

    def rx():
        assert drv.recv_into(buf) == 100

    ptest.report_alloc("W5500 recv_into per frame (frames waiting)", rx, n=50, limit=0)
    while drv.recv_into(buf):
        pass

    def rx_one():
        chip.deliver(f)
        drv.recv_into(buf)

    ptest.report_alloc("W5500 deliver + recv_into per frame (chip model included)", rx_one, n=50, limit=0)
    sizes = [0]

    def rx_varying():
        # each frame a new length: machine.SPI.readinto has no length argument, so one memoryview
        # slice of the caller's buffer per frame (16 bytes on MicroPython)
        sizes[0] = (sizes[0] + 1) % 40
        chip.deliver(_FR[sizes[0]])
        drv.recv_into(buf)

    ptest.report_alloc("W5500 recv_into per frame, length changing every frame", rx_varying, n=39, limit=16)
    t = _frame(300, 2, dst=PEER)
    cluster = bytearray(1536)
    cluster[:300] = t

    def tx():
        drv.send(cluster, 300)

    ptest.report_alloc("W5500 send per frame", tx, n=50, limit=0)

    def idle():
        drv.recv_into(buf)
        drv.pending()
        drv.link_up()

    ptest.report_alloc("W5500 empty recv_into + pending + link_up", idle, n=50, limit=0)
    assert drv.tx_errors == 0
    _done(chip)


_TOP = 0x1FFFFFFF  # the drivers' counters wrap below 2**29 (an increment never makes a big int)


def test_counters_wrap_below_2_29():
    from bsdnet.dev import COUNTERS

    chip, drv = _board()
    sink = Sink(chip)
    names = list(COUNTERS) + ["reopens"]
    assert sorted(drv.counters()) == sorted(names)
    for k in names:
        setattr(drv, k, _TOP)
    buf = bytearray(1536)
    assert chip.deliver(_frame(100, 1))
    assert drv.recv_into(buf) == 100
    assert drv.rx_frames == 0 and drv.rx_bytes == 99  # (2**29 - 1 + 100) mod 2**29
    assert drv.spi_xfers < 10
    t = _frame(300, 2, dst=PEER)
    assert drv.send(t, 300) and sink.frames == [bytes(t)]
    assert drv.tx_frames == 0 and drv.tx_bytes == 299
    assert chip.deliver(_frame(80, 3, dst=b"\x02\x00\x00\x99\x99\x99"))  # unicast for another station
    assert drv.recv_into(buf) == 0 and drv.rx_dropped == 0
    chip.deliver(_frame(100, 4))
    _corrupt_next_header(chip, 0xFFFF)  # garbage length: an rx error and a reopen
    assert drv.recv_into(buf) == 0 and drv.rx_errors == 0 and drv.reopens == 0
    chip.set_link(False)
    assert not drv.send(t, 300) and drv.tx_errors == 0
    chip.set_link(True)
    while True:  # the overflow count: a buffer found without room for a full-size frame
        if not chip.deliver(_frame(1000, 5)):
            break
    assert drv.recv_into(buf) == 1000 and drv.overflows == 0
    while drv.recv_into(buf):
        pass
    for k in names:
        assert 0 <= getattr(drv, k) < 2 ** 16, (k, getattr(drv, k))
    _done(chip)


def test_heap_per_frame_with_counters_at_the_wrap():
    # counters just below the wrap: the frames measured carry every counter across it, and the heap
    # per frame is what test_heap_per_frame measures with them small (0)
    chip, drv = _board()
    buf = bytearray(1536)
    f = _frame(100, 1)
    t = _frame(300, 2, dst=PEER)
    other = _frame(100, 3, dst=b"\x02\x00\x00\x99\x99\x99")
    names = ("rx_frames", "rx_bytes", "tx_frames", "tx_bytes", "rx_dropped", "spi_xfers")

    def near_top():
        for k in names:
            setattr(drv, k, _TOP - 20)

    def rx():
        chip.deliver(f)
        drv.recv_into(buf)

    def rx_other():
        chip.deliver(other)
        drv.recv_into(buf)

    def tx():
        drv.send(t, 300)

    for what, fn, moved in (("receive", rx, ("rx_frames", "rx_bytes")), ("send", tx, ("tx_frames", "tx_bytes")),
                            ("drop (not our MAC)", rx_other, ("rx_dropped",))):
        near_top()
        for _ in range(25):
            fn()
        for k in moved + ("spi_xfers",):
            assert getattr(drv, k) < 2 ** 16, (what, k)  # wrapped
        near_top()
        ptest.report_alloc("W5500 %s per frame, counters crossing 2**29" % what, fn, n=50, limit=0)
    _done(chip)


# ---------------------------------------------------------------------------------------- the model itself
def _raw(spi, cs, hdr, data_len=0, write=None):
    tx = bytearray(hdr) + (bytearray(write) if write is not None else bytearray(data_len))
    rx = bytearray(len(tx))
    cs.value(0)
    spi.write_readinto(tx, rx)
    cs.value(1)
    return rx


def test_emulator_spi_framing_and_violations():
    chip, spi, cs, rst, intn = emu.make()
    rx = _raw(spi, cs, b"\x00\x39\x00", 1)  # VERSIONR, VDM
    assert bytes(rx) == b"\x01\x02\x03\x04"  # MISO 01 02 03 during the header
    # FDM frames chained while CS stays low: VERSIONR (1 byte), RTR (2 bytes), RCR
    rx = _raw(spi, cs, b"\x00\x39\x01\x00\x00\x19\x02\x00\x00\x00\x1b\x01\x00")
    assert rx[3] == 0x04 and rx[7] == 0x07 and rx[8] == 0xD0 and rx[12] == 0x08
    assert rx[4:7] == b"\x01\x02\x03"
    assert _raw(spi, cs, b"\x00\x2e\x00", 1)[3] == 0xBF  # PHYCFGR: B8 + link, 100M, full
    chip.set_link(False)
    assert _raw(spi, cs, b"\x00\x2e\x00", 1)[3] == 0xB8
    chip.set_link(True)
    _raw(spi, cs, b"\x00\x2e\x04", write=b"\x38")  # PHYCFGR.RST = 0: PHY in reset, no link
    assert _raw(spi, cs, b"\x00\x2e\x00", 1)[3] == 0x38
    _raw(spi, cs, b"\x00\x2e\x04", write=b"\xb8")
    assert _raw(spi, cs, b"\x00\x2e\x00", 1)[3] == 0xBF
    # FDM 4-byte write then FDM 2-byte read in one CS: SHAR[0..3], then SHAR[2..3]
    rx = _raw(spi, cs, b"\x00\x09\x07\x11\x22\x33\x44\x00\x0b\x02\x00\x00")
    assert rx[10:12] == b"\x33\x44" and rx[7:10] == b"\x01\x02\x03"
    assert _raw(spi, cs, b"\x00\x20\x08", 2)[3:] == b"\x08\x00"  # Sn_TX_FSR reset 0800
    assert _raw(spi, cs, b"\x00\x2c\x08", 1)[3] == 0xFF  # Sn_IMR reset FF
    assert chip.violations == []
    assert _raw(spi, cs, b"\x00\x00\x20", 2)[3:] == b"\x00\x00"  # reserved block reads 00
    assert len(chip.violations) == 1 and "reserved" in chip.violations[0]
    _raw(spi, cs, b"\x00\x39\x04", write=b"\x05")  # VERSIONR is read-only
    assert "read-only" in chip.violations[1]
    assert _raw(spi, cs, b"\x00\x39\x00", 1)[3] == 0x04
    # MR: bits read back as written; RST resets everything
    _raw(spi, cs, b"\x00\x00\x04", write=b"\x12")
    assert _raw(spi, cs, b"\x00\x00\x00", 1)[3] == 0x12
    _raw(spi, cs, b"\x00\x09\x04", write=MAC)
    _raw(spi, cs, b"\x00\x00\x04", write=b"\x80")
    assert _raw(spi, cs, b"\x00\x00\x00", 1)[3] == 0x00
    assert _raw(spi, cs, b"\x00\x09\x00", 6)[3:] == bytes(6)  # SHAR back to 0 (section 12 #3)
    del chip.violations[:]
    # command while Sn_CR still busy
    chip.cr_delay = 2
    _raw(spi, cs, b"\x00\x01\x0c", write=b"\x10")
    _raw(spi, cs, b"\x00\x01\x0c", write=b"\x10")
    assert len(chip.violations) == 1 and "Sn_CR" in chip.violations[0]
    del chip.violations[:]
    # CS rising inside the header
    cs.value(0)
    spi.write(b"\x00")
    cs.value(1)
    assert len(chip.violations) == 1
    del chip.violations[:]


def test_emulator_buffer_mapping_and_filters():
    chip, drv = _board()
    spi = drv._spi
    cs = drv._cs
    # offsets map to base + (offset & 0x3FFF) and a burst wraps inside the socket buffer
    w = bytearray(b"\xaa\xbb\xcc\xdd")
    chip.sock[0][emu.SN_TX_WR] = 0xFF  # make the write legal: TX_WR at 0xFFFE
    chip.sock[0][emu.SN_TX_WR + 1] = 0xFE
    chip.tx_rd[0] = 0xFFFE
    _raw(spi, cs, b"\xff\xfe\x14", write=w)
    assert chip.txmem[0x3FFE] == 0xAA and chip.txmem[0x3FFF] == 0xBB
    assert chip.txmem[0] == 0xCC and chip.txmem[1] == 0xDD
    assert _raw(spi, cs, b"\x3f\xfe\x10", 4)[3:] == w  # same bytes through another alias
    # MFEN: only broadcast and DA == SHAR (multicast dropped, section 12 #1); BCASTB, MMB, MIP6B
    sr = chip.sock[0]
    sr[emu.SN_MR] = 0x84
    assert not chip.deliver(_frame(80, dst=b"\x01\x00\x5e\x00\x00\x01"))
    assert not chip.deliver(_frame(80, dst=PEER))
    assert chip.deliver(_frame(80, dst=MAC)) and chip.deliver(_frame(80, dst=BCAST))
    sr[emu.SN_MR] = 0x44
    assert not chip.deliver(_frame(80, dst=BCAST))
    sr[emu.SN_MR] = 0x24
    assert not chip.deliver(_frame(80, dst=b"\x01\x00\x5e\x00\x00\x01"))
    assert chip.deliver(_frame(80, dst=BCAST))
    sr[emu.SN_MR] = 0x14
    assert not chip.deliver(_frame(80, etype=0x86DD))
    assert chip.drop_filtered == 5
    _done(chip)


class _ByteOnly:
    """The chip seen one byte at a time (no spi_xfer fast path), as rp2040js feeds it."""

    def __init__(self, chip):
        self.chip = chip

    def spi_select(self):
        self.chip.spi_select()

    def spi_deselect(self):
        self.chip.spi_deselect()

    def spi_byte(self, b):
        return self.chip.spi_byte(b)


def test_byte_by_byte_path_and_headers_straddling_the_end():
    # pointers at 0x3FFF / 0xFFFF: the first header has one byte at the end of the 16 KB buffer and one
    # at its start (and at 0xFFFF, across the 16-bit wrap too); the same burst code must handle both
    for start in (0x3FFF, 0xFFFF, 0x3FFE):
        chip = emu.W5500Chip(pointer_start=start)
        cs = Pin("CS", 1)
        spi = SPI(_ByteOnly(chip), cs)
        rst = Pin("RSTn", 1, on_change=chip.rst_changed)
        drv = W5500(spi, cs, rst=rst, mac=MAC)
        drv.init()
        sink = Sink(chip)
        buf = bytearray(1536)
        for i in range(3):
            f = _frame(61 + i, i)
            assert chip.deliver(f)
            assert drv.recv_into(buf) == 61 + i and buf[:61 + i] == f
            t = _frame(70 + i, i, dst=PEER)
            assert drv.send(t, len(t))
            assert sink.frames[-1] == bytes(t)
        assert chip.rx_rdc[0] == (start + 61 + 62 + 63 + 6) & 0xFFFF
        assert chip.tx_rd[0] == (start + 70 + 71 + 72) & 0xFFFF
        assert drv.rx_errors == 0 and drv.tx_errors == 0
        _done(chip)


def test_two_boards_on_the_wire():
    # the chip's on_transmit / deliver contract with tools/emu/wire.py: frames cross between two
    # driver+chip boards; unicast for the other board is dropped by the software filter
    from emu.wire import Wire

    w = Wire()
    ca, a = _board(mac=MAC)
    cb, b = _board(mac=PEER, intr=True)
    w.attach(ca, "a")
    w.attach(cb, "b")
    buf = bytearray(1536)
    f1 = _frame(42, 1, dst=BCAST, src=MAC)  # ARP-sized: padded to 60 by the chip
    f2 = _frame(1514, 2, dst=PEER, src=MAC)
    f3 = _frame(100, 3, dst=b"\x02\x00\x00\x00\x00\x77", src=MAC)  # for nobody here
    for f in (f1, f2, f3):
        assert a.send(f, len(f))
    assert w.step() == 3
    assert b.pending()
    assert b.recv_into(buf) == 60 and buf[:60] == f1 + bytes(18)
    assert b.recv_into(buf) == 1514 and buf[:1514] == f2
    assert b.recv_into(buf) == 0 and b.rx_dropped == 1
    r = _frame(200, 4, dst=MAC, src=PEER)
    assert b.send(r, 200)
    w.step()
    assert a.recv_into(buf) == 200 and buf[:200] == r
    assert a.recv_into(buf) == 0  # a's own frames are not echoed back by the hub
    _done(ca)
    _done(cb)
