# Board glue shared by the host board's runtimes: builds one board (firmware + driver + emulated
# chip, or a stand-in responder) and, inside the MicroPython VM, relays whole frames between the chip
# and the node process (tools/vmboard.mjs) through the JS module `vmboard_io`.
#
#   b = Board("w5500", "10.7.0.2", "255.255.255.0", "10.7.0.1", mac=b"\x02...")
#   b.chip                       # the wire side: chip.deliver(frame), chip.on_transmit = fn(frame)
#   await b.serve()              # the firmware, forever
#   b.stats()                    # dict: the interface's counters (+ "arp_entries")
#   b.boot                       # the firmware's boot line (firmware/main.py boot_line), None for echo
#
# vm_main_file() runs a --main FILE instead, with tools/emuboard.py as its `board`.
# app="main" runs firmware/main.py's start()/serve() on bsdnet.netif over the chip emulator
# tools/emu/<chip>.py. app="echo" is a stand-in with no stack at all: a responder on the wire
# that answers ARP requests and ICMP echo requests for its address (used to test the TAP, the wire
# and the VM relay on their own).
# Portable Python: CPython and the MicroPython VM.
import struct

try:
    import asyncio
except ImportError:  # pragma: no cover
    asyncio = None


def ip_bytes(s):
    p = s.split(".")
    if len(p) != 4:
        raise ValueError("bad IPv4 address %r" % s)
    return bytes([int(x) for x in p])


def mac_bytes(s):
    if isinstance(s, (bytes, bytearray)):
        return bytes(s)
    p = s.replace("-", ":").split(":")
    if len(p) != 6:
        raise ValueError("bad MAC address %r" % s)
    return bytes([int(x, 16) for x in p])


def mac_str(b):
    return ":".join("%02x" % x for x in b)


DHCP_MAC = b"\x02\x00\x00\x00\xdc\x01"  # a board without a static address to derive it from


def default_mac(ip):
    """A locally administered unicast MAC derived from the board's address: 02:00:a:b:c:d."""
    return DHCP_MAC if ip == "dhcp" else b"\x02\x00" + ip_bytes(ip)


def cksum(b, start, end):
    s = 0
    i = start
    while i + 1 < end:
        s += (b[i] << 8) | b[i + 1]
        i += 2
    if i < end:
        s += b[i] << 8
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class EchoDevice:
    """Stand-in board on the wire (no driver, no stack): answers ARP requests and ICMP echo
    requests for its address, drops and counts the rest."""

    def __init__(self, mac, ip):
        self.mac = mac
        self.ip = ip
        self.on_transmit = None
        self.link = False
        self.st = {"rx": 0, "tx": 0, "arp_replies": 0, "echo_replies": 0, "not_for_us": 0, "bad": 0}

    def set_link(self, up):
        self.link = bool(up)

    def deliver(self, f):
        st = self.st
        st["rx"] += 1
        if not self.link:
            return False
        if len(f) < 14 or (f[0:6] != self.mac and f[0:6] != b"\xff" * 6):
            st["not_for_us"] += 1
            return True
        et = (f[12] << 8) | f[13]
        if et == 0x0806 and len(f) >= 42:
            if f[20:22] == b"\x00\x01" and f[38:42] == self.ip:
                r = bytearray(42)
                r[0:6] = f[22:28]
                r[6:12] = self.mac
                r[12:22] = b"\x08\x06\x00\x01\x08\x00\x06\x04\x00\x02"
                r[22:28] = self.mac
                r[28:32] = self.ip
                r[32:42] = f[22:32]
                st["arp_replies"] += 1
                self._send(r)
            else:
                st["not_for_us"] += 1
            return True
        if et == 0x0800 and len(f) >= 34:
            hl = (f[14] & 15) * 4
            tot = (f[16] << 8) | f[17]
            if f[30:34] != self.ip:
                st["not_for_us"] += 1
                return True
            if cksum(f, 14, 14 + hl) != 0 or 14 + tot > len(f):
                st["bad"] += 1
                return True
            if f[23] == 1 and f[14 + hl] == 8:
                if cksum(f, 14 + hl, 14 + tot) != 0:
                    st["bad"] += 1
                    return True
                r = bytearray(f[:14 + tot])
                r[0:6] = f[6:12]
                r[6:12] = self.mac
                r[26:30] = self.ip
                r[30:34] = f[26:30]
                r[22] = 64
                r[24] = r[25] = 0
                struct.pack_into(">H", r, 24, cksum(r, 14, 14 + hl))
                r[14 + hl] = 0
                r[14 + hl + 2] = r[14 + hl + 3] = 0
                struct.pack_into(">H", r, 14 + hl + 2, cksum(r, 14 + hl, 14 + tot))
                st["echo_replies"] += 1
                self._send(r)
                return True
            st["not_for_us"] += 1
        return True

    def _send(self, r):
        self.st["tx"] += 1
        if self.on_transmit is not None:
            self.on_transmit(r)


class Board:
    def __init__(self, chip, ip, mask, gateway="0.0.0.0", mac=None, app="main", groups=(), hostname=None):
        """ip "dhcp": the firmware takes a lease (hostname in its requests)."""
        if chip not in ("w5500", "enc28j60"):
            raise ValueError("chip must be w5500 or enc28j60, not %r" % chip)
        if app not in ("main", "echo"):
            raise ValueError("app must be main or echo, not %r" % app)
        self.chip_name = chip
        self.ip = ip
        self.mask = mask
        self.gateway = gateway or "0.0.0.0"
        self.mac = mac_bytes(mac) if mac else default_mac(ip)
        self.app = app
        self.nic = None
        self.fw = None
        self.boot = None
        if app == "echo":
            if ip == "dhcp":
                raise ValueError("the echo app needs a static address")
            self.chip = EchoDevice(self.mac, ip_bytes(ip))
            self.chip.set_link(True)
            return
        emu = __import__("emu." + chip, None, None, ["make"])
        self.chip, self.spi, self.cs, self.rst, self.intn = emu.make(mac=self.mac)
        self.chip.set_link(True)
        from bsdnet.netif import Interface

        self.nic = getattr(Interface, chip)(self.spi, self.cs, rst=self.rst, intr=self.intn, mac=self.mac)
        import main as fw  # firmware/main.py (the firmware directory is on the path)

        self.fw = fw
        # the echo service joins groups; with a lease, the lookup service too (the tests ask it)
        fw.start(self.nic, ip, mask, self.gateway, "0.0.0.0", tuple(groups), hostname, lookup=ip == "dhcp")
        self.boot = fw.boot_line(self.nic, "hostboard", chip, "dhcp" if ip == "dhcp" else "static")

    async def serve(self):
        if self.fw is None:
            while True:
                await asyncio.sleep(3600)
        await self.fw.serve(self.nic)

    def stats(self):
        if self.nic is None:
            return {"echo": dict(self.chip.st)}
        d = dict(self.nic.stats())
        c = getattr(self.chip, "counters", None)
        if c is not None:
            d["chip"] = c()  # the chip model's own view (its MAC filter, overflows): not visible to a real board
        v = getattr(self.chip, "violations", None)
        if v:
            d["chip_violations"] = list(v[:5])  # the first few rules the driver broke (counted in chip)
        try:
            d["arp_entries"] = [list(e) for e in self.nic.arp_entries()]
        except Exception as e:  # noqa: BLE001 - counters still print when the table does not
            d["arp_entries_error"] = repr(e)
        return d

    def stop(self):
        """The services' UDP sockets close first (multicast groups are left: the IGMP leaves go
        out, as from a board whose application shuts down), then the interface task ends."""
        if self.nic is not None:
            try:
                import services  # firmware/services.py

                services.close_udp()
                self.nic.stop()
            except Exception:  # noqa: BLE001
                pass


async def vm_main(chip, ip, mask, gateway, mac, app="main", poll_ms=100, groups=(), hostname=None):
    """The board inside the MicroPython VM: frames arrive hex-encoded from vmboard_io.recv() and
    leave through vmboard_io.send(); vmboard_io.wait(ms) resolves early when the host sends something."""
    import binascii
    import json
    import vmboard_io as io

    board = Board(chip, ip, mask, gateway, mac, app, groups, hostname)
    hexlify = binascii.hexlify
    unhexlify = binascii.unhexlify

    def tx(frame):
        io.send(hexlify(frame).decode())

    board.chip.on_transmit = tx
    task = asyncio.create_task(board.serve())
    if board.boot:
        io.boot(board.boot)
    io.ready(mac_str(board.mac))
    try:
        while not io.stopping():
            for _ in range(64):
                h = io.recv()
                if h is None:
                    break
                board.chip.deliver(unhexlify(h))
            cable = io.link()
            if cable is not None:
                board.chip.set_link(cable == "1")  # the host board pulled or plugged the cable
            if io.stats_wanted():
                io.stats(json.dumps(board.stats()))
            await io.wait(poll_ms)
    finally:
        io.stats(json.dumps(board.stats()))
        board.stop()
        task.cancel()


async def vm_main_file(chip, ip, mask, gateway, mac, path, poll_ms=20, hostname=None):
    """--main FILE inside the MicroPython VM: FILE runs as __main__ with tools/emuboard.py as its
    `board`. While FILE blocks (a socket call, a loop of its own), frames cross in the interface's
    poll: vmboard_io.pump() reads what the host sent without the JS event loop; once FILE returns (or
    hands its coroutine to asyncio.run, which the VM lacks: it becomes a task here), this loop relays."""
    import binascii
    import json
    import vmboard_io as io
    import emuboard

    blocking = [True]

    def relay(c):
        io.pump()
        if io.stopping() and blocking[0]:
            raise SystemExit  # FILE is blocked in a call of its own: end it there
        if io.stats_wanted():
            io.stats(json.dumps(emuboard.stats()))
        for _ in range(64):
            h = io.recv()
            if h is None:
                break
            c.deliver(binascii.unhexlify(h))

    def tx(frame):
        io.send(binascii.hexlify(frame).decode())

    emuboard.configure(chip, ip, mask, gateway, mac_bytes(mac) if mac else default_mac(ip), relay, tx, hostname)
    if not hasattr(asyncio, "run"):
        asyncio.run = asyncio.create_task
    io.ready(mac_str(mac_bytes(mac) if mac else default_mac(ip)))
    g = {"__name__": "__main__", "__file__": path}
    with open(path) as f:
        src = f.read()
    try:
        exec(compile(src, path, "exec"), g)
    except SystemExit:
        pass
    blocking[0] = False
    while not io.stopping():
        if emuboard.chip is not None:
            relay(emuboard.chip)
        elif io.stats_wanted():
            io.stats("{}")
        await io.wait(poll_ms)
    io.stats(json.dumps(emuboard.stats()))
