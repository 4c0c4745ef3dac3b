#!/usr/bin/env python3
"""make demo: the board answering ping.

As root: makes a network namespace (bsdnet-demo-<pid>), starts the host board in it on a TAP,
pings it from Linux (ping -c 5), shows the ARP entry (ip neigh) and the board's counters, and
deletes the namespace (always, also on failure or Ctrl-C).
Without root: two emulated boards on the in-process wire (tools/emu/wire.py); board A pings board B
(ARP resolution, ICMP echo request and reply), every frame printed as it crosses.

    python3 tools/demo.py [--chip w5500|enc28j60] [--runtime cpython|micropython|rp2040] [--count 5]
                          [--impair loss=0.1,seed=1] [--pcap demo.pcap] [--app main|echo]
                          [--inprocess]

NetnsBoard, the host board in a namespace of its own, is also what host_tests/test_e2e_ping.py uses.
"""
import argparse
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools"), os.path.join(ROOT, "firmware")):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def run(cmd, timeout=30, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(cmd), p.returncode, p.stdout, p.stderr))
    return p


class Netns:
    """A network namespace of our own, deleted by close() (idempotent)."""

    def __init__(self, name):
        self.name = name
        run(["ip", "netns", "add", name])
        self.alive = True
        try:
            self.run(["ip", "link", "set", "lo", "up"])
        except Exception:
            self.close()
            raise

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, timeout=30, check=True):
        return run(self.cmd(argv), timeout, check)

    def close(self):
        if self.alive:
            run(["ip", "netns", "del", self.name], check=False)
            self.alive = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def runtime_missing(runtime):
    """None when the host board can run this runtime here, else the reason (node, the Pico files)."""
    import shutil

    if runtime in ("micropython", "rp2040") and shutil.which("node") is None:
        return "node is not installed (needed for the MicroPython VM and rp2040js)"
    if runtime == "rp2040":
        sys.path.insert(0, os.path.join(ROOT, "tools", "rp2040"))
        import run as rp

        why = rp.missing()
        if why:
            return "emulated Pico: " + why
    if runtime == "esp32":
        sys.path.insert(0, os.path.join(ROOT, "tools", "esp32"))
        import qemu

        why = qemu.missing()
        if why:
            return "emulated ESP32: " + why
    return None


class NetnsBoard:
    """tools/hostboard.py running in a namespace; reads its `ready`/`stats`/`error` lines."""

    def __init__(self, ns, chip="w5500", runtime="cpython", ip="10.7.0.2/24", host_ip="10.7.0.1/24",
                 tap="bsd0", extra=(), python=None):
        self.ns = ns
        self.chip = chip
        self.runtime = runtime
        self.ip = ip.split("/")[0]
        self.tap = tap
        argv = [python or sys.executable, os.path.join(ROOT, "tools", "hostboard.py"), "--tap", tap,
                "--chip", chip, "--ip", ip, "--host-ip", host_ip, "--runtime", runtime] + list(extra)
        self.errlog = open(os.devnull, "w") if os.environ.get("BSDNET_QUIET") else None
        self.proc = subprocess.Popen(ns.cmd(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     cwd=ROOT)
        self.lines = queue.Queue()
        self.stderr = []
        self.ready = None
        self.boot = None  # the firmware's boot line (the `boot` line, read on the way to `ready`)
        self.final_stats = None
        self.stop_seconds = None
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True).start()

    @staticmethod
    def _pump(f, put):
        for line in f:
            put(line.rstrip("\n"))
        put(None)

    def _next(self, prefix, timeout):
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return None
            if line is None:
                self.lines.put(None)  # keep the end marker for the next reader
                return None
            if line.startswith("error "):
                tail = "\n".join(x for x in self.stderr[-30:] if x is not None)
                raise RuntimeError("host board: %s\n%s" % (line, tail))
            if line.startswith("boot "):
                self.boot = line[5:]
            if line.startswith(prefix):
                return line

    def unread(self):
        """Lines printed but not read yet (e.g. an `error` line after the board died); drains them."""
        out = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return out
            if line is None:
                self.lines.put(None)
                return out
            out.append(line[:500])

    def wait_ready(self, timeout=60):
        line = self._next("ready", timeout)
        if line is None:
            raise RuntimeError("host board not ready within %ds (exit %s)\n%s" % (
                timeout, self.proc.poll(), "\n".join(self.stderr[-30:])))
        self.ready = dict(kv.split("=", 1) for kv in line.split()[1:])
        return self.ready

    def stats(self, timeout=5):
        self.proc.send_signal(signal.SIGUSR1)
        line = self._next("stats ", timeout)
        if line is None:
            raise RuntimeError("no stats line within %ds" % timeout)
        return json.loads(line[6:])

    def stop(self, timeout=5):
        """SIGTERM; returns the seconds it took to exit (kills it after timeout + 2 s)."""
        if self.proc.poll() is None:
            t = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout + 2)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
            self.stop_seconds = time.monotonic() - t
            line = self._next("stats ", 1)
            if line:
                self.final_stats = json.loads(line[6:])
        return self.stop_seconds


def parse_ping(out):
    """(transmitted, received, (min, avg, max) ms or None) from ping's summary."""
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", out)
    if not m:
        raise ValueError("no ping summary in: %r" % out)
    r = re.search(r"= ([\d.]+)/([\d.]+)/([\d.]+)/", out)
    rtt = (float(r.group(1)), float(r.group(2)), float(r.group(3))) if r else None
    return int(m.group(1)), int(m.group(2)), rtt


# Run inside the namespace by demo_root: a few UDP exchanges with the board's services.
_UDP_CLIENT = r"""
import socket, sys, time
board = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
for text in (b"hello, board", b"x" * 1000):
    t = time.perf_counter()
    s.sendto(text, (board, 7))
    data, addr = s.recvfrom(2000)
    assert data == text, data
    print("echo %s:%d: %d bytes back in %.2f ms" % (addr[0], addr[1], len(data), (time.perf_counter() - t) * 1000))
s.sendto(b"\x00\x48", (board, 19))
data, addr = s.recvfrom(2000)
print("chargen %s:%d: %r" % (addr[0], addr[1], data.decode()))
"""

# Then TCP: echo of 64 KiB through the board's TCP echo (7), and its HTTP server (80).
_TCP_CLIENT = r"""
import os, socket, sys, threading, time
board = sys.argv[1]
data = os.urandom(65536)
t = time.perf_counter()
c = socket.create_connection((board, 7), timeout=10)
w = threading.Thread(target=lambda: (c.sendall(data), c.shutdown(socket.SHUT_WR)))
w.start()
got = bytearray()
while True:
    d = c.recv(65536)
    if not d:
        break
    got += d
w.join()
c.close()
assert got == data, (len(got), len(data))
dt = time.perf_counter() - t
print("tcp echo %s:7: %d bytes back byte-exact in %.2f s (%.0f KB/s each way)"
      % (board, len(got), dt, len(got) / dt / 1024))
h = socket.create_connection((board, 80), timeout=10)
h.sendall(b"GET /stats HTTP/1.0\r\nHost: board\r\n\r\n")
resp = b""
while True:
    d = h.recv(4096)
    if not d:
        break
    resp += d
h.close()
head, _, body = resp.partition(b"\r\n\r\n")
import json
doc = json.loads(body)
print("http %s:80 GET /stats: %s; mem_free %s, mbufs %d/%d free, tcp connections %d" % (
    board, head.split(b"\r\n")[0].decode(), doc["mem_free"], doc["mbuf_free"], doc["mbuf_total"],
    doc["tcp_connections"]))
"""


def demo_root(a):
    name = "bsdnet-demo-%d" % os.getpid()
    extra = []
    if a.impair:
        extra += ["--impair", a.impair]
    if a.pcap:
        extra += ["--pcap", os.path.abspath(a.pcap)]
    if a.app != "main":
        extra += ["--app", a.app]
    ns = Netns(name)
    board = None
    try:
        print("namespace %s: starting the host board (%s, %s runtime)" % (name, a.chip, a.runtime), flush=True)
        board = NetnsBoard(ns, a.chip, a.runtime, extra=extra)
        r = board.wait_ready()
        print("board ready: ip %s mac %s" % (r["ip"], r["mac"]), flush=True)
        print("$ ping -c %d %s" % (a.count, r["ip"]), flush=True)
        p = ns.run(["ping", "-c", str(a.count), "-i", "0.2", "-W", "2", "-w", str(5 + a.count), r["ip"]],
                   timeout=30, check=False)
        print(p.stdout.rstrip(), flush=True)
        print("$ ip neigh show dev %s" % board.tap)
        print(ns.run(["ip", "neigh", "show", "dev", board.tap]).stdout.rstrip())
        udp_ok = tcp_ok = True
        if a.app == "main":
            print("$ UDP from Linux to the board's echo (7) and chargen (19) services", flush=True)
            p2 = ns.run([sys.executable, "-c", _UDP_CLIENT, r["ip"]], timeout=30, check=False)
            print(p2.stdout.rstrip() or p2.stderr.rstrip(), flush=True)
            udp_ok = p2.returncode == 0
            print("$ TCP from Linux: echo (7) and HTTP (80)", flush=True)
            p3 = ns.run([sys.executable, "-c", _TCP_CLIENT, r["ip"]], timeout=60, check=False)
            print(p3.stdout.rstrip() or p3.stderr.rstrip(), flush=True)
            tcp_ok = p3.returncode == 0
        st = board.stats()
        print("board counters:")
        for k in sorted(st):
            if isinstance(st[k], dict):
                nz = dict((n, v) for n, v in st[k].items() if v)
                print("  %-6s %s" % (k, json.dumps(nz, sort_keys=True)))
            else:
                print("  %-6s %s" % (k, json.dumps(st[k])))
        sent, got, rtt = parse_ping(p.stdout)
        ok = got == sent and sent > 0 and udp_ok and tcp_ok
        print("%s: %d/%d pings answered%s%s" % (
            "OK" if ok else "FAILED", got, sent, ", rtt min/avg/max %.3f/%.3f/%.3f ms" % rtt if rtt else "",
            "" if a.app != "main" else ", UDP echo and chargen " + ("answered" if udp_ok else "NOT answered")
            + ", TCP echo and HTTP " + ("answered" if tcp_ok else "NOT answered")))
        return 0 if ok else 1
    finally:
        if board is not None:
            s = board.stop()
            print("host board stopped in %.2f s" % (s or 0))
        ns.close()
        print("namespace %s deleted" % name)


# --- without root: two boards on the in-process wire ------------------------------------

def _describe(f):
    et = (f[12] << 8) | f[13]
    mac = lambda b: ":".join("%02x" % x for x in b)  # noqa: E731
    ip = lambda b: ".".join(str(x) for x in b)  # noqa: E731
    if et == 0x0806 and len(f) >= 42:
        op = "who-has %s tell %s" % (ip(f[38:42]), ip(f[28:32])) if f[21] == 1 else "%s is-at %s" % (
            ip(f[28:32]), mac(f[22:28]))
        return "ARP %s" % op
    if et == 0x0800 and len(f) >= 34:
        s = "IP %s > %s" % (ip(f[26:30]), ip(f[30:34]))
        hl = (f[14] & 15) * 4
        if f[23] == 1 and len(f) >= 14 + hl + 8:
            t = f[14 + hl]
            s += " ICMP %s seq %d" % ({8: "echo request", 0: "echo reply"}.get(t, "type %d" % t),
                                      (f[14 + hl + 6] << 8) | f[14 + hl + 7])
        return s
    return "ethertype 0x%04x" % et


def build_echo_request(m, src, dst, ident, seq, payload=56):
    """An ICMP echo request in mbuf m (IP header first), ready for ip_output()."""
    import struct
    from bsdnet.in_cksum import in_cksum

    b = m.buf
    o = m.off
    n = 20 + 8 + payload
    for i in range(n):
        b[o + i] = 0
    b[o] = 0x45
    struct.pack_into(">H", b, o + 2, n)
    b[o + 9] = 1
    b[o + 12:o + 16] = src
    b[o + 16:o + 20] = dst
    ic = o + 20
    b[ic] = 8
    struct.pack_into(">HH", b, ic + 4, ident, seq)
    for i in range(payload):
        b[ic + 8 + i] = (0x10 + i) & 0xFF
    struct.pack_into(">H", b, ic + 2, in_cksum(b, ic, 8 + payload))
    m.len = n


def demo_inprocess(a):
    from emu.wire import Wire, Pcap, parse_impair
    from bsdnet.compat import ticks_ms, ticks_diff
    from bsdnet import mbuf
    from bsdnet.ip_output import ip_output
    import vmboard

    mw = []
    if a.impair:
        mw.append(parse_impair(a.impair))
    pf = open(a.pcap, "wb") if a.pcap else None
    if pf:
        mw.append(Pcap(pf))
    w = Wire(mw)
    boards = []
    for ip in ("10.9.0.1", "10.9.0.2"):
        bd = vmboard.Board(a.chip, ip, "255.255.255.0", "0.0.0.0")
        w.attach(bd.chip, ip)
        boards.append(bd)
    A, B = boards
    replies = []
    t0 = ticks_ms()

    def monitor(f):
        print("  %6d ms  %s" % (ticks_diff(ticks_ms(), t0), _describe(f)))
        if len(f) >= 42 and f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0 and f[26:30] == bytes([10, 9, 0, 2]):
            replies.append((f[40] << 8) | f[41])
        return True

    w.port(monitor, "monitor")
    poll = lambda: A.nic.poll() + B.nic.poll()  # noqa: E731
    print("board A %s (%s) pings board B %s (%s) over the in-process wire, chip %s" % (
        A.ip, vmboard.mac_str(A.mac), B.ip, vmboard.mac_str(B.mac), a.chip))
    w.run(poll=poll, max_steps=50)  # gratuitous ARPs at start
    answered = 0
    for seq in range(1, a.count + 1):
        m = mbuf.m_get()
        build_echo_request(m, bytes([10, 9, 0, 1]), bytes([10, 9, 0, 2]), 0x1234, seq)
        t = ticks_ms()
        ip_output(A.nic, m, t)
        end = time.monotonic() + 3.0
        while seq not in replies and time.monotonic() < end:
            w.step()
            poll()
        if seq in replies:
            answered += 1
            print("  reply seq %d in %d ms" % (seq, ticks_diff(ticks_ms(), t)))
        else:
            print("  seq %d: no reply" % seq)
    st = B.stats()
    print("ICMP counters (module-level, so shared by both boards in this one process): %s" % json.dumps(
        dict((k, v) for k, v in st.get("icmp", st).items() if v), sort_keys=True))
    print("ARP table of A: %s" % (A.nic.arp_entries(),))
    print("%s: %d/%d answered" % ("OK" if answered == a.count else "FAILED", answered, a.count))
    if pf:
        pf.close()
    return 0 if answered == a.count else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description="bsdnet demo: the board answering ping")
    ap.add_argument("--chip", default="w5500", choices=("w5500", "enc28j60"))
    ap.add_argument("--runtime", default="cpython", choices=("cpython", "micropython", "rp2040", "esp32"))
    ap.add_argument("--count", type=int, default=5)
    ap.add_argument("--impair")
    ap.add_argument("--pcap")
    ap.add_argument("--app", default="main", choices=("main", "echo"),
                    help="main: firmware/main.py; echo: a stand-in ARP/ICMP responder with no stack")
    ap.add_argument("--inprocess", action="store_true", help="two boards on the in-process wire, even as root")
    a = ap.parse_args(argv)
    if os.geteuid() == 0 and not a.inprocess and os.path.exists("/dev/net/tun"):
        # the host board runs under this interpreter (sys.executable): the system python3 lacks what
        # `make setup` put into .venv (littlefs for rp2040), so run again under .venv, or say so (exit 2)
        import setupcheck

        setupcheck.require_runtime("demo", a.runtime, argv=None if argv is None else [sys.argv[0]] + list(argv))
        return demo_root(a)
    if os.geteuid() != 0:
        print("not root: no namespace or TAP; two emulated boards on the in-process wire instead")
    return demo_inprocess(a)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
