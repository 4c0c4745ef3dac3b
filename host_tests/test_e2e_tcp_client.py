"""End to end TCP with the board on both ends of the connection: our stack in this test's own
process (CPython; host_tests/inproc.py: bsdnet on the W5500 driver and chip model, wired to a TAP
in a network namespace the test makes) against the Linux kernel's TCP in that namespace.

Checks, byte for byte with 64 KiB each way:
  - socket API, the board as client: connect() to a Linux server, send, recv, EOF when Linux closes;
    an ephemeral local port, getpeername; connect() to a closed port raises ECONNREFUSED (Linux
    answers RST);
  - socket API, the board as server: bind, listen, accept a Linux client, echo until its FIN, close;
  - asyncio streams, the board as client: bsdnet.streams.open_connection(), write/drain,
    readexactly, read() at EOF, close/wait_closed; with nic.run() as the interface task;
  - asyncio streams, the board as server: bsdnet.streams.start_server(), readline, readexactly,
    write/drain, close; Server.close()/wait_closed();
  - afterwards the mbuf pool is full.
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

# Runs inside the namespace. Linux is 10.7.0.1 (TAP bsdc0), the board 10.7.0.2. Linux's servers
# and clients run in threads with timeouts; the board's side runs in the main thread. Prints one
# "ok ..." line per part.
SCRIPT = r"""
import asyncio, os, random, socket as lsock, struct, sys, threading, time
sys.path[:0] = [os.path.join(ROOT, "host_tests")]
from inproc import tap_board
from bsdnet import socket, mbuf
from bsdnet import errno as berrno

N = 64 * 1024
T = 30  # seconds for any one wait
nic, tap, chip = tap_board()
DATA = random.Random(1).randbytes(N)
errors = []


def thread(fn, *args):
    def body():
        try:
            fn(*args)
        except BaseException as e:  # noqa: BLE001 - reported by the board's side
            errors.append("%s: %r" % (fn.__name__, e))
    t = threading.Thread(target=body, daemon=True)
    t.start()
    return t


def lrecv_exact(c, n):
    buf = bytearray()
    while len(buf) < n:
        b = c.recv(n - len(buf))
        if not b:
            raise EOFError("EOF after %d of %d bytes" % (len(buf), n))
        buf += b
    return bytes(buf)


def linux_listener(port):
    l = lsock.socket(lsock.AF_INET, lsock.SOCK_STREAM)
    l.setsockopt(lsock.SOL_SOCKET, lsock.SO_REUSEADDR, 1)
    l.bind(("10.7.0.1", port))
    l.listen(4)
    l.settimeout(T)
    return l


def linux_echo_server(l):
    # a 4-byte length, that many bytes, all of them back, close
    c, a = l.accept()
    c.settimeout(T)
    n = struct.unpack(">I", lrecv_exact(c, 4))[0]
    c.sendall(lrecv_exact(c, n))
    c.close()
    l.close()


def board_send_all(s, data):
    mv = memoryview(data)
    o = 0
    while o < len(data):
        k = s.send(mv[o:o + 4096])
        assert k > 0, k
        o += k


def board_recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(min(4096, n - len(buf)))
        assert b, "EOF after %d of %d bytes" % (len(buf), n)
        buf += b
    return bytes(buf)


def check_errors(what):
    assert not errors, (what, errors)


# --- 1. the board's socket as client of Linux
t0 = time.perf_counter()
l = linux_listener(5007)
th = thread(linux_echo_server, l)
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(T)
s.connect(("10.7.0.1", 5007))
port = s.getsockname()[1]
assert 49152 <= port <= 65535, port
assert s.getpeername() == ("10.7.0.1", 5007), s.getpeername()
board_send_all(s, struct.pack(">I", N) + DATA)
got = board_recv_exact(s, N)
assert got == DATA, "echo differs"
assert s.recv(100) == b"", "no EOF after Linux closed"
s.close()
th.join(T)
check_errors("client")
print("ok socket client: %d B there and back with Linux in %.2f s, local port %d" % (N, time.perf_counter() - t0, port))

# --- 2. a closed port: Linux answers RST, connect() raises ECONNREFUSED
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(T)
try:
    s.connect(("10.7.0.1", 5008))
    raise AssertionError("connect to a closed port succeeded")
except OSError as e:
    assert e.args[0] == berrno.ECONNREFUSED, e
s.close()
print("ok ECONNREFUSED from a closed port")

# --- 3. the board's socket as server of a Linux client
got_back = []


def linux_client(port, payload, result, half_close=True):
    c = lsock.create_connection(("10.7.0.2", port), timeout=T)
    c.sendall(payload)
    if half_close:
        c.shutdown(lsock.SHUT_WR)
    buf = bytearray()
    while True:
        b = c.recv(65536)
        if not b:
            break
        buf += b
    c.close()
    result.append(bytes(buf))


t0 = time.perf_counter()
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.settimeout(T)
srv.bind(("0.0.0.0", 8000))
srv.listen(2)
th = thread(linux_client, 8000, DATA, got_back)
c, addr = srv.accept()
c.settimeout(T)
assert addr[0] == "10.7.0.1", addr
n = 0
while True:
    b = c.recv(2048)
    if not b:
        break
    board_send_all(c, b)
    n += len(b)
c.close()
srv.close()
th.join(T)
check_errors("server")
assert got_back and got_back[0] == DATA, "echo from the board's server differs (%d B)" % len(
    got_back[0] if got_back else b"")
print("ok socket server: accepted %s:%d, %d B echoed until its FIN in %.2f s"
      % (addr[0], addr[1], n, time.perf_counter() - t0))

# --- 4. asyncio streams both ways, nic.run() as the interface task
from bsdnet import streams


async def wait_thread(t):
    end = time.monotonic() + T
    while t.is_alive() and time.monotonic() < end:
        await asyncio.sleep(0.02)
    assert not t.is_alive(), "Linux side did not finish"


async def streams_part():
    runner = asyncio.create_task(nic.run())
    try:
        # the board as client
        t0 = time.perf_counter()
        l = linux_listener(5009)
        th = thread(linux_echo_server, l)
        reader, writer = await streams.open_connection("10.7.0.1", 5009)
        writer.write(struct.pack(">I", N) + DATA)
        await writer.drain()
        got = await reader.readexactly(N)
        assert got == DATA, "streams client: echo differs"
        assert await reader.read(100) == b"", "streams client: no EOF"
        writer.close()
        await writer.wait_closed()
        await wait_thread(th)
        check_errors("streams client")
        print("ok streams client: open_connection, %d B there and back in %.2f s" % (N, time.perf_counter() - t0))

        # the board as server
        t0 = time.perf_counter()
        served = []

        async def cb(reader, writer):
            line = await reader.readline()
            n = int(line)
            body = await reader.readexactly(n)
            writer.write(body)
            await writer.drain()
            writer.close()
            await writer.wait_closed()
            served.append(n)

        server = await streams.start_server(cb, "0.0.0.0", 8001)
        res = []
        th = thread(linux_client, 8001, b"%d\n" % N + DATA, res, False)
        await wait_thread(th)
        check_errors("streams server")
        assert served == [N], served
        assert res and res[0] == DATA, "streams server: echo differs"
        server.close()
        await server.wait_closed()
        print("ok streams server: start_server, readline + readexactly, %d B back in %.2f s"
              % (N, time.perf_counter() - t0))
    finally:
        nic.stop()
        await asyncio.wait_for(runner, 5)


asyncio.run(asyncio.wait_for(streams_part(), 120))
# connections the board closed first linger in TIME_WAIT without buffers; the pool is full
end = time.monotonic() + 5
while mbuf.pool_free() != mbuf.pool_size() and time.monotonic() < end:
    nic.poll()
    time.sleep(0.05)
assert mbuf.pool_free() == mbuf.pool_size(), (mbuf.pool_free(), mbuf.pool_size())
st = nic.stats()
print("tcp counters: %s" % dict((k, v) for k, v in sorted(st.get("tcp", {}).items()) if v))
tap.close()
print("all ok")
"""


def test_board_tcp_both_ways_with_linux(capsys):
    with Netns("bsdnet-tcpc-%d" % os.getpid()) as ns:
        p = ns.run([sys.executable, "-c", "ROOT = %r\n" % ROOT + SCRIPT], timeout=200, check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "all ok" in p.stdout, p.stdout
        with capsys.disabled():
            print("\n" + p.stdout.strip())
