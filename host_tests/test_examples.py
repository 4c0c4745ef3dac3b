"""examples/ on the host board (tools/hostboard.py --main FILE) against Linux peers in a namespace
the test makes: a TCP line server, a UDP collector, an SNTP responder (Python, on the host side),
mosquitto (umqtt.simple through bsdnet.install()) and an HTTP client (microdot through install()).

Every peer binds 10.7.0.1 (the TAP's address; net.ipv4.ip_nonlocal_bind lets it start before the host
board makes the TAP) and checks that what it met came from the board, 10.7.0.2: a library that
reached Linux's own sockets instead of the stack would show up as 10.7.0.1. Third-party libraries go
to the board's /lib with --lib. The cpython runtime runs the examples that use bsdnet's own modules;
the ones that need install() to replace `socket` and asyncio run on MicroPython only (install() on
CPython leaves the host's socket and asyncio alone: they run the host board in the same process;
there, asyncio.open_connection would reach Linux's own sockets, which the peer's address check
would catch).
"""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e import ROOT, BOARD_IP, HOST_IP, TAP, assert_no_chip_violations, board_tail  # noqa: E402
from demo import Netns, NetnsBoard, runtime_missing  # noqa: E402
from tap import netns_missing  # noqa: E402

_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")
EX = os.path.join(ROOT, "examples")
T = 60  # seconds for any one wait


def thirdparty(name, module):
    """The package directory of a MicroPython library to copy onto the board (one that holds
    module, not only the stubs' .pyi): installed into .venv by requirements-dev.txt (microdot), else
    unpacked into build/thirdparty by make setup (umqtt.simple: its PyPI sdists have no setup.py)."""
    import importlib.util

    spec = importlib.util.find_spec(name)
    for d in list(spec.submodule_search_locations or []) if spec is not None else []:
        if os.path.isfile(os.path.join(d, module)):
            return d
    d = os.path.join(ROOT, "build", "thirdparty", name)
    if os.path.isfile(os.path.join(d, module)):
        return d
    pytest.skip("%s is not installed (make setup)" % name)


class Peer:
    """A Linux-side process in the namespace; stopped (and killed) on the way out."""

    def __init__(self, ns, argv):
        self.p = subprocess.Popen(ns.cmd(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        return self.p.stdout.read() if self.p.stdout else ""


@contextlib.contextmanager
def example(tag, chip, runtime, name, peers=(), libs=()):
    """The namespace, the peers (argv lists, started first), then the host board running
    examples/NAME as its main; yields (board, namespace, [Peer])."""
    why = runtime_missing(runtime)
    if why:
        pytest.skip(why)
    ns = Netns("bsdnet-ex-%s-%d-%s" % (tag, os.getpid(), runtime[:2]))
    ps = []
    b = None
    try:
        ns.run(["sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"])
        for argv in peers:
            ps.append(Peer(ns, argv))
        extra = ["--main", os.path.join(EX, name), "--gateway", HOST_IP]
        for d in libs:
            extra += ["--lib", d]
        b = NetnsBoard(ns, chip, runtime, ip=BOARD_IP + "/24", host_ip=HOST_IP + "/24", tap=TAP, extra=extra)
        b.wait_ready(T)
        yield b, ns, ps
        b.stop(5)
        assert_no_chip_violations(b)
    finally:
        if b is not None:
            b.stop(5)
        for p in ps:
            p.stop()
        ns.close()


def wait_output(b, text, timeout=T):
    """The board's stderr (its example's prints) until a line holds text; fails with the tail."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for line in list(b.stderr):
            if line is not None and text in line:
                return line
        if b.proc.poll() is not None:
            break
        time.sleep(0.2)
    pytest.fail("the board never printed %r\n%s" % (text, board_tail(b)))


def peer_result(p, timeout=T):
    """A peer script's last output line, as JSON (the script ends by itself)."""
    try:
        p.p.wait(timeout)
    except subprocess.TimeoutExpired:
        pass
    out = p.stop()
    lines = out.strip().splitlines()
    assert lines, "the peer printed nothing"
    try:
        return json.loads(lines[-1])
    except ValueError:
        pytest.fail("peer: %s" % out[-3000:])


# --- Linux peers (run with the test's python inside the namespace) ----------------------------
LINE_SERVER = r"""
import json, socket
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.7.0.1", 5000)); l.listen(1); l.settimeout(60)
c, a = l.accept(); c.settimeout(60)
f = c.makefile("rwb")
got = []
for _ in range(3):
    line = f.readline()
    if not line:
        break
    got.append(line.decode().strip())
    f.write(line.upper()); f.flush()
print(json.dumps({"peer": a[0], "lines": got}))
"""

UDP_COLLECTOR = r"""
import json, socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.7.0.1", 5005)); s.settimeout(60)
got = []
while len(got) < 3:
    data, a = s.recvfrom(2048)
    got.append([a[0], json.loads(data)])
print(json.dumps(got))
"""

# SNTP server (RFC 4330 answer): a fixed time, 2030-01-02 03:04:05 UTC, so the board's print is known
SNTP_SERVER = r"""
import json, socket, struct
T = 1893553445 + 2208988800
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.7.0.1", 123)); s.settimeout(60)
q, a = s.recvfrom(512)
r = bytearray(48)
r[0] = (0 << 6) | (4 << 3) | 4  # LI 0, version 4, mode 4 (server)
r[1] = 1  # stratum 1
struct.pack_into("!4sII", r, 12, b"TEST", 0, 0)
r[24:32] = q[40:48]  # originate = the client's transmit
struct.pack_into("!IIII", r, 32, T, 0, T, 0)  # receive and transmit timestamps
s.sendto(r, a)
print(json.dumps({"peer": a[0], "mode": q[0] & 7}))
"""

HTTP_CLIENT = r"""
import json, socket, sys, time
end = time.monotonic() + 60
while True:
    try:
        c = socket.create_connection(("10.7.0.2", 80), timeout=60)
        break
    except OSError:
        if time.monotonic() > end:
            raise
        time.sleep(0.5)
c.sendall(b"GET / HTTP/1.0\r\nHost: board\r\n\r\n")
resp = b""
while True:
    d = c.recv(4096)
    if not d:
        break
    resp += d
head, _, body = resp.partition(b"\r\n\r\n")
print(json.dumps({"status": head.split(b"\r\n")[0].decode(), "body": body.decode()}))
"""


def py(script):
    return [sys.executable, "-c", script]


# make test runs the emulated Pico on the MQTT example and the DHCP one (each Pico boot is ~10 s);
# RP2040_FULL=1 runs every example there
_PICO_FULL = os.environ.get("RP2040_FULL") == "1"
PICO_FULL = pytest.param("rp2040", marks=pytest.mark.skipif(not _PICO_FULL, reason="emulated Pico: RP2040_FULL=1"))


# --- the examples ------------------------------------------------------------------------------
@pytest.mark.parametrize("runtime", ["micropython", PICO_FULL])
def test_tcp_client(runtime):
    with example("tcp", "w5500", runtime, "tcp_client.py", [py(LINE_SERVER)]) as (b, ns, ps):
        r = peer_result(ps[0])
        assert r["peer"] == BOARD_IP, r
        assert r["lines"] == ["hello %d from bsdnet" % i for i in range(3)], r
        wait_output(b, "server says: HELLO 2 FROM BSDNET")
        wait_output(b, "tcp client done")


@pytest.mark.parametrize("runtime", ["cpython", "micropython", PICO_FULL])
def test_udp_sensor(runtime):
    with example("udp", "enc28j60", runtime, "udp_sensor.py", [py(UDP_COLLECTOR)]) as (b, ns, ps):
        got = peer_result(ps[0])
        assert [a for a, _ in got] == [BOARD_IP] * 3, got
        seqs = [m["seq"] for _, m in got]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3, got
        assert all(m["board"] == BOARD_IP for _, m in got), got


@pytest.mark.parametrize("runtime", ["cpython", "micropython", "rp2040"])
def test_udp_sensor_with_a_dhcp_lease(runtime):
    """--ip dhcp: the example's boardcfg.up() takes a lease from dnsmasq (config IP = "dhcp"), then
    sends from the leased address."""
    if not shutil.which("dnsmasq"):
        pytest.skip("dnsmasq is not installed (make setup)")
    why = runtime_missing(runtime)
    if why:
        pytest.skip(why)
    from dnsmasq import Dnsmasq

    ns = Netns("bsdnet-exd-%d-%s" % (os.getpid(), runtime[:2]))
    tmp = tempfile.mkdtemp(prefix="bsdnet-exd")
    dm = p = b = None
    try:
        ns.run(["sysctl", "-q", "-w", "net.ipv4.ip_nonlocal_bind=1"])
        ns.run(["ip", "tuntap", "add", "dev", TAP, "mode", "tap"])  # before dnsmasq binds to it
        ns.run(["ip", "addr", "add", HOST_IP + "/24", "dev", TAP])
        ns.run(["ip", "link", "set", TAP, "up"])
        dm = Dnsmasq(ns, tmp)
        p = Peer(ns, py(UDP_COLLECTOR))
        b = NetnsBoard(ns, "w5500", runtime, ip="dhcp", host_ip=HOST_IP + "/24", tap=TAP,
                       extra=["--main", os.path.join(EX, "udp_sensor.py"), "--hostname", "exboard"])
        ip = b.wait_ready(2 * T)["ip"]
        assert ip.startswith("10.7.0.") and 50 <= int(ip.split(".")[3]) <= 99, ip  # dnsmasq's pool
        got = peer_result(p)
        assert [a for a, _ in got] == [ip] * 3, got
        assert all(m["board"] == ip for _, m in got), got
        assert "DHCPACK(%s) %s" % (TAP, ip) in dm.text() and "exboard" in dm.text(), dm.text()[-2000:]
        b.stop(5)
        assert_no_chip_violations(b)
    finally:
        if b is not None:
            b.stop(5)
        if p is not None:
            p.stop()
        if dm is not None:
            dm.stop()
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.parametrize("runtime", ["cpython", "micropython", PICO_FULL])
def test_ntp_time(runtime):
    with example("ntp", "w5500", runtime, "ntp_time.py", [py(SNTP_SERVER)]) as (b, ns, ps):
        r = peer_result(ps[0])
        assert r == {"peer": BOARD_IP, "mode": 3}, r
        wait_output(b, "time: 2030-01-02 03:04:05 UTC")


@pytest.mark.parametrize("runtime", ["micropython"])  # the Pico: 9 KB of heap left once microdot is in
def test_http_server_microdot(runtime):
    with example("http", "w5500", runtime, "http_server.py", [py(HTTP_CLIENT)],
                 [thirdparty("microdot", "microdot.py")]) as (b, ns, ps):
        r = peer_result(ps[0])
        assert r["status"].startswith("HTTP/1.0 200"), r
        assert "bsdnet" in r["body"] and "10.7.0.1" in r["body"], r  # the page names the client


MOSQ_CONF = "listener 1883 10.7.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"


@pytest.mark.parametrize("runtime", ["micropython", "rp2040"])
def test_mqtt_umqtt_simple(runtime):
    if shutil.which("mosquitto") is None or shutil.which("mosquitto_sub") is None:
        pytest.skip("mosquitto and mosquitto-clients are not installed (make setup)")
    tmp = tempfile.mkdtemp(prefix="bsdnet-mqtt")
    try:
        conf = os.path.join(tmp, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(MOSQ_CONF)
        broker = ["mosquitto", "-c", conf]
        with example("mqtt", "w5500", runtime, "mqtt_pubsub.py", [broker],
                     [thirdparty("umqtt", "simple.py")]) as (b, ns, ps):
            # the board subscribes, then publishes its retained greeting: once seen, its
            # subscription is in place and a command reaches it
            sub = ns.run(["mosquitto_sub", "-h", HOST_IP, "-t", "bsdnet/hello", "-C", "1", "-W", str(T), "-v"],
                         timeout=T + 10, check=False)
            assert sub.stdout.startswith("bsdnet/hello board 10.7.0.2 up"), (sub.stdout, sub.stderr, board_tail(b))
            echo = subprocess.Popen(ns.cmd(["mosquitto_sub", "-h", HOST_IP, "-t", "bsdnet/echo", "-C", "1",
                                            "-W", str(T), "-v"]), stdout=subprocess.PIPE, text=True)
            try:
                time.sleep(1)  # mosquitto_sub subscribed (no timing in the assertions: it retries below)
                out = ""
                for _ in range(10):
                    ns.run(["mosquitto_pub", "-h", HOST_IP, "-t", "bsdnet/cmd", "-m", "ping 42"], timeout=T)
                    try:
                        out, _ = echo.communicate(timeout=3)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                assert out.strip() == "bsdnet/echo ping 42", (out, board_tail(b))
            finally:
                if echo.poll() is None:
                    echo.kill()
                    echo.wait(5)
            wait_output(b, "received b'bsdnet/cmd' b'ping 42'")
            log = ps[0].stop()
            assert "from 10.7.0.2" in log, log[-2000:]  # mosquitto logged the board's connection
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
