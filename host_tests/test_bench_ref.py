"""make bench's side-by-side run (tools/rp2040/bench_ref.py) in small sizes: our firmware and the
lwIP reference firmware on the emulated Pico, frame level and (as root) over a TAP in a namespace
the bench makes and deletes, and (as root) ours on the cpython host board, W5500. Checks that it
exits 0, prints every figure for the reference, a figure or "n/a until the ... issue" for ours on
both boards, and leaves no namespace behind. About 45 s.
Skips without node, the firmwares or the boot ROM (see ../shared/rp2040/README.md).
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "rp2040"))
import run  # noqa: E402

BENCH = os.path.join(ROOT, "tools", "rp2040", "bench_ref.py")


def _missing():
    for uf2 in (run.UF2, run.UF2_W5500):
        why = run.missing(uf2)
        if why:
            return why
    return None


def _netns():
    p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    return set(line.split()[0] for line in p.stdout.splitlines() if line.startswith("bsdnet-bench-"))


@pytest.mark.skipif(_missing() is not None, reason="emulated Pico: %s" % _missing())
@pytest.mark.skipif(os.environ.get("RP2040_FULL") != "1", reason="about 30 s: RP2040_FULL=1 (make rp2040-full)")
def test_bench_ref_small():
    root = os.geteuid() == 0 and os.path.exists("/dev/net/tun")
    before = _netns() if root else set()
    p = subprocess.run([sys.executable, BENCH, "--pings", "5", "--udp", "10", "--tcp-kb", "16", "--echo-kb", "2",
                        "--connects", "5", "--rtts", "5", "--hostboard", "cpython", "--hostboard-chips", "w5500"],
                       capture_output=True, text=True, timeout=240, cwd=ROOT)
    out = p.stdout
    assert p.returncode == 0, out + p.stderr[-2000:]
    lines = dict((ln.split(":", 1)[0], ln) for ln in out.splitlines() if ln.startswith("ref-bench "))
    for what in ("ping rtt avg", "udp echo", "gc.mem_free"):
        for name in ("ours", "ref"):
            assert "ref-bench %s %s" % (name, what) in lines, out
    assert "FAILED" not in out and "ref-bench error" not in out, out
    tap = ("tap udp echo", "tap udp discard+chargen", "idle load", "tcp bulk host->board", "tcp bulk board->host",
           "tcp echo", "tcp echo latency", "tcp connect rate", "tcp transactions", "tcp misbehaving clients")
    if not root:
        assert "TAP part (TCP, kernel peer) skipped" in out, out
        return
    for what in tap:
        ref = lines.get("ref-bench ref " + what)
        assert ref and "n/a" not in ref, out
        ours = lines.get("ref-bench ours " + what)
        assert ours, out
        if what not in ("idle load", "tap udp discard+chargen"):
            assert lines.get("ref-bench hostboard-w5500-cpython " + what), out
    assert "pattern checked" in lines["ref-bench ref tcp bulk board->host"]
    assert _netns() == before, "namespace left behind"
    print("\n" + "\n".join(ln for ln in out.splitlines() if ln.startswith("ref-bench ")))
