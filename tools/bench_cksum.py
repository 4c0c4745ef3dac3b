#!/usr/bin/env python3
"""Internet checksum speed over 1500-byte frames (lib/bsdnet/in_cksum.py). A figure, not a test.

    .venv/bin/python tools/bench_cksum.py [--frames N] [--no-vm] [--rp2040] [--esp32] [--micropython PATH]

Prints one line per runtime and implementation, e.g.
    cksum cpython portable: 31.5 MB/s (47.6 us per 1500-byte frame)
cpython: the portable loop and the int.from_bytes path CPython uses; vm: the MicroPython VM in node
(tools/mpvm.mjs; portable only, the VM has no viper); --rp2040: stock MicroPython on the emulated
Pico (tools/rp2040/run.py; portable and viper, in emulated time, which rp2040js runs at roughly a
quarter of a real RP2040's speed); --esp32: stock MicroPython on the emulated ESP32 (tools/esp32/run.py,
QEMU; xtensawin viper; its clock is wall time, the emulated CPU far slower than a real ESP32);
--micropython: a unix MicroPython binary (viper on the host CPU).
"""
import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "lib"))

# Runs in every MicroPython: prints "@@ impl bytes_per_second ns_per_frame" lines.
MP_CODE = """
import time
from bsdnet import in_cksum as ck
buf = bytearray(1514)
for i in range(1514):
    buf[i] = (i * 37 + 11) & 0xFF
def bench(name, fn, n):
    for _ in range(WARM):  # node tiers wasm up (Liftoff, then TurboFan): the first frames run slow
        fn(buf, 14, 1500, 0)
    t0 = time.ticks_us()
    for _ in range(n):
        fn(buf, 14, 1500, 0)
    dt = time.ticks_diff(time.ticks_us(), t0)
    if dt <= 0:
        dt = 1
    print("@@ %s %d %d" % (name, n * 1500 * 1000000 // dt, dt * 1000 // n))
bench("portable", ck.cksum_add_portable, FRAMES)
if ck.IMPL == "viper":
    bench("viper", ck.cksum_add, FRAMES * 20)
"""


def line(runtime, impl, bps, us, note=""):
    print("cksum %s %s: %.2f MB/s (%.1f us per 1500-byte frame)%s" % (runtime, impl, bps / 1e6, us, note))


def parse_mp(runtime, out, note=""):
    found = False
    for ln in out.splitlines():
        if ln.startswith("@@ "):
            _, impl, bps, ns = ln.split()
            line(runtime, impl, int(bps), int(ns) / 1000, note)
            found = True
    if not found:
        print("cksum %s: no figure (output: %s)" % (runtime, out.strip()[-300:]))


def bench_cpython(frames):
    from bsdnet import in_cksum as ck

    buf = bytearray((i * 37 + 11) & 0xFF for i in range(1514))
    impls = [("portable", ck.cksum_add_portable), (ck.IMPL, ck.cksum_add)]
    for name, fn in impls:
        n = frames if name == "portable" else frames * 20
        fn(buf, 14, 1500, 0)
        t0 = time.perf_counter()
        for _ in range(n):
            fn(buf, 14, 1500, 0)
        dt = time.perf_counter() - t0
        line("cpython", name, n * 1500 / dt, dt * 1e6 / n)


def bench_vm(frames):
    code = MP_CODE.replace("FRAMES", str(frames)).replace("WARM", str(frames))
    cmd = ["node", os.path.join(ROOT, "tools", "mpvm.mjs"), "--heap", "4m",
           "--mount", os.path.join(ROOT, "lib") + ":/lib", "--path", "/lib", "--exec", code]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT)
    parse_mp("vm", p.stdout + p.stderr)


def bench_unix(path, frames):
    code = "import sys\nsys.path.insert(0, %r)\n" % os.path.join(ROOT, "lib")
    code += MP_CODE.replace("FRAMES", str(frames)).replace("WARM", "10")
    p = subprocess.run([path, "-c", code], capture_output=True, text=True, timeout=600, cwd=ROOT)
    parse_mp("micropython-unix", p.stdout + p.stderr)


# the emulated boards: tools/<board>/run.py, the name printed, what the board's clock is
BOARDS = {"rp2040": ("rp2040-emulated", " [emulated time]"),
          "esp32": ("esp32-emulated", " [QEMU: the board's clock follows wall time]")}


def bench_board(board, frames):
    code = MP_CODE.replace("FRAMES", str(frames)).replace("WARM", "1")
    cmd = [sys.executable, os.path.join(ROOT, "tools", board, "run.py"), "--exec", code]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    parse_mp(BOARDS[board][0], p.stdout + p.stderr, BOARDS[board][1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1000, help="frames per portable run (viper runs 20x)")
    ap.add_argument("--no-vm", action="store_true", help="skip the MicroPython VM")
    ap.add_argument("--rp2040", action="store_true", help="also on the emulated Pico (stock MicroPython)")
    ap.add_argument("--esp32", action="store_true", help="also on the emulated ESP32 (stock MicroPython, QEMU)")
    ap.add_argument("--micropython", metavar="PATH", help="also with a unix MicroPython binary")
    a = ap.parse_args()
    bench_cpython(a.frames)
    if not a.no_vm:
        bench_vm(a.frames)
    if a.micropython:
        bench_unix(a.micropython, a.frames)
    for board in ("rp2040", "esp32"):
        if getattr(a, board):
            bench_board(board, max(1, a.frames // 50))
    return 0


if __name__ == "__main__":
    sys.exit(main())
