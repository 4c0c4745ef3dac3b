"""End to end, the board as a router: Linux in a network namespace of this test, board A with two
interfaces and forwarding on, board B behind it.

    Linux 10.7.0.1 ==TAP bsdf0== [A: W5500 10.7.0.2 | ENC28J60 10.8.0.1] ==in-process wire== B 10.8.0.2

A runs in the namespace's Python script (our stack, both drivers and chip models, the TAP relayed as
in host_tests/inproc.py) with ip_forward.set_forwarding(True); its second chip is on a Wire
(tools/emu/wire.py) whose other port is board B: the firmware (firmware/main.py, the W5500 model) in a
process of its own, so that it has a stack of its own, in CPython or in the MicroPython VM
(tools/vmboard.mjs); frames cross its stdin/stdout in vmboard.mjs's framing. Linux routes 10.8.0.0/24
via 10.7.0.2.

Checks, with Linux's own ICMP (raw sockets in the namespace):
  - Linux pings B through A: the reply comes from 10.8.0.2 with TTL 63 (B's 64, one hop through A);
  - an echo request with TTL 1 is answered by A with time exceeded in transit, quoting it;
  - Linux pings A's far address 10.8.0.1: answered by A itself (a router takes datagrams for any of its
    addresses), TTL 64;
  - Linux sends via A (a host route 10.7.0.77 via 10.7.0.2) to a host on its own subnet: A sends Linux an
    ICMP host redirect naming 10.7.0.77, quoting the datagram, and Linux counts it (Icmp InRedirects);
  - A's counters (ips_forward, ips_redirectsent, time exceeded sent) and its mbuf pool full at the end.
Every wait is bounded; the namespace (with the TAP) and board B are gone afterwards.
Needs root and /dev/net/tun; the micropython variant needs node.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from demo import Netns, runtime_missing  # noqa: E402
from tap import netns_missing  # noqa: E402

_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

# Board B under CPython: the firmware on the W5500 model, frames over stdin/stdout in the framing of
# tools/vmboard.mjs ([type][length: 4 bytes big-endian][payload]; F frame, R ready, X stop).
BOARD_B = r"""
import asyncio, os, struct, sys
for p in ("lib", "tools", "firmware"):
    sys.path.insert(0, os.path.join(ROOT, p))
import vmboard

board = vmboard.Board("w5500", "10.8.0.2", "255.255.255.0", "10.8.0.1")
out = sys.stdout.buffer


def put(t, payload=b""):
    out.write(t + struct.pack(">I", len(payload)) + bytes(payload))
    out.flush()


async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    buf = bytearray()

    def readable():
        d = os.read(0, 65536)
        if not d:
            stop.set()
            return
        buf.extend(d)
        while len(buf) >= 5:
            n = struct.unpack(">I", buf[1:5])[0]
            if len(buf) < 5 + n:
                break
            t, body = bytes(buf[0:1]), bytes(buf[5:5 + n])
            del buf[:5 + n]
            if t == b"F":
                board.chip.deliver(body)
            elif t == b"X":
                stop.set()

    board.chip.on_transmit = lambda f: put(b"F", f)
    loop.add_reader(0, readable)
    task = asyncio.create_task(board.serve())
    put(b"R", vmboard.mac_str(board.mac).encode())
    await stop.wait()
    board.stop()
    task.cancel()


asyncio.run(main())
"""

# Runs inside the namespace: board A in this process, B as a child, Linux's side with raw sockets.
SCRIPT = r"""
import json, os, select, socket as lsock, struct, subprocess, sys, time
sys.path[:0] = [os.path.join(ROOT, "host_tests"), os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools")]
from inproc import tap_board
from emu import enc28j60 as emu2
from emu.wire import Wire
from bsdnet import mbuf, ip_forward, route
from bsdnet.netif import Interface
from bsdnet.in_cksum import in_cksum

def sh(*argv):
    subprocess.run(argv, check=True, capture_output=True, timeout=10)

# --- board A: if1 on the TAP, if2 on the wire to B; a router -------------------------------
nic1, tap, chip1 = tap_board(tap_name="bsdf0", host_ip="10.7.0.1/24", ip="10.7.0.2", gateway="0.0.0.0")
chip2, spi2, cs2, rst2, _ = emu2.make(mac=b"\x02\x00\x0a\x08\x00\x01")
chip2.set_link(True)
nic2 = Interface.enc28j60(spi2, cs2, rst=rst2, intr=None, mac=b"\x02\x00\x0a\x08\x00\x01")
nic2.active(True)
nic2.ifconfig(("10.8.0.1", "255.255.255.0", "0.0.0.0", "0.0.0.0"))
ip_forward.set_forwarding(True)

# --- board B, a process of its own, on the wire -------------------------------------------
B = subprocess.Popen(B_ARGV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=ROOT)
bin_fd = B.stdin.fileno()
bout = B.stdout.fileno()
rbuf = bytearray()
wire = Wire()
wire.attach(chip2, "A-if2")


def to_b(frame):
    try:
        os.write(bin_fd, b"F" + struct.pack(">I", len(frame)) + bytes(frame))
        return True
    except OSError:
        return False


portb = wire.port(to_b, "B")
b_ready = False


def pump(seconds=0.0):
    # one round (or rounds for `seconds`): A's interfaces, B's frames onto the wire, the wire
    global b_ready
    end = time.monotonic() + seconds
    while True:
        nic1.poll()
        while select.select([bout], [], [], 0)[0]:
            d = os.read(bout, 65536)
            if not d:
                raise SystemExit("board B exited (status %s)" % B.poll())
            rbuf.extend(d)
        while len(rbuf) >= 5:
            n = struct.unpack(">I", rbuf[1:5])[0]
            if len(rbuf) < 5 + n:
                break
            t, body = bytes(rbuf[0:1]), bytes(rbuf[5:5 + n])
            del rbuf[:5 + n]
            if t == b"F":
                portb.send(body)
            elif t == b"R":
                b_ready = True
            elif t == b"E":
                raise SystemExit("board B failed: %s" % body.decode(errors="replace"))
        wire.step()
        nic2.poll()
        if time.monotonic() >= end:
            return
        time.sleep(0.002)


t0 = time.monotonic()
while not b_ready and time.monotonic() - t0 < 60:
    pump(0.05)
assert b_ready, "board B did not come up within 60 s"

# --- Linux: the route to B's network through A; raw ICMP -----------------------------------
sh("ip", "route", "add", "10.8.0.0/24", "via", "10.7.0.2", "dev", "bsdf0")
icmp = lsock.socket(lsock.AF_INET, lsock.SOCK_RAW, lsock.IPPROTO_ICMP)
icmp.setblocking(False)


def echo_req(ident, seq, data):
    h = bytearray(struct.pack(">BBHHH", 8, 0, 0, ident, seq)) + data
    ck = in_cksum(h, 0, len(h))
    h[2] = ck >> 8
    h[3] = ck & 0xFF
    return bytes(h)


def wait_icmp(match, seconds):
    # the first ICMP message (IP header on) for which match(pkt) is true, within `seconds`, or None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pump(0.005)
        while True:
            try:
                pkt, frm = icmp.recvfrom(4096)
            except BlockingIOError:
                break
            if match(pkt):
                return pkt
    return None


def hl(p):
    return (p[0] & 15) * 4


def is_reply(ident, seq, src):
    return lambda p: (p[hl(p)] == 0 and p[12:16] == lsock.inet_aton(src)
                      and struct.unpack(">HH", p[hl(p) + 4:hl(p) + 8]) == (ident, seq))


def ping(dst, ident, seq, tries=5):
    data = bytes(range(40))
    for k in range(tries):
        icmp.sendto(echo_req(ident, seq + k, data), (dst, 0))
        p = wait_icmp(is_reply(ident, seq + k, dst), 2.0)
        if p is not None:
            assert p[hl(p) + 8:] == data and in_cksum(p, hl(p), len(p) - hl(p)) == 0
            return p, k
    return None, tries


out = {}
p, lost = ping("10.8.0.2", 0xF0D, 1)
assert p is not None, "no echo reply from B through A"
out["b_reply_ttl"] = p[8]
out["b_reply_lost_first"] = lost
rtts = []
for s in range(20, 25):
    t = time.monotonic()
    p, k = ping("10.8.0.2", 0xF0D, s * 10, tries=1)
    assert p is not None, "echo %d through A lost" % s
    rtts.append((time.monotonic() - t) * 1000)
out["rtt_ms"] = sum(rtts) / len(rtts)

# TTL 1: A answers time exceeded in transit, from 10.7.0.2, quoting our request
icmp.setsockopt(lsock.IPPROTO_IP, lsock.IP_TTL, 1)
icmp.sendto(echo_req(0xF0D, 999, b"ttl one"), ("10.8.0.2", 0))
te = wait_icmp(lambda p: p[hl(p)] == 11, 3.0)
icmp.setsockopt(lsock.IPPROTO_IP, lsock.IP_TTL, 64)
assert te is not None, "no time exceeded from A"
q = hl(te) + 8
out["te"] = [te[12:16] == lsock.inet_aton("10.7.0.2"), te[hl(te) + 1], te[q + 8],
             te[q + 16:q + 20] == lsock.inet_aton("10.8.0.2"),
             struct.unpack(">HH", te[q + 20 + 4:q + 20 + 8]) == (0xF0D, 999)]

# A's far address: answered by A itself, not forwarded
p, lost = ping("10.8.0.1", 0xF0E, 1)
assert p is not None, "no echo reply from A's far address 10.8.0.1"
out["a2_reply_ttl"] = p[8]


def in_redirects():
    with open("/proc/net/snmp") as f:
        rows = [l.split() for l in f if l.startswith("Icmp:")]
    return int(rows[1][rows[0].index("InRedirects")])


# a redirect: Linux sends through A to a host on its own subnet
sh("ip", "route", "add", "10.7.0.77/32", "via", "10.7.0.2", "dev", "bsdf0")
r0 = in_redirects()
u = lsock.socket(lsock.AF_INET, lsock.SOCK_DGRAM)
u.sendto(b"to the neighbour", ("10.7.0.77", 9))
u.close()
red = wait_icmp(lambda p: p[hl(p)] == 5, 3.0)
assert red is not None, "no redirect from A"
q = hl(red) + 8
out["redirect"] = [red[12:16] == lsock.inet_aton("10.7.0.2"), red[hl(red) + 1],
                   lsock.inet_ntoa(red[hl(red) + 4:hl(red) + 8]),
                   lsock.inet_ntoa(red[q + 12:q + 16]), lsock.inet_ntoa(red[q + 16:q + 20]), red[q + 9]]
pump(0.2)
out["linux_in_redirects"] = in_redirects() - r0

st = nic1.stats()
out["a_ip"] = {k: st["ip"][k] for k in ("ips_forward", "ips_redirectsent", "ips_cantforward", "ips_noroute")}
out["a_icmp"] = {k: st["icmp"][k] for k in ("icps_outhist_timxceed", "icps_outhist_redirect", "icps_reflect")}
icmp.close()
os.write(bin_fd, b"X" + struct.pack(">I", 0))
try:
    B.wait(10)
except subprocess.TimeoutExpired:
    B.kill()
    B.wait()
nic1.active(False)  # what waits for ARP answers (10.7.0.77 never answers) goes back to the pool
nic2.active(False)
out["pool_short"] = mbuf.pool_size() - mbuf.pool_free()
tap.close()
print(json.dumps(out))
"""


def _b_argv(runtime):
    if runtime == "micropython":
        return ["node", os.path.join(ROOT, "tools", "vmboard.mjs"), "--chip", "w5500", "--ip", "10.8.0.2",
                "--mask", "255.255.255.0", "--gateway", "10.8.0.1", "--heap", "8m"]
    return [sys.executable, "-c", "ROOT = %r\n" % ROOT + BOARD_B]


@pytest.mark.parametrize("runtime_b", ["cpython", "micropython"])
def test_board_forwards_between_linux_and_a_second_board(runtime_b):
    why = runtime_missing(runtime_b)
    if why:
        pytest.skip(why)
    import json

    with Netns("bsdnet-fwd-%d-%s" % (os.getpid(), runtime_b[:2])) as ns:
        code = "ROOT = %r\nB_ARGV = %r\n" % (ROOT, _b_argv(runtime_b)) + SCRIPT
        p = ns.run([sys.executable, "-c", code], timeout=180, check=False)
        assert p.returncode == 0, p.stdout + p.stderr[-4000:]
        out = json.loads(p.stdout.strip().splitlines()[-1])
    print("board B on %s: %s" % (runtime_b, out))
    assert out["b_reply_ttl"] == 63  # B answers with TTL 64; one hop through A
    assert out["te"] == [True, 0, 1, True, True]  # from A, in transit, quoting our TTL-1 request
    assert out["a2_reply_ttl"] == 64  # A's own address on its far side: answered, not forwarded
    # host redirect from A naming the host itself, quoting Linux's UDP datagram to it
    assert out["redirect"] == [True, 1, "10.7.0.77", "10.7.0.1", "10.7.0.77", 17]
    assert out["linux_in_redirects"] >= 1
    a = out["a_ip"]
    assert a["ips_forward"] >= 12 and a["ips_redirectsent"] >= 1  # 6 echoes there and back, the datagram
    assert out["a_icmp"]["icps_outhist_timxceed"] >= 1 and out["a_icmp"]["icps_outhist_redirect"] >= 1
    assert out["pool_short"] == 0
