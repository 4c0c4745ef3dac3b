"""Portable tests and figures on an emulated board (any BoardApi; moved from tools/rp2040/run.py)."""
import os


def parse_results(out):
    """The @@ lines of tools/vmharness.py -> [(status, name, heap, reason)]."""
    res = []
    for line in out.splitlines():
        if line.startswith("@@ "):
            parts = line.split(" ", 4)
            res.append((parts[1], parts[2], int(parts[3]), parts[4] if len(parts) > 4 else ""))
    return res


# A module that opens TCP connections has TCP's memory reserved before it loads, as
# firmware/main.py does at boot: reserved after the stack and the tests are loaded, the heap of an
# emulated Pico is cut into pieces with no 2 KiB block left for a ring (measured: 54 KB free, no
# ring pair made, every SYN dropped as tcps_nomem).
_TCP_FIRST = "from bsdnet import tcp_subr\ntcp_subr.tcp_init()\n"


def _uses_tcp(path):
    with open(path) as f:
        text = f.read()
    return "tcpfix" in text or "SOCK_STREAM" in text


def run_test_module(board, path, only=None, timeout=300, before_run=""):
    """Run host_tests/portable/<module> through vmharness on the board (needs tests=True images).
    Soft-resets first so every module starts with a fresh heap. before_run: code run once the module
    is imported, before its tests. Returns (results, stdout, stderr)."""
    modname = os.path.splitext(os.path.basename(path))[0]
    board.soft_reset()
    # gc.threshold(-1): main.py, interrupted by the harness while it loaded, may have left its
    # load-time collect threshold on (a collection every 4 KB: test_fuzz_input ran 3.4x slower)
    code = ("import sys, gc\ngc.threshold(-1)\nsys.path.append('/tests')\nsys.path.append('/tools')\n%s"
            "import vmharness, %s\n%svmharness.run(%r, %r)\n"
            % (_TCP_FIRST if _uses_tcp(path) else "", modname, before_run, modname, list(only) if only else None))
    out, err = board.exec(code, timeout)
    return parse_results(out), out, err


def run_tests(board, paths, only=None, timeout=300, write=None, before_run=""):
    """Every module in paths; (counts by status, ok). write(str) gets each module's output."""
    counts = {"PASS": 0, "FAIL": 0, "SKIP": 0}
    ok = True
    for path in paths:
        res, out, err = run_test_module(board, path, only, timeout, before_run)
        if write:
            write(out)
        if err or not res:
            import sys

            sys.stderr.write(err or "no results from %s\n" % path)
            ok = False
        for st, _, _, _ in res:
            counts[st] = counts.get(st, 0) + 1
            if st == "FAIL":
                ok = False
    return counts, ok


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
# after imports
gc.collect()
print(gc.mem_free(), gc.mem_alloc(), ','.join(failed))
"""
FIG_LOOP = ("import time\ndef f():\n s = 0\n for i in range(100000):\n  s += 1\n return s\n"
            "t = time.ticks_us()\nf()\nprint(time.ticks_diff(time.ticks_us(), t))\n")
# the chip (a loopback) on machine.SPI(SPI_ID) with a GPIO chip select
FIG_SPI = ("import machine, time\nspi = machine.SPI(%(spi)s, 20_000_000%(pins)s)\n"
           "cs = machine.Pin(%(cs)d, machine.Pin.OUT, value=1)\n"
           "w = bytearray(bytes(range(256)) * 4)\nr = bytearray(1024)\ncs(0)\nspi.write_readinto(w, r)\ncs(1)\n"
           "assert r == w, 'loopback mismatch'\n"
           "t = time.ticks_us()\nfor i in range(%(n)d):\n cs(0)\n spi.write_readinto(w, r)\n cs(1)\n"
           "print(time.ticks_diff(time.ticks_us(), t))\n")


def figures(board, spi_kb=100, spi="0", pins="", cs=17, after_imports="", timeout=60):
    """Measure and return a dict of figures (heap after boot, loop speed, SPI throughput).
    after_imports: code run before each heap figure, once the imports are done (then a soft reset
    before the library's imports)."""
    f = {}
    out, err = board.exec(after_imports + FIG_HEAP)
    free, alloc = out.split()
    f["mem_free_boot"] = int(free)
    if after_imports:
        board.soft_reset()
    out, err = board.exec(FIG_HEAP_LIB.replace("# after imports\n", after_imports), timeout)
    if not err:
        parts = out.split()
        f["mem_free_with_lib"] = int(parts[0])
        if len(parts) > 2:
            f["lib_import_failed"] = parts[2]
    # the loop and SPI figures on a fresh heap: with every module of lib/ loaded the heap is in
    # pieces, and the next interned name can need a new qstr pool of 1280 entries (~9 KB in one
    # block: "allocating 1280 bytes", measured on the emulated Pico)
    board.soft_reset()
    r = board.exec_full(FIG_LOOP)
    f["loop100k_emu_ms"] = int(r["stdout"].strip()) / 1000.0
    f["loop100k_wall_ms"] = round(r["wall_ms"], 1)
    s0 = board.stats()
    r = board.exec_full(FIG_SPI % {"spi": spi, "pins": pins, "cs": cs, "n": spi_kb}, timeout=120)
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


def add_arguments(ap, chips):
    """The command line every board's run.py shares (--exec, --file, --test, -k, --figures, ...)."""
    ap.add_argument("--exec", dest="code", action="append", default=[], help="Python code to run (repeatable)")
    ap.add_argument("--file", action="append", default=[], help="run this file's code on the board")
    ap.add_argument("--test", action="append", default=[], help="portable test module to run (repeatable)")
    ap.add_argument("-k", dest="only", action="append", help="only this test function")
    ap.add_argument("--figures", action="store_true", help="print heap, speed and SPI figures")
    ap.add_argument("--chip", default=None, help=chips)
    ap.add_argument("--fs", default=None, help="littlefs image (default: built now with mkfs.py)")
    ap.add_argument("--extra", action="append", default=[], help="HOST[:FSPATH] added to the image")
    ap.add_argument("--timeout", type=float, default=300)


def run_cli(b, a, name, t0, write, figures_fn, before_run=""):
    """Run what the command line asked on a booted board b; the exit status."""
    import sys
    import time

    rc = 0
    for code in a.code + [open(f).read() for f in a.file]:
        out, err = b.exec(code, a.timeout)
        write(out)
        if err:
            sys.stderr.write(err)
            rc = 1
    if a.test:
        counts, ok = run_tests(b, a.test, a.only, a.timeout, write, before_run)
        if not ok:
            rc = 1
        print("%s: %d passed, %d failed, %d skipped (%.1f s wall)"
              % (name, counts["PASS"], counts["FAIL"], counts["SKIP"], time.time() - t0))
    if a.figures:
        for k, v in figures_fn(b).items():
            print("%-20s %s" % (k, v))
    return rc
