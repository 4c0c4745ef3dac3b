"""End to end UDP: the firmware's services (echo 7, discard 9, chargen 19) on the host board against
Linux's own UDP sockets, in a network namespace this test makes, for each chip and runtime (cpython,
the MicroPython VM, the emulated Pico; the VM and Pico are skipped without node or their files).

Checks: echo of sizes 0..1472 byte for byte (Linux drops a reply with a bad UDP checksum, so a reply
also proves the checksum), discard gives no answer but is counted, chargen answers with the RFC 864
pattern, a closed port answers ICMP port unreachable (ECONNREFUSED on a connected Linux socket), and
nothing leaks from the mbuf pool. Prints the stop-and-wait echo rate per chip and runtime.
Needs root, /dev/net/tun and ip (Debian: iproute2).
"""
import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

from e2e import WITH_ESP32, board_id, board_params, netns_board  # noqa: E402
from tap import netns_missing  # noqa: E402
from services import chargen_fill  # noqa: E402  (the pattern the board sends, computed here too)


_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


@pytest.fixture(scope="module", params=board_params(WITH_ESP32), ids=board_id)
def board(request):
    chip, runtime = request.param
    with netns_board("udp", chip, runtime) as b:
        yield b


# The Linux side: a Python script run inside the namespace; it prints one JSON line.
CLIENT = r"""
import json, socket, sys, time
BOARD = "10.7.0.2"
out = {}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
# warm up ARP on both sides
for _ in range(5):
    s.sendto(b"warm", (BOARD, 7))
    try:
        if s.recvfrom(2000)[0] == b"warm":
            break
    except socket.timeout:
        pass
sizes = [0, 1, 17, 100, 511, 512, 1000, 1471, 1472]
bad = []
for n in sizes:
    data = bytes((n * 7 + k) & 0xFF for k in range(n))
    s.sendto(data, (BOARD, 7))
    try:
        got, addr = s.recvfrom(2000)
        if got != data or addr != (BOARD, 7):
            bad.append([n, len(got), list(addr)])
    except socket.timeout:
        bad.append([n, "timeout"])
out["echo_bad"] = bad
# stop-and-wait rate, 64-byte datagrams
N = int(sys.argv[1])
t0 = time.perf_counter()
ok = 0
for i in range(N):
    d = i.to_bytes(4, "big") * 16
    s.sendto(d, (BOARD, 7))
    try:
        while True:
            got = s.recvfrom(2000)[0]
            if got == d:
                ok += 1
                break
    except socket.timeout:
        break
out["rate_ok"] = ok
out["rate_s"] = time.perf_counter() - t0
# discard: no answer
s.settimeout(0.5)
s.sendto(b"into the void", (BOARD, 9))
try:
    s.recvfrom(2000)
    out["discard_answered"] = True
except socket.timeout:
    out["discard_answered"] = False
# chargen: asked length, and the default 512
s.settimeout(3)
s.sendto(b"\x00\x48", (BOARD, 19))
out["chargen72"] = s.recvfrom(2000)[0].hex()
s.sendto(b"", (BOARD, 19))
out["chargen_default_len"] = len(s.recvfrom(2000)[0])
# a closed port: ICMP port unreachable -> ECONNREFUSED on a connected socket
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(3)
c.connect((BOARD, 4242))
c.send(b"anyone?")
try:
    c.recv(100)
    out["closed"] = "answered"
except ConnectionRefusedError:
    out["closed"] = "refused"
except socket.timeout:
    out["closed"] = "timeout"
print(json.dumps(out))
"""


def test_udp_services_against_linux(board, capsys):
    n = 20 if board.runtime in ("rp2040", "esp32") else 100
    p = board.ns.run([sys.executable, "-c", CLIENT, str(n)], timeout=120, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["echo_bad"] == [], r
    assert r["rate_ok"] == n, r
    assert r["discard_answered"] is False
    want = bytearray(72)
    chargen_fill(want, 72, 0)
    got = bytes.fromhex(r["chargen72"])
    assert got == bytes(want), got  # the first answer's line starts at the first character
    assert r["chargen_default_len"] == 512
    assert r["closed"] == "refused", r
    st = board.stats()
    u = st["udp"]
    assert u["udps_noport"] >= 1 and u["udps_badsum"] == 0 and u["udps_hdrops"] == 0
    assert u["udps_ipackets"] >= n + 12 and u["udps_opackets"] >= n + 11
    assert st["icmp"]["icps_outhist_unreach"] >= 1
    assert st["mbuf"]["free"] == st["mbuf"]["size"], st["mbuf"]
    with capsys.disabled():
        print("\nUDP echo %s/%s: %d x 64 B stop-and-wait in %.2f s wall: %.0f datagrams/s"
              % (board.chip, board.runtime, n, r["rate_s"], n / r["rate_s"]))


FLOOD = r"""
import json, socket, sys, time
BOARD = "10.7.0.2"
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.setblocking(False)
t0 = time.perf_counter()
for i in range(n):  # back to back, as fast as Linux sends: far faster than the board can answer
    s.sendto(i.to_bytes(4, "big") * 64, (BOARD, 7))
sent_s = time.perf_counter() - t0
got = 0
end = time.time() + 5
while time.time() < end:
    try:
        s.recvfrom(2000)
        got += 1
    except BlockingIOError:
        time.sleep(0.05)
        if got and time.time() > end - 4:
            end = min(end, time.time() + 1)  # a second of quiet after the last echo ends it
# afterwards the board still answers, one at a time
s.setblocking(True)
s.settimeout(3)
after = 0
for i in range(5):
    d = b"after %d" % i
    s.sendto(d, (BOARD, 7))
    try:
        while s.recvfrom(2000)[0] != d:
            pass
        after += 1
    except socket.timeout:
        pass
print(json.dumps({"sent": n, "echoed": got, "after": after, "send_s": sent_s}))
"""


def test_udp_flood_is_survived_and_accounted(board, capsys):
    """Linux sends echo requests back to back; the board drops what it cannot take (counted: the
    socket queue full, the chip's buffer full, no cluster), leaks nothing, and answers afterwards."""
    n = 300 if board.runtime in ("rp2040", "esp32") else 2000
    st0 = board.stats()
    p = board.ns.run([sys.executable, "-c", FLOOD, str(n)], timeout=60, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    r = json.loads(p.stdout.strip().splitlines()[-1])
    assert r["after"] == 5, r
    assert 0 < r["echoed"] <= n
    st = board.stats()
    u, u0 = st["udp"], st0["udp"]
    got = u["udps_ipackets"] - u0["udps_ipackets"]
    fullsock = u["udps_fullsock"] - u0["udps_fullsock"]
    dev_drop = (st["dev"].get("overflows", 0) - st0["dev"].get("overflows", 0))
    # every datagram the stack took in was echoed or dropped at the full socket queue
    assert got - fullsock >= r["echoed"] + 5, (got, fullsock, r)
    assert st["mbuf"]["free"] == st["mbuf"]["size"], st["mbuf"]
    with capsys.disabled():
        print("\nUDP flood %s/%s: %d sent back to back in %.3f s, %d reached UDP, %d echoed, %d dropped at the "
              "socket queue, chip overflows %d, mbuf min free %d of %d"
              % (board.chip, board.runtime, n, r["send_s"], got, r["echoed"], fullsock, dev_drop,
                 st["mbuf"]["min_free"], st["mbuf"]["size"]))
