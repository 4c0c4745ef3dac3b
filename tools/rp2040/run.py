#!/usr/bin/env python3
"""Run code on an emulated Raspberry Pi Pico (stock MicroPython in rp2040js, tools/rp2040/board.mjs).

    python3 tools/rp2040/run.py --exec "print(1+1)"
    python3 tools/rp2040/run.py --test host_tests/portable/test_compat.py [--test ...]
    python3 tools/rp2040/run.py --figures [--chip loopback]
    python3 tools/rp2040/run.py --chip w5500 --serve 10      # firmware/main.py runs; console for 10 s
    python3 tools/rp2040/run.py --chip w5500 --pty /tmp/pico # a new board on a pseudo-terminal, until Ctrl-C:
        mpremote connect /tmp/pico ...; make deploy BOARD=pico_w5500 PORT=/tmp/pico
Options: --chip none|loopback|pyloop|w5500|enc28j60, --board pico_w5500 (to /lib/boards/, named in /config.py),
--uf2 FILE (default: ../shared/rp2040/micropython-v1.28.0-RPI_PICO.uf2), --fs IMAGE (default: built
with mkfs.py from lib/, firmware/, the board config and, with --test, the portable tests), --pace.
--pty LINK: the USB serial as a pseudo-terminal at LINK (usbpty.py); the board boots with the firmware
alone (it formats its own filesystem, as a new board does) unless --fs is given, serves from boot, and
machine.reset() reboots it keeping its flash; runs until Ctrl-C/SIGTERM or --serve SECONDS.

As a module:
    from run import Board           # tools/rp2040 on sys.path
    with Board(chip="loopback", tests=True) as b:
        out, err = b.exec("print(1+1)")
The node process speaks the length-prefixed protocol documented at the top of board.mjs; Ethernet
frames from the chip come out of Board.recv_frame(), frames for the chip go in with send_frame().
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "rp2040")
UF2 = os.path.join(SHARED, "micropython-v1.28.0-RPI_PICO.uf2")
UF2_W5500 = os.path.join(SHARED, "micropython-v1.28.0-W5500_EVB_PICO.uf2")
BOOTROM = os.path.join(SHARED, "rp2040-bootrom-B1.bin")
BOARD_MJS = os.path.join(HERE, "board.mjs")

sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
import mkfs  # noqa: E402
from mcu import ptests  # noqa: E402
from mcu.board import BoardError, ChildBoard  # noqa: E402,F401 - BoardError is part of this API
from mcu.ptests import FIG_HEAP, FIG_HEAP_LIB, FIG_LOOP, parse_results, run_test_module  # noqa: E402,F401 - so are these


def missing(uf2=UF2):
    """None when the emulated board can run here, else the reason it cannot."""
    if shutil.which("node") is None:
        return "node is not installed"
    for f, what in ((uf2, "MicroPython firmware"), (BOOTROM, "RP2040 boot ROM")):
        if not os.path.exists(f):
            return "%s not found: %s (see shared/rp2040/README.md)" % (what, f)
    if not os.path.isdir(os.path.join(ROOT, "tools", "node_modules", "rp2040js")):
        return "npm package rp2040js not installed (make setup)"
    return None


class Board(ChildBoard):
    """One emulated Pico in a node child process (the API: tools/mcu/board.py BoardApi)."""

    def __init__(self, chip="none", uf2=UF2, fs=None, board="pico_w5500", tests=False, extras=(),
                 pace=False, boot_timeout=60, on_console=None, on_frame=None, stderr=None, bridge=None,
                 serve=False, pty=None, on_reset=None):
        """fs: a littlefs image; None builds one from our files, "" boots with the firmware alone (it
        formats its own filesystem). pty=LINK: the USB serial becomes a pseudo-terminal at the path
        LINK (usbpty.py) for mpremote and the like; the firmware serves from boot and exec() is
        refused. on_reset(): called when the firmware reset the chip (machine.reset())."""
        why = missing(uf2)
        if why:
            raise BoardError(why)
        tmp = None
        if fs is None:
            tmp = tempfile.mkdtemp(prefix="rp2040fs")
            fs = os.path.join(tmp, "fs.img")
            mkfs.build(fs, board, extras, tests)
        cmd = ["node", BOARD_MJS, "--stdio", "--uf2", uf2, "--bootrom", BOOTROM, "--chip", chip]
        if fs:
            cmd += ["--fs", fs]
        if pace:
            cmd.append("--pace")
        if bridge:
            cmd += ["--bridge", bridge]
        if pty:
            cmd.append("--usb-raw")
        elif serve:
            cmd.append("--serve")
        self.pty = None
        if pty:
            import usbpty

            self.pty = usbpty.PtyLink(pty, self.serial_write)
        ChildBoard.__init__(self, cmd, boot_timeout, on_console, on_frame, stderr, cwd=ROOT, tmp=tmp,
                            on_serial=self.pty.from_board if self.pty else None, on_reset=on_reset)

    def close(self):
        ChildBoard.close(self)
        if self.pty is not None:
            self.pty.close()
            self.pty = None


# ---------------------------------------------------------------- figures
def figures(board, spi_kb=100):
    """Measure and return a dict of figures (heap after boot, loop speed, SPI throughput)."""
    return ptests.figures(board, spi_kb, spi="0", cs=17)


def serve_pty(a, chip):
    """--pty LINK: the board on a pseudo-terminal until Ctrl-C, SIGTERM or --serve SECONDS."""
    import signal

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        b = Board(chip=chip, uf2=a.uf2, fs=a.fs or "", pace=a.pace, bridge=a.bridge, pty=a.pty,
                  on_reset=lambda: print("# the board reset itself (machine.reset): rebooting", file=sys.stderr))
    except BoardError as e:
        print("run.py: %s" % e, file=sys.stderr)
        return 2
    with b:
        print("# USB serial at %s (%s), chip %s; mpremote connect %s" % (a.pty, b.pty.name, chip, a.pty),
              file=sys.stderr)
        try:
            stop.wait(a.serve or None)
        except KeyboardInterrupt:
            pass
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description="Run code on the emulated RP2040 (stock MicroPython in rp2040js)")
    ptests.add_arguments(ap, "none|loopback|pyloop|w5500|enc28j60")
    ap.add_argument("--board", default="pico_w5500")
    ap.add_argument("--uf2", default=UF2)
    ap.add_argument("--pace", action="store_true", help="emulated time may not run ahead of wall time")
    ap.add_argument("--bridge", default=None, help="byte|w5500: how SPI0 reaches a Python chip model")
    ap.add_argument("--serve", type=float, default=0, metavar="SECONDS",
                    help="boot without stopping main.py and show its console for SECONDS (wall)")
    ap.add_argument("--pty", metavar="LINK", help="the USB serial as a pseudo-terminal at LINK (for mpremote); "
                    "a board with an empty filesystem unless --fs")
    a = ap.parse_args(argv)
    if a.pty and (a.code or a.file or a.test or a.figures):
        ap.error("--pty gives the USB serial to the pseudo-terminal: no --exec/--file/--test/--figures")
    # `python3 tools/rp2040/run.py` with the system python3: the image needs littlefs from .venv
    sys.path.insert(0, os.path.dirname(HERE))
    import setupcheck

    npm = ("rp2040js", "@micropython/micropython-webassembly-pyscript")
    setupcheck.require("run.py", () if a.fs or a.pty else ("littlefs",), npm,
                       argv=None if argv is None else [sys.argv[0]] + list(argv))
    chip = a.chip or ("loopback" if a.figures else "none")
    t0 = time.time()
    if a.pty:
        return serve_pty(a, chip)
    try:
        b = Board(chip=chip, uf2=a.uf2, fs=a.fs, board=a.board, tests=bool(a.test), extras=a.extra,
                  pace=a.pace, bridge=a.bridge, serve=a.serve > 0, on_console=lambda s: sys.stdout.write(s))
    except BoardError as e:
        print("run.py: %s" % e, file=sys.stderr)
        return 2
    with b:
        r = b.ready
        print("# booted in %.0f ms wall (%.0f ms emulated), chip %s" % (r["boot_wall_ms"], r["boot_emu_ms"], chip),
              file=sys.stderr)
        if a.serve:
            time.sleep(a.serve)
            print("# stats %s" % json.dumps(b.stats()), file=sys.stderr)
        rc = ptests.run_cli(b, a, "rp2040", t0, sys.stdout.write, figures)
    return rc


if __name__ == "__main__":
    sys.exit(main())
