"""End to end IP fragmentation and reassembly: the host board against the Linux kernel, in a network
namespace this test makes (MTU 1500 on the TAP): W5500 on cpython, the MicroPython VM and the emulated
Pico, ENC28J60 on cpython.

- ping -s 4000 and -s 5912 (the largest): the request reassembled, the reply sent in fragments in
  the request's own clusters (on the Pico too: ip_reass and ip_frag load there on first need).

- UDP echo (port 7) of datagrams over the MTU, up to the largest the board takes (opts.UDP_SENDSPACE,
  5912 bytes, 4 fragments): Linux fragments the request, the board reassembles it and answers in
  fragments of its own, which Linux reassembles (a reply with a bad fragment or UDP checksum would
  never reach the socket). Prints the stop-and-wait rate for 4000-byte datagrams. Not on the Pico,
  whose echo service answers 1472 bytes at most (firmware/services.py, its heap).
- Fragments crafted with scapy and sent from a raw socket: out of order, reversed, tiny (8 bytes),
  duplicated, and overlapping with forged bytes in the overlaps (the first copy wins: a forged byte
  in the answer would fail its UDP checksum at the board).
- Reassembly timeout: a lone fragment 0 sent when the board comes up; ICMP time exceeded
  (reassembly) comes back about opts.IP_REASS_TTL_MS later, quoting its header, seen by a raw ICMP
  socket in the namespace. It waits while the other tests run, and takes one reassembly slot and one
  cluster of the quota meanwhile, which the tests before it leave room for. W5500 boards only: the
  ENC28J60's 6.5 KB receive buffer can overflow in a burst of four full fragments (counted), and the
  datagram it leaves half done would, by the rules, push out the older lone one.
- A datagram one byte over the largest is dropped (ips_toolong), and the board answers afterwards.
Every board ends with its mbuf pool full and nothing held by reassembly.
Needs root, /dev/net/tun, ip (Debian: iproute2), and node for the MicroPython VM.
"""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "lib"))

from e2e import netns_board, board_tail, run_json, pico_full_only  # noqa: E402
from tap import netns_missing  # noqa: E402
from bsdnet import opts  # noqa: E402

_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

TTL_S = opts.IP_REASS_TTL_MS / 1000
LONE_ID = 0x7A7A

_COMMON = r"""
import json, socket, sys, time
BOARD, HOST = "10.7.0.2", "10.7.0.1"
def pattern(n, k):
    return bytes((i * k + (i >> 8)) & 0xFF for i in range(n))
"""

# Sent when the board is up: a lone fragment 0 of a UDP datagram to the echo port, then a raw ICMP
# socket waits for the board's time exceeded (reassembly) about it. Prints one JSON line.
LONE = _COMMON + r"""
from scapy.all import IP, UDP, Raw
ident, wait = int(sys.argv[1]), float(sys.argv[2])
ic = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
d = bytes(IP(src=HOST, dst=BOARD) / UDP(sport=40999, dport=7) / Raw(pattern(3000, 3)))[20:]
f0 = bytes(IP(src=HOST, dst=BOARD, id=ident, flags="MF", frag=0, proto=17, ttl=64) / Raw(d[:1480]))
tx.sendto(f0, (BOARD, 0))
t0 = time.monotonic()
print("sent", flush=True)
out = {"got": None}
while time.monotonic() - t0 < wait:
    ic.settimeout(max(0.1, wait - (time.monotonic() - t0)))
    try:
        p = ic.recv(2000)
    except socket.timeout:
        break
    hl = (p[0] & 15) * 4
    if p[hl] != 11 or len(p) < hl + 8 + 28:
        continue
    q = p[hl + 8:]
    if (q[4] << 8 | q[5]) != ident:
        continue
    out = {"got": time.monotonic() - t0, "type": p[hl], "code": p[hl + 1], "src": socket.inet_ntoa(p[12:16]),
           "quote_is_fragment_0": q[:28] == f0[:10] + q[10:12] + f0[12:28] and q[6:8] == b"\x20\x00"}
    break
print(json.dumps(out))
"""

ECHO = _COMMON + r"""
sizes = [int(x) for x in sys.argv[1].split(",")]
rate_n = int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
for _ in range(5):  # ARP both ways first
    s.sendto(b"warm", (BOARD, 7))
    try:
        if s.recvfrom(100)[0] == b"warm":
            break
    except socket.timeout:
        pass
def echo(data, tries=3):
    for _ in range(tries):
        s.sendto(data, (BOARD, 7))
        try:
            while True:
                got, addr = s.recvfrom(70000)
                if got == data and addr == (BOARD, 7):
                    return True
        except socket.timeout:
            pass
    return False
out = {"bad": [n for n in sizes if not echo(pattern(n, 7))]}
t0 = time.perf_counter()
ok = 0
for i in range(rate_n):
    if echo(i.to_bytes(4, "big") * 1000, tries=1):
        ok += 1
out["rate_ok"] = ok
out["rate_s"] = time.perf_counter() - t0
print(json.dumps(out))
"""

CRAFTED = _COMMON + r"""
from scapy.all import IP, UDP, Raw
P = 40123
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
r.bind((HOST, P))
r.settimeout(3)
tx = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
def udp(data):
    return bytes(IP(src=HOST, dst=BOARD) / UDP(sport=P, dport=7) / Raw(data))[20:]
def frag(ident, d, a, b, mf=None, data=None):
    if mf is None:
        mf = b < len(d)
    piece = d[a:b] if data is None else data
    return bytes(IP(src=HOST, dst=BOARD, id=ident, flags="MF" if mf else 0, frag=a // 8, proto=17, ttl=64)
                 / Raw(piece))
def cut(ident, d, size):
    return [frag(ident, d, a, min(a + size, len(d))) for a in range(0, len(d), size)]
def bad(n):
    return b"\xee" * n
out = {}
def case(name, frames, data):
    for f in frames:
        tx.sendto(f, (BOARD, 0))
        time.sleep(0.002)  # about a full frame's time at 10 Mbit/s: an ENC28J60's buffer holds four
    try:
        got = r.recv(70000)
        out[name] = "ok" if got == data else "differs (%d bytes)" % len(got)
    except socket.timeout:
        out[name] = "no answer"
data = pattern(3500, 5)
fr = cut(0x1001, udp(data), 1480)
case("out_of_order", [fr[2], fr[0], fr[1]], data)
data = pattern(5912, 11)
case("largest_reversed", cut(0x1002, udp(data), 1480)[::-1], data)
data = pattern(24, 13)
case("8_byte_fragments", cut(0x1003, udp(data), 8)[::-1], data)
data = pattern(3500, 17)
fr = cut(0x1004, udp(data), 1480)
case("duplicates", [fr[1], fr[1], fr[0], fr[0], fr[1], fr[2]], data)
data = pattern(2992, 19)
d = udp(data)
case("overlaps_first_copy_wins", [
    frag(0x1005, d, 800, 1600),
    frag(0x1005, d, 0, 1480, data=d[0:800] + bad(680)),  # its tail is held: cut at 800
    frag(0x1005, d, 2400, 2408),
    frag(0x1005, d, 800, 1600, data=bad(800)),  # a forged duplicate
    frag(0x1005, d, 792, 808, data=bad(16)),  # nothing new
    frag(0x1005, d, 1600, 3000, data=d[1600:2400] + bad(8) + d[2408:3000]),  # covers [2400, 2408)
], data)
data = pattern(2992, 23)
d = udp(data)
case("front_overlap_trimmed", [frag(0x1006, d, 0, 1480), frag(0x1006, d, 1472, 2952, data=bad(8) + d[1480:2952]),
                                frag(0x1006, d, 2952, 3000)], data)
print(json.dumps(out))
"""

OVER = _COMMON + r"""
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(pattern(int(sys.argv[1]) + 1, 3), (BOARD, 7))
try:
    s.recvfrom(70000)
    over = "answered"
except socket.timeout:
    over = "dropped"
data = pattern(1000, 9)
s.sendto(data, (BOARD, 7))
try:
    after = s.recvfrom(70000)[0] == data
except socket.timeout:
    after = False
print(json.dumps({"over": over, "after": after}))
"""

_BOARDS = [("w5500", "cpython"), ("enc28j60", "cpython"), ("w5500", "micropython"), ("w5500", "rp2040")]


def _echo_max(board):
    """The largest datagram the board's echo service answers whole (firmware/services.py
    UDP_ECHO_MAX: one frame's worth on a small heap, the emulated Pico's)."""
    return 1472 if board.runtime == "rp2040" else opts.UDP_SENDSPACE


def _needs_big_echo(board):
    if _echo_max(board) < opts.UDP_SENDSPACE:
        pytest.skip("the echo service on the emulated Pico answers 1472 bytes at most (its heap); "
                    "test_big_ping covers reassembly and fragmentation there")


@pytest.fixture(scope="module", params=_BOARDS, ids=lambda p: "%s-%s" % p)
def board(request):
    chip, runtime = request.param
    with netns_board("frag", chip, runtime) as b:
        # the reassembly timeout's lone fragment goes first; its answer is collected by
        # test_reassembly_timeout_sends_time_exceeded, after the tests in between
        b.lone = None
        if chip == "w5500":
            b.lone = subprocess.Popen(b.ns.cmd([sys.executable, "-u", "-c", LONE, str(LONE_ID), str(TTL_S + 15)]),
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            line = b.lone.stdout.readline()  # "sent": the fragment is on the wire before the other tests
            assert line.startswith("sent"), (line, b.lone.stderr.read() if b.lone.poll() is not None else "")
        try:
            yield b
        finally:
            if b.lone is not None and b.lone.poll() is None:
                b.lone.kill()
                b.lone.communicate(timeout=5)


def _reass_idle(st):
    m = st["mbuf"]
    return m["free"] == m["size"] - m["held_reass"] and m["held_sock"] == 0


PING = r"""
import json, subprocess, sys
out = {}
for n in sys.argv[1].split(","):
    p = subprocess.run(["ping", "-c", "3", "-i", "0.3", "-W", "3", "-s", n, "10.7.0.2"], capture_output=True, text=True)
    out[n] = [l for l in p.stdout.splitlines() if "packets transmitted" in l or "rtt" in l]
print(json.dumps(out))
"""


def test_big_ping_is_reassembled_and_answered_in_fragments(board, capsys):
    """ping -s 4000 and the largest (IP_MAXREASS - 8 bytes of data): the echo request reassembled,
    the reply sent in its own clusters as fragments; Linux checks every reply."""
    sizes = ["4000", str(opts.IP_MAXREASS - 8)]
    st0 = board.stats()
    r = run_json(board, [sys.executable, "-c", PING, ",".join(sizes)], timeout=120)
    st = board.stats()
    # the emulated wire hands the 4 full fragments of the largest ping to the chip at once, where a
    # real one spaces them 1.2 ms apart: an ENC28J60 (6.5 KB of receive buffer, space given back
    # every 1.5 KB) may overflow on them. Such a loss must be the chip's, counted; nothing else.
    overflows = st["chip"].get("drop_overflow", 0) - st0["chip"].get("drop_overflow", 0)  # frames
    lost = 0
    for n in sizes:
        assert r[n] and " received" in r[n][0], (r, board_tail(board))
        got = int(r[n][0].split(" received")[0].split()[-1])
        lost += 3 - got
        assert got >= 1, (r, board_tail(board))
    assert lost <= overflows, (lost, overflows, r, st["chip"], board_tail(board))
    assert st["icmp"]["icps_reflect"] >= 6 - lost and st["ip"]["ips_reassembled"] >= 6 - lost
    assert st["ip"]["ips_ofragments"] >= 3 * 3 + 3 * 4 - 4 * lost
    assert _reass_idle(st), st["mbuf"]
    with capsys.disabled():
        print("\nping -s %s %s/%s: %s" % (sizes[1], board.chip, board.runtime, r[sizes[1]][-1]))


def test_udp_echo_over_the_mtu_up_to_the_largest(board, capsys):
    _needs_big_echo(board)
    sizes = [1473, 2000, 2952, 2953, 4000, opts.UDP_SENDSPACE]
    n = 20
    r = run_json(board, [sys.executable, "-c", ECHO, ",".join(map(str, sizes)), str(n)], timeout=120)
    assert r["bad"] == [], (r, board_tail(board))
    assert r["rate_ok"] >= n - 1, r
    st = board.stats()
    ip = st["ip"]
    assert ip["ips_reassembled"] >= len(sizes) + r["rate_ok"] and ip["ips_fragmented"] >= len(sizes) + r["rate_ok"]
    # a fragment lost to a full chip buffer (an ENC28J60 in a burst of four) strands the ones
    # before it until a retry's datagram takes their slot: counted, and the retry is answered
    if st["dev"].get("overflows", 0) == 0:
        assert ip["ips_fragdropped"] == 0, (json.dumps(ip), json.dumps(st["dev"]))
    assert st["udp"]["udps_badsum"] == 0
    assert _reass_idle(st), st["mbuf"]
    with capsys.disabled():
        print("\nUDP echo of 4000-byte datagrams (3 fragments each way) %s/%s: %d in %.2f s: %.0f datagrams/s, "
              "%.0f KB/s of payload each way" % (board.chip, board.runtime, r["rate_ok"], r["rate_s"],
                                                  r["rate_ok"] / r["rate_s"], r["rate_ok"] * 4 / r["rate_s"]))


def test_crafted_fragments_out_of_order_duplicated_and_overlapping(board):
    _needs_big_echo(board)
    r = run_json(board, [sys.executable, "-c", CRAFTED], timeout=120)
    assert r == {k: "ok" for k in r} and len(r) == 6, (r, board_tail(board))
    st = board.stats()
    assert st["ip"]["ips_fragdropped"] >= 2 + 3  # the forged duplicate and the one with nothing new; dups
    assert st["udp"]["udps_badsum"] == 0
    assert _reass_idle(st), st["mbuf"]


def test_reassembly_timeout_sends_time_exceeded(board):
    """The lone fragment 0 sent when the board came up: time exceeded (reassembly) after the TTL."""
    if board.lone is None:
        pytest.skip("W5500 boards only (see the module's docstring)")
    pico_full_only(board.runtime)  # 30 s of waiting: the code is the same on every runtime
    try:
        out, err = board.lone.communicate(timeout=TTL_S + 30)
    except subprocess.TimeoutExpired:
        board.lone.kill()
        pytest.fail("the ICMP listener did not end\n" + board_tail(board))
    assert board.lone.returncode == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert r["got"] is not None, ("no time exceeded", err, board_tail(board))
    assert r["type"] == 11 and r["code"] == 1 and r["src"] == "10.7.0.2" and r["quote_is_fragment_0"], r
    assert TTL_S - 1 <= r["got"] <= TTL_S + 5, r
    st = board.stats()
    assert st["ip"]["ips_fragtimeout"] >= 1 and st["icmp"]["icps_outhist_timxceed"] >= 1
    assert st["mbuf"]["held_reass"] == 0 and st["mbuf"]["free"] == st["mbuf"]["size"], st["mbuf"]


def test_one_byte_over_the_largest_is_dropped(board):
    st0 = board.stats()
    r = run_json(board, [sys.executable, "-c", OVER, str(opts.UDP_SENDSPACE)], timeout=60)
    assert r == {"over": "dropped", "after": True}, (r, board_tail(board))
    st = board.stats()
    assert st["ip"]["ips_toolong"] > st0["ip"]["ips_toolong"]
    assert st["mbuf"]["held_reass"] == 0 and st["mbuf"]["free"] == st["mbuf"]["size"], st["mbuf"]
