# Host-only: seeded random interleavings of arrivals, receives, sends and link flaps between the W5500
# driver and its chip model (torture mode, slow Sn_CR, random pointer start). Too slow for the VM.
import random

import pytest
from bsdnet.dev.w5500 import W5500
from emu import w5500 as emu

MAC = b"\x02\x00\x00\xaa\xbb\x01"
PEER = b"\x02\x00\x00\xcc\xdd\x02"


def _frame(rnd, dst):
    n = rnd.choice((60, 61, 64, 128, 590, 1514, rnd.randrange(60, 1515)))
    body = bytes(rnd.getrandbits(8) for _ in range(n - 14))
    return dst + PEER + b"\x08\x00" + body


def _is_subsequence(sub, seq):
    it = iter(seq)
    return all(any(x == y for y in it) for x in sub)


@pytest.mark.parametrize("seed", range(8))
def test_random_interleavings(seed):
    rnd = random.Random(seed)
    torture = seed % 2 == 1
    chip, spi, cs, rst, intn = emu.make(torture=torture, cr_delay=rnd.choice((0, 1, 3)),
                                        pointer_start=rnd.randrange(65536))
    drv = W5500(spi, cs, rst=rst, intr=intn if seed % 4 == 2 else None, mac=MAC)
    drv.init()
    wire = []
    chip.on_transmit = lambda f: wire.append(bytes(f))
    buf = bytearray(1536)
    delivered, got, sent = [], [], []
    link_down_for = 0
    for _ in range(1500):
        op = rnd.random()
        if link_down_for:
            link_down_for -= 1
            if not link_down_for:
                chip.set_link(True)
        if op < 0.40:
            f = _frame(rnd, rnd.choice((MAC, b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x01")))
            if chip.deliver(f):
                delivered.append(f)
        elif op < 0.75:
            n = drv.recv_into(buf)
            if n:
                got.append(bytes(buf[:n]))
        elif op < 0.97:
            f = _frame(rnd, PEER)
            if drv.send(f, len(f)):
                sent.append(f)
        elif not link_down_for:
            chip.set_link(False)
            link_down_for = rnd.randrange(1, 20)
    chip.set_link(True)
    chip.settle()
    for _ in range(200):
        n = drv.recv_into(buf)
        if not n:
            break
        got.append(bytes(buf[:n]))
    chip.settle()  # the drain above polled Sn_CR, so a SEND held by cr_delay has run (or waits in torture)
    assert chip.violations == []
    assert drv.rx_errors == 0 and drv.reopens == 0
    # every frame the chip stored came out, in order and intact; the rest were lost on the wire side
    assert len(got) == chip.rx_frames, (len(got), chip.rx_frames, len(delivered))
    assert _is_subsequence(got, delivered)
    # every frame on the wire is one the driver handed over, in order; the others were dropped by the
    # chip because the link was down when SEND ran
    assert len(wire) == chip.tx_frames
    assert _is_subsequence(wire, sent)
    assert len(sent) - len(wire) == chip.tx_dropped
    print("seed %d: %d frames in, %d out, %d dropped on link down, driver %r"
          % (seed, len(got), len(wire), chip.tx_dropped, drv.counters()))
    assert len(got) > 100 and len(wire) > 100
