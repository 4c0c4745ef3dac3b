"""The host board's boot line (firmware/main.py boot_line: what the board is, its address, how it got
it, the link) and the link state in its counters; the cable pulled and plugged back (SIGUSR2) with
Linux pinging; on the cpython and micropython runtimes."""
import signal
import time

import pytest

from bsdnet import __version__
from demo import parse_ping
from e2e import BOARD_IP, board_id, board_params, board_tail, netns_board


@pytest.mark.parametrize("param", board_params(("cpython", "micropython")), ids=board_id)
def test_boot_line_and_link_state(param):
    chip, runtime = param
    link = "up 100M full" if chip == "w5500" else "up 10M half"  # the W5500 model's PHY; the ENC28J60: 10BASE-T
    with netns_board("boot", chip, runtime) as b:
        want = "bsdnet %s on hostboard (%s): %s/24 static, link %s, mac %s" % (
            __version__, chip.upper(), BOARD_IP, link, b.ready["mac"])
        assert b.boot == want, (b.boot, want)
        st = b.stats()
        assert st["link"] == link
        assert st["if"]["linkdowns"] == 0 and st["if"]["linkups"] == 0 and st["if"]["onolink"] == 0


def _wait_stderr(b, text, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(x is not None and text in x for x in b.stderr):
            return True
        time.sleep(0.1)
    return False


def _pings(b, n=1):
    """How many of n pings (1 s apart, 1 s wait) the board answered."""
    p = b.ns.run(["ping", "-c", str(n), "-W", "1", BOARD_IP], timeout=n + 10, check=False)
    return parse_ping(p.stdout)[1]


@pytest.mark.parametrize("param", board_params(("cpython", "micropython")), ids=board_id)
def test_cable_pulled_and_plugged_back(param):
    """SIGUSR2 pulls the emulated chip's cable: the firmware logs the link down (its next look at the
    PHY, within about a second), Linux's pings go unanswered; plugged back, the link comes up and
    the board answers again. Counted once each way."""
    chip, runtime = param
    with netns_board("cable", chip, runtime) as b:
        assert _pings(b) == 1
        b.proc.send_signal(signal.SIGUSR2)
        assert _wait_stderr(b, "bsdnet: link down"), board_tail(b)
        assert _pings(b, 2) == 0
        b.proc.send_signal(signal.SIGUSR2)
        assert _wait_stderr(b, "bsdnet: link up"), board_tail(b)
        assert _pings(b, 3) >= 2  # Linux may still have to ARP again
        st = b.stats()["if"]
        assert st["linkdowns"] == 1 and st["linkups"] == 1, st
