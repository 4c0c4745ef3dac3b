"""The board without a TAP (no root needed): tools/vmboard.py's Board on the in-process wire (CPython),
and tools/vmboard.mjs (the board inside the MicroPython VM) spoken to over its stdin/stdout framing.
Each is checked with ARP and ICMP echo exchanges cross-checked with scapy, against the stand-in
responder (app=echo) and, once the chip's driver and emulator are there, the real firmware."""
import os
import select
import shutil
import struct
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("tools", "firmware"):
    p = os.path.join(ROOT, p)
    if p not in sys.path:
        sys.path.insert(0, p)

scapy_all = pytest.importorskip("scapy.all")
Ether, IP, ICMP, ARP = scapy_all.Ether, scapy_all.IP, scapy_all.ICMP, scapy_all.ARP

import vmboard  # noqa: E402
from emu.wire import Wire  # noqa: E402

BOARD_IP = "10.9.0.2"
PEER_IP = "10.9.0.1"
PEER_MAC = "02:00:00:00:01:01"


def _firmwares(chip):
    out = ["echo"]
    if all(os.path.exists(os.path.join(ROOT, r)) for r in
           ("tools/emu/%s.py" % chip, "lib/bsdnet/dev/%s.py" % chip, "lib/bsdnet/netif.py", "firmware/main.py")):
        out.append("main")
    return out


CASES = [(c, f) for c in ("w5500", "enc28j60") for f in ("echo", "main")]


def _skip_unless_built(chip, fw):
    if fw not in _firmwares(chip):
        pytest.skip("driver or chip emulator for %s not there yet" % chip)


def arp_request():
    f = bytes(Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=PEER_MAC, psrc=PEER_IP, pdst=BOARD_IP))
    return f + bytes(60 - len(f))  # padded by the sender's MAC, as on a real wire (the wire port does it too)


def echo_request(board_mac, seq, size=56):
    return bytes(Ether(src=PEER_MAC, dst=board_mac) / IP(src=PEER_IP, dst=BOARD_IP) /
                 ICMP(id=0x4242, seq=seq) / bytes((i & 0xFF for i in range(size))))


def check_arp_reply(f, board_mac):
    e = Ether(f)
    assert e.haslayer(ARP) and e[ARP].op == 2, e.summary()
    assert e.dst == PEER_MAC and e[ARP].psrc == BOARD_IP and e[ARP].pdst == PEER_IP
    assert e[ARP].hwsrc == board_mac and e.src == board_mac


def check_echo_reply(f, board_mac, seq, size=56):
    e = Ether(f)
    assert e.haslayer(ICMP) and e[ICMP].type == 0, e.summary()
    assert e.src == board_mac and e.dst == PEER_MAC
    assert e[IP].src == BOARD_IP and e[IP].dst == PEER_IP and e[ICMP].seq == seq and e[ICMP].id == 0x4242
    assert bytes(e[ICMP].payload)[:size] == bytes(i & 0xFF for i in range(size))
    # checksums as scapy computes them
    ip_sum, icmp_sum = e[IP].chksum, e[ICMP].chksum
    del e[IP].chksum
    del e[ICMP].chksum
    e2 = Ether(bytes(e))
    assert e2[IP].chksum == ip_sum and e2[ICMP].chksum == icmp_sum


# --- CPython: the board object on the in-process wire ---------------------------------------------

@pytest.mark.parametrize("chip,fw", CASES)
def test_board_on_inprocess_wire(chip, fw):
    _skip_unless_built(chip, fw)
    b = vmboard.Board(chip, BOARD_IP, "255.255.255.0", "0.0.0.0", app=fw)
    w = Wire()
    got = []
    peer = w.port(lambda f: got.append(f) or True, "peer")
    w.attach(b.chip, "board")
    mac = vmboard.mac_str(b.mac)

    def exchange(frame, want):
        got.clear()
        peer.send(frame)
        for _ in range(200):  # bounded: the board answers within a few polls
            w.step()
            if b.nic is not None:
                b.nic.poll()
            if any(want(f) for f in got):
                return [f for f in got if want(f)][0]
        raise AssertionError("no answer; got %r" % [Ether(f).summary() for f in got])

    r = exchange(arp_request(), lambda f: f[12:14] == b"\x08\x06" and f[21] == 2)
    check_arp_reply(r, mac)
    for seq in (1, 2, 3):
        r = exchange(echo_request(mac, seq), lambda f: f[12:14] == b"\x08\x00" and f[34] == 0)
        check_echo_reply(r, mac, seq)
    st = b.stats()
    if fw == "echo":
        assert st["echo"]["echo_replies"] == 3
    else:
        assert st["icmp"]["icps_reflect"] >= 3
    b.stop()


# --- the MicroPython VM: tools/vmboard.mjs over stdin/stdout --------------------------------------

class VmProc:
    def __init__(self, chip, fw):
        self.p = subprocess.Popen(
            ["node", os.path.join(ROOT, "tools", "vmboard.mjs"), "--chip", chip, "--ip", BOARD_IP,
             "--mask", "255.255.255.0", "--app", fw],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
        self.buf = b""

    def put(self, t, payload=b""):
        self.p.stdin.write(t + struct.pack(">I", len(payload)) + payload)
        self.p.stdin.flush()

    def get(self, timeout=10.0):
        """Next message (type, payload), or None after timeout."""
        end = time.monotonic() + timeout
        fd = self.p.stdout.fileno()
        while True:
            if len(self.buf) >= 5:
                n = struct.unpack(">I", self.buf[1:5])[0]
                if len(self.buf) >= 5 + n:
                    t, body = self.buf[0:1], self.buf[5:5 + n]
                    self.buf = self.buf[5 + n:]
                    return t, body
            left = end - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk

    def expect(self, t, timeout=10.0, want=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            m = self.get(end - time.monotonic())
            if m is None:
                break
            if m[0] == b"E":
                raise AssertionError("VM error: " + m[1].decode(errors="replace"))
            if m[0] == t and (want is None or want(m[1])):
                return m[1]
        raise AssertionError("no %r message within %.0fs; stderr: %s" % (t, timeout, self.stderr_tail()))

    def stderr_tail(self):
        if self.p.poll() is None:
            return "(running)"
        return self.p.stderr.read().decode(errors="replace")[-2000:]

    def close(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait(5)


@pytest.mark.parametrize("chip,fw", CASES)
def test_board_in_micropython_vm(chip, fw):
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    _skip_unless_built(chip, fw)
    vm = VmProc(chip, fw)
    try:
        if fw == "main":
            boot = vm.expect(b"B", 30).decode()  # the firmware's boot line, before ready
            assert boot.startswith("bsdnet ") and " static, link up " in boot, boot
        mac = vm.expect(b"R", 30).decode()
        assert mac == vmboard.mac_str(vmboard.default_mac(BOARD_IP))
        vm.put(b"F", arp_request())
        check_arp_reply(vm.expect(b"F", 10, lambda f: f[12:14] == b"\x08\x06" and f[21] == 2), mac)
        t = time.monotonic()
        for seq in range(1, 6):
            vm.put(b"F", echo_request(mac, seq, 1000))
            check_echo_reply(vm.expect(b"F", 10, lambda f: f[12:14] == b"\x08\x00" and f[34] == 0), mac, seq, 1000)
        rtt_ms = (time.monotonic() - t) * 1000 / 5
        print("VM %s/%s: echo round trip over stdin/stdout %.2f ms" % (chip, fw, rtt_ms))
        vm.put(b"Q")
        st = __import__("json").loads(vm.expect(b"S", 10))
        if fw == "echo":
            assert st["echo"]["echo_replies"] == 5 and st["echo"]["arp_replies"] == 1
        else:
            assert st["icmp"]["icps_reflect"] >= 5
        t = time.monotonic()
        vm.put(b"X")
        vm.expect(b"S", 5)  # counters once more on the way out
        vm.p.wait(5)
        assert vm.p.returncode == 0 and time.monotonic() - t < 5
    finally:
        vm.close()


def test_vm_reports_a_firmware_that_cannot_start():
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    vm = VmProc("w5500", "nonexistent")
    try:
        m = None
        for _ in range(10):
            m = vm.get(30)
            if m is None or m[0] == b"E":
                break
        assert m is not None and m[0] == b"E", m
        vm.p.wait(10)
        assert vm.p.returncode != 0
    finally:
        vm.close()


def test_demo_two_boards_in_process(capsys):
    # what `make demo` does without root: board A pings board B over the in-process wire
    # (with duplication and reordering here)
    _skip_unless_built("w5500", "main")
    import demo

    assert demo.main(["--inprocess", "--count", "3", "--impair", "dup=0.3,reorder=0.3,seed=4"]) == 0
    out = capsys.readouterr().out
    assert "OK: 3/3 answered" in out and "ICMP echo reply seq 3" in out
