#!/usr/bin/env python3
"""Run code on an emulated ESP32 (stock MicroPython v1.23 in QEMU, tools/esp32/qemu.py).

    python3 tools/esp32/run.py --exec "print(1+1)"
    python3 tools/esp32/run.py --test host_tests/portable/test_compat.py [--test ...]
    python3 tools/esp32/run.py --figures [--chip loopback]
Options: --chip none|loopback|w5500|enc28j60 (the model on VSPI, CS GPIO5, INT GPIO4, RST GPIO26),
--board esp32_w5500 (copied as /board.py), --firmware FILE (default:
../shared/esp32/micropython-v1.23.0-ESP32_GENERIC.bin), --fs IMAGE (default: built with mkfs.py from
lib/, firmware/, the board config and, with --test, the portable tests).
--stdio serves the host protocol (tools/rp2040/board.mjs) on stdin/stdout instead.

As a module (one QEMU per process, so the board runs in a child process):
    from run import Board           # tools/esp32 on sys.path
    with Board(chip="loopback", tests=True) as b:
        out, err = b.exec("print(1+1)")
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import qemu  # noqa: E402
from qemu import FIRMWARE, missing  # noqa: E402,F401 - part of this module's API
from mcu import ptests  # noqa: E402
from mcu.board import BoardError, ChildBoard  # noqa: E402,F401
from mcu.ptests import parse_results  # noqa: E402,F401

# the tests run with the heap a user's board has: the harness's flash cache (boot.py) serves the
# imports, then gives its 32 KB back
AFTER_IMPORTS = "import flashcache\nflashcache.off()\n"

# MicroPython's SPI(2) is VSPI; the pins of boards/esp32_*.py
SPI_PINS = ", sck=machine.Pin(18), mosi=machine.Pin(23), miso=machine.Pin(19)"


class Board(ChildBoard):
    """One emulated ESP32 in a child process (`run.py --stdio`); the API: tools/mcu/board.py BoardApi."""

    def __init__(self, chip="none", firmware=FIRMWARE, fs=None, board="esp32_w5500", tests=False, extras=(),
                 boot_timeout=120, on_console=None, on_frame=None, stderr=None):
        why = missing(firmware)
        if why:
            raise BoardError(why)
        cmd = [sys.executable, os.path.abspath(__file__), "--stdio", "--chip", chip, "--firmware", firmware,
               "--board", board or ""]
        if fs:
            cmd += ["--fs", fs]
        if tests:
            cmd.append("--tests")
        for e in extras:
            cmd += ["--extra", e]
        ChildBoard.__init__(self, cmd, boot_timeout, on_console, on_frame, stderr, cwd=ROOT)


def run_test_module(board, path, only=None, timeout=600):
    return ptests.run_test_module(board, path, only, timeout, AFTER_IMPORTS)


def figures(board, spi_kb=20):
    """After a soft reset (fresh heap, the flash cache on for the imports, then off)."""
    board.soft_reset()
    return ptests.figures(board, spi_kb, spi="2", pins=SPI_PINS, cs=qemu.DEFAULT_PINS["cs"],
                          after_imports=AFTER_IMPORTS, timeout=600)


def boot(a, on_console=None, on_frame=None):
    """The in-process board the command line asks for."""
    if a.fs:
        with open(a.fs, "rb") as f:
            img = f.read()
    else:
        img = qemu.image(a.board or None, a.extra, a.tests or bool(a.test))
    return qemu.Esp32(chip=a.chip or ("loopback" if a.figures else "none"), firmware=a.firmware, fs=img,
                      boot_mark=qemu.BOOT_MARK, on_console=on_console, on_frame=on_frame)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run code on the emulated ESP32 (stock MicroPython in QEMU)")
    ptests.add_arguments(ap, "none|loopback|w5500|enc28j60")
    ap.add_argument("--board", default="esp32_w5500")
    ap.add_argument("--firmware", default=FIRMWARE)
    ap.add_argument("--tests", action="store_true", help="add the portable tests to the image (--test does)")
    ap.add_argument("--stdio", action="store_true", help="serve the host protocol on stdin/stdout")
    a = ap.parse_args(argv)
    sys.path.insert(0, os.path.dirname(HERE))
    import setupcheck

    setupcheck.require("run.py", ("esptool",) + (() if a.fs else ("littlefs",)),
                       argv=None if argv is None else [sys.argv[0]] + list(argv))
    why = missing(a.firmware)
    if why:
        print("run.py: %s" % why, file=sys.stderr)
        return 2
    if a.stdio:
        from mcu import stdio

        return stdio.serve(lambda con, fr: boot(a, con, fr))
    t0 = time.time()
    try:
        b = boot(a, on_console=lambda s: sys.stdout.write(s))
    except BoardError as e:
        print("run.py: %s" % e, file=sys.stderr)
        return 2
    with b:
        r = b.ready
        print("# booted in %.0f ms wall (%.0f ms emulated)" % (r["boot_wall_ms"], r["boot_emu_ms"]), file=sys.stderr)
        return ptests.run_cli(b, a, "esp32", t0, sys.stdout.write, figures, AFTER_IMPORTS)


if __name__ == "__main__":
    sys.exit(main())
