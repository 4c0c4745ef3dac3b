"""End to end, the board as a client of Linux: our socket API (bsdnet.socket, blocking calls that
drive the interface themselves) on the W5500 driver and model, wired to a TAP in a network namespace
this test makes, against Linux's UDP sockets and its ICMP in the same namespace.

Checks: sendto/recvfrom with a Linux echo server, a connected socket's send/recv, an ephemeral source
port, Linux's ICMP port unreachable for a closed port raising ECONNREFUSED on the board's connected
socket (ctlinput), then the socket working again; the board pinging Linux with a raw ICMP socket (the
kernel's echo replies, checked byte for byte), and an address reached only through a static route.
Needs root and /dev/net/tun.
"""
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from demo import Netns  # noqa: E402
from tap import netns_missing  # noqa: E402

_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

# Runs inside the namespace: the board (our stack + driver + chip model) relays frames with a TAP,
# a Linux echo server answers on 10.7.0.1:5005, nothing listens on 10.7.0.1:5006.
SCRIPT = r"""
import os, socket as lsock, sys, threading, time
sys.path[:0] = [os.path.join(ROOT, "host_tests")]
from inproc import tap_board
from bsdnet import socket, mbuf

nic, tap, chip = tap_board()

srv = lsock.socket(lsock.AF_INET, lsock.SOCK_DGRAM)
srv.bind(("10.7.0.1", 5005))
srv.settimeout(5)
seen = []
def echo():
    for _ in range(3):
        try:
            d, a = srv.recvfrom(2000)
        except OSError:
            return
        seen.append(a)
        srv.sendto(d.upper(), a)
threading.Thread(target=echo, daemon=True).start()

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(b"hello linux", ("10.7.0.1", 5005))
data, addr = s.recvfrom(100)
assert data == b"HELLO LINUX" and addr == ("10.7.0.1", 5005), (data, addr)
port = s.getsockname()[1]
assert 49152 <= port <= 65535 and seen[0] == ("10.7.0.2", port), (port, seen)

c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(3)
c.connect(("10.7.0.1", 5005))
c.send(b"connected")
assert c.recv(100) == b"CONNECTED"

d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
d.settimeout(3)
d.connect(("10.7.0.1", 5006))  # nobody listens: Linux answers ICMP port unreachable
d.send(b"anyone?")
try:
    d.recv(100)
    raise AssertionError("no error from a closed port")
except OSError as e:
    assert e.args[0] == 111, e  # ECONNREFUSED
d.connect(("10.7.0.1", 5005))  # the socket is usable again
d.send(b"again")
assert d.recv(100) == b"AGAIN"
for x in (s, c, d):
    x.close()

# ping Linux from the board: SOCK_RAW, ICMP echo requests built here, the kernel's replies read back
import struct
from bsdnet.in_cksum import in_cksum
from bsdnet import route
p = socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)
p.settimeout(3)
rtts = []


def ping(dst, seq):
    body = bytes(range(seq, seq + 32))
    hdr = bytearray(struct.pack(">BBHHH", 8, 0, 0, 0xB5D, seq)) + body
    ck = in_cksum(hdr, 0, len(hdr))
    hdr[2] = ck >> 8
    hdr[3] = ck & 0xFF
    p.sendto(hdr, (dst, 0))
    while True:
        pkt, frm = p.recvfrom(200)
        hl = (pkt[0] & 15) * 4
        if pkt[hl] == 0 and struct.unpack(">HH", pkt[hl + 4:hl + 8]) == (0xB5D, seq):
            break
    assert frm == (dst, 0) and pkt[hl + 8:hl + 8 + 32] == body, (frm, pkt)
    assert in_cksum(pkt, hl, len(pkt) - hl) == 0


# a static route: the default gateway now leads nowhere (10.7.0.254 never answers ARP), and only
# the route for 10.9.0.0/16 through Linux (which holds 10.9.0.5) reaches that address
nic.ifconfig(("10.7.0.2", "255.255.255.0", "10.7.0.254", "0.0.0.0"))
route.route_add("10.9.0.0", "255.255.0.0", "10.7.0.1")
ping("10.9.0.5", 100)
route.route_delete("10.9.0.0", "255.255.0.0")
for seq in range(5):
    t0 = time.perf_counter()
    ping("10.7.0.1", seq)
    rtts.append((time.perf_counter() - t0) * 1000)
p.close()
st = nic.stats()
assert st["udp"]["udps_ctlnotify"] == 1 and st["icmp"]["icps_unreach"] >= 1, st
assert mbuf.pool_free() == mbuf.pool_size()
tap.close()
print("udp client ok: ephemeral port %d, ECONNREFUSED from Linux's port unreachable" % port)
print("ping from the board: 5/5 answered by Linux, rtt avg %.2f ms; 10.9.0.5 reached by a static route"
      % (sum(rtts) / len(rtts)))
"""


def test_board_as_client_of_linux():
    with Netns("bsdnet-client-%d" % os.getpid()) as ns:
        ns.run(["ip", "addr", "add", "10.9.0.5/32", "dev", "lo"])
        p = ns.run([sys.executable, "-c", "ROOT = %r\n" % ROOT + SCRIPT], timeout=60, check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "udp client ok" in p.stdout and "5/5 answered" in p.stdout
        print(p.stdout.strip())
