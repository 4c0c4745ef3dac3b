"""The long fuzz run: 20,000 seeded frames of every protocol through the whole input path (the
generator and the checks of host_tests/portable/test_fuzz_input.py: nothing raises, nothing leaks,
every frame counted, echo answered afterwards, the pool full). CPython only: the VM runs the short
portable one. Prints the frames per second and the drops by reason."""
import time

import test_fuzz_input as fz

FRAMES = 20000


def test_fuzz_20000_frames():
    for seed in (0x5EED, 20000):
        t = time.monotonic()
        st = fz.run(seed, FRAMES).stats()
        dt = time.monotonic() - t
        drops = {k: v for layer in ("ip", "udp", "icmp", "tcp", "arp", "ether")
                 for k, v in st[layer].items() if v and ("bad" in k or "drop" in k or "short" in k or "port0" in k)}
        print("fuzz seed %#x: %d frames in %.1f s (%.0f/s); drops %s" % (seed, FRAMES, dt, FRAMES / dt, drops))


def test_fuzz_20000_frames_in_the_micropython_vm():
    """The same 20,000 frames inside the MicroPython VM (32-bit small ints, its own heap)."""
    import os
    import shutil
    import subprocess
    import sys

    import pytest

    if shutil.which("node") is None:
        pytest.skip("node is not installed (make setup)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, os.path.join(root, "tools"))
    import vmtest

    code = ("import time, test_fuzz_input as fz\nt = time.ticks_ms()\nfz.run(%d, %d)\n"
            "print('vm fuzz: %d frames in', time.ticks_diff(time.ticks_ms(), t), 'ms')\n" % (0x5EED, FRAMES, FRAMES))
    argv = vmtest.vm_command("test_fuzz_input", None)
    argv[-1] = code
    p = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=root)
    print(p.stdout.strip()[-500:])
    assert p.returncode == 0 and "vm fuzz" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]
