"""The tiny-heap profile (bsdnet.opts.TINY: a heap under 200 KB in all, an ESP32 without PSRAM)
under CPython, so that `make test` checks it without the emulated ESP32: gc.mem_free/mem_alloc are
made to report the ~166 KB a stock ESP32 has when the stack loads, then the device-side portable
modules the emulated ESP32 runs (host_tests/board_modules.py) run in that process. The pool is
10 clusters with quotas of 2 there, the largest datagram 2952 bytes (test_mbuf says so)."""
import os
import subprocess
import sys

import board_modules

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = """
import gc, sys
gc.mem_free = lambda: 120 * 1024  # MicroPython's gc.mem_free/mem_alloc, as an ESP32 reports them
gc.mem_alloc = lambda: 46 * 1024
sys.path.insert(0, "lib")
from bsdnet import opts
assert opts.TINY and opts.NMBCLUSTERS == 10, (opts.TINY, opts.NMBCLUSTERS)
import pytest
sys.exit(pytest.main(["-q", "-s", "-p", "no:cacheprovider"] + sys.argv[1:]))
"""


def test_device_modules_pass_on_a_tiny_heap(capsys):
    mods = [os.path.join("host_tests", "portable", m) for m in board_modules.ESP32_SMOKE + board_modules.ESP32_DEVICE]
    p = subprocess.run([sys.executable, "-c", RUN] + mods, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-2000:]
    line = [x for x in p.stdout.splitlines() if "heap profile:" in x]
    assert line and "tiny, 10 clusters" in line[0], p.stdout[-2000:]
    with capsys.disabled():
        print("\n" + line[0].strip().lstrip(".") + "; " + p.stdout.strip().splitlines()[-1])
