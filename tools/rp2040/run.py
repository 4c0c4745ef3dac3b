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
import queue
import shutil
import struct
import subprocess
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
import mkfs  # noqa: E402


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


class BoardError(Exception):
    pass


class Board:
    """One emulated Pico in a node child process."""

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
        self._tmp = None
        if fs is None:
            self._tmp = tempfile.mkdtemp(prefix="rp2040fs")
            fs = os.path.join(self._tmp, "fs.img")
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
        self.on_reset = on_reset
        self.resets = 0
        self.pty = None
        self.console = []
        self.on_console = on_console
        self.on_frame = on_frame
        self.frames = queue.Queue()
        self._answers = {}
        self._cv = threading.Condition()
        self._next_id = 1
        self._wlock = threading.Lock()
        self.ready = None
        if pty:
            import usbpty

            self.pty = usbpty.PtyLink(pty, self.serial_write)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr if stderr is not None else None, cwd=ROOT)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        with self._cv:
            if not self._cv.wait_for(lambda: self.ready is not None or self.proc.poll() is not None,
                                     boot_timeout):
                self.close()
                raise BoardError("the emulated board did not reach the raw REPL in %ds" % boot_timeout)
        if self.ready is None:
            self.close()
            raise BoardError("board.mjs exited with %s before the raw REPL" % self.proc.poll())

    # -- protocol
    def _read_loop(self):
        f = self.proc.stdout
        while True:
            hdr = f.read(4)
            if len(hdr) < 4:
                break
            (n,) = struct.unpack(">I", hdr)
            body = f.read(n)
            if len(body) < n:
                break
            kind, payload = body[:1], body[1:]
            if kind == b"S":
                if self.pty is not None:
                    self.pty.from_board(payload)
            elif kind == b"F":
                if self.on_frame is not None:
                    self.on_frame(payload)
                else:
                    self.frames.put(payload)
            elif kind == b"J":
                msg = json.loads(payload.decode("utf-8"))
                ev = msg.get("event")
                if ev == "console":
                    self.console.append(msg["data"])
                    if self.on_console:
                        self.on_console(msg["data"])
                elif ev == "reset":
                    self.resets += 1
                    self.console.append("[reset]")
                    if self.on_reset:
                        self.on_reset()
                elif ev == "ready":
                    with self._cv:
                        self.ready = msg
                        self._cv.notify_all()
                elif ev is not None:
                    self.console.append("[%s] %s" % (ev, msg.get("message", "")))
                else:
                    with self._cv:
                        self._answers[msg.get("id")] = msg
                        self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def _send(self, kind, payload):
        with self._wlock:
            self.proc.stdin.write(struct.pack(">I", len(payload) + 1) + kind + payload)
            self.proc.stdin.flush()

    def request(self, op, wait=60, **kw):
        with self._cv:
            i = self._next_id
            self._next_id += 1
        kw.update(op=op, id=i)
        self._send(b"J", json.dumps(kw).encode())
        with self._cv:
            ok = self._cv.wait_for(lambda: i in self._answers or self.proc.poll() is not None, wait + 5)
            if i not in self._answers:
                raise BoardError("no answer to %s (%s)" % (op, "timeout" if not ok else "board exited"))
            msg = self._answers.pop(i)
        if not msg.get("ok"):
            raise BoardError("%s failed: %s" % (op, msg.get("error")))
        return msg

    # -- API
    def exec_full(self, code, timeout=60):
        """Run code through the raw REPL: dict with stdout, stderr, emu_ms, wall_ms."""
        return self.request("exec", wait=timeout, code=code, timeout=timeout)

    def exec(self, code, timeout=60):
        r = self.exec_full(code, timeout)
        return r["stdout"], r["stderr"]

    def soft_reset(self, timeout=30):
        return self.request("soft_reset", wait=timeout, timeout=timeout)

    def chip_eval(self, expr):
        """repr() of a Python expression evaluated beside the chip model (`chip`) in node's VM."""
        return self.request("chip_eval", wait=10, expr=expr)["value"]

    def stats(self):
        return self.request("stats", wait=10)

    def pace(self, on=True):
        return self.request("pace", wait=10, on=bool(on))

    def serial_write(self, data):
        """Bytes to the board's USB serial (pty mode: what the pseudo-terminal's client wrote)."""
        try:
            self._send(b"S", bytes(data))
        except (OSError, ValueError):
            pass  # the board has exited: the bytes go nowhere, as to an unplugged board

    def send_frame(self, frame):
        self._send(b"F", bytes(frame))

    def recv_frame(self, timeout=1.0):
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self):
        if self.proc.poll() is None:
            try:
                self._send(b"J", json.dumps({"op": "quit", "id": 0}).encode())
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait(5)
        if self.pty is not None:
            self.pty.close()
            self.pty = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- portable tests on the board
def parse_results(out):
    """The @@ lines of tools/vmharness.py -> [(status, name, heap, reason)]."""
    res = []
    for line in out.splitlines():
        if line.startswith("@@ "):
            parts = line.split(" ", 4)
            res.append((parts[1], parts[2], int(parts[3]), parts[4] if len(parts) > 4 else ""))
    return res


def run_test_module(board, path, only=None, timeout=300):
    """Run host_tests/portable/<module> through vmharness on the board (needs tests=True images).
    Soft-resets first so every module starts with a fresh heap. Returns (results, stdout, stderr)."""
    modname = os.path.splitext(os.path.basename(path))[0]
    board.soft_reset()
    code = ("import sys\nsys.path.append('/tests')\nsys.path.append('/tools')\n"
            "import vmharness\nvmharness.run(%r, %r)\n" % (modname, list(only) if only else None))
    out, err = board.exec(code, timeout)
    return parse_results(out), out, err


# ---------------------------------------------------------------- figures
FIG_HEAP = "import gc\ngc.collect()\nprint(gc.mem_free(), gc.mem_alloc())\n"
# every module of /lib/bsdnet imported (a viper module that failed to compile is left out by mkfs)
FIG_HEAP_LIB = """import gc, os
failed = []
for n in sorted(os.listdir('/lib/bsdnet')):
    if n.endswith('.mpy') or n.endswith('.py'):
        try:
            __import__('bsdnet.' + n.rsplit('.', 1)[0])
        except Exception as e:
            failed.append(n)
gc.collect()
print(gc.mem_free(), gc.mem_alloc(), ','.join(failed))
"""
FIG_LOOP = ("import time\ndef f():\n s = 0\n for i in range(100000):\n  s += 1\n return s\n"
            "t = time.ticks_us()\nf()\nprint(time.ticks_diff(time.ticks_us(), t))\n")
FIG_SPI = ("import machine, time\nspi = machine.SPI(0, 20_000_000)\ncs = machine.Pin(17, machine.Pin.OUT, value=1)\n"
           "w = bytearray(bytes(range(256)) * 4)\nr = bytearray(1024)\ncs(0)\nspi.write_readinto(w, r)\ncs(1)\n"
           "assert r == w, 'loopback mismatch'\n"
           "t = time.ticks_us()\nfor i in range(%d):\n cs(0)\n spi.write_readinto(w, r)\n cs(1)\n"
           "print(time.ticks_diff(time.ticks_us(), t))\n")


def figures(board, spi_kb=100):
    """Measure and return a dict of figures (heap after boot, loop speed, SPI throughput)."""
    f = {}
    out, err = board.exec(FIG_HEAP)
    free, alloc = out.split()
    f["mem_free_boot"] = int(free)
    out, err = board.exec(FIG_HEAP_LIB)
    if not err:
        parts = out.split()
        f["mem_free_with_lib"] = int(parts[0])
        if len(parts) > 2:
            f["lib_import_failed"] = parts[2]
    r = board.exec_full(FIG_LOOP)
    f["loop100k_emu_ms"] = int(r["stdout"].strip()) / 1000.0
    f["loop100k_wall_ms"] = round(r["wall_ms"], 1)
    s0 = board.stats()
    r = board.exec_full(FIG_SPI % spi_kb, timeout=120)
    if r["stderr"]:
        f["spi_error"] = r["stderr"].strip().splitlines()[-1]
    else:
        s1 = board.stats()
        n = s1["spi_bytes"] - s0["spi_bytes"]
        emu_us = int(r["stdout"].strip())
        f["spi_bytes"] = n
        f["spi_emu_Bps"] = round(spi_kb * 1024 / (emu_us / 1e6))
        f["spi_wall_Bps"] = round(n / (r["wall_ms"] / 1e3))
    return f


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
    ap.add_argument("--exec", dest="code", action="append", default=[], help="Python code to run (repeatable)")
    ap.add_argument("--file", action="append", default=[], help="run this file's code on the board")
    ap.add_argument("--test", action="append", default=[], help="portable test module to run (repeatable)")
    ap.add_argument("-k", dest="only", action="append", help="only this test function")
    ap.add_argument("--figures", action="store_true", help="print heap, speed and SPI figures")
    ap.add_argument("--chip", default=None, help="none|loopback|pyloop|w5500|enc28j60")
    ap.add_argument("--board", default="pico_w5500")
    ap.add_argument("--uf2", default=UF2)
    ap.add_argument("--fs", default=None, help="littlefs image (default: built now with mkfs.py)")
    ap.add_argument("--extra", action="append", default=[], help="HOST[:FSPATH] added to the image")
    ap.add_argument("--pace", action="store_true", help="emulated time may not run ahead of wall time")
    ap.add_argument("--bridge", default=None, help="byte|w5500: how SPI0 reaches a Python chip model")
    ap.add_argument("--timeout", type=float, default=300)
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
    rc = 0
    with b:
        r = b.ready
        print("# booted in %.0f ms wall (%.0f ms emulated), chip %s" % (r["boot_wall_ms"], r["boot_emu_ms"], chip),
              file=sys.stderr)
        if a.serve:
            time.sleep(a.serve)
            print("# stats %s" % json.dumps(b.stats()), file=sys.stderr)
        for code in a.code + [open(f).read() for f in a.file]:
            out, err = b.exec(code, a.timeout)
            sys.stdout.write(out)
            if err:
                sys.stderr.write(err)
                rc = 1
        counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
        for path in a.test:
            res, out, err = run_test_module(b, path, a.only, a.timeout)
            sys.stdout.write(out)
            if err or not res:
                sys.stderr.write(err or "no results from %s\n" % path)
                rc = 1
            for st, _, _, _ in res:
                counts[st] = counts.get(st, 0) + 1
                if st == "FAIL":
                    rc = 1
        if a.test:
            print("rp2040: %d passed, %d failed, %d skipped (%.1f s wall)"
                  % (counts["PASS"], counts["FAIL"], counts["SKIP"], time.time() - t0))
        if a.figures:
            for k, v in figures(b).items():
                print("%-20s %s" % (k, v))
    return rc


if __name__ == "__main__":
    sys.exit(main())
