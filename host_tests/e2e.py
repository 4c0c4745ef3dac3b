"""What the end-to-end tests share (not a test module): the host board in a network namespace of its
own, and Linux-side scripts run inside that namespace.

    with netns_board("udp", chip, runtime) as b:      # skips when the runtime cannot run here
        r = run_json(b, [sys.executable, "-c", SCRIPT, "arg"], timeout=60)   # its last stdout line, as JSON

The board is 10.7.0.2/24 on TAP bsd0, Linux is 10.7.0.1/24; the namespace is deleted on the way out,
also when the board did not come up.
"""
import contextlib
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(ROOT, "tools"), os.path.join(ROOT, "firmware")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from demo import Netns, NetnsBoard, runtime_missing  # noqa: E402

BOARD_IP = "10.7.0.2"
HOST_IP = "10.7.0.1"
TAP = "bsd0"
RUNTIMES = ("cpython", "micropython", "rp2040")
CHIPS = ("w5500", "enc28j60")
# the emulated ESP32 (tools/esp32): ping, ARP, UDP and TCP parametrize with it too (WITH_ESP32), but
# run only with ESP32_FULL=1 (make esp32-full), or for the smoke pair with ESP32_SMOKE=1 (make esp32-smoke)
WITH_ESP32 = RUNTIMES + ("esp32",)
ESP32_FULL = os.environ.get("ESP32_FULL") == "1"
ESP32_SMOKE = ESP32_FULL or os.environ.get("ESP32_SMOKE") == "1"
READY_S = {"esp32": 240}  # boot, stop main.py, soft reset, load the stack from flash: ~40 s, more under load


RP2040_FULL = os.environ.get("RP2040_FULL") == "1"


def pico_full_only(runtime, chip=None):
    """Skip a long run on the emulated Pico (or only its ENC28J60 one, given chip) outside
    RP2040_FULL=1 (make rp2040-full): make test keeps one smoke run per emulated board."""
    if runtime == "rp2040" and not RP2040_FULL and (chip is None or chip != "w5500"):
        pytest.skip("long run on the emulated Pico%s: RP2040_FULL=1 (make rp2040-full)"
                    % ("" if chip is None else " with the " + chip.upper()))


def esp32_gate(chip, runtime, smoke=False):
    """Skip the emulated ESP32 outside its runs: the smoke pair (w5500, smoke=True) with ESP32_SMOKE=1."""
    if runtime == "esp32" and not ESP32_FULL and not (smoke and ESP32_SMOKE and chip == "w5500"):
        pytest.skip("long run on the emulated ESP32: set ESP32_FULL=1 (make esp32-full) or ESP32_SMOKE=1")


def board_params(runtimes=RUNTIMES, chips=CHIPS):
    """(chip, runtime) pairs for a parametrized fixture, grouped by runtime; ids: board_id."""
    return [(c, r) for r in runtimes for c in chips]


def board_id(p):
    return "%s-%s" % p


@contextlib.contextmanager
def netns_board(tag, chip, runtime, extra=(), smoke=False):
    """The host board (tools/hostboard.py) in a namespace bsdnet-TAG-<pid>-<chip>-<runtime>, ready;
    stopped (SIGTERM) and the namespace deleted afterwards."""
    esp32_gate(chip, runtime, smoke)
    why = runtime_missing(runtime)
    if why:
        pytest.skip(why)
    ns = Netns("bsdnet-%s-%d-%s-%s" % (tag, os.getpid(), chip[:3], runtime[:2]))
    b = None
    try:
        b = NetnsBoard(ns, chip, runtime, ip=BOARD_IP + "/24", host_ip=HOST_IP + "/24", tap=TAP, extra=extra)
        b.wait_ready(READY_S.get(runtime, 60))
        yield b
        b.stop(5)
        assert_no_chip_violations(b)
    finally:
        if b is not None:
            b.stop(5)
        ns.close()


def assert_no_chip_violations(b):
    """The chip model's violations (a driver breaking a rule of the chip's fact sheet, e.g. reading
    the W5500's RX buffer beyond RX_WR) fail the test: the count is in the final stats line."""
    st = b.final_stats or {}
    n = (st.get("chip") or {}).get("violations", 0)
    if n:
        pytest.fail("the chip model recorded %d violation(s) (tools/emu/%s.py): %s; chip counters: %s\n%s"
                    % (n, b.chip, st.get("chip_violations"), json.dumps(st.get("chip"), sort_keys=True),
                       board_tail(b)))


def board_tail(b, n=30):
    """The host board's last stderr lines and unread stdout, for a failure message."""
    return "host board (exit %s) stderr:\n%s\nunread output: %s" % (
        b.proc.poll(), "\n".join(x for x in b.stderr[-n:] if x is not None), b.unread())


def run_json(b, argv, timeout):
    """Run argv inside the board's namespace; its last stdout line parsed as JSON. A non-zero exit
    fails the test with the script's output and the host board's tail."""
    import subprocess

    try:
        p = b.ns.run(argv, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        pytest.fail("%s: no end within %d s\n%s%s\n%s" % (
            " ".join(argv[:4]), timeout, e.stdout or "", e.stderr or "", board_tail(b)))
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        pytest.fail("%s exited %d\n%s%s\n%s" % (" ".join(argv[:4]), p.returncode, p.stdout, p.stderr[-3000:],
                                                board_tail(b)))
    return json.loads(lines[-1])
