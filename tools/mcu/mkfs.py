"""The littlefs image an emulated board mounts at /, as a user's `mpremote cp` would leave it
(moved here from tools/rp2040/mkfs.py; each board's mkfs.py gives its architecture and geometry).

Layout on the board (MicroPython's sys.path is ['', '.frozen', '/lib']):
  /lib/bsdnet/...    lib/ compiled with mpy-cross -march=<arch> (.mpy)
  /main.py, /boot.py and the rest of firmware/ (boot.py and main.py stay .py, the rest .mpy)
  /lib/boards/<name>.py   the chosen boards/<name>.py (.mpy), the hardware
  /config.py         BOARD = "<name>", IP = "10.7.0.2/24", GATEWAY, DNS, HOSTNAME, MAC, MCAST_GROUPS,
                     LOOKUP (config_text(); firmware/main.py reads it; an image with an older
                     /board.py and no config.py still boots)
  extras             HOST[:FSPATH] (a file or a directory); tests=True adds
                     host_tests/portable -> /tests, tools/vmharness.py -> /tests/vmharness.py,
                     tools/emu -> /tools/emu
"""
import os
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import mpysize  # noqa: E402 - tools/: the one mpy-cross call (const folding, -O1)

MPYCROSS = mpysize.MPYCROSS
KEEP_SOURCE = ("boot.py", "main.py", "config.py")


def config_text(board, ip="10.7.0.2/24", gateway="10.7.0.1", dns="0.0.0.0", hostname="bsdnet", mac=None,
                groups=(), lookup=False):
    """The board's /config.py: which boards/<name>.py, and the addresses (the emulated board's
    10.7.0.0/24 by default). mac: 6 bytes, or None for the driver's default. lookup: the firmware's
    diagnostic name-lookup service (firmware/lookup.py)."""
    return ("# the board's network settings (README, Boards); the hardware is boards/%s.py\n"
            "BOARD = %r\nIP = %r  # 'dhcp' or 'A.B.C.D/N'\nGATEWAY = %r\nDNS = %r\nHOSTNAME = %r\n"
            "MAC = %r  # None: from the MCU's unique id\nMCAST_GROUPS = %r\nLOOKUP = %r\n"
            % (board, board, ip, gateway, dns, hostname, None if mac is None else bytes(mac), tuple(groups),
               bool(lookup)))


class Geometry:
    """A board's filesystem: mpy-cross architecture and littlefs geometry."""

    def __init__(self, arch, block_count, block_size=4096, prog_size=None, read_size=None):
        self.arch = arch
        self.block_size = block_size
        self.block_count = block_count
        self.prog_size = prog_size
        self.read_size = read_size


def _walk_py(host_dir):
    for dp, dns, fns in os.walk(host_dir):
        dns[:] = sorted(n for n in dns if n != "__pycache__" and not n.startswith("."))
        for f in sorted(fns):
            if f.endswith(".py"):
                full = os.path.join(dp, f)
                yield full, os.path.relpath(full, host_dir).replace(os.sep, "/")


def collect(board=None, extras=(), tests=False):
    """List of (host path, fs path) pairs, .py names; compile_files() turns them into .mpy."""
    files = []
    for full, rel in _walk_py(os.path.join(ROOT, "lib")):
        files.append((full, "/lib/" + rel))
    fw = os.path.join(ROOT, "firmware")
    if os.path.isdir(fw):
        for full, rel in _walk_py(fw):
            files.append((full, "/" + rel))
    if board:
        bp = os.path.join(ROOT, "boards", board + ".py")
        if not os.path.exists(bp):
            raise SystemExit("mkfs: no board config %s" % bp)
        files.append((bp, "/lib/boards/%s.py" % board))
    ex = list(extras)
    if tests:
        ex.append(os.path.join(ROOT, "host_tests", "portable") + ":/tests")
        ex.append(os.path.join(ROOT, "tools", "vmharness.py") + ":/tests/vmharness.py")
        # the portable tests import the chip emulators as `emu.*` (the VM runner has /tools on sys.path)
        ex.append(os.path.join(ROOT, "tools", "emu") + ":/tools/emu")
    for spec in ex:
        host, _, dst = spec.partition(":")
        host = os.path.abspath(host)
        if os.path.isdir(host):
            dst = dst or "/" + os.path.basename(host)
            for full, rel in _walk_py(host):
                files.append((full, dst.rstrip("/") + "/" + rel))
        else:
            files.append((host, dst or "/" + os.path.basename(host)))
    return files


def compile_files(files, workdir, arch, compile_py=True, keep_source=False, tests=False):
    """Returns (fs path, bytes) pairs; .py -> .mpy with mpy-cross -march=ARCH except boot.py/main.py/board.py.
    tests: the files include the portable tests (mpysize.mpy_cross's tests)."""
    out = []
    errors = []
    for host, dst in files:
        name = dst.rsplit("/", 1)[-1]
        if (not compile_py or keep_source or (name in KEEP_SOURCE and dst.count("/") == 1) or dst == "/board.py"
                or not host.endswith(".py")):
            with open(host, "rb") as f:
                out.append((dst, f.read()))
            continue
        mpy = os.path.join(workdir, dst.lstrip("/")[:-3] + ".mpy")
        err = mpysize.mpy_cross(arch, host, mpy, source_name=mpysize.board_path(dst), tests=tests)
        if err:
            errors.append(err)
            continue
        with open(mpy, "rb") as f:
            out.append((dst[:-3] + ".mpy", f.read()))
    if errors:
        # a module that does not compile is left out (a viper variant has a portable fallback);
        # say so loudly: whatever imports it on the board will fail
        sys.stderr.write("mkfs: left out, mpy-cross failed:\n  " + "\n  ".join(errors) + "\n")
    return out


def make_image(entries, geo):
    from littlefs import LittleFS

    kw = {}
    if geo.prog_size:
        kw["prog_size"] = geo.prog_size
    if geo.read_size:
        kw["read_size"] = geo.read_size
    fs = LittleFS(block_size=geo.block_size, block_count=geo.block_count, mount=True, **kw)
    made = set()
    for dst, data in entries:
        cur = ""
        for p in [p for p in dst.rsplit("/", 1)[0].split("/") if p]:
            cur += "/" + p
            if cur not in made:
                try:
                    fs.mkdir(cur)
                except FileExistsError:
                    pass
                made.add(cur)
        with fs.open(dst, "wb") as f:
            f.write(data)
    return bytes(fs.context.buffer)


def build(geo, out=None, board=None, extras=(), tests=False, compile_py=True, config=None):
    """Build the image; returns (image bytes, [(fs path, size)]). Writes it to out when given.
    config: the /config.py text (default with a board: config_text(board))."""
    files = collect(board, extras, tests)
    with tempfile.TemporaryDirectory() as tmp:
        entries = compile_files(files, tmp, geo.arch, compile_py, tests=tests)
    if config is None and board:
        config = config_text(board)
    if config is not None:
        entries.append(("/config.py", config.encode()))
    img = make_image(entries, geo)
    if out:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "wb") as f:
            f.write(img)
    return img, [(d, len(b)) for d, b in entries]


def main(argv, geo, default_out, default_board, what):
    """The command line every board's mkfs.py has."""
    import argparse

    ap = argparse.ArgumentParser(description=what)
    ap.add_argument("-o", "--out", default=default_out)
    ap.add_argument("--board", default=default_board,
                    help="boards/<name>.py copied to /lib/boards/, named in /config.py ('' for neither)")
    ap.add_argument("--ip", default="10.7.0.2/24", help="config.py IP: 'dhcp' or A.B.C.D/N")
    ap.add_argument("--extra", action="append", default=[], help="HOST[:FSPATH], a file or a directory")
    ap.add_argument("--tests", action="store_true", help="add host_tests/portable and tools/vmharness.py at /tests")
    ap.add_argument("--no-compile", action="store_true", help="copy .py sources instead of .mpy")
    ap.add_argument("-v", action="store_true", help="list the files")
    a = ap.parse_args(argv)
    img, listing = build(geo, a.out, a.board, a.extra, a.tests, not a.no_compile,
                         config_text(a.board, a.ip) if a.board else None)
    if a.v:
        for d, n in listing:
            print("%7d %s" % (n, d))
    total = sum(n for _, n in listing)
    print("mkfs: %s: %d files, %d bytes of content, image %d bytes (%d x %d)"
          % (a.out, len(listing), total, len(img), geo.block_count, geo.block_size))
    return 0
