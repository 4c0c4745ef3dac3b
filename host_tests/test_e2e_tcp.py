"""End to end TCP: the firmware's TCP services on the host board (echo 7, discard 9, chargen 19,
HTTP 80) against the Linux kernel's TCP, in a network namespace this test makes, for each chip
(w5500, enc28j60) and runtime (cpython; micropython: the MicroPython VM; rp2040: the emulated Pico;
esp32: the emulated ESP32, with ESP32_FULL=1, small sizes as on the Pico).
The Linux side is host_tests/linux_tcp.py and curl, run inside the namespace.

Checks, per chip and runtime: echo byte for byte (1 B, 64 KiB, 1 MiB on cpython; smaller on the
slow runtimes), discard (4 MiB on cpython) until the board closes after the client's FIN, chargen
(1 MiB on cpython) against the RFC 864 pattern, half-close (the client shuts its write side and
still gets the rest of the echo, then EOF), 8 clients echoing at once, 50 connections one after
another, connections reset (SO_LINGER 0) in the middle of transfers are freed (`tcp_connections`
in /stats back to where it was, the mbuf pool full again), HTTP with curl (1.0; 1.1 keep-alive with
two URLs on one connection; 404; 405; /stats JSON), and, on a wire with loss, duplication and
reordering (--impair loss=0.05,dup=0.02,reorder=0.05,seed=N), 1 MiB echoed byte for byte (cpython;
smaller on the others). Each board ends with the mbuf pool full. Throughput figures are printed.

Sizes per runtime are in SIZES. Environment:
  BSDNET_TCP_FULL=1  the MicroPython VM gets the cpython sizes (1 MiB echo, 4 MiB discard, ...) and
                     the emulated Pico bigger ones; several minutes more.
  RP2040_FULL=1      every test on the emulated Pico; without it only the smoke set (echo, chargen,
                     discard, half-close, HTTP) runs there, with small sizes. `-k "not rp2040"`
                     leaves the Pico out altogether.
Needs root, /dev/net/tun, ip (Debian: iproute2), curl for the HTTP test, node for the VM runtimes.
"""
import json
import os
import shutil
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from e2e import BOARD_IP, WITH_ESP32, board_id, board_params, board_tail, netns_board, run_json  # noqa: E402
from tap import netns_missing  # noqa: E402

_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

TCP_FULL = os.environ.get("BSDNET_TCP_FULL") == "1"
RP2040_FULL = os.environ.get("RP2040_FULL") == "1"
CLIENT = os.path.join(ROOT, "host_tests", "linux_tcp.py")
KiB, MiB = 1024, 1024 * 1024

_CPYTHON = {"echo": (1, 64 * KiB, MiB), "discard": 4 * MiB, "chargen": MiB, "halfclose": 64 * KiB,
            "concurrent": (8, 64 * KiB), "sequential": 50, "abort": 6, "lossy": MiB,
            "rate": 50 * KiB}  # rate: the slowest bulk rate (B/s wall) the time limits allow for
# the emulated boards: a few hundred bytes to a few KB a second through the emulators
_MCU = dict(_CPYTHON, echo=(1, 16 * KiB), discard=64 * KiB, chargen=32 * KiB, halfclose=8 * KiB,
            concurrent=(4, 4 * KiB), sequential=10, abort=3, lossy=16 * KiB, rate=2 * KiB)
SIZES = {
    "cpython": _CPYTHON,
    "micropython": _CPYTHON if TCP_FULL else dict(
        _CPYTHON, echo=(1, 64 * KiB, 256 * KiB), discard=MiB, chargen=256 * KiB, halfclose=32 * KiB,
        concurrent=(8, 16 * KiB), lossy=64 * KiB, rate=10 * KiB),
    "rp2040": _MCU if not TCP_FULL
    else dict(_CPYTHON, echo=(1, 64 * KiB, 256 * KiB), discard=MiB, chargen=256 * KiB, halfclose=32 * KiB,
              concurrent=(8, 8 * KiB), lossy=64 * KiB, rate=2 * KiB),
    "esp32": _MCU,
}
STATS_KEYS = ("mem_alloc", "mem_free", "mbuf_free", "mbuf_total", "tcp_connections", "ipstat", "icmpstat",
              "udpstat", "tcpstat")
FIGURES = []  # printed by test_tcp_summary


def _size(board, what):
    return SIZES[board.runtime][what]


def _limit(board, nbytes):
    """Seconds a transfer of nbytes may take, wall, on this runtime (plus start-up)."""
    return 30 + nbytes / SIZES[board.runtime]["rate"]


def _smoke_only(board):
    """The emulated Pico runs the smoke set unless RP2040_FULL=1."""
    if board.runtime == "rp2040" and not RP2040_FULL:
        pytest.skip("emulated Pico: smoke set only (RP2040_FULL=1 runs this too)")


def _client(board, *args, timeout=60, sock_timeout=30):
    return run_json(board, [sys.executable, CLIENT, "--board", BOARD_IP, "--timeout", str(sock_timeout)]
                    + [str(a) for a in args], timeout)


def _figure(board, text, capsys):
    line = "TCP %s/%s: %s" % (board.chip, board.runtime, text)
    FIGURES.append(line)
    with capsys.disabled():
        print("\n" + line)


def _rate(n, s):
    return "%.0f KB/s" % (n / s / 1000) if s > 0 else "n/a"


def _http_stats(board):
    r = _client(board, "stats", timeout=30, sock_timeout=10)
    assert r["status"] == 200, r
    return r["stats"]


@pytest.fixture(scope="module", params=board_params(WITH_ESP32), ids=board_id)
def board(request):
    chip, runtime = request.param
    with netns_board("tcp", chip, runtime) as b:
        yield b


def test_echo(board, capsys):
    sizes = _size(board, "echo")
    r = _client(board, "echo", *sizes, timeout=sum(_limit(board, 2 * n) for n in sizes))
    bad = [e for e in r["echo"] if not e["ok"]]
    assert not bad, bad
    big = r["echo"][-1]
    _figure(board, "echo %s: %d B there and back in %.2f s wall (%s each way); 1 B round trip with connect "
            "%.1f ms" % ("/".join(str(n) for n in sizes), big["size"], big["s"], _rate(big["size"], big["s"]),
                         1000 * (r["echo"][0]["s"] + r["echo"][0]["connect_s"])), capsys)


def test_discard(board, capsys):
    n = _size(board, "discard")
    r = _client(board, "discard", n, timeout=_limit(board, n), sock_timeout=60)
    assert r["ok"], r
    _figure(board, "discard %d B until the board's close: %.2f s wall (%s)" % (n, r["s"], _rate(n, r["s"])), capsys)


def test_chargen(board, capsys):
    n = _size(board, "chargen")
    r = _client(board, "chargen", n, timeout=_limit(board, n))
    assert r["ok"], r
    _figure(board, "chargen %d B, RFC 864 pattern checked (first line %d): %.2f s wall (%s)"
            % (n, r["start_line"], r["s"], _rate(n, r["s"])), capsys)


def test_half_close(board):
    n = _size(board, "halfclose")
    r = _client(board, "halfclose", n, timeout=_limit(board, 2 * n))
    # the whole echo arrived (much of it after our FIN), then the board's FIN, nothing more
    assert r["ok"], r


def test_concurrent_clients(board, capsys):
    _smoke_only(board)
    k, n = _size(board, "concurrent")
    r = _client(board, "concurrent", k, n, timeout=_limit(board, 2 * k * n) + 30, sock_timeout=60)
    assert r["ok"], r
    _figure(board, "%d clients at once, %d B echoed each: %.2f s wall (%s each way in all)"
            % (k, n, r["s"], _rate(k * n, r["s"])), capsys)


def test_sequential_connections(board, capsys):
    _smoke_only(board)
    n = _size(board, "sequential")
    r = _client(board, "sequential", n, timeout=30 + n * (2 if board.runtime == "cpython" else 6), sock_timeout=10)
    assert r["ok"], r
    _figure(board, "%d connections one after another (connect, 1-64 B echoed, close): %.1f/s wall"
            % (n, r["rate"]), capsys)


def _settled(board, base, timeout=20):
    """Poll until /stats shows no more connections than base and the stats line a full mbuf pool;
    (http stats, stats line) of the last poll."""
    end = time.monotonic() + timeout
    while True:
        h = _http_stats(board)
        st = board.stats()
        if h["tcp_connections"] <= base and st["mbuf"]["free"] == st["mbuf"]["size"]:
            return h, st
        if time.monotonic() > end:
            return h, st
        time.sleep(0.5)


def test_aborted_connections_are_freed(board):
    _smoke_only(board)
    base = _http_stats(board)["tcp_connections"]
    n = _size(board, "abort")
    r = _client(board, "abort", n, timeout=60 + 10 * n, sock_timeout=20)
    assert r["ok"], r
    h, st = _settled(board, base)
    assert h["tcp_connections"] <= base, (base, h)
    assert st["mbuf"]["free"] == st["mbuf"]["size"], st["mbuf"]
    assert h["mbuf_total"] == st["mbuf"]["size"], h
    # and the services go on
    r = _client(board, "echo", 1000, timeout=60)
    assert r["echo"][0]["ok"], r


def _curl(board, args, timeout=30):
    """curl inside the namespace: (status, [(http_code, num_connects, content_type, body)], stderr)."""
    mark = "\n@@curl %{http_code} %{num_connects} %{content_type}\n"
    p = board.ns.run(["curl", "-sS", "-v", "--max-time", "20", "-w", mark] + list(args), timeout=timeout, check=False)
    out = []
    body = []
    for line in p.stdout.split("\n"):
        if line.startswith("@@curl "):
            f = line.split(" ", 3)
            out.append((int(f[1]), int(f[2]), f[3] if len(f) > 3 else "", "\n".join(body)))
            body = []
        else:
            body.append(line)
    return p.returncode, out, p.stderr


def test_http_with_curl(board):
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed (Debian: curl)")
    url = "http://%s" % BOARD_IP
    rc, res, err = _curl(board, ["--http1.0", url + "/"])
    assert rc == 0 and len(res) == 1, (rc, res, err, board_tail(board))
    code, conns, ctype, body = res[0]
    assert code == 200 and "text/html" in ctype and "<html" in body.lower(), res

    # HTTP/1.1: the second URL goes over the first one's connection
    rc, res, err = _curl(board, ["--http1.1", url + "/", url + "/stats"])
    assert rc == 0 and len(res) == 2, (rc, res, err, board_tail(board))
    assert [r[0] for r in res] == [200, 200], res
    assert "Re-using existing connection" in err or "Reusing existing connection" in err, err
    assert res[0][1] == 1 and res[1][1] == 0, res  # num_connects: one connection for both
    assert "json" in res[1][2], res[1]
    st = json.loads(res[1][3])
    missing = [k for k in STATS_KEYS if k not in st]
    assert not missing, (missing, st)
    assert st["tcp_connections"] >= 1 and st["mbuf_total"] > 0, st

    rc, res, err = _curl(board, ["--http1.1", url + "/no/such/page"])
    assert rc == 0 and res and res[0][0] == 404, (rc, res, err)
    rc, res, err = _curl(board, ["--http1.1", "-X", "POST", "-d", "x=1", url + "/"])
    assert rc == 0 and res and res[0][0] == 405, (rc, res, err)


def test_board_after_all(board, capsys):
    """The board is still up, and nothing is held: the mbuf pool is full again."""
    st = None
    for _ in range(20):  # bounded: connections the earlier tests closed may still be finishing
        st = board.stats()
        if st["mbuf"]["free"] == st["mbuf"]["size"]:
            break
        time.sleep(0.5)
    assert st["mbuf"]["free"] == st["mbuf"]["size"], st["mbuf"]
    tcp = st.get("tcp", {})
    with capsys.disabled():
        print("\nTCP %s/%s counters: %s" % (board.chip, board.runtime,
                                           json.dumps(dict((k, v) for k, v in sorted(tcp.items()) if v))))


# ---------------------------------------------------------------- a lossy wire
IMPAIR = "loss=0.05,dup=0.02,reorder=0.05,seed=%d"


@pytest.fixture(scope="module", params=board_params(), ids=board_id)
def lossy_board(request, tmp_path_factory):
    chip, runtime = request.param
    if runtime == "rp2040" and not RP2040_FULL:
        pytest.skip("emulated Pico: smoke set only (RP2040_FULL=1 runs this too)")
    seed = 1 + board_params().index(request.param)
    pcap = str(tmp_path_factory.mktemp("tcp-lossy") / ("%s-%s.pcap" % request.param))
    with netns_board("tcpl", chip, runtime, extra=["--impair", IMPAIR % seed, "--pcap", pcap]) as b:
        b.impair = IMPAIR % seed
        b.pcap = pcap
        yield b


def test_echo_over_lossy_wire(lossy_board, capsys):
    b = lossy_board
    n = _size(b, "lossy")
    r = run_json(b, [sys.executable, CLIENT, "--board", BOARD_IP, "--timeout", "60", "echo", str(n)],
                 timeout=2 * _limit(b, 2 * n))
    e = r["echo"][0]
    assert e["ok"], (e, "pcap: %s" % b.pcap)
    st = b.stats()
    imp = st["wire"]["impair"]
    assert imp["lost"] > 0, imp
    tcp = st.get("tcp", {})
    rexmt = dict((k, v) for k, v in tcp.items() if "rexmt" in k or "retrans" in k or "dup" in k or "ooo" in k)
    _figure(b, "echo %d B over --impair %s: %.2f s wall (%s each way); wire %s; tcp %s"
            % (n, b.impair, e["s"], _rate(n, e["s"]), json.dumps(imp, sort_keys=True),
               json.dumps(rexmt, sort_keys=True)), capsys)
    for _ in range(20):
        st = b.stats()
        if st["mbuf"]["free"] == st["mbuf"]["size"]:
            break
        time.sleep(0.5)
    assert st["mbuf"]["free"] == st["mbuf"]["size"], st["mbuf"]


def test_tcp_summary(capsys):
    # printed last, past pytest's capture: the figures of every board
    if not FIGURES:
        pytest.skip("no TCP figure was taken")
    with capsys.disabled():
        print()
        for line in FIGURES:
            print(line)
