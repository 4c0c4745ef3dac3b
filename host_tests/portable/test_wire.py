# The in-process wire, its fault injection and the pcap writer (tools/emu/wire.py).
import io

from ptest import raises, skip, MICROPYTHON
from emu.wire import Wire, Impair, Pcap, PcapWriter, Rand, read_pcap, parse_impair, prob


class FakeChip:
    """Stands for an emulated chip on the wire: records what it is given, can refuse."""

    def __init__(self, accept=True):
        self.got = []
        self.on_transmit = None
        self.link = False
        self.accept = accept

    def deliver(self, frame):
        if not self.accept:
            return False
        self.got.append(bytes(frame))
        return True

    def set_link(self, up):
        self.link = up


def frame(i, dst=b"\xff" * 6, n=60):
    f = bytearray(n)
    f[0:6] = dst
    f[6:12] = b"\x02\x00\x00\x00\x00\x01"
    f[12] = 0x08
    f[13] = 0x00
    f[14] = i >> 8
    f[15] = i & 0xFF
    return bytes(f)


def seq(f):
    return (f[14] << 8) | f[15]


def test_rand_same_sequence_everywhere():
    r = Rand(1)
    got = [r.next() for _ in range(4)]
    # xorshift32 from seed 1 (Marsaglia 2003): fixed values, so CPython and MicroPython agree
    assert got == [270369, 67634689, 2647435461, 307599695], got
    assert Rand(0).next() != 0  # seed 0 would stick at 0: replaced
    a = Rand(42)
    b = Rand(42)
    assert [a.below(100) for _ in range(50)] == [b.below(100) for _ in range(50)]


def test_hub_delivers_to_every_other_port_on_step():
    w = Wire()
    a, b, c = FakeChip(), FakeChip(), FakeChip()
    pa = w.attach(a, "a")
    w.attach(b, "b")
    w.attach(c, "c")
    assert a.link and b.link and c.link
    a.on_transmit(frame(1))
    assert b.got == [] and w.pending() == 1  # nothing moves until step()
    assert w.step() == 1
    assert b.got == [frame(1)] and c.got == [frame(1)] and a.got == []
    assert pa.tx == 1 and w.step() == 0


def test_frames_sent_during_delivery_wait_for_next_step():
    w = Wire()
    a = FakeChip()
    b = FakeChip()
    w.attach(a)
    w.attach(b)

    # b answers every frame at once from inside deliver (like a chip model with an eager driver)
    def bounce(f):
        b.got.append(bytes(f))
        b.on_transmit(frame(seq(f) + 1))
        return True

    b.deliver = bounce
    w.ports[1].sink = bounce
    a.on_transmit(frame(10))
    assert w.step() == 1
    assert a.got == [] and w.pending() == 1
    assert w.step() == 1
    assert [seq(f) for f in a.got] == [11]


def test_copy_of_frame_is_taken():
    w = Wire()
    a, b = FakeChip(), FakeChip()
    w.attach(a)
    w.attach(b)
    buf = bytearray(frame(5))
    a.on_transmit(memoryview(buf))
    buf[15] = 99  # the chip reuses its buffer before the wire delivers
    w.step()
    assert seq(b.got[0]) == 5


def test_refused_frames_are_counted():
    w = Wire()
    a, b = FakeChip(), FakeChip(accept=False)
    w.attach(a, "a")
    w.attach(b, "b")
    a.on_transmit(frame(1))
    w.step()
    st = w.stats()
    assert st["ports"]["b"]["refused"] == 1 and st["ports"]["b"]["rx"] == 0


def test_external_port_and_on_pending():
    w = Wire()
    got = []
    host = w.port(lambda f: got.append(f) or True, "tap")
    chip = FakeChip()
    w.attach(chip, "chip")
    wakes = []
    w.on_pending = lambda: wakes.append(1)
    host.send(frame(1))
    host.send(frame(2))
    assert len(wakes) == 1  # only on empty -> not empty
    w.step()
    assert [seq(f) for f in chip.got] == [1, 2]
    chip.on_transmit(frame(3))
    assert len(wakes) == 2
    w.step()
    assert [seq(f) for f in got] == [3]


def test_external_port_pads_short_frames_chip_port_does_not():
    w = Wire()
    got = []
    host = w.port(lambda f: got.append(f) or True, "tap")
    chip = FakeChip()
    w.attach(chip, "chip")
    host.send(frame(1, n=42))  # an ARP request as a Linux TAP hands it over
    chip.on_transmit(frame(2, n=42))
    w.step()
    assert len(chip.got[0]) == 60 and chip.got[0][:42] == frame(1, n=42) and chip.got[0][42:] == bytes(18)
    assert len(got[0]) == 42  # a chip that does not pad shows it


def _run_impair(imp, n=1000):
    w = Wire([imp])
    a, b = FakeChip(), FakeChip()
    w.attach(a)
    w.attach(b)
    for i in range(n):
        a.on_transmit(frame(i))
        w.step()
    for _ in range(imp.hold + 1):
        w.step()
    return b.got


def test_loss_rate_and_determinism():
    got1 = _run_impair(Impair(loss=0.2, seed=7))
    got2 = _run_impair(Impair(loss=0.2, seed=7))
    got3 = _run_impair(Impair(loss=0.2, seed=8))
    assert got1 == got2  # same seed, same frames lost
    assert got1 != got3
    lost = 1000 - len(got1)
    assert 150 < lost < 250, lost
    # what arrives is in order and unchanged
    s = [seq(f) for f in got1]
    assert s == sorted(s)
    assert got1[0] == frame(s[0])


def test_no_impairment_passes_everything():
    got = _run_impair(Impair(seed=3), 200)
    assert [seq(f) for f in got] == list(range(200))


def test_duplication():
    imp = Impair(dup=0.1, seed=11)
    got = _run_impair(imp)
    s = [seq(f) for f in got]
    assert len(set(s)) == 1000
    assert len(s) - 1000 == imp.stats["duplicated"]
    assert 60 < imp.stats["duplicated"] < 140


def test_reorder_swaps_and_loses_nothing():
    imp = Impair(reorder=0.1, seed=5)
    got = _run_impair(imp)
    s = [seq(f) for f in got]
    assert sorted(s) == list(range(1000))  # all arrive
    swaps = sum(1 for i in range(len(s) - 1) if s[i] > s[i + 1])
    assert swaps > 50, swaps
    assert imp.stats["reordered"] >= swaps


def test_held_frame_released_by_ticks_alone():
    imp = Impair(reorder=1.0, seed=1, hold=3)
    w = Wire([imp])
    a, b = FakeChip(), FakeChip()
    w.attach(a)
    w.attach(b)
    a.on_transmit(frame(1))
    assert w.pending() == 0
    w.step()
    w.step()
    assert b.got == []
    w.step()  # third tick releases it into the queue ...
    w.step()  # ... and the next step delivers it
    assert [seq(f) for f in b.got] == [1]


def test_corruption_flips_one_bit_past_the_header():
    imp = Impair(corrupt=1.0, seed=9)
    got = _run_impair(imp, 100)
    assert len(got) == 100
    for i in range(100):
        orig = frame(i)
        f = got[i]
        assert f[:14] == orig[:14]
        bits = 0
        for j in range(len(f)):
            x = f[j] ^ orig[j]
            while x:
                bits += x & 1
                x >>= 1
        assert bits == 1


def test_parse_impair():
    imp = parse_impair("loss=0.1, dup=0.05,reorder=0.2,corrupt=0.01,seed=42")
    assert imp.loss == prob(0.1) and imp.dup == prob(0.05) and imp.reorder == prob(0.2)
    assert imp.corrupt == prob(0.01) and imp.rng.x == 42
    raises(ValueError, parse_impair, "lose=0.1")
    raises(ValueError, parse_impair, "loss")
    raises(ValueError, parse_impair, "loss=2")


def test_pcap_writer_format():
    f = io.BytesIO()
    pw = PcapWriter(f, clock=lambda: (1700000000, 123456))
    pw.write(frame(1))
    pw.write(frame(2, n=1514), ts=(5, 6))
    data = f.getvalue()
    # global header: magic, 2.4, zone 0, sigfigs 0, snaplen 65535, LINKTYPE_ETHERNET
    assert data[:24] == b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00" + b"\x00" * 8 + b"\xff\xff\x00\x00\x01\x00\x00\x00"
    # first record header: ts 1700000000.123456, 60 captured of 60
    assert data[24:40] == b"\x00\xf1\x53\x65\x40\xe2\x01\x00\x3c\x00\x00\x00\x3c\x00\x00\x00"
    link, recs = read_pcap(data)
    assert link == 1
    assert recs == [(1700000000, 123456, frame(1)), (5, 6, frame(2, n=1514))]
    assert len(data) == 24 + 16 + 60 + 16 + 1514


def test_pcap_as_middleware_sees_both_directions():
    f = io.BytesIO()
    w = Wire([Pcap(f, clock=lambda: (1, 2))])
    a, b = FakeChip(), FakeChip()
    w.attach(a)
    w.attach(b)
    a.on_transmit(frame(1))
    b.on_transmit(frame(2))
    w.step()
    link, recs = read_pcap(f.getvalue())
    assert [seq(r[2]) for r in recs] == [1, 2]


def test_pcap_opens_in_scapy():
    if MICROPYTHON:
        skip("scapy is host-only")
    try:
        from scapy.utils import rdpcap
        from scapy.layers.l2 import Ether
    except ImportError:
        skip("scapy not installed")
    import os
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".pcap")
    os.close(fd)
    try:
        with open(path, "wb") as fh:
            pw = PcapWriter(fh)
            pw.write(frame(7, dst=b"\x02\xaa\xbb\xcc\xdd\xee"))
        pk = rdpcap(path)
        assert len(pk) == 1 and pk[0].haslayer(Ether)
        assert pk[0][Ether].dst == "02:aa:bb:cc:dd:ee" and pk[0][Ether].type == 0x0800
    finally:
        os.unlink(path)


def _emulator(name):
    try:
        mod = __import__("emu." + name, None, None, ["make"])
    except ImportError:
        return None
    return getattr(mod, "make", None)


def test_wire_joins_two_chip_emulators():
    # the real chip models on the wire: a frame deliver()ed lands in the chip, and a frame set
    # as transmitted by one model reaches the other (the drivers are exercised in their own tests)
    made = 0
    for name in ("w5500", "enc28j60"):
        make = _emulator(name)
        if make is None:
            continue
        chip, spi, cs, rst, intn = make(mac=b"\x02\x00\x00\x00\x00\x0a")
        w = Wire()
        got = []
        w.port(got.append, "host")  # list.append returns None: not a refusal
        w.attach(chip, "chip")
        chip.on_transmit(frame(1))  # as the chip calls it per sent frame
        w.step()
        assert [seq(f) for f in got] == [1]
        w.ports[0].send(frame(2))  # into the chip: refused (counted) while no driver opened it
        w.step()
        cp = w.ports[1]
        assert cp.rx + cp.refused == 1
        made += 1
    if not made:
        skip("no chip emulator in tools/emu yet")
