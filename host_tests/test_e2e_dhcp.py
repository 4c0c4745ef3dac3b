"""End to end DHCP and DNS: the host board with `--ip dhcp` against dnsmasq serving DHCP and DNS on
the Linux side of the TAP, in a network namespace this test makes, for each chip and runtime.

  test_lease_resolve_connect (every chip and runtime; the emulated Pico with the W5500 only unless
      RP2040_FULL=1): the board takes a lease (its address in dnsmasq's lease file with its MAC and
      hostname; `ready ... addr=dhcp`), answers ping there, resolves names through its lookup service
      (firmware/lookup.py, UDP 5300): an A record, a CNAME, NXDOMAIN as a clear error; and connects
      by name to a Linux TCP listener. Prints the time to lease per runtime.
  test_renew_rebind_and_server_loss (cpython): T1 20 s and T2 35 s (options 58/59; dnsmasq's
      shortest lease is 2 min): the board renews (dnsmasq logs the unicast REQUEST, the board counts
      it) while it answers ping and UDP echo; dnsmasq is killed: the board keeps its address past
      T1, rebinds by broadcast at T2, and is bound again when dnsmasq comes back.
Needs root, ip, and dnsmasq (Debian: dnsmasq; `make setup` installs it); skips without them.
dnsmasq runs in the foreground with a conf file of our own, its lease file in a temporary directory,
bound to the TAP only, and is killed on the way out.
"""
import json
import os
import shutil
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "host_tests"))

from demo import Netns, NetnsBoard, runtime_missing  # noqa: E402
from e2e import board_params, board_id, board_tail, assert_no_chip_violations  # noqa: E402
from tap import netns_missing  # noqa: E402
from dnsmasq import Dnsmasq  # noqa: E402

_MISSING = netns_missing() or (None if shutil.which("dnsmasq") else "dnsmasq is not installed (make setup)")
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")
RP2040_FULL = os.environ.get("RP2040_FULL") == "1"

TAP = "bsd0"
HOST_IP = "10.7.0.1"
HOSTNAME = "bsdboard"
MAC = "02:00:00:00:dc:01"
T1_S = 10  # test_lease_resolve_connect's renewal time (option 58)
class DhcpNet:
    """A namespace with the TAP made beforehand (persistent, 10.7.0.1/24), dnsmasq on it, and the host
    board with --ip dhcp; everything removed by close()."""

    def __init__(self, tag, chip, runtime, extra_conf=""):
        why = runtime_missing(runtime)
        if why:
            pytest.skip(why)
        self.ns = Netns("bsdnet-%s-%d-%s-%s" % (tag, os.getpid(), chip[:3], runtime[:2]))
        self.tmp = tempfile.mkdtemp(prefix="bsdnet-dhcp")
        self.dnsmasq = None
        self.board = None
        try:
            # the TAP exists before dnsmasq binds to it; the host board opens it (tools/tap.py)
            self.ns.run(["ip", "tuntap", "add", "dev", TAP, "mode", "tap"])
            self.ns.run(["ip", "addr", "add", HOST_IP + "/24", "dev", TAP])
            self.ns.run(["ip", "link", "set", TAP, "up"])
            self.dnsmasq = Dnsmasq(self.ns, self.tmp, extra=extra_conf)
            self.t0 = time.monotonic()
            self.board = NetnsBoard(self.ns, chip, runtime, ip="dhcp", host_ip=HOST_IP + "/24", tap=TAP,
                                    extra=["--hostname", HOSTNAME, "--mac", MAC])
            self.ready = self.board.wait_ready(240)
            self.ready_s = time.monotonic() - self.t0
            self.board.ip = self.ready["ip"]
        except BaseException:
            self.close()  # the host board's last counters and the firmware's console go to its stderr
            if self.board is not None:
                sys.stderr.write("host board stderr:\n%s\ndnsmasq:\n%s\n" % (
                    "\n".join(x for x in self.board.stderr[-40:] if x), self.dnsmasq.text()[-2000:]))
            raise

    def close(self):
        if self.board is not None:
            self.board.stop(5)
        if self.dnsmasq is not None:
            self.dnsmasq.stop()
        self.ns.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


# Run inside the namespace: asks the board's lookup service, with a Linux TCP listener for the
# connect by name. Prints one JSON line.
CLIENT = r"""
import json, socket, sys, threading
board = sys.argv[1]
out = {}
l = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.7.0.1", 5400))
l.listen(1)
l.settimeout(60)
def serve():
    try:
        c, a = l.accept()
        c.settimeout(30)
        f = c.makefile("rb")
        out["tcp_got"] = f.readline().decode().strip()
        out["tcp_peer"] = a[0]
        c.sendall(b"hi board\n")
        c.close()
    except Exception as e:
        out["tcp_error"] = repr(e)
t = threading.Thread(target=serve, daemon=True)
t.start()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(60)
def ask(req):
    s.sendto(req.encode(), (board, 5300))
    return s.recvfrom(2000)[0].decode()
import time
t0 = time.perf_counter()
out["a"] = ask("A srv.bsdnet.test")  # not cached yet: a query to dnsmasq and its answer
out["a_ms"] = (time.perf_counter() - t0) * 1000
t0 = time.perf_counter()
out["a2"] = ask("A srv.bsdnet.test")  # from the board's cache
out["a2_ms"] = (time.perf_counter() - t0) * 1000
out["cname"] = ask("A www.bsdnet.test")
out["nx"] = ask("A nope.bsdnet.test")
out["tcp"] = ask("T srv.bsdnet.test 5400")
out["lease"] = ask("L")
t.join(10)
print(json.dumps(out))
"""


@pytest.fixture(params=board_params(), ids=board_id)
def net(request):
    chip, runtime = request.param
    if runtime == "rp2040" and chip != "w5500" and not RP2040_FULL:
        pytest.skip("emulated Pico: the W5500 only (RP2040_FULL=1 runs the ENC28J60 too)")
    # T1 10 s: every runtime renews (unicast REQUEST, ACK) within the test
    n = DhcpNet("dhcp", chip, runtime, extra_conf="dhcp-option=58,%d\ndhcp-option=59,100" % T1_S)
    try:
        yield n
    finally:
        n.close()


def _ask(net, argv, timeout):
    p = net.ns.run(argv, timeout=timeout, check=False)
    lines = p.stdout.strip().splitlines()
    if p.returncode != 0 or not lines:
        pytest.fail("%s exited %d\n%s%s\n%s\ndnsmasq:\n%s" % (argv[:3], p.returncode, p.stdout, p.stderr[-2000:],
                                                           board_tail(net.board), net.dnsmasq.text()[-3000:]))
    return json.loads(lines[-1])


def test_lease_resolve_connect(net, capsys):
    b = net.board
    ip = net.ready["ip"]
    assert net.ready["addr"] == "dhcp" and net.ready["mac"] == MAC, net.ready
    last = [int(x) for x in ip.split(".")]
    assert last[:3] == [10, 7, 0] and 50 <= last[3] <= 99, ip
    leases = net.dnsmasq.lease_lines()  # expiry, MAC, address, hostname, client id
    assert any(x[1] == MAC and x[2] == ip and x[3] == HOSTNAME for x in leases), leases
    p = net.ns.run(["ping", "-c", "3", "-W", "5", ip], timeout=60, check=False)
    assert " 0% packet loss" in p.stdout or ", 3 received" in p.stdout, p.stdout
    r = _ask(net, [sys.executable, "-c", CLIENT, ip], timeout=240)
    assert r["a"] == "ok " + HOST_IP and r["a2"] == r["a"], r
    assert r["cname"] == "ok " + HOST_IP, r
    assert r["nx"].startswith("err") and "NXDOMAIN" in r["nx"], r
    assert r["tcp"] == "ok hi board" and r.get("tcp_got") == "hello from bsdnet" and r.get("tcp_peer") == ip, r
    assert r["lease"].startswith("ok "), r
    lease = json.loads(r["lease"][3:])
    assert lease["addr"] == ip and lease["server"] == HOST_IP and lease["router"] == HOST_IP
    assert lease["dns"] == [HOST_IP] and lease["lease_s"] == 120, json.dumps(lease)
    assert lease["state"] in ("bound", "renewing"), json.dumps(lease)  # T1 may just have come
    # the counters from the lookup service too: on the emulated Pico a whole stats dump (which
    # restarts serve()) can find no block in a heap this full (README: DHCP and DNS)
    st = lease
    assert st["dhcpstat"]["acks"] >= 1 and st["dhcpstat"]["offers"] >= 1 and st["dhcpstat"]["bad"] == 0, st["dhcpstat"]
    assert st["dnsstat"]["answers"] >= 2 and st["dnsstat"]["nxdomain"] == 1 and st["dnsstat"]["bad"] == 0, st["dnsstat"]
    assert st["dnsstat"]["hits"] >= 1, st["dnsstat"]
    assert st["mbuf_free"] == st["mbuf_size"], st
    assert "DHCPACK(%s) %s %s %s" % (TAP, ip, MAC, HOSTNAME) in net.dnsmasq.text()
    # the renew at T1 (the lease's T1 is T1_S): the board asks its server by unicast, stays bound
    # at the same address and keeps answering
    t_end = time.monotonic() + T1_S + 40
    while True:
        ls = _lease(net)
        if ls["dhcpstat"]["renews"] >= 1 and ls["dhcpstat"]["acks"] >= 2 and ls["state"] == "bound":
            break
        if time.monotonic() > t_end:
            pytest.fail("no renew within %d s: %s\n%s" % (T1_S + 40, json.dumps(ls), net.dnsmasq.text()[-2000:]))
        time.sleep(2)
    assert ls["addr"] == ip and ls["dhcpstat"]["naks"] == 0, ls
    p = net.ns.run(["ping", "-c", "2", "-W", "5", ip], timeout=30, check=False)
    assert ", 2 received" in p.stdout, p.stdout
    with capsys.disabled():
        print("\nDHCP %s/%s: lease %s in %d ms on the board (DISCOVER to bound, probes included), "
              "ready %.1f s after the host board started; heap free while serving: %s; a name resolved in "
              "%.1f ms (from the cache %.1f ms), round trip from Linux through the lookup service"
              % (b.chip, b.runtime, ip, lease["took_ms"], net.ready_s, lease.get("mem_free", "n/a"),
                 r["a_ms"], r["a2_ms"]))
    b.stop(5)
    assert_no_chip_violations(b)


RENEW = r"""
import json, socket, subprocess, sys, time
board, secs = sys.argv[1], float(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
ok = lost = 0
end = time.time() + secs
while time.time() < end:
    d = b"renew %d" % ok
    s.sendto(d, (board, 7))
    try:
        while s.recvfrom(2000)[0] != d:
            pass
        ok += 1
    except socket.timeout:
        lost += 1
    time.sleep(0.5)
p = subprocess.run(["ping", "-c", "3", "-W", "3", board], capture_output=True, text=True)
print(json.dumps({"echo_ok": ok, "echo_lost": lost, "ping": p.stdout.count("bytes from")}))
"""


def _lease(net):
    r = _ask(net, [sys.executable, "-c", "import socket,sys\ns=socket.socket(2,2)\ns.settimeout(10)\n"
                   "s.sendto(b'L',(sys.argv[1],5300))\nprint(s.recvfrom(2000)[0].decode()[3:])", net.board.ip],
             timeout=30)
    return r


def test_renew_rebind_and_server_loss():
    net = DhcpNet("renew", "w5500", "cpython", extra_conf="dhcp-option=58,20\ndhcp-option=59,35")
    try:
        b = net.board
        ip = b.ip
        lease = _lease(net)
        assert lease["t1_s"] == 20 and lease["t2_s"] == 35 and lease["lease_s"] == 120, lease
        # past T1: a renewal, unicast, while the board keeps answering
        r = _ask(net, [sys.executable, "-c", RENEW, ip, "25"], timeout=60)
        assert r["echo_lost"] <= 1 and r["echo_ok"] >= 30 and r["ping"] == 3, r
        st = b.stats()["dhcp"]
        assert st["renews"] >= 1 and st["acks"] >= 2 and st["rebinds"] == 0, st
        assert net.dnsmasq.text().count("DHCPACK(%s) %s %s" % (TAP, ip, MAC)) >= 2
        lease = _lease(net)
        assert lease["state"] == "bound" and lease["elapsed_s"] < 20, lease
        # the server goes away: the address stays past T1, the board rebinds by broadcast at T2
        net.dnsmasq.stop()
        r = _ask(net, [sys.executable, "-c", RENEW, ip, "38"], timeout=80)
        assert r["echo_lost"] <= 1 and r["ping"] == 3, r  # still its address: the lease runs for 120 s
        lease = _lease(net)
        assert lease["state"] == "rebinding" and lease["addr"] == ip, lease
        st = b.stats()["dhcp"]
        assert st["rebinds"] == 1 and st["expired"] == 0, st
        # the server is back: the next rebinding REQUEST is answered
        net.dnsmasq.start()
        for _ in range(40):  # bounded: half the time left, at least 4 s between rebinding REQUESTs
            time.sleep(1)
            lease = _lease(net)
            if lease["state"] == "bound":
                break
        assert lease["state"] == "bound" and lease["addr"] == ip, lease
        st = b.stats()
        assert st["dhcp"]["expired"] == 0 and st["mbuf"]["free"] == st["mbuf"]["size"], st
    except BaseException:
        sys.stderr.write(board_tail(net.board) + "\ndnsmasq:\n" + net.dnsmasq.text()[-3000:] + "\n")
        raise
    finally:
        net.close()
