"""The board in this very process on a Linux TAP (not a test module), for the scripts that
host_tests/test_e2e_client.py and test_e2e_tcp_client.py run inside their network namespace: our
stack (bsdnet) on the W5500 driver and chip model, frames to and from a TAP. No interface task and
no interrupt pin: the board's blocking socket calls, or nic.run() in an asyncio loop, poll the
driver, and every poll first moves what Linux sent into the chip model.

    nic, tap, chip = tap_board()        # TAP bsdc0 with 10.7.0.1/24, the board 10.7.0.2/24
    ...
    tap.close()

Needs root (the TAP); run it inside a namespace of the test's own.
"""
import os
import select
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from tap import Tap  # noqa: E402
from emu import w5500 as emu  # noqa: E402
from bsdnet.netif import Interface  # noqa: E402


class Relay:
    """Wraps the driver's recv_into: each call first delivers the frames waiting on the TAP."""

    def __init__(self, tap, chip, inner):
        self.tap = tap
        self.chip = chip
        self.inner = inner

    def __call__(self, buf):
        tap = self.tap
        while select.select([tap.fd], [], [], 0)[0]:
            f = tap.read()
            if f is None:
                break
            if len(f) < 60:
                f += bytes(60 - len(f))  # a TAP frame is not padded; a sender's MAC would pad it
            self.chip.deliver(f)
        return self.inner(buf)


def tap_board(tap_name="bsdc0", host_ip="10.7.0.1/24", ip="10.7.0.2", mask="255.255.255.0", gateway="10.7.0.1",
              mac=b"\x02\x00\x0a\x07\x00\x02"):
    """(nic, tap, chip): the interface up at ip, its chip model wired to a new TAP."""
    tap = Tap.open(tap_name, host_ip=host_ip)
    chip, spi, cs, rst, intn = emu.make(mac=mac)
    chip.set_link(True)
    chip.on_transmit = lambda f: tap.write(bytes(f))
    nic = Interface.w5500(spi, cs, rst=rst, intr=None)
    nic.active(True)
    nic.ifconfig((ip, mask, gateway, "0.0.0.0"))
    nic.dev.recv_into = Relay(tap, chip, nic.dev.recv_into)
    return nic, tap, chip
