#!/usr/bin/env python3
"""Our stack next to the reference on the same emulated Pico and the same W5500 model.

    .venv/bin/python tools/rp2040/bench_ref.py [--only ours|ref|hostboard] [--pings 20] [--udp 50]
        [--udp-size 512] [--tcp-kb 128] [--echo-kb 4] [--connects 20] [--rtts 50]
        [--hostboard cpython,micropython|none] [--hostboard-chips w5500,enc28j60]
        [--no-tap] [--ref-stock-chip] [--slice-ms 2] [-v]

(a) ours: stock MicroPython RPI_PICO firmware; after a soft reset, firmware/main.py's start() and
    serve() (what its main() does) with boards/pico_w5500.py and its config.py, lib/bsdnet from the image;
(b) ref:  MicroPython W5500_EVB_PICO firmware (network.WIZNET5K + lwIP in C) with
    tools/rp2040/ref_main.py as /main.py (UDP and TCP echo 7, discard 9, chargen 19).
Both boot in tools/rp2040/board.mjs (through run.Board) on the stock W5500 model (tools/emu/w5500.py,
"w5500") on SPI0, INTn on GP21. Two parts per board:

1. Frame level (no root needed): hand-made frames through the harness's frame protocol, one at a
   time, the board's clock unpaced: ping RTT and UDP echo (port 7) stop-and-wait.
2. Over a TAP (root): the Linux kernel as the peer, Python sockets on the Linux side. The bench runs
   itself again under `ip netns exec` in a namespace it makes (bsdnet-bench-<pid>, 10.7.0.1/24 on
   TAP rb0, board 10.7.0.2), relays frames between run.Board and the TAP, and deletes the namespace
   at the end (also on failure or timeout). The board is paced (emulated time may not run ahead of
   wall time, or its timers fire early relative to the kernel). UDP echo rate and the UDP
   discard/chargen answers; the board's CPU use with no traffic; TCP bulk host->board (--tcp-kb to
   discard, timed until the board closed after reading all of it), board->host (--tcp-kb from
   chargen, the RFC 864 pattern checked), echo round trip of --echo-kb, echo latency (--rtts
   round trips of 1 byte on one connection), connect rate (--connects times connect to discard
   and close with a RST), transactions (--connects times connect to echo, 1 byte there and back,
   close), and misbehaving clients (resets mid-stream, FIN before accept: the server must go on).
   See ACCEPT_NOTE for why the reference needs the first two that way. One function per figure
   serves both boards. For ours, each service is probed first and reported "n/a until the TCP
   issue" (or the UDP issue) while it does not answer. Without root this part is skipped with a
   line that says so.
3. Ours on the host board (root; --hostboard, default cpython,micropython, each chip of
   --hostboard-chips): tools/hostboard.py on the same TAP in the same namespace, the same TAP
   tests in wall time only (no emulated clock; no idle load), NAME = hostboard-CHIP-RUNTIME.

Printed, for NAME = ours / ref (and hostboard-CHIP-RUNTIME for the TAP lines):

    ref-bench NAME ping rtt avg: X ms wall, Y ms emulated (N pings, lost, medians, maxima)
    ref-bench NAME udp echo: D datagrams/s wall (KB/s), E datagrams/s emulated; rtt ...
    ref-bench NAME tap udp echo / tap udp discard+chargen / idle load / tcp bulk host->board /
                   tcp bulk board->host / tcp echo / tcp echo latency / tcp connect rate /
                   tcp transactions / tcp misbehaving clients: ... wall, ... emulated, board busy ...
    ref-bench NAME gc.mem_free: N bytes with the services up; M at boot, M - N used
    ref-bench total: S s wall                       (about 35 s for both, as root)

Times. Wall time is host-side. Frame level: emulated time is the board's clock from the moment
board.mjs delivered the request to the chip model to the moment the chip model sent the reply.
TAP part: emulated time is the board clock's advance over the whole exchange (paced, so it
includes the time the board sat idle waiting for the kernel), and "busy" is the part of it the
core was not asleep in WFI/WFE (the CPU time the exchange cost on the emulated RP2040). Both come
from a small module preloaded into board.mjs's node process (written to a temporary directory,
node --import through NODE_OPTIONS): it timestamps frames in Board.deliverFrame and at the chip
model's transmit callback, counts idle clock time, and shortens board.mjs's run slice to
--slice-ms (default 2; board.mjs uses 15 ms, and a frame from the host waits for the end of the
slice), for both boards alike; the harness files are not changed.

gc.mem_free() is taken after gc.collect(): at boot before the network is touched, and once the
services are up (ref: all six sockets bound and listening). The two firmwares differ in heap size
at boot (lwIP's memory is static in the reference), so compare both numbers.

--ref-stock-chip: regression check that the reference comes up on the stock W5500 model (it hung
before the model gated SIR/INTn with Sn_IMR; tools/emu/w5500.py _update_int).
"""
import argparse
import os
import pathlib
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402

ROOT = run.ROOT
sys.path.insert(0, os.path.join(ROOT, "tools"))
HOST_MAC = bytes([2, 0, 10, 7, 0, 1])
HOST_IP = bytes([10, 7, 0, 1])
BOARD_IP = bytes([10, 7, 0, 2])
UDP_PORT = 7
CHIP = "w5500"
TAP_NAME = "rb0"
TAP_HOST_IP = "10.7.0.1/24"
BOARD = "10.7.0.2"
ECHO, DISCARD, CHARGEN = 7, 9, 19

# Preloaded into board.mjs's node process: emulated timestamps of frames in and out, exposed
# through the "stats" answer (which copies board.stats): in_emu / out_emu (the last 256 each)
# and in_n / out_n (how many frames so far); idle_ns: emulated time the core spent in WFI/WFE.
HOOK = """import { Board } from %s;
const KEEP = 256;
const SLICE_MS = %s;
function stamp(s, key, t) {
  const a = s[key + "_emu"] || (s[key + "_emu"] = []);
  a.push(t);
  if (a.length > KEEP) a.shift();
  s[key + "_n"] = (s[key + "_n"] || 0) + 1;
}
const deliver = Board.prototype.deliverFrame;
Board.prototype.deliverFrame = function (frame) {
  wrapTransmit(this);
  stamp(this.stats, "in", this.emuMs);
  stamp(this.stats, "in_cs", this.selected ? 1 : 0);
  return deliver.call(this, frame);
};
// the chip model's transmit callback (board.model.onFrame, which serveStdio sets) is wrapped when
// the board starts (attachModel may already have run when this module is evaluated)
function wrapTransmit(board) {
  const model = board.model;
  if (!model || model._stamped) return;
  model._stamped = true;
  board.stats.out_n = board.stats.frames_out;
  let inner = model.onFrame;
  const wrapped = (f) => { stamp(board.stats, "out", board.emuMs); if (inner) inner(f); };
  Object.defineProperty(model, "onFrame", { configurable: true, enumerable: true,
    get: () => (inner ? wrapped : inner), set: (v) => { inner = v; } });
}
// idle time: the run loop ticks the clock while core.waiting (WFI/WFE) to the next alarm
function wrapClock(board) {
  const mcu = board.mcu;
  if (!mcu || mcu._idleCounted) return;
  mcu._idleCounted = true;
  const clock = mcu.clock, core = mcu.core, tick = clock.tick.bind(clock);
  board.stats.idle_ns = 0;
  clock.tick = (dt) => { if (core.waiting) board.stats.idle_ns += dt; return tick(dt); };
}
const start = Board.prototype.start;
Board.prototype.start = function () {
  wrapTransmit(this);
  wrapClock(this);
  if (SLICE_MS > 0) this.opts.sliceMs = SLICE_MS;
  return start.call(this);
};
"""

# Ours: what firmware/main.py's main() does, with gc.mem_free() once the interface is up. Typed
# into the raw REPL (Ctrl-D runs it); it serves for ever, its output arrives as console events.
# The image is the one a user deploys (firmware/main.py as /main.py); the harness stopped main.py at
# boot, and a soft reset gives a fresh heap before the figures.
OURS_SERVE = """import gc
gc.collect()
print('bsdnet heap at boot: %d' % gc.mem_free())
import asyncio, main
nic = main.setup()
print('bsdnet up: %s mac %s' % (nic.ifconfig()[0], ':'.join('%02x' % b for b in nic.config('mac'))))
gc.collect()
print('bsdnet mem_free: %d' % gc.mem_free())
asyncio.run(main.serve(nic))
"""


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(">%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def arp_request():
    return (b"\xff" * 6 + HOST_MAC + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + HOST_MAC
            + HOST_IP + b"\x00" * 6 + BOARD_IP + b"\x00" * 18)


def ipv4(proto, ident, payload):
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xFFFF, 0, 64, proto, 0,
                     HOST_IP, BOARD_IP)
    return ip[:10] + struct.pack(">H", csum(ip)) + ip[12:] + payload


def echo_request(mac, seq, n=56):
    icmp = struct.pack(">BBHHH", 8, 0, 0, 0x4242, seq) + bytes((seq + i) & 0xFF for i in range(n))
    icmp = icmp[:2] + struct.pack(">H", csum(icmp)) + icmp[4:]
    return mac + HOST_MAC + b"\x08\x00" + ipv4(1, seq, icmp)


def udp_datagram(mac, seq, data, sport=40000):
    udp = struct.pack(">HHHH", sport, UDP_PORT, 8 + len(data), 0) + data
    pseudo = HOST_IP + BOARD_IP + struct.pack(">BBH", 0, 17, len(udp))
    c = csum(pseudo + udp) or 0xFFFF
    udp = udp[:6] + struct.pack(">H", c) + udp[8:]
    return mac + HOST_MAC + b"\x08\x00" + ipv4(17, 0x8000 + seq, udp)


class Bench:
    """One emulated board; frames counted in order so each one can be matched to its timestamp."""

    def __init__(self, name, **kw):
        self.name = name
        self.rx = []  # (index, wall time, frame)
        self.cv = threading.Condition()
        self.nrx = 0
        self.ntx = 0
        self.verbose = kw.pop("verbose", False)
        self.tap = None
        self._stop = None
        self._relay_thread = None
        self.b = run.Board(on_frame=self._frame, **kw)

    def _frame(self, f):
        tap = self.tap
        if tap is not None:
            tap.write(bytes(f))
            return
        with self.cv:
            self.rx.append((self.nrx, time.perf_counter(), bytes(f)))
            self.nrx += 1
            self.cv.notify_all()

    def send(self, f):
        i = self.ntx
        self.ntx += 1
        t = time.perf_counter()
        self.b.send_frame(f)
        return i, t

    def wait(self, pred, timeout):
        end = time.perf_counter() + timeout
        with self.cv:
            while True:
                for k, (i, t, f) in enumerate(self.rx):
                    if pred(f):
                        del self.rx[: k + 1]
                        return i, t, f
                left = end - time.perf_counter()
                if left <= 0:
                    return None
                self.cv.wait(left)

    def wait_console(self, text, timeout):
        end = time.time() + timeout
        while time.time() < end:
            for line in "".join(self.b.console).splitlines():
                if text in line:
                    return line
            time.sleep(0.02)
        raise RuntimeError("%s: no %r on the console in %ds; console %r"
                           % (self.name, text, timeout, "".join(self.b.console)[-400:]))

    def emu_pairs(self, pairs):
        """[(in index, out index)] -> emulated ms between delivery of the one and sending of the other."""
        st = self.b.stats()
        ins, outs = st.get("in_emu", []), st.get("out_emu", [])
        self.in_cs = st.get("in_cs_emu", [])
        in0, out0 = st.get("in_n", 0) - len(ins), st.get("out_n", 0) - len(outs)
        res = []
        for i, o in pairs:
            if i - in0 < 0 or o - out0 < 0 or i - in0 >= len(ins) or o - out0 >= len(outs):
                res.append(None)
            else:
                res.append(outs[o - out0] - ins[i - in0])
        return res

    def arp(self):
        self.send(arp_request())
        r = self.wait(lambda f: f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == BOARD_IP, 20)
        if r is None:
            raise RuntimeError("%s: no ARP reply" % self.name)
        return r[2][22:28]

    def ping(self, mac, count):
        wall, pairs, lost = [], [], 0
        for seq in range(count):
            i, t0 = self.send(echo_request(mac, seq))
            want = struct.pack(">H", seq)
            r = self.wait(lambda f, w=want: f[12:14] == b"\x08\x00" and f[23] == 1 and f[34] == 0
                          and f[40:42] == w, 10)
            if r is None:
                lost += 1
                continue
            o, t1, f = r
            if f[42:] [:56] != bytes((seq + k) & 0xFF for k in range(56)):
                raise RuntimeError("%s: echo reply %d with wrong data" % (self.name, seq))
            wall.append((t1 - t0) * 1000)
            pairs.append((i, o))
        emu = [e for e in self.emu_pairs(pairs) if e is not None]
        if pairs and not emu:
            raise RuntimeError("%s: no emulated timestamps (the preloaded hook did not run?)" % self.name)
        return wall, emu, lost

    def udp_echo(self, mac, count, size, timeout=10):
        wall, pairs, lost, t_start = [], [], 0, time.perf_counter()
        for seq in range(count):
            data = struct.pack(">H", seq) + bytes((seq * 7 + k) & 0xFF for k in range(size - 2))
            i, t0 = self.send(udp_datagram(mac, seq, data))
            r = self.wait(lambda f, d=data: f[12:14] == b"\x08\x00" and f[23] == 17 and f[34:36] == b"\x00\x07"
                          and f[42:42 + len(d)] == d, timeout)
            if r is None:
                lost += 1
                continue
            o, t1, f = r
            wall.append((t1 - t0) * 1000)
            pairs.append((i, o))
        total = time.perf_counter() - t_start
        emu = [e for e in self.emu_pairs(pairs) if e is not None]
        return wall, emu, lost, total

    # -- TAP relay: frames from the board go to the TAP, frames from the kernel to the board
    def tap_start(self, tap):
        self._stop = threading.Event()
        self.tap = tap
        self._relay_thread = threading.Thread(target=self._relay, args=(tap, self._stop), daemon=True)
        self._relay_thread.start()

    def _relay(self, tap, stop):
        fd = tap.fd
        while not stop.is_set():
            r, _, _ = select.select([fd], [], [], 0.05)
            for _ in range(64 if r else 0):
                f = tap.read()
                if f is None:
                    break
                if len(f) < 60:
                    f += bytes(60 - len(f))  # a real NIC pads short frames on the wire; the chip drops runts
                try:
                    self.b.send_frame(f)
                except (OSError, ValueError):  # the board went away
                    return

    def tap_stop(self):
        if self._stop is not None:
            self._stop.set()
            self._relay_thread.join(2)
        self.tap = None

    def close(self):
        self.tap_stop()
        self.b.close()


def _fmt(xs):
    return "%.2f" % (sum(xs) / len(xs)) if xs else "n/a"


def _median(xs):
    if not xs:
        return 0.0
    s = sorted(xs)
    return (s[len(s) // 2] + s[(len(s) - 1) // 2]) / 2


def report(name, what, text):
    print("ref-bench %s %s: %s" % (name, what, text), flush=True)


def bench_ping(bn, mac, n):
    wall, emu, lost = bn.ping(mac, n)
    if bn.verbose:
        report(bn.name, "ping each", "wall %s; emulated %s; CS low at delivery %s"
               % (" ".join("%.1f" % x for x in wall), " ".join("%.2f" % x for x in emu),
                  "".join(str(x) for x in bn.in_cs[-n:])))
    report(bn.name, "ping rtt avg", "%s ms wall, %s ms emulated (%d pings, %d lost; median %.2f ms wall, %.2f ms "
           "emulated; max %.2f ms wall, %.2f ms emulated)" % (_fmt(wall), _fmt(emu), n, lost, _median(wall),
                                                               _median(emu), max(wall or [0]), max(emu or [0])))
    return wall, emu


def bench_udp(bn, mac, args, probe=False):
    """UDP echo to port 7, one datagram at a time. probe: first see whether one comes back at all
    (our firmware: UDP not served yet) and report n/a if not."""
    if probe:
        wall, emu, lost, total = bn.udp_echo(mac, 1, args.udp_size, timeout=3)
        if lost:
            report(bn.name, "udp echo", "n/a until the UDP issue (no echo from port 7)")
            return
    wall, emu, lost, total = bn.udp_echo(mac, args.udp, args.udp_size)
    n = len(wall)
    report(bn.name, "udp echo", "%d x %d B stop-and-wait, %d lost: %.0f datagrams/s wall (%.1f KB/s each way), "
           "%.0f datagrams/s emulated (%.1f KB/s); rtt avg %s ms wall, %s ms emulated"
           % (args.udp, args.udp_size, lost, n / total if total else 0, n * args.udp_size / total / 1024,
              len(emu) / (sum(emu) / 1000) if emu else 0,
              len(emu) * args.udp_size / (sum(emu) / 1000) / 1024 if emu else 0, _fmt(wall), _fmt(emu)))


# ---------------------------------------------------------------- over a TAP, the kernel as the peer
def _period():
    p = bytearray()
    for k in range(95):
        p += bytes(32 + (k + j) % 95 for j in range(72)) + b"\r\n"
    return bytes(p)


PATTERN = _period()  # one period of the RFC 864 chargen pattern: 95 lines of 74 bytes


def rfc864(n):
    """The first n bytes a chargen server sends."""
    return (PATTERN * (n // len(PATTERN) + 1))[:n]


class Clock:
    """Wall and emulated time of one exchange; busy = emulated time the core was not idle. board
    None (the host board: no emulated clock): wall time only, emu and busy None."""

    def __init__(self, board):
        self.b = board
        self.emu = self.busy = None
        if board is not None:
            board.pace(True)  # a fresh pacing base: the emulated clock gains no more than the wall clock from here
            st = board.stats()
            self.e0, self.i0 = st["emu_ms"], st.get("idle_ns", 0)
        self.w0 = time.perf_counter()

    def stop(self):
        self.wall = time.perf_counter() - self.w0
        if self.b is not None:
            st = self.b.stats()
            self.emu = (st["emu_ms"] - self.e0) / 1000
            self.busy = self.emu - (st.get("idle_ns", 0) - self.i0) / 1e9
        return self

    def text(self, amount=None, unit="KB/s"):
        """'X s wall (R), Y s emulated (R), board busy Z s' with rates amount/s when given."""
        def rate(t):
            return " (%.0f %s)" % (amount / t, unit) if amount is not None and t > 0 else ""
        if self.emu is None:
            return "%.2f s wall%s" % (self.wall, rate(self.wall))
        return "%.2f s wall%s, %.2f s emulated%s, board busy %.2f s emulated%s" % (
            self.wall, rate(self.wall), self.emu, rate(self.emu), self.busy, rate(self.busy))

    def per_s(self, k, unit="/s"):
        """k events: 'X/s wall, Y/s emulated, Z/s per busy s' (wall only without an emulated clock)."""
        w = "%.1f%s wall" % (k / self.wall if self.wall > 0 else 0, unit)
        if self.emu is None:
            return w
        return "%s, %.1f%s emulated, %.1f%s per busy s" % (w, k / self.emu if self.emu > 0 else 0, unit,
                                                            k / self.busy if self.busy > 0 else 0, unit)

    def spans(self):
        """'(X s wall, Y s emulated, busy Z s)' (wall only without an emulated clock)."""
        if self.emu is None:
            return "(%.2f s wall)" % self.wall
        return "(%.2f s wall, %.2f s emulated, busy %.2f s)" % (self.wall, self.emu, self.busy)


# ACCEPT_NOTE: MicroPython's lwIP socket layer (extmod/modlwip.c) refuses data that arrives between
# lwIP accepting a connection and the application's accept() (_lwip_tcp_recv_unaccepted returns
# ERR_BUF): lwIP holds it until its next tcp_fasttmr, up to 250 ms, and drops further segments
# meanwhile (the peer retransmits). A FIN that arrives in that window is lost outright (lwIP ignores
# the callback's answer to it): the server never reads EOF (ref_main.py closes such connections
# after 3 s of silence). So the bulk-in and echo figures start once the server has accepted, the
# connect rate closes with a RST (which the accept queue handles), and "tcp transactions" (connect,
# 1 byte echoed, close) shows what a client that talks at once gets.
SETTLE_S = 0.5


class NotServed(Exception):
    """The service did not answer (ours: not there yet)."""

    def __init__(self, what, err):
        Exception.__init__(self, "%s does not answer (%s)" % (
            what, err.__class__.__name__ if isinstance(err, socket.timeout) else err.strerror or err))
        self.what = what


def _connect(port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((BOARD, port))
    except OSError as e:
        s.close()
        raise NotServed("TCP port %d" % port, e)
    s.settimeout(20)
    return s


def _recv_exact(s, n):
    buf = bytearray(n)
    mv = memoryview(buf)
    got = 0
    while got < n:
        k = s.recv_into(mv[got:], n - got)
        if not k:
            raise RuntimeError("connection closed after %d of %d bytes" % (got, n))
        got += k
    return bytes(buf)


def tap_udp_echo(bn, args, probe_timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((BOARD, ECHO))
        s.settimeout(probe_timeout)
        try:  # the first one also resolves ARP
            s.send(b"probe")
            if s.recv(2048) != b"probe":
                raise RuntimeError("udp echo: wrong answer to the probe")
        except OSError as e:
            raise NotServed("UDP port 7", e)
        s.settimeout(2)
        lost = 0
        rtt = []
        clk = Clock(bn.b)
        for seq in range(args.udp):
            data = struct.pack(">H", seq) + bytes((seq * 7 + k) & 0xFF for k in range(args.udp_size - 2))
            t = time.perf_counter()
            s.send(data)
            try:
                while s.recv(2048) != data:
                    pass
                rtt.append((time.perf_counter() - t) * 1000)
            except socket.timeout:
                lost += 1
        clk.stop()
        n = args.udp - lost
        return ("%d x %d B stop-and-wait, %d lost: %s; rtt avg %s ms wall (median %.2f)"
                % (args.udp, args.udp_size, lost, clk.per_s(n, " datagrams/s"), _fmt(rtt), _median(rtt)))
    finally:
        s.close()


def tap_udp_other(bn, args, probe_timeout):
    """discard: no answer; chargen: each datagram answered with the next line of the pattern."""
    d = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        d.connect((BOARD, DISCARD))
        c.connect((BOARD, CHARGEN))
        c.settimeout(probe_timeout)
        lines, rtt = [], []
        for _ in range(5):
            t = time.perf_counter()
            c.send(b"x")
            try:
                r = c.recv(2048)
            except OSError as e:
                raise NotServed("UDP port 19", e)
            rtt.append((time.perf_counter() - t) * 1000)
            c.settimeout(2)
            if len(r) < 74 or r[72:74] != b"\r\n" or r[:72] not in PATTERN:
                raise RuntimeError("udp chargen: not a line of the RFC 864 pattern: %r" % r[:80])
            lines.append(r)
        d.settimeout(0.5)
        for i in range(5):
            d.send(b"discard me %d" % i)
        try:
            r = d.recv(2048)
            discard = "answered %r (wrong)" % r[:20]
        except socket.timeout:
            discard = "no answer (right)"
        except ConnectionRefusedError:
            discard = "port unreachable"
        return "discard: 5 datagrams, %s; chargen: 5 of 5 answered with %s bytes of the RFC 864 " \
               "pattern, rtt avg %s ms wall" % (discard, "/".join(sorted(set(str(len(x)) for x in lines))),
                                                _fmt(rtt))
    finally:
        d.close()
        c.close()


def tap_tcp_in(bn, args, probe_timeout):
    n = args.tcp_kb * 1024
    s = _connect(DISCARD, probe_timeout)
    try:
        block = bytes(range(256)) * 64
        time.sleep(SETTLE_S)  # the server accept()s first (see ACCEPT_NOTE)
        clk = Clock(bn.b)
        sent = 0
        while sent < n:
            sent += s.send(block[:min(len(block), n - sent)])
        s.shutdown(socket.SHUT_WR)
        while s.recv(4096):  # the server closes once it read our FIN: all data acked and read
            pass
        clk.stop()
    finally:
        s.close()
    return "%d KB to discard, until it closed: %s" % (args.tcp_kb, clk.text(args.tcp_kb))


def tap_tcp_out(bn, args, probe_timeout):
    n = args.tcp_kb * 1024
    s = _connect(CHARGEN, probe_timeout)
    try:
        clk = Clock(bn.b)
        got = _recv_exact(s, n)
        clk.stop()
    finally:
        s.close()  # unread data: the kernel resets the connection, which the server must survive
    if got != rfc864(n):
        k = next(i for i in range(n) if got[i] != rfc864(n)[i])
        raise RuntimeError("tcp chargen: pattern wrong at byte %d" % k)
    return "%d KB from chargen, pattern checked: %s" % (args.tcp_kb, clk.text(args.tcp_kb))


def tap_tcp_echo(bn, args, probe_timeout):
    n = args.echo_kb * 1024
    data = bytes((i * 7 + 3) & 0xFF for i in range(n))
    s = _connect(ECHO, probe_timeout)
    try:
        s.sendall(b"!")  # one byte there and back first: the server has accept()ed (see ACCEPT_NOTE)
        if s.recv(1) != b"!":
            raise RuntimeError("tcp echo: wrong answer to the first byte")
        clk = Clock(bn.b)
        s.sendall(data)
        got = _recv_exact(s, n)
        clk.stop()
    finally:
        s.close()
    if got != data:
        raise RuntimeError("tcp echo: %d bytes came back different" % n)
    return "%d KB there and back: %s" % (args.echo_kb, clk.text(args.echo_kb * 2))


def tap_tcp_rtt(bn, args, probe_timeout):
    """Echo latency: --rtts round trips of 1 byte, stop-and-wait, on one connection (TCP_NODELAY;
    the echo carries the ACK), after one uncounted."""
    s = _connect(ECHO, probe_timeout)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"!")  # the server has accept()ed (see ACCEPT_NOTE)
        if _recv_exact(s, 1) != b"!":
            raise RuntimeError("tcp echo latency: wrong answer to the first byte")
        rtt = []
        clk = Clock(bn.b)
        for i in range(args.rtts):
            c = b"%c" % (65 + i % 26)
            t = time.perf_counter()
            s.sendall(c)
            if _recv_exact(s, 1) != c:
                raise RuntimeError("tcp echo latency: round trip %d: wrong byte" % i)
            rtt.append((time.perf_counter() - t) * 1000)
        clk.stop()
    finally:
        s.close()
    n = args.rtts
    emu = "" if clk.emu is None else ", %.2f ms emulated (board busy %.2f ms) per round trip" % (
        1000 * clk.emu / n, 1000 * clk.busy / n)
    return "%d x 1 B stop-and-wait on one connection: rtt avg %s ms wall (median %.2f, max %.2f)%s" % (
        n, _fmt(rtt), _median(rtt), max(rtt or [0]), emu)


def _connections(bn, args, port, probe_timeout, one, what):
    """args.connects connections to port, each run by one(i, sock) (which closes it), timed after
    an uncounted probe; the rate in wall, emulated and board-busy time."""
    _connect(port, probe_timeout).close()  # probe, not counted
    k = args.connects
    clk = Clock(bn.b)
    for i in range(k):
        one(i, _connect(port, 10))
    clk.stop()
    return "%d x (%s): %s %s" % (k, what, clk.per_s(k), clk.spans())


def tap_tcp_connects(bn, args, probe_timeout):
    def one(i, s):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # with a RST: see ACCEPT_NOTE

    return _connections(bn, args, DISCARD, probe_timeout, one, "connect to discard, close with RST")


def tap_tcp_transactions(bn, args, probe_timeout):
    def one(i, s):
        try:
            s.sendall(b"%c" % (65 + i % 26))
            if s.recv(1) != b"%c" % (65 + i % 26):
                raise RuntimeError("connection %d: wrong echo" % i)
        finally:
            s.close()

    return _connections(bn, args, ECHO, probe_timeout, one, "connect to echo, 1 byte there and back, close")


def tap_tcp_abuse(bn, args, probe_timeout):
    """Clients that misbehave must not stop the server: 3 reset chargen mid-stream, 6 connect to
    discard and close at once (their FIN can be lost before accept(), see ACCEPT_NOTE), then one
    echo exchange must work; reports how long until it did."""
    s = _connect(CHARGEN, probe_timeout)
    s.close()
    t0 = time.perf_counter()
    for _ in range(3):
        s = _connect(CHARGEN, 10)
        _recv_exact(s, 1000)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
    for _ in range(6):
        _connect(DISCARD, 20).close()
    t1 = time.perf_counter()
    s = _connect(ECHO, 20)
    try:
        s.sendall(b"still there?")
        if _recv_exact(s, 12) != b"still there?":
            raise RuntimeError("wrong echo after the abuse")
    finally:
        s.close()
    t2 = time.perf_counter()
    return "3 chargen clients reset mid-stream, 6 connect-and-close clients: all served, echo answered " \
           "%.2f s wall after them (%.2f s for the lot)" % (t2 - t1, t2 - t0)


def tap_idle(bn, args, probe_timeout):
    """How much of the emulated CPU the board uses with no traffic (after ARP settled)."""
    time.sleep(0.5)
    clk = Clock(bn.b)
    time.sleep(2)
    clk.stop()
    return "no traffic for %.2f s wall: %.2f s emulated, board busy %.3f s emulated (%.1f%%)" % (
        clk.wall, clk.emu, clk.busy, 100 * clk.busy / clk.emu if clk.emu > 0 else 0)


# (what, function, "TCP"/"UDP" issue for ours, the service it needs first)
TAP_TESTS = (("tap udp echo", tap_udp_echo, "UDP", "UDP port 7"),
             ("tap udp discard+chargen", tap_udp_other, "UDP", "UDP port 19"),
             ("idle load", tap_idle, None, None),
             ("tcp bulk host->board", tap_tcp_in, "TCP", "TCP port 9"),
             ("tcp bulk board->host", tap_tcp_out, "TCP", "TCP port 19"),
             ("tcp echo", tap_tcp_echo, "TCP", "TCP port 7"),
             ("tcp echo latency", tap_tcp_rtt, "TCP", "TCP port 7"),
             ("tcp connect rate", tap_tcp_connects, "TCP", "TCP port 9"),
             ("tcp transactions", tap_tcp_transactions, "TCP", "TCP port 7"),
             ("tcp misbehaving clients", tap_tcp_abuse, "TCP", "TCP port 19"))


def tap_missing():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from tap import netns_missing

    return netns_missing()


def _flush_tcp_metrics():
    """The kernel caches RTT and ssthresh per destination (tcp_metrics): every board is 10.7.0.2,
    so each one starts without what the previous board left."""
    subprocess.run(["ip", "tcp_metrics", "flush", "all"], capture_output=True, timeout=10)


def tap_tests(bn, args, ours, skip=()):
    """TAP_TESTS against a board on the TAP, one report line each (ours: "n/a until ..." for a
    service that does not answer); returns the number of failures."""
    _flush_tcp_metrics()
    fails = 0
    silent = {}  # ours: services that did not answer a probe, not probed again
    for what, fn, kind, needs in TAP_TESTS:
        if what in skip:
            continue
        if needs in silent:
            report(bn.name, what, "n/a until the %s issue: %s" % (kind, silent[needs]))
            continue
        try:
            report(bn.name, what, fn(bn, args, 3 if ours else 10))
        except NotServed as e:
            if not ours:
                raise RuntimeError("%s: %s" % (what, e))
            silent[e.what] = str(e)
            report(bn.name, what, "n/a until the %s issue: %s" % (kind, e))
        except (OSError, RuntimeError) as e:
            report(bn.name, what, "FAILED: %s: %s" % (e.__class__.__name__, e))
            fails += 1
    return fails


def tap_part(bn, args, ours):
    """The TAP tests on a running board (this process is in the bench's namespace). Returns the
    number of failures."""
    from tap import Tap

    tap = Tap.open(TAP_NAME, host_ip=TAP_HOST_IP)
    try:
        bn.tap_start(tap)
        bn.b.pace(True)
        return tap_tests(bn, args, ours)
    finally:
        try:
            bn.b.pace(False)
        except run.BoardError:
            pass
        bn.tap_stop()
        tap.close()


class _ThisNetns:
    """demo.NetnsBoard's namespace, when this process already is in the bench's own."""

    def cmd(self, argv):
        return list(argv)


class HostBench:
    """Our firmware on tools/hostboard.py (the cpython or micropython runtime) on the bench's TAP:
    the same TAP tests, in wall time only (no emulated clock: Clock(None))."""

    def __init__(self, chip, runtime):
        self.name = "hostboard-%s-%s" % (chip, runtime)
        self.chip = chip
        self.runtime = runtime
        self.b = None


def run_hostboard(args, chip, runtime):
    from demo import NetnsBoard, runtime_missing

    bn = HostBench(chip, runtime)
    why = runtime_missing(runtime)
    if why:
        report(bn.name, "tcp", "skipped: %s" % why)
        return 0
    t0 = time.time()
    hb = NetnsBoard(_ThisNetns(), chip, runtime, ip=BOARD + "/24", host_ip=TAP_HOST_IP, tap=TAP_NAME)
    try:
        hb.wait_ready(60)
        report(bn.name, "boot to up", "%.1f s wall" % (time.time() - t0))
        # idle load needs the emulated CPU's clock; the UDP figures are in host_tests/test_e2e_udp.py
        return tap_tests(bn, args, True, skip=("idle load", "tap udp discard+chargen"))
    finally:
        hb.stop(5)


def serve_and_measure(bn, args, label, boot_free, free, what_up):
    fails = 0
    mac = bn.arp()
    bench_ping(bn, mac, args.pings)
    bench_udp(bn, mac, args, probe=(label == "ours"))
    if args.tap:
        fails += tap_part(bn, args, label == "ours")
    report(label, "gc.mem_free", "%d bytes with the services up (%s); %d at boot, %d used" % (
        free, what_up, boot_free, boot_free - free))
    v = bn.b.chip_eval("chip.violations")
    if v != "[]":
        report(label, "chip violations", v)
    return fails


def run_ours(args):
    bn = Bench("ours", chip=CHIP, board="pico_w5500", bridge="w5500", stderr=args.stderr, verbose=args.v)
    try:
        t0 = time.time()
        # raw REPL is up (main.py was stopped at boot by the harness): a fresh heap, then main's
        # start()/serve()
        bn.b.soft_reset()
        bn.b.request("serial", data=OURS_SERVE + "\x04")
        boot_free = int(bn.wait_console("bsdnet heap at boot", 60).split()[-1])
        bn.wait_console("bsdnet up", 60)
        free = int(bn.wait_console("bsdnet mem_free", 60).split()[-1])
        report("ours", "boot to up", "%.1f s wall" % (time.time() - t0))
        return serve_and_measure(bn, args, "ours", boot_free, free, "interface up, firmware/main.py serving")
    finally:
        bn.close()


def _ref_board(args, name):
    return Bench(name, chip=CHIP, uf2=run.UF2_W5500, board="", bridge="w5500", serve=True,
                 extras=[os.path.join(HERE, "ref_main.py") + ":/main.py"], stderr=args.stderr, verbose=args.v)


def run_ref(args):
    bn = _ref_board(args, "ref")
    try:
        t0 = time.time()
        boot_free = int(bn.wait_console("ref heap at boot", 60).split()[-1])
        up = bn.wait_console("ref up", 60)
        free = int(bn.wait_console("ref mem_free", 60).split()[-1])
        report("ref", "boot to up", "%.1f s wall (%s)" % (time.time() - t0, up.strip()))
        fails = serve_and_measure(bn, args, "ref", boot_free, free,
                                  "WIZNET5K + lwIP up, UDP and TCP echo/discard/chargen bound")
        errs = [ln for ln in "".join(bn.b.console).splitlines() if ln.startswith("ref error")]
        if errs:
            report("ref", "server errors", "; ".join(errs[:5]))
        return fails
    finally:
        bn.close()


def run_ref_stock(args):
    """Regression check: the reference comes up on the stock W5500 model within --ref-stock-wait s wall
    (before the model gated SIR/INTn with Sn_IMR it spun on Sn_IR for ever) and answers ARP."""
    bn = _ref_board(args, "ref-stock-chip")
    try:
        t0 = time.time()
        bn.wait_console("ref mem_free", args.ref_stock_wait)
        bn.arp()
        st = bn.b.stats()
        report("ref-stock-chip", "boot", "came up and answered ARP on the stock W5500 model in %.1f s wall "
               "(%.0f ms emulated, %d chip selects, %d frames out)"
               % (time.time() - t0, st["emu_ms"], st["spi_selects"], st["frames_out"]))
        return 0
    finally:
        bn.close()


def in_netns(argv, args):
    """Run this bench again inside a network namespace of its own; delete the namespace after."""
    ns = "bsdnet-bench-%d" % os.getpid()
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    p = None
    try:
        subprocess.run(["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"], check=True, timeout=10)
        # no IPv6 chatter from the kernel on the TAP (router solicitations, MLD): the same quiet wire for both
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                        "net.ipv6.conf.default.disable_ipv6=1"], timeout=10)
        p = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__)] + list(argv)
                             + ["--netns", ns])
        try:
            return p.wait(args.timeout)
        except subprocess.TimeoutExpired:
            print("ref-bench error: no end within --timeout %d s wall; stopped" % args.timeout, flush=True)
            return 1
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait(10)
        subprocess.run(["ip", "netns", "del", ns], timeout=10)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pings", type=int, default=20)
    ap.add_argument("--udp", type=int, default=50, help="UDP echo datagrams")
    ap.add_argument("--udp-size", type=int, default=512, help="UDP payload bytes")
    ap.add_argument("--tcp-kb", type=int, default=128, help="KB each way for TCP bulk")
    ap.add_argument("--echo-kb", type=int, default=4, help="KB for the TCP echo round trip")
    ap.add_argument("--connects", type=int, default=20, help="connections for the connect rate")
    ap.add_argument("--rtts", type=int, default=50, help="1-byte round trips for the TCP echo latency")
    ap.add_argument("--hostboard", default="cpython,micropython",
                    help="as root: also our firmware on tools/hostboard.py in these runtimes (comma-separated, "
                         "cpython and/or micropython; 'none': not), each chip of --hostboard-chips, the same TAP "
                         "tests in wall time")
    ap.add_argument("--hostboard-chips", default="w5500,enc28j60")
    ap.add_argument("--only", choices=("ours", "ref", "hostboard"))
    ap.add_argument("--no-tap", action="store_true", help="frame-level part only (no namespace, no TAP)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds wall for the whole run in the namespace")
    ap.add_argument("--slice-ms", type=float, default=2,
                    help="board.mjs run slice (its default 15 ms adds up to 15 ms wall before a frame from "
                         "the host is seen; 0 keeps the default)")
    ap.add_argument("--ref-stock-chip", action="store_true",
                    help="also check that the reference comes up on the stock W5500 model (regression check)")
    ap.add_argument("--ref-stock-wait", type=float, default=30, help="seconds wall for --ref-stock-chip")
    ap.add_argument("--netns", help=argparse.SUPPRESS)  # set when run again inside the namespace
    ap.add_argument("-v", action="store_true", help="board.mjs diagnostics on stderr")
    args = ap.parse_args(argv)
    for uf2 in ((run.UF2,) if args.only == "ours" else (run.UF2_W5500,) if args.only == "ref"
                else () if args.only == "hostboard" else (run.UF2, run.UF2_W5500)):
        why = run.missing(uf2)
        if why:
            print("ref-bench: skipped: %s" % why)
            return 0
    args.tap = args.netns is not None
    if not args.tap and not args.no_tap:
        why = tap_missing()
        if why is None:
            return in_netns(argv, args)
        print("ref-bench: TAP part (TCP, kernel peer) skipped: %s; frame-level part only" % why, flush=True)
    hostboards = []
    if args.tap and args.only in (None, "hostboard"):
        hostboards = [(c, r) for r in args.hostboard.split(",") if r and r != "none"
                      for c in args.hostboard_chips.split(",")]
    args.stderr = None if args.v else open(os.devnull, "w")
    tmp = args.tmp = tempfile.mkdtemp(prefix="refbench")
    hook = os.path.join(tmp, "hook.mjs")
    url = pathlib.Path(HERE, "board.mjs").as_uri()
    with open(hook, "w") as f:
        f.write(HOOK % ('"%s"' % url, args.slice_ms))
    old = os.environ.get("NODE_OPTIONS")
    os.environ["NODE_OPTIONS"] = ((old + " ") if old else "") + "--import " + hook
    t0 = time.time()
    rc = 0
    try:
        jobs = []
        if args.only in (None, "ours"):
            jobs.append(run_ours)
        if args.only in (None, "ref"):
            jobs.append(run_ref)
            if args.ref_stock_chip:
                jobs.append(run_ref_stock)
        for job in jobs:
            try:
                if job(args):
                    rc = 1
            except (RuntimeError, OSError, run.BoardError) as e:
                print("ref-bench error: %s" % e, flush=True)
                rc = 1
    finally:
        if old is None:
            os.environ.pop("NODE_OPTIONS", None)
        else:
            os.environ["NODE_OPTIONS"] = old
        shutil.rmtree(tmp, ignore_errors=True)
    # after NODE_OPTIONS is restored: the hook is for board.mjs, not the host board's MicroPython VM
    for chip, runtime in hostboards:
        try:
            if run_hostboard(args, chip, runtime):
                rc = 1
        except (RuntimeError, OSError) as e:
            print("ref-bench error: hostboard %s %s: %s" % (chip, runtime, e), flush=True)
            rc = 1
    print("ref-bench total: %.1f s wall" % (time.time() - t0), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
