"""The host board's boot line (firmware/main.py boot_line: what the board is, its address, how it got
it, the link) and the link state in its counters; the cable pulled and plugged back (SIGUSR2) with
Linux pinging; on every runtime (rp2040: the image a user deploys, config.py and all)."""
import signal
import time

import pytest

from bsdnet import __version__
from demo import parse_ping
from e2e import BOARD_IP, board_id, board_params, board_tail, netns_board


@pytest.mark.parametrize("param", board_params(), ids=board_id)
def test_boot_line_and_link_state(param):
    chip, runtime = param
    link = "up 100M full" if chip == "w5500" else "up 10M half"  # the W5500 model's PHY; the ENC28J60: 10BASE-T
    # the emulated Pico boots the image a user deploys: its config.py names boards/pico_CHIP.py
    name = "pico_" + chip if runtime == "rp2040" else "hostboard"
    with netns_board("boot", chip, runtime) as b:
        want = "bsdnet %s on %s (%s): %s/24 static, link %s, mac %s" % (
            __version__, name, chip.upper(), BOARD_IP, link, b.ready["mac"])
        assert b.boot == want, (b.boot, want)
        st = b.stats()
        assert st["link"] == link
        assert st["if"]["linkdowns"] == 0 and st["if"]["linkups"] == 0 and st["if"]["onolink"] == 0


def _wait_link(b, key, console, timeout=15):
    """Until the board has counted the change (the `if` counter key) and, where the console streams
    to stderr (not rp2040: a serving exec's output comes back when it returns), logged it."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        st = b.stats()["if"]
        if st[key] >= 1 and (b.runtime == "rp2040" or any(x is not None and console in x for x in b.stderr)):
            return st
        time.sleep(0.5)
    raise AssertionError("no %s / %r within %d s\n%s" % (key, console, timeout, board_tail(b)))


def _pings(b, n=1):
    """How many of n pings (1 s apart, 1 s wait) the board answered."""
    p = b.ns.run(["ping", "-c", str(n), "-W", "1", BOARD_IP], timeout=n + 10, check=False)
    return parse_ping(p.stdout)[1]


@pytest.mark.parametrize("param", board_params(), ids=board_id)
def test_cable_pulled_and_plugged_back(param):
    """SIGUSR2 pulls the emulated chip's cable: the firmware sees the link down at its next look at
    the PHY (about a second), logs and counts it, Linux's pings go unanswered; plugged back, the link
    comes up and the board answers again. Counted once each way."""
    chip, runtime = param
    with netns_board("cable", chip, runtime) as b:
        assert _pings(b) == 1
        b.proc.send_signal(signal.SIGUSR2)
        _wait_link(b, "linkdowns", "bsdnet: link down")
        assert _pings(b, 2) == 0
        b.proc.send_signal(signal.SIGUSR2)
        st = _wait_link(b, "linkups", "bsdnet: link up")
        assert _pings(b, 3) >= 2  # Linux may have to ARP again first
        assert st["linkdowns"] == 1 and st["linkups"] == 1, st
