#!/usr/bin/env python3
"""Type check the device code (lib/, firmware/, boards/, examples/) against the MicroPython stubs of each port.

The rp2 and esp32 stub packages both install `machine.pyi`, so each goes to its own folder
(build/stubs/<port>, made by `make setup`) and mypy runs once per port with that folder as its
typeshed. Only findings in our own files count: the stubs themselves are not ours to fix.
"""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OURS = ("lib/", "firmware/", "boards/", "examples/")


def check(port):
    stubs = os.path.join(ROOT, "build", "stubs", port)
    if not os.path.isdir(stubs):
        print("typecheck: %s missing; run make setup" % stubs)
        return 1
    # firmware/ is the board's root directory: its modules import one another by bare name
    env = dict(os.environ, MYPYPATH=os.pathsep.join([stubs, os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware")]))
    targets = [d for d in ("lib/bsdnet", "firmware", "boards", "examples") if os.path.isdir(os.path.join(ROOT, d))
               and any(f.endswith(".py") for _, _, fs in os.walk(os.path.join(ROOT, d)) for f in fs)]
    cmd = [sys.executable, "-m", "mypy", "--custom-typeshed-dir", stubs, "--python-version", "3.11",
           "--no-error-summary", "--no-incremental", "--cache-dir", os.devnull,
           "--explicit-package-bases", "--exclude", "_viper\\.py$"] + targets
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    ours = [ln for ln in p.stdout.splitlines() if ln.startswith(OURS) and ": error:" in ln]
    for ln in ours:
        print("%s: %s" % (port, ln))
    print("typecheck %s: %d file set(s), %d error(s) in device code" % (port, len(targets), len(ours)))
    return 1 if ours else 0


if __name__ == "__main__":
    sys.exit(max(check(p) for p in ("rp2", "esp32")))
