#!/usr/bin/env python3
"""Our stack next to the reference on the same emulated Pico and the same W5500 model.

    .venv/bin/python tools/rp2040/bench_ref.py [--pings 20] [--udp 50] [--udp-size 512] [--only ours|ref]
        [--stock-chip] [--ref-stock-chip] [--slice-ms 2] [-v]

(a) ours: stock MicroPython RPI_PICO firmware; after a soft reset, firmware/main.py's start() and
    serve() (what its main() does) with boards/pico_w5500.py as board.py, lib/bsdnet from the image;
(b) ref:  MicroPython W5500_EVB_PICO firmware (network.WIZNET5K + lwIP in C) with
    tools/rp2040/ref_main.py as /main.py (UDP echo on port 7).
Both boot in tools/rp2040/board.mjs (through run.Board) with the W5500 model (tools/emu/w5500.py) on
SPI0 and INTn on GP21. Frames go in and out through the harness's frame protocol, no TAP. Printed,
for NAME = ours / ref:

    ref-bench NAME ping rtt avg: X ms wall, Y ms emulated (N pings, lost, medians, maxima)
    ref-bench NAME udp echo: D datagrams/s wall (KB/s), E datagrams/s emulated; rtt ...
                                 (ours: "n/a until the UDP issue" while port 7 gives no echo)
    ref-bench NAME gc.mem_free: N bytes with the services up; M at boot, M - N used
    ref-bench total: S s wall                       (about 5-10 s)

gc.mem_free() is taken after gc.collect(): at boot before the network is touched, and once the
interface is up (ref: with the UDP socket bound). The two firmwares differ in heap size at boot
(lwIP's memory is static in the reference), so compare both numbers.

Wall time is host-side, from send_frame() to the reply read back (pipes included). Emulated time is
the board's clock from the moment board.mjs delivered the request to the chip model to the moment
the chip model sent the reply: the process board.mjs runs in gets a small preloaded module (written
to a temporary directory, node --import through NODE_OPTIONS) that timestamps frames in
Board.deliverFrame and at the chip model's transmit callback; the harness files are not changed.
The same module shortens board.mjs's run slice to --slice-ms (default 2; board.mjs uses 15 ms, and
a frame from the host waits for the end of the slice), for both boards alike.

The chip model: W5500Chip with SIR bit n = (Sn_IR(n) & Sn_IMR(n)) != 0. tools/emu/w5500.py as it is
drives INTn for any Sn_IR bit; the reference driver (Sn_IMR = RECV only, clears Sn_IR from its INTn
handler) then loses SENDOK inside its own spin after the first SEND and polls Sn_IR for ever (see
ref_main.py). Our driver sets the same masks, so both run on the same model. --stock-chip runs ours
on the unmodified W5500Chip as well (the reference cannot come up on it).
"""
import argparse
import os
import pathlib
import shutil
import struct
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run  # noqa: E402

ROOT = run.ROOT
HOST_MAC = bytes([2, 0, 10, 7, 0, 1])
HOST_IP = bytes([10, 7, 0, 1])
BOARD_IP = bytes([10, 7, 0, 2])
UDP_PORT = 7

# W5500 model with INTn gated by Sn_IMR (run in the MicroPython VM inside board.mjs; "py:" chip)
IMR_CHIP = """from emu.w5500 import W5500Chip, IR, IMR, SIR, SIMR, SN_IR, SN_IMR
class ImrGatedW5500(W5500Chip):
    def _update_int(self):
        c = self.common
        sir = 0
        for s in range(8):
            r = self.sock[s]
            if r[SN_IR] & r[SN_IMR]:
                sir |= 1 << s
        c[SIR] = sir
        self.intn.drive(0 if ((c[IR] & c[IMR]) or (sir & c[SIMR])) else 1)
chip = ImrGatedW5500()
"""

# Preloaded into board.mjs's node process: emulated timestamps of frames in and out, exposed
# through the "stats" answer (which copies board.stats): in_emu / out_emu (the last 256 each)
# and in_n / out_n (how many frames so far).
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
const start = Board.prototype.start;
Board.prototype.start = function () {
  wrapTransmit(this);
  if (SLICE_MS > 0) this.opts.sliceMs = SLICE_MS;
  return start.call(this);
};
"""

# Ours: what firmware/main.py's main() does, with gc.mem_free() once the interface is up. Typed
# into the raw REPL (Ctrl-D runs it); it serves for ever, its output arrives as console events.
OURS_SERVE = """import gc
gc.collect()
print('bsdnet heap at boot: %d' % gc.mem_free())
import asyncio, board, main
nic = board.interface()
main.start(nic, board.IP, board.NETMASK, getattr(board, 'GATEWAY', '0.0.0.0'), getattr(board, 'DNS', '0.0.0.0'))
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
        self.b = run.Board(on_frame=self._frame, **kw)

    def _frame(self, f):
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

    def close(self):
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


def run_ours(args, chip, label):
    bn = Bench(label, chip=chip, board="pico_w5500", bridge="w5500", stderr=args.stderr,
               verbose=args.v)
    try:
        t0 = time.time()
        # raw REPL is up (main.py was stopped at boot by the harness): a fresh heap, then main's
        # start()/serve()
        bn.b.soft_reset()
        bn.b.request("serial", data=OURS_SERVE + "\x04")
        boot_free = int(bn.wait_console("bsdnet heap at boot", 60).split()[-1])
        bn.wait_console("bsdnet up", 60)
        free = int(bn.wait_console("bsdnet mem_free", 60).split()[-1])
        report(label, "boot to up", "%.1f s wall" % (time.time() - t0))
        mac = bn.arp()
        bench_ping(bn, mac, args.pings)
        bench_udp(bn, mac, args, probe=True)
        report(label, "gc.mem_free", "%d bytes with the services up (interface up, serving ICMP/ARP); %d at boot, "
               "%d used by the stack" % (free, boot_free, boot_free - free))
        if chip.startswith("py:") or chip == "w5500":
            v = bn.b.chip_eval("chip.violations")
            if v != "[]":
                report(label, "chip violations", v)
    finally:
        bn.close()


def run_ref(args):
    bn = Bench("ref", chip="py:" + IMR_CHIP, uf2=run.UF2_W5500, board="", bridge="w5500", serve=True,
               extras=[os.path.join(HERE, "ref_main.py") + ":/main.py"], stderr=args.stderr, verbose=args.v)
    try:
        t0 = time.time()
        boot_free = int(bn.wait_console("ref heap at boot", 60).split()[-1])
        up = bn.wait_console("ref up", 60)
        free = int(bn.wait_console("ref mem_free", 60).split()[-1])
        report("ref", "boot to up", "%.1f s wall (%s)" % (time.time() - t0, up.strip()))
        mac = bn.arp()
        bench_ping(bn, mac, args.pings)
        bench_udp(bn, mac, args)
        report("ref", "gc.mem_free", "%d bytes with the services up (WIZNET5K + lwIP up, UDP echo socket bound); "
               "%d at boot, %d used from the Python heap" % (free, boot_free, boot_free - free))
        v = bn.b.chip_eval("chip.violations")
        if v != "[]":
            report("ref", "chip violations", v)
    finally:
        bn.close()


def run_ref_stock(args):
    """The reference on the unmodified W5500Chip: does it come up within args.ref_stock_wait s wall?"""
    bn = Bench("ref-stock-chip", chip="w5500", uf2=run.UF2_W5500, board="", bridge="w5500", serve=True,
               extras=[os.path.join(HERE, "ref_main.py") + ":/main.py"], stderr=args.stderr, verbose=args.v)
    try:
        try:
            bn.wait_console("ref up", args.ref_stock_wait)
            up = "came up"
        except RuntimeError:
            up = "did not come up in %.0f s wall" % args.ref_stock_wait
        st = bn.b.stats()
        report("ref-stock-chip", "boot", "%s: %.0f ms emulated, %d chip selects, %d frames out (INTn asserted "
               "for SENDOK, which the reference's INTn handler clears inside its SENDOK spin)"
               % (up, st["emu_ms"], st["spi_selects"], st["frames_out"]))
    finally:
        bn.close()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pings", type=int, default=20)
    ap.add_argument("--udp", type=int, default=50, help="UDP echo datagrams (reference only)")
    ap.add_argument("--udp-size", type=int, default=512, help="UDP payload bytes")
    ap.add_argument("--only", choices=("ours", "ref"))
    ap.add_argument("--slice-ms", type=float, default=2,
                    help="board.mjs run slice (its default 15 ms adds up to 15 ms wall before a frame from "
                         "the host is seen; 0 keeps the default)")
    ap.add_argument("--stock-chip", action="store_true", help="also run ours on the unmodified W5500Chip")
    ap.add_argument("--ref-stock-chip", action="store_true",
                    help="also boot the reference on the unmodified W5500Chip (it hangs: see ref_main.py)")
    ap.add_argument("--ref-stock-wait", type=float, default=15, help="seconds wall for --ref-stock-chip")
    ap.add_argument("-v", action="store_true", help="board.mjs diagnostics on stderr")
    args = ap.parse_args(argv)
    args.stderr = None if args.v else open(os.devnull, "w")
    for uf2 in ((run.UF2,) if args.only == "ours" else (run.UF2_W5500,) if args.only == "ref"
                else (run.UF2, run.UF2_W5500)):
        why = run.missing(uf2)
        if why:
            print("ref-bench: skipped: %s" % why)
            return 0
    tmp = tempfile.mkdtemp(prefix="refbench")
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
            jobs.append(lambda: run_ours(args, "py:" + IMR_CHIP, "ours"))
            if args.stock_chip:
                jobs.append(lambda: run_ours(args, "w5500", "ours-stock-chip"))
        if args.only in (None, "ref"):
            jobs.append(lambda: run_ref(args))
            if args.ref_stock_chip:
                jobs.append(lambda: run_ref_stock(args))
        for job in jobs:
            try:
                job()
            except (RuntimeError, run.BoardError) as e:
                print("ref-bench error: %s" % e, flush=True)
                rc = 1
    finally:
        if old is None:
            os.environ.pop("NODE_OPTIONS", None)
        else:
            os.environ["NODE_OPTIONS"] = old
        shutil.rmtree(tmp, ignore_errors=True)
    print("ref-bench total: %.1f s wall" % (time.time() - t0))
    return rc


if __name__ == "__main__":
    sys.exit(main())
