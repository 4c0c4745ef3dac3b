#!/usr/bin/env python3
"""The board on a PC: the firmware on an emulated chip, wired to a Linux TAP.

    python3 tools/hostboard.py --tap IFNAME --chip w5500|enc28j60 --ip A.B.C.D/N|dhcp [--gateway G] [--hostname N]
        [--host-ip A.B.C.D/N] [--runtime cpython|micropython|rp2040|esp32] [--mac M] [--pcap FILE]
        [--impair loss=P,dup=P,reorder=P,corrupt=P,seed=N] [--app main|echo] [--group G ...]
        [--main FILE.py [--lib DIR ...]] [--firmware FILE.uf2|FILE.bin] [--serial LINK]
        (--firmware: rp2040 and esp32; --serial: rp2040 only)

Run from the project root as root (it creates or opens the TAP in the current network namespace).
Any python3 will do once `make setup` has run: when the runtime needs a module this interpreter lacks
(littlefs for rp2040), the host board runs itself again under the project's .venv/bin/python; without
setup it says `hostboard: run `make setup` first: <what> is missing` and exits with status 2.
  --check                 only check that the runtime can start here (modules, npm packages, node, the
                          firmware file; nothing is opened): prints `ok runtime=R python=EXE`, exits 0
  --ip dhcp               the firmware takes a lease (bsdnet.dhcp; --hostname NAME as option 12) from a
                          DHCP server on the TAP's side; `ready` comes once it is bound (its announcement
                          seen and its ARP answer for that address), with ip=<leased address> addr=dhcp.
                          The MAC defaults to 02:00:00:00:dc:01. With --main FILE: FILE's boardcfg.up()
                          takes the lease (config IP = "dhcp"). Not with --app echo.
Frames go: firmware -> driver -> emulated SPI -> chip model -> wire [impairment, pcap] -> TAP.
  --runtime cpython       everything in this process (asyncio)
  --runtime micropython   firmware, driver and chip model inside the MicroPython VM (node
                          tools/vmboard.mjs); only whole frames cross, length-prefixed over its stdin/stdout
  --runtime rp2040        stock MicroPython on an emulated Pico (tools/rp2040/run.py, rp2040js): our files
                          from a littlefs image, the chip model on SPI0 in the node process (experimental)
  --runtime esp32         stock MicroPython v1.23 on an emulated ESP32 (QEMU loaded into this process,
                          tools/esp32/qemu.py): our files in the flash's littlefs, the chip model on VSPI
                          here behind the emulator's SPI callback; the firmware's setup() and serve()
                          as on the Pico (UDP, TCP, HTTP); --firmware FILE.bin (default
                          ../shared/esp32/micropython-v1.23.0-ESP32_GENERIC.bin)
  --group G               (repeatable) a multicast group the firmware's UDP echo service joins (the board
                          setting MCAST_GROUPS): datagrams to G:7 are echoed; the board reports the
                          group at start and leaves it when it stops (IGMP)
  --app main|echo         main: firmware/main.py; echo: a stand-in ARP/ICMP responder with no stack
                          (cpython and micropython runtimes)
  --firmware FILE         the MicroPython .uf2 the rp2040 runtime boots (default
                          ../shared/rp2040/micropython-v1.28.0-RPI_PICO.uf2); when it is missing the host
                          board says so on one line and exits with status 2 before making a TAP
  --main FILE             FILE is the board's application instead of firmware/main.py, as a main.py on a
                          board set up by `make deploy`: it does `from bsdnet import boardcfg;
                          nic = boardcfg.up()` and goes on as it likes (blocking socket calls, or asyncio
                          with nic.run() as a task). The board's settings come from this command line
                          (--chip, --ip, --gateway, --hostname, --mac): cpython, micropython: FILE's
                          `config` module (BOARD = "emu", IP, NETMASK, GATEWAY, DNS, HOSTNAME, MAC) and
                          its hardware module `boards.emu` are tools/emuboard.py, whose interface(mac)
                          builds the driver on the emulated chip (the older `import board` finds it too);
                          rp2040: /config.py (tools/rp2040/mkfs.py config_text) and
                          /lib/boards/pico_<chip>.mpy on the flash, as `make deploy` writes them.
                          --ip must be the address FILE sets up: `ready` waits for its ARP answer. FILE's
                          output goes to stderr; a traceback out of it fails the board (`error` line).
                          cpython: FILE runs in a thread of its own (it may call asyncio.run()); the VM's
                          asyncio has no run(): there asyncio.run(coro) makes coro a task beside the relay.
  --lib DIR               (repeatable, with --main) a package directory (e.g. site-packages/microdot)
                          copied to the board's /lib/<its name>, for FILE to import
                          rp2040 --main: boots with FILE as the board's /main.py, running from boot; our
                          setup/serve code is not run. E.g. the lwIP reference:
                            --chip w5500 --firmware ../shared/rp2040/micropython-v1.28.0-W5500_EVB_PICO.uf2
                            --main tools/rp2040/ref_main.py --ip 10.7.0.2/24
                          (ref_main.py drives network.WIZNET5K, so only --chip w5500 makes sense with it;
                          --ip must be the address FILE sets up: `ready` waits for its ARP answer; --mac
                          and --gateway are not passed on). Frames are relayed both ways; `stats` has the
                          emulated board's and the chip model's counters, no stack counters (cpython and
                          micropython: the interface's counters, when FILE has made it).
  --serial LINK           rp2040: the Pico's USB serial as a pseudo-terminal at LINK (a symlink to /dev/pts/N),
                          for mpremote; without --main the board boots with an empty filesystem (the
                          firmware formats its own, as on a new board) and comes up once something is
                          deployed: `make deploy BOARD=pico_w5500 PORT=LINK IP=<--ip>`; `ready` then has
                          no deadline. machine.reset() reboots the emulated board, keeping its flash.
Prints (flushed, one line each):
  boot bsdnet 0.6.0 on hostboard (W5500): 10.7.0.2/24 static, link up 100M full, mac 02:00:0a:07:00:02
        the firmware's boot line (on the rp2040 runtime: on pico_CHIP), just before `ready`;
        not with --app echo or --main. The board's later console lines (link changes) go to stderr.
  serial link=LINK pty=/dev/pts/N
        with --serial, once the pseudo-terminal is there;
  ready ip=10.7.0.2 mac=02:00:0a:07:00:02 chip=w5500 runtime=cpython tap=bsd0 addr=static
        once the board answered an ARP request that the host board sent it itself (also with
        --main: ready means FILE brought the interface up at --ip); rp2040 adds firmware=NAME.uf2,
        --main adds main=NAME.py;
  stats {...}   the board's counters as JSON, on SIGUSR1 and at exit;
SIGUSR2 pulls the emulated chip's cable, the next one plugs it back (chip.set_link; the firmware
sees it at its next look at the PHY and says `bsdnet: link down` / `bsdnet: link up ...` on its
console, which goes to stderr). Not with --app echo or --main.
  error ...     when the board did not come up (exit status 1).
Exits within 5 s of SIGTERM or Ctrl-C, deleting the TAP if it created it.
"""
import argparse
import asyncio
import json
import os
import signal
import struct
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(ROOT, "lib"), os.path.join(ROOT, "tools"), os.path.join(ROOT, "firmware")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from emu.wire import Wire, Pcap, parse_impair  # noqa: E402
import setupcheck  # noqa: E402
import vmboard  # noqa: E402

READY_TIMEOUT_S = 60  # the VM takes a few seconds to load; a board that needs longer is broken
PROBE_EVERY_S = 0.25
STOP_BUDGET_S = 3.5  # of the 5 s allowed after SIGTERM


_STDOUT = sys.stdout  # the contract's lines; --main FILE's own prints go to stderr


def say(line):
    _STDOUT.write(line + "\n")
    _STDOUT.flush()


def log(msg):
    sys.stderr.write("hostboard: %s\n" % msg)
    sys.stderr.flush()


def parse_cidr(s, what):
    if "/" not in s:
        raise SystemExit("hostboard: %s %r: give A.B.C.D/N" % (what, s))
    ip, n = s.split("/", 1)
    vmboard.ip_bytes(ip)
    n = int(n)
    if not 0 < n <= 32:
        raise SystemExit("hostboard: %s %r: prefix length out of range" % (what, s))
    m = (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF
    mask = "%d.%d.%d.%d" % (m >> 24, (m >> 16) & 255, (m >> 8) & 255, m & 255)
    return ip, n, mask


def arp_request(src_mac, src_ip, dst_ip):
    f = bytearray(42)
    f[0:6] = b"\xff" * 6
    f[6:12] = src_mac
    f[12:22] = b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x01"
    f[22:28] = src_mac
    f[28:32] = src_ip
    f[38:42] = dst_ip
    return bytes(f)


def is_announcement_from(f, mac):
    """A gratuitous ARP (RFC 5227 announcement: sender = target address, not 0.0.0.0) from mac."""
    return (len(f) >= 42 and f[12:14] == b"\x08\x06" and f[22:28] == mac and f[28:32] == f[38:42]
            and f[28:32] != b"\x00\x00\x00\x00")


def is_arp_reply_from(f, ip):
    return len(f) >= 42 and f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x02" and f[28:32] == ip


class LocalBoard:
    """--runtime cpython: the board in this process."""

    def __init__(self, a, ip, mask):
        from bsdnet import if_link

        if_link.log = lambda line: log("board: " + line)  # the board's console: stderr, as the VM's
        self.board = vmboard.Board(a.chip, ip, mask, a.gateway, a.mac, a.app, a.group, a.hostname)
        self.mac = self.board.mac
        self.boot_line = self.board.boot
        self.task = None
        self.failed = None

    def attach(self, wire):
        self.port = wire.attach(self.board.chip, "board")

    async def start(self):
        self.task = asyncio.create_task(self.board.serve())
        self.task.add_done_callback(self._done)

    def _done(self, t):
        if not t.cancelled() and t.exception() is not None:
            self.failed = "firmware stopped: %r" % (t.exception(),)

    async def stats(self):
        return self.board.stats()

    async def set_link(self, up):
        self.board.chip.set_link(up)

    async def stop(self):
        self.board.stop()
        if self.task is not None:
            self.task.cancel()
            try:
                await asyncio.wait_for(self.task, 1.0)
            except (asyncio.CancelledError, asyncio.TimeoutError, Exception):  # noqa: BLE001
                pass


class LocalMainBoard:
    """--runtime cpython --main FILE: FILE runs as __main__ in a thread of its own (it may block, or
    run its own asyncio loop) with tools/emuboard.py as its `board`; frames for the board wait in a
    queue that the interface's poll takes them from (relay), so the chip model is only touched in
    FILE's thread. FILE's output goes to our stderr (stdout carries the contract's lines)."""

    def __init__(self, a, ip, mask):
        import queue
        import threading

        self.a = a
        self.mac = vmboard.mac_bytes(a.mac) if a.mac else vmboard.default_mac(ip)
        self.failed = None
        self.vm_ready = True
        self.q = queue.Queue()
        self.stopping = threading.Event()
        for d in a.lib:  # a package directory: importable by its name
            sys.path.insert(0, os.path.dirname(os.path.abspath(d)))
        import emuboard

        self.emu = emuboard
        emuboard.configure(a.chip, ip, mask, a.gateway, self.mac, self._relay, self._transmit, a.hostname)

    def attach(self, wire):
        self.loop = asyncio.get_running_loop()
        self.port = wire.port(self._to_board, "board")

    def _to_board(self, frame):
        self.q.put(frame)
        return True

    def _transmit(self, frame):
        self.loop.call_soon_threadsafe(self.port.send, bytes(frame))

    def _relay(self, chip):
        if self.stopping.is_set():
            raise SystemExit  # ends FILE's thread, whatever it waits in
        for _ in range(64):
            try:
                f = self.q.get_nowait()
            except Exception:  # noqa: BLE001 - queue.Empty
                return
            chip.deliver(f)

    def _run(self):
        import runpy

        try:
            runpy.run_path(self.a.main, run_name="__main__")
        except SystemExit:
            pass
        except BaseException as e:  # noqa: BLE001 - the board failed: said on the contract's error line
            import traceback

            traceback.print_exc()
            self.failed = "main stopped: %r" % (e,)

    async def start(self):
        import threading

        sys.stdout = sys.stderr
        threading.Thread(target=self._run, daemon=True).start()

    async def stats(self):
        return self.emu.stats()

    async def stop(self):
        self.stopping.set()


class VmBoard:
    """--runtime micropython: the board in the MicroPython VM in a node process (tools/vmboard.mjs)."""

    def __init__(self, a, ip, mask):
        self.a = a
        self.ip = ip
        self.mask = mask
        self.mac = vmboard.mac_bytes(a.mac) if a.mac else vmboard.default_mac(ip)
        self.proc = None
        self.failed = None
        self.vm_ready = False
        self.boot_line = None
        self._stats_waiters = []
        self.last_stats = None

    def attach(self, wire):
        self.port = wire.port(self._to_vm, "board")

    def _put(self, t, payload=b""):
        if self.proc is None or self.proc.stdin.is_closing():
            return False
        self.proc.stdin.write(t + struct.pack(">I", len(payload)) + payload)
        return True

    def _to_vm(self, frame):
        return self._put(b"F", frame)

    async def start(self):
        cmd = ["node", os.path.join(ROOT, "tools", "vmboard.mjs"), "--chip", self.a.chip, "--ip", self.ip,
               "--mask", self.mask, "--gateway", self.a.gateway or "0.0.0.0", "--mac", vmboard.mac_str(self.mac),
               "--app", self.a.app, "--heap", self.a.heap, "--groups", ",".join(self.a.group),
               "--hostname", self.a.hostname or ""]
        if self.a.main:
            cmd += ["--main", os.path.abspath(self.a.main), "--lib", ",".join(os.path.abspath(d) for d in self.a.lib)]
        self.proc = await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=ROOT, start_new_session=True)
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        rd = self.proc.stdout
        try:
            while True:
                h = await rd.readexactly(5)
                n = struct.unpack(">I", h[1:5])[0]
                body = await rd.readexactly(n) if n else b""
                t = h[0:1]
                if t == b"F":
                    self.port.send(body)
                elif t == b"S":
                    self.last_stats = json.loads(body.decode())
                    w, self._stats_waiters = self._stats_waiters, []
                    for fut in w:
                        if not fut.done():
                            fut.set_result(self.last_stats)
                elif t == b"B":
                    self.boot_line = body.decode(errors="replace")
                elif t == b"R":
                    self.vm_ready = True
                elif t == b"E":
                    self.failed = "VM: " + body.decode(errors="replace").strip()
        except asyncio.IncompleteReadError:
            rc = await self.proc.wait()
            if self.failed is None:
                self.failed = "VM exited with status %s" % rc

    async def set_link(self, up):
        self._put(b"L", b"1" if up else b"0")

    async def stats(self):
        if self.proc is None or self.proc.returncode is not None:
            return self.last_stats or {}
        fut = asyncio.get_running_loop().create_future()
        self._stats_waiters.append(fut)
        self._put(b"Q")
        try:
            return await asyncio.wait_for(fut, 1.5)
        except asyncio.TimeoutError:
            return self.last_stats or {"error": "the VM did not answer the stats request"}

    async def stop(self):
        if self.proc is None:
            return
        if self.proc.returncode is None:
            self._put(b"X")
            try:
                await asyncio.wait_for(self.proc.wait(), 1.5)
            except asyncio.TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        try:
            await asyncio.wait_for(self.reader, 0.5)
        except (asyncio.TimeoutError, asyncio.CancelledError):
            self.reader.cancel()


_RP_SETUP = """
import sys, json, asyncio
sys.path.append("/lib")
import main as _fw
nic = _fw.setup()
"""
# the counters as one JSON object, written a piece at a time through w: one large JSON string, or a
# dict of TCP's 73 counters (a 584-byte block), would not fit the board's heap beside a lease and a
# resolver (measured on the emulated Pico)
_STATS_OUT = """
def _stats_out(w):
    import gc
    gc.collect()
    from bsdnet import stats as _st
    w("{")
    for _k in nic.stats_keys():
        w('"%s": ' % _k)
        if _k in ("dev", "link", "tcp_conns", "mbuf"):
            w(json.dumps(nic.stats(_k)))
        else:
            _a, _names, _p = _st._table(_k)
            _a = nic.ifstat if _a is None else _a
            _i = 0
            for _n in _st.stat_names(_names):
                w('%s"%s%s": %d' % (", " if _i else "{", _p, _n, _a[_i]))
                _i += 1
            w("}")
        w(", ")
    w('"arp_entries": ')
    w(json.dumps([list(e) for e in nic.arp_entries()]))
    w("}")
"""
_RP_SERVE = _STATS_OUT + """
async def _ctl():
    # a byte on the REPL's stdin asks for the counters: stop the interface task at a safe point
    import select
    p = select.poll()
    p.register(sys.stdin, select.POLLIN)
    while True:
        if p.poll(0):
            sys.stdin.read(1)
            nic.stop()
            return
        await asyncio.sleep_ms(20)

async def _serve_until_asked():
    t = asyncio.create_task(_ctl())
    await _fw.serve(nic)
    t.cancel()

asyncio.run(_serve_until_asked())
sys.stdout.write("@@stats ")
_stats_out(sys.stdout.write)
print()
"""


def in_thread(fn):
    """Run blocking fn in a daemon thread; an asyncio future for its result. Not the loop's default
    executor: asyncio.run() and interpreter exit join those threads, and one blocked on a board that
    stopped answering would hold up the exit promised within 5 s of SIGTERM."""
    import threading

    loop = asyncio.get_running_loop()
    fut = loop.create_future()

    def done(ok, v):
        if not fut.done():
            (fut.set_result if ok else fut.set_exception)(v)

    def body():
        try:
            r = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
            try:
                loop.call_soon_threadsafe(done, False, e)
            except RuntimeError:
                pass
            return
        try:
            loop.call_soon_threadsafe(done, True, r)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass

    threading.Thread(target=body, daemon=True).start()
    return fut


class Rp2040Board:
    """--runtime rp2040: stock MicroPython on an emulated Pico (tools/rp2040, rp2040js); our files
    from a littlefs image, the chip model on SPI0 inside the node process; whole frames cross.
    The firmware serves in a raw-REPL exec. For the counters a byte is written to the REPL's stdin:
    the firmware stops its interface task at a safe point (no KeyboardInterrupt in the middle of a
    poll), prints the counters, the exec returns, and serving starts again at once (the interface
    object lives on in the REPL's globals; frames wait in the chip meanwhile)."""

    BOARD_PREFIX = "pico"  # boards/<prefix>_<chip>.py
    SETUP = _RP_SETUP
    SERVE = _RP_SERVE

    def __init__(self, a, ip, mask):
        self.a = a
        self.ip = ip
        self.mask = mask
        self.mac = vmboard.mac_bytes(a.mac) if a.mac else vmboard.default_mac(ip)
        self.failed = None
        self.vm_ready = False
        self.boot_line = None
        self.b = None
        self._serving = None
        self._tmp = None
        self._stopping = False
        self.last_stats = {}
        self.console = ""  # --main: the tail of main.py's console output

    def attach(self, wire):
        self.port = wire.port(self._to_board, "board")

    def _to_board(self, frame):
        if self.b is None or not self.main_up():
            return False
        self.b.send_frame(frame)
        return True

    def main_up(self):
        """--main-ready TEXT: frames reach the board only once its console has shown TEXT."""
        t = self.a.main_ready
        return not t or t in self.console

    def _config(self, lookup=False):
        """The board's /config.py for our addresses (tools/mcu/mkfs.py config_text), as a user's."""
        sys.path.insert(0, os.path.join(ROOT, "tools"))
        from mcu.mkfs import config_text

        a = self.a
        return config_text(self.BOARD_PREFIX + "_" + a.chip, a.ip, a.gateway or "0.0.0.0",
                           hostname=a.hostname or "bsdnet", mac=self.mac, groups=a.group, lookup=lookup)

    def _boot(self, loop):
        sys.path.insert(0, os.path.join(ROOT, "tools", "rp2040"))
        import mkfs
        import run as rp

        import tempfile

        # the image a user deploys: /lib/boards/pico_CHIP.py and a /config.py with our addresses
        self._tmp = tempfile.mkdtemp(prefix="hostboard-rp2040")
        fs = os.path.join(self._tmp, "fs.img")
        mkfs.build(fs, "pico_" + self.a.chip, (), False, config=self._config(lookup=self.a.ip == "dhcp"))
        self.b = rp.Board(chip=self.a.chip, uf2=self.a.firmware, fs=fs, pace=True, stderr=sys.stderr,
                          on_frame=lambda f: loop.call_soon_threadsafe(self.port.send, f))
        # main.py ran at boot until the harness's Ctrl-C, which can land in the middle of a poll
        # (an mbuf in flight) and leaves its interface attached: start from a fresh heap instead
        self.b.soft_reset()
        self._setup(120)

    def _setup(self, timeout):
        """The firmware's setup() in a raw-REPL exec (SETUP); its boot line kept."""
        out, err = self.b.exec(self.SETUP, timeout=timeout)
        if err.strip():
            raise RuntimeError(err.strip())
        log("%s: %s" % (self.BOARD_PREFIX, out.strip()))
        for line in out.splitlines():
            if line.startswith("bsdnet "):
                self.boot_line = line.strip()

    def _boot_main(self, loop):
        """--main FILE: the firmware boots with FILE as /main.py and runs it (no Ctrl-C, no raw REPL);
        its console goes to our stderr, a traceback from it fails the board. --serial LINK: the USB
        serial is a pseudo-terminal at LINK instead (the console is there), and without --main the
        flash holds the firmware alone, as a new board's: what runs is what gets deployed."""
        sys.path.insert(0, os.path.join(ROOT, "tools", "rp2040"))
        import mkfs
        import run as rp

        self.console = ""
        self._line = ""
        a = self.a
        fs = ""
        if a.main:  # what `make deploy` writes: /lib/boards/pico_CHIP.mpy and /config.py, FILE as /main.py
            import tempfile

            extras = [a.main + ":/main.py"]
            extras += [os.path.abspath(d) + ":/lib/" + os.path.basename(os.path.abspath(d)) for d in a.lib]
            self._tmp = self._tmp or tempfile.mkdtemp(prefix="hostboard-rp2040")
            fs = os.path.join(self._tmp, "fs.img")
            mkfs.build(fs, "pico_" + a.chip, extras, False, config=self._config())
        self.b = rp.Board(chip=a.chip, uf2=a.firmware, board="", fs=fs,
                          serve=True, pace=True, stderr=sys.stderr, on_console=self._on_console, pty=a.serial,
                          on_reset=lambda: log("rp2040: the firmware reset the board (machine.reset): rebooting"),
                          on_frame=lambda f: loop.call_soon_threadsafe(self.port.send, f))
        r = self.b.ready
        log("rp2040: booted %s with %s in %.0f ms wall (%.0f ms emulated)" % (
            os.path.basename(a.firmware), "%s as /main.py" % a.main if a.main else "an empty filesystem",
            r.get("boot_wall_ms", 0), r.get("boot_emu_ms", 0)))

    def _on_console(self, s):
        """main.py's output (board.mjs console events, reader thread)."""
        self._line += s
        while "\n" in self._line:  # whole lines to our stderr (events split lines anywhere)
            line, self._line = self._line.split("\n", 1)
            if line.strip():
                log("rp2040 console: " + line.rstrip())
        if len(self._line) > 1024 or self._line.startswith(">>>"):
            log("rp2040 console: " + self._line.rstrip())
            self._line = ""
        self.console = (self.console + s)[-4096:]
        c = self.console
        i = c.rfind("Traceback (most recent call last)")
        if i >= 0 and self.failed is None and not self._stopping:
            # the REPL banner or prompt after the traceback: main.py has ended with it
            j = max(c.find("MicroPython v", i), c.find(">>>", i))
            if j > i:
                lines = [x.strip() for x in c[i:j].splitlines() if x.strip()]
                self.failed = "main.py stopped: %s" % (lines[-1] if lines else "traceback")

    async def start(self):
        loop = asyncio.get_running_loop()
        try:
            await in_thread(lambda: (self._boot_main if self.a.main or self.a.serial else self._boot)(loop))
        except Exception as e:  # noqa: BLE001
            self.failed = "%s: %s" % (self.BOARD_PREFIX, e)
            return
        self.vm_ready = True
        if self.a.main or self.a.serial:
            return  # FILE (or what gets deployed) serves on its own from boot: nothing to exec
        self._waiters = []
        self._asked = False
        self._super = asyncio.create_task(self._supervise())

    async def _supervise(self):
        """Serve; each time a serving exec returns (asked for the counters), hand the counters to
        whoever waits and serve again at once. Only one exec at a time, whatever the timing."""
        while not self._stopping and self.failed is None:
            d = await in_thread(self._serve_once)
            self._asked = False
            w, self._waiters = self._waiters, []
            for fut in w:
                if not fut.done():
                    fut.set_result(d)

    def _serve_once(self):
        """One serving exec; returns the counters it printed when asked to stop."""
        b = self.b
        if b is None:
            return None
        try:
            r = b.exec_full(self.SERVE, timeout=7 * 86400)
        except Exception as e:  # noqa: BLE001
            if not self._stopping:
                self.failed = "rp2040 board: %s" % (e,)
            return None
        out, err = r.get("stdout", ""), r.get("stderr", "")
        if err.strip():
            log("rp2040: the firmware stopped: %s" % (err.strip()[-800:],))
            if not self._stopping:
                self.failed = "firmware stopped: " + err.strip()
            return None
        got = None
        for line in out.splitlines():
            if line.startswith("@@stats "):
                got = self.last_stats = json.loads(line[8:])
            elif line.strip():
                log("rp2040 console: " + line.rstrip()[:300])  # what the firmware printed while serving
        if got is None:
            log("rp2040: no counters in the firmware's output")
        return got

    async def _stats_main(self, b):
        """--main, --serial: no stack counters (the firmware's own stack, or one the harness cannot
        ask); the emulated board's and the chip model's counters, and the last lines of main.py's
        console (--main without --serial)."""
        import ast

        d = {}
        try:
            st = await in_thread(b.stats)
            d["rp2040"] = dict((k, v) for k, v in st.items() if k not in ("id", "ok"))
        except Exception as e:  # noqa: BLE001
            d["rp2040_error"] = repr(e)
        try:
            d["chip"] = ast.literal_eval(await in_thread(lambda: b.chip_eval("chip.counters()")))
        except Exception as e:  # noqa: BLE001
            d["chip_error"] = repr(e)
        d["console_tail"] = [x.rstrip() for x in self.console.splitlines() if x.strip()][-5:]
        self.last_stats = d
        return dict(d)

    async def stats(self):
        b = self.b
        if b is None or not self.vm_ready or not b.alive() or self.failed:
            return dict(self.last_stats)
        if self.a.main or self.a.serial:
            return await self._stats_main(b)
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        if not self._asked:
            self._asked = True
            try:
                # a newline: should it land between two execs, it only adds a blank line to the next one's code
                await in_thread(lambda: b.request("serial", wait=5, data="\n"))
            except Exception as e:  # noqa: BLE001
                self._asked = False
                return {"error": "rp2040 stats: %r" % (e,)}
        try:
            d = await asyncio.wait_for(fut, 8.0)
        except asyncio.TimeoutError:
            self._asked = False  # the byte may have been lost between two execs: ask again next time
            return dict(self.last_stats, error="the emulated board did not report its counters within 8 s")
        return await self._with_chip(b, d)

    async def _with_chip(self, b, d):
        """d with the chip model's own counters (its MAC filter, overflows), from beside the model."""
        d = dict(d or {})
        try:
            import ast

            v = await in_thread(lambda: b.chip_eval("chip.counters()"))
            d["chip"] = ast.literal_eval(v)
            if d["chip"].get("violations"):
                d["chip_violations"] = ast.literal_eval(await in_thread(lambda: b.chip_eval("chip.violations[:5]")))
        except Exception as e:  # noqa: BLE001
            d["chip_error"] = repr(e)
        return d

    async def set_link(self, up):
        b = self.b
        if b is not None and not self.a.main:
            await in_thread(lambda: b.chip_eval("chip.set_link(%r)" % bool(up)))

    async def stop(self):
        self._stopping = True
        b, self.b = self.b, None
        if getattr(self, "_super", None) is not None:
            self._super.cancel()
        if b is not None and getattr(b, "proc", None) is not None:
            b.quit()
            for _ in range(10):
                if b.proc.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            if b.proc.poll() is None:
                b.proc.kill()
        if b is not None:
            await in_thread(b.close)
        if self._tmp:
            import shutil

            shutil.rmtree(self._tmp, ignore_errors=True)


# --runtime esp32: the firmware's own setup() and serve(), as on the Pico; the harness's flash cache
# (tools/esp32/onboard/flashcache.py) only while the stack loads
_ESP_SETUP = """
import sys, json, asyncio
sys.path.append("/lib")
import flashcache
flashcache.off()
flashcache.on(1)  # not boot.py's 8 blocks: 32 KB the stack needs while it loads
import main as _fw
nic = _fw.setup()
flashcache.off()
"""
# serves for good: a byte on the REPL's stdin has the counters printed between two polls (the exec
# goes on; its output is read line by line), so asking costs no re-compile of this code. Written
# 128 bytes at a time with a pause between: the emulated UART loses bytes of long fast output
# (measured: JSON broken at character ~3000 of 4,700), so the length comes last to check it by.
_ESP_SERVE = _STATS_OUT + """
import select, time

_ob = bytearray()
_on = [0]

def _w(s):
    _ob.extend(s)
    _on[0] += len(s)
    if len(_ob) >= 128:
        _flush()

def _flush():
    sys.stdout.write(_ob)
    _ob[:] = b""
    time.sleep_ms(2)

async def _ctl():
    p = select.poll()
    p.register(sys.stdin, select.POLLIN)
    while True:
        if p.poll(0):
            sys.stdin.read(1)
            _on[0] = 0
            sys.stdout.write("@@stats ")
            try:
                _stats_out(_w)
            except MemoryError:  # the count below then tells the host the line is cut short
                _ob[:] = b""
            _flush()
            print(" %d" % _on[0])
        await asyncio.sleep_ms(20)

async def _serve():
    t = asyncio.create_task(_ctl())
    await _fw.serve(nic)

asyncio.run(_serve())
"""


class Esp32Board(Rp2040Board):
    """--runtime esp32: stock MicroPython on an emulated ESP32 (QEMU loaded into this process,
    tools/esp32/qemu.py); our files in the flash image's littlefs, the chip model on VSPI here,
    behind the emulator's SPI callback. Serving and counters as for rp2040 (the same raw REPL execs)."""

    BOARD_PREFIX = "esp32"
    SETUP = _ESP_SETUP
    SERVE = _ESP_SERVE

    def _boot(self, loop):
        sys.path.insert(0, os.path.join(ROOT, "tools", "esp32"))
        import qemu

        img = qemu.image("esp32_" + self.a.chip, config=self._config(lookup=self.a.ip == "dhcp"))
        self.b = qemu.Esp32(chip=self.a.chip, firmware=self.a.firmware, fs=img, boot_mark=qemu.BOOT_MARK,
                            on_frame=lambda f: loop.call_soon_threadsafe(self.port.send, f),
                            on_console=lambda s: log("esp32 console: " + s.rstrip()) if s.strip() else None)
        self.b.soft_reset()
        self._loop = loop
        self._setup(180)

    def _on_line(self, line):
        """The serving exec's output (UART reader thread): counters to whoever asked, the rest logged."""
        if line.startswith("@@stats "):
            j, _, n = line[8:].strip().rpartition(" ")
            try:
                if not n.isdigit() or int(n) != len(j.encode()):
                    raise ValueError("%s bytes announced, %d came" % (n, len(j.encode())))
                d = json.loads(j)
            except ValueError as e:
                d = {"error": "unreadable counters from the board: %s" % e}
                log("esp32: " + d["error"])
            self._loop.call_soon_threadsafe(self._counters, d)
        elif line.strip():
            log("esp32 console: " + line.rstrip())

    def _counters(self, d):
        if "error" not in d:
            self.last_stats = d
        w, self._waiters = self._waiters, []
        for fut in w:
            if not fut.done():
                fut.set_result(d)

    def _serve_once(self):
        """The one serving exec (returns only when the board stops)."""
        try:
            out, err = self.b.repl.exec(self.SERVE, 7 * 86400, on_line=self._on_line)
        except Exception as e:  # noqa: BLE001
            if not self._stopping:
                self.failed = "esp32 board: %s" % (e,)
            return None
        if not self._stopping:
            self.failed = "firmware stopped: " + (err.strip() or "the serving exec returned")
        return None

    async def stats(self):
        b = self.b
        if b is None or not self.vm_ready or not b.alive() or self.failed:
            return dict(self.last_stats)
        # the emulated UART loses bytes now and then on long output (measured: JSON broken at
        # character ~3000 of 4,700, or a key cut short): ask again when the length does not match
        for _ in range(3):
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            b.serial("\n")
            try:
                d = await asyncio.wait_for(fut, 8.0)
            except asyncio.TimeoutError:
                return dict(self.last_stats, error="the emulated board did not report its counters within 8 s")
            if "error" not in d:
                break
        return await self._with_chip(b, d)


class HostBoard:
    def __init__(self, a):
        self.a = a
        self.dhcp = a.ip == "dhcp"
        if self.dhcp:  # the address is learnt from the board's announcement once it is bound
            self.ip, self.plen, self.mask = "dhcp", 0, "0.0.0.0"
        else:
            self.ip, self.plen, self.mask = parse_cidr(a.ip, "--ip")
        if a.host_ip:
            self.host_ip = parse_cidr(a.host_ip, "--host-ip")[0]
        else:
            self.host_ip = None
        self.ready = False
        self.stop_ev = None
        self.tap = None
        self.wire = None
        self.board = None
        self._step_scheduled = False
        self.pcap_file = None
        self.cable = True  # SIGUSR2 pulls it and plugs it back

    # --- wire plumbing ---
    def _schedule_step(self):
        if not self._step_scheduled:
            self._step_scheduled = True
            self.loop.call_soon(self._step)

    def _step(self):
        self._step_scheduled = False
        self.wire.step()

    async def _ticker(self):
        while True:
            await asyncio.sleep(0.01)
            self.wire.step()

    def _to_tap(self, frame):
        if self.ip_b is None and is_announcement_from(frame, self.board.mac):
            self.ip_b = bytes(frame[28:32])  # --ip dhcp: bound; ARP confirms the address as for a static one
            self.ip = ".".join(str(x) for x in self.ip_b)
        if not self.ready and self.ip_b is not None and is_arp_reply_from(frame, self.ip_b):
            self.ready = True
            self.board_mac = frame[22:28]
            boot = getattr(self.board, "boot_line", None)
            if boot:
                say("boot " + boot)
            extra = ""
            if self.a.runtime in ("rp2040", "esp32"):
                extra = " firmware=" + os.path.basename(self.a.firmware)
            if self.a.main:
                extra += " main=" + os.path.basename(self.a.main)
            say("ready ip=%s mac=%s chip=%s runtime=%s tap=%s addr=%s%s" % (
                self.ip, vmboard.mac_str(self.board_mac), self.a.chip, self.a.runtime, self.a.tap,
                "dhcp" if self.dhcp else "static", extra))
        return self.tap.write(frame)

    def _from_tap(self):
        for _ in range(64):
            f = self.tap.read()
            if f is None:
                return
            self.tap_port.send(f)

    async def _probe(self):
        src_ip = vmboard.ip_bytes(self.host_ip) if self.host_ip else b"\x00\x00\x00\x00"
        # --serial: the board comes up once something is deployed onto it, whenever that is
        deadline = time.monotonic() + (READY_TIMEOUT_S * (2 if self.dhcp else 1) if not getattr(self.a, "serial", None)
                                       else 1e9)
        req = None
        while not self.ready:
            if self.board.failed:
                self.fail(self.board.failed)
                return
            if time.monotonic() > deadline:
                self.fail("the board took no lease within %d s" % (2 * READY_TIMEOUT_S) if self.ip_b is None else
                          "the board did not answer ARP for %s within %d s" % (self.ip, READY_TIMEOUT_S))
                return
            if self.ip_b is None:
                await asyncio.sleep(PROBE_EVERY_S)  # --ip dhcp, not bound yet
                continue
            if req is None:
                req = arp_request(self.tap.mac(), src_ip, self.ip_b)
            main_up = getattr(self.board, "main_up", None)  # rp2040 --main --main-ready: not before
            if self.a.runtime == "cpython" or (self.board.vm_ready and (main_up is None or main_up())):
                self.tap_port.send(req)
            await asyncio.sleep(PROBE_EVERY_S)

    async def _watch(self):
        while True:
            await asyncio.sleep(0.2)
            if self.board.failed:
                self.fail(self.board.failed)
                return

    def fail(self, why):
        if self.stop_ev.is_set():
            return
        lines = [x.strip() for x in why.strip().splitlines() if x.strip()]
        if len(lines) > 1:
            log(why.strip())  # the whole traceback on stderr; the contract's one line on stdout
        say("error " + (lines[0] if len(lines) < 2 else lines[0] + " ... " + lines[-1]))
        self.status = 1
        self.stop_ev.set()

    async def toggle_cable(self):
        if self.a.app != "main" or self.a.main:
            log("SIGUSR2: no cable to pull here (--app echo or --main)")
            return
        self.cable = not self.cable
        log("cable %s" % ("plugged back" if self.cable else "pulled"))
        try:
            await self.board.set_link(self.cable)
        except Exception as e:  # noqa: BLE001
            log("cable: %r" % (e,))

    async def print_stats(self):
        d = dict(await self.board.stats())
        d["wire"] = self.wire.stats()
        d["tap"] = {"rx": self.tap.rx, "tx": self.tap.tx, "tx_errors": self.tap.tx_errors}
        # as the board answered ARP; with --main the MAC is the firmware's own, unknown until then
        mac = self.board_mac if self.ready else None if self.a.main else self.board.mac
        d["board"] = {"chip": self.a.chip, "runtime": self.a.runtime, "ip": self.ip,
                      "mac": vmboard.mac_str(mac) if mac else None}
        if self.a.runtime in ("rp2040", "esp32"):
            d["board"]["firmware"] = self.a.firmware
            d["board"]["main"] = self.a.main
        say("stats " + json.dumps(d, sort_keys=True))

    async def main(self):
        from tap import Tap

        a = self.a
        self.loop = asyncio.get_running_loop()
        self.stop_ev = asyncio.Event()
        self.status = 0
        self.ip_b = None if self.dhcp else vmboard.ip_bytes(self.ip)
        for s in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(s, self.stop_ev.set)
        self.loop.add_signal_handler(signal.SIGUSR1, lambda: asyncio.ensure_future(self.print_stats()))
        self.loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(self.toggle_cable()))

        mw = []
        if a.impair:
            mw.append(parse_impair(a.impair))
        if a.pcap:
            self.pcap_file = open(a.pcap, "wb")
            mw.append(Pcap(self.pcap_file))
        self.wire = Wire(mw)
        self.wire.on_pending = self._schedule_step
        try:
            cls = {"micropython": VmBoard, "rp2040": Rp2040Board, "esp32": Esp32Board}.get(
                a.runtime, LocalMainBoard if a.main else LocalBoard)
            self.board = cls(a, self.ip, self.mask)
        except Exception as e:  # noqa: BLE001 - say why the board could not be built, then exit 1
            say("error cannot build the board: %r" % (e,))
            return 1
        try:
            self.tap = Tap.open(a.tap, a.host_ip)
        except (OSError, ValueError) as e:
            say("error cannot open TAP %s: %s" % (a.tap, e))
            return 1
        tasks = []
        try:
            self.tap_port = self.wire.port(self._to_tap, "tap")
            self.board.attach(self.wire)
            self.loop.add_reader(self.tap.fd, self._from_tap)
            await self.board.start()
            if a.serial and self.board.b is not None:
                say("serial link=%s pty=%s" % (a.serial, self.board.b.pty.name))
            tasks = [asyncio.create_task(t) for t in (self._ticker(), self._probe(), self._watch())]
            await self.stop_ev.wait()
        finally:
            try:
                await asyncio.wait_for(self.print_stats(), 2.0)
            except Exception as e:  # noqa: BLE001
                log("stats at exit failed: %r" % (e,))
            for t in tasks:
                t.cancel()
            try:
                self.loop.remove_reader(self.tap.fd)
            except Exception:  # noqa: BLE001
                pass
            try:
                await asyncio.wait_for(self.board.stop(), STOP_BUDGET_S - 2.0)
            except Exception:  # noqa: BLE001
                pass
            self.tap.close()
            if self.pcap_file:
                self.pcap_file.close()
        return self.status


def _rp2040_missing(a):
    """--runtime rp2040: make a.firmware / a.main absolute paths (node runs from the project root);
    None when the board can boot, else one line saying what is missing."""
    sys.path.insert(0, os.path.join(ROOT, "tools", "rp2040"))
    import run as rp

    readme = os.path.relpath(os.path.join(rp.SHARED, "README.md"))
    a.firmware = os.path.abspath(a.firmware or rp.UF2)
    if not os.path.isfile(a.firmware):
        return ("firmware not found: %s (the MicroPython .uf2 that --runtime rp2040 boots; give --firmware FILE, "
                "see %s for where the files come from)" % (a.firmware, readme))
    if a.main is not None:
        a.main = os.path.abspath(a.main)
        if not os.path.isfile(a.main):
            return "--main %s: no such file (it becomes the board's /main.py)" % a.main
    why = rp.missing(a.firmware)
    if why:
        return "the emulated Pico cannot run here: %s" % why.replace("shared/rp2040/README.md", readme)
    return None


def _esp32_missing(a):
    """--runtime esp32: a.firmware made absolute; None when the board can boot, else one line."""
    sys.path.insert(0, os.path.join(ROOT, "tools", "esp32"))
    import qemu

    a.firmware = os.path.abspath(a.firmware or qemu.FIRMWARE)
    why = qemu.missing(a.firmware)
    if why:
        readme = os.path.relpath(os.path.join(qemu.SHARED, "README.md"))
        return "the emulated ESP32 cannot run here: %s" % why.replace("shared/esp32/README.md", readme)
    return None


def _check_imports(a):
    """--check: import what the runtime will import once it runs (a missing piece raises here)."""
    __import__("emu." + a.chip)
    if a.runtime == "cpython":
        import bsdnet.netif  # noqa: F401
        import main  # noqa: F401 - firmware/main.py
    elif a.runtime == "rp2040":
        import mkfs  # noqa: F401 - tools/rp2040: the flash image
        import run  # noqa: F401
        from littlefs import LittleFS  # noqa: F401
    elif a.runtime == "esp32":
        import qemu  # noqa: F401 - tools/esp32
        import esp32fs  # noqa: F401
        import esptool  # noqa: F401 - the flash image
        from littlefs import LittleFS  # noqa: F401


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tap", required=True, help="TAP interface name (created if missing)")
    ap.add_argument("--chip", required=True, choices=("w5500", "enc28j60"))
    ap.add_argument("--ip", required=True, help="the board's address, A.B.C.D/N, or dhcp: the firmware takes a lease")
    ap.add_argument("--hostname", help="the name the board gives in its DHCP requests (option 12)")
    ap.add_argument("--gateway", default="0.0.0.0")
    ap.add_argument("--host-ip", help="address for the Linux side of the TAP, A.B.C.D/N")
    ap.add_argument("--runtime", default="cpython", choices=("cpython", "micropython", "rp2040", "esp32"))
    ap.add_argument("--impair", help="loss=P,dup=P,reorder=P,corrupt=P,seed=N (between TAP and chip)")
    ap.add_argument("--pcap", help="record every frame delivered, both ways, to this pcap file")
    ap.add_argument("--mac", help="the board's MAC (default 02:00 + its IPv4 address)")
    ap.add_argument("--group", action="append", default=[], help="a multicast group the UDP echo joins")
    ap.add_argument("--app", default="main", choices=("main", "echo"),
                    help="main: firmware/main.py on the emulated chip; echo: a stand-in ARP/ICMP responder")
    ap.add_argument("--heap", default="8m", help="MicroPython VM heap (micropython runtime)")
    ap.add_argument("--firmware", metavar="FILE",
                    help="rp2040: the MicroPython .uf2 to boot (default ../shared/rp2040/micropython-v1.28.0-"
                         "RPI_PICO.uf2); esp32: the MicroPython .bin (default ../shared/esp32/micropython-v1.23.0-"
                         "ESP32_GENERIC.bin)")
    ap.add_argument("--main", metavar="FILE",
                    help="FILE is the board's application instead of firmware/main.py: it imports `board` and brings "
                         "the interface up at --ip itself (rp2040: boots with FILE as /main.py, e.g. the "
                         "W5500_EVB_PICO firmware with tools/rp2040/ref_main.py, --chip w5500)")
    ap.add_argument("--lib", metavar="DIR", action="append", default=[],
                    help="with --main: a package directory copied to the board's /lib (importable by FILE)")
    ap.add_argument("--main-ready", metavar="TEXT",
                    help="with --main: relay no frame to the board until its console shows TEXT (the "
                         "reference firmware's WIZNET5K driver can hang when frames arrive while it starts)")
    ap.add_argument("--serial", metavar="LINK",
                    help="rp2040: the Pico's USB serial as a pseudo-terminal at LINK (mpremote connect LINK); "
                         "without --main the board boots with an empty filesystem (make deploy PORT=LINK)")
    ap.add_argument("--check", action="store_true",
                    help="check that this runtime can start here (modules, npm packages, node, firmware), print "
                         "`ok ...` and exit; opens nothing")
    a = ap.parse_args(argv)
    # the documented command line runs the system python3: re-executes under .venv when that has
    # what this one lacks, or exits 2 naming what `make setup` would have installed
    setupcheck.require_runtime("hostboard", a.runtime, argv=None if argv is None else [sys.argv[0]] + list(argv))
    if a.runtime == "micropython":
        import shutil

        if shutil.which("node") is None:
            sys.stderr.write("hostboard: node is not installed (--runtime micropython runs the MicroPython VM in it)\n")
            return 2
    if a.main is not None and not os.path.isfile(a.main):
        ap.error("--main %s: no such file" % a.main)
    for d in a.lib:
        if not os.path.isdir(d):
            ap.error("--lib %s: not a directory (give a package directory, e.g. .venv/.../site-packages/microdot)" % d)
    if a.lib and not a.main:
        ap.error("--lib goes with --main FILE")
    if a.runtime != "rp2040":
        # esp32 takes --firmware (its .bin) but not --main (yet); the others take --main, not --firmware
        for opt in ("main", "main_ready", "serial") if a.runtime == "esp32" else ("firmware", "main_ready", "serial"):
            if getattr(a, opt) is not None:
                ap.error("--%s is for --runtime rp2040 only (this is --runtime %s)"
                         % (opt.replace("_", "-"), a.runtime))
    if a.runtime == "esp32":
        why = _esp32_missing(a)
        if why:
            sys.stderr.write("hostboard: %s\n" % why)
            sys.stderr.flush()
            return 2
    elif a.runtime == "rp2040":
        if a.serial and a.main_ready:
            ap.error("--main-ready reads the console, which --serial gives to the pseudo-terminal")
        why = _rp2040_missing(a)
        if why:
            sys.stderr.write("hostboard: %s\n" % why)
            sys.stderr.flush()
            return 2
    if a.ip == "dhcp" and a.app != "main":
        ap.error("--ip dhcp needs our firmware or --main FILE (not --app echo)")
    if a.impair:
        parse_impair(a.impair)  # reject a bad spec before touching the network
    if a.check:
        _check_imports(a)
        say("ok runtime=%s chip=%s python=%s" % (a.runtime, a.chip, sys.executable))
        return 0
    if os.geteuid() != 0:
        say("error hostboard needs root (CAP_NET_ADMIN) to create a TAP")
        return 1
    return asyncio.run(HostBoard(a).main())


if __name__ == "__main__":
    sys.exit(main())
