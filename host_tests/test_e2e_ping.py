"""End to end: the host board (firmware -> driver -> emulated chip -> TAP) against the Linux kernel,
in a network namespace this test makes, for each chip (w5500, enc28j60) and runtime (cpython; micropython:
the MicroPython VM in node; rp2040: stock MicroPython on an emulated Pico, skipped without its files).

Checks: `ping -c 20` all answered (RTT min/avg/max printed per chip and runtime), ARP from Linux
(ip neigh shows the board's MAC; arping when installed), frames not for the board are dropped and
counted (scapy, inside the namespace), the host board exits within 5 s of SIGTERM and removes its
TAP, and a seeded lossy wire with a pcap recording.
Needs root, /dev/net/tun, ip and ping (Debian: iproute2, iputils-ping; optional iputils-arping,
ethtool), scapy for the drop test, node for the VM runtimes. BSDNET_E2E_APP=echo runs the same
checks against the stand-in responder (tools/vmboard.py EchoDevice) instead of firmware/main.py.
"""
import os
import shutil
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from demo import Netns, NetnsBoard, parse_ping, runtime_missing  # noqa: E402
from e2e import READY_S, WITH_ESP32, assert_no_chip_violations, esp32_gate  # noqa: E402
from tap import netns_missing  # noqa: E402
from emu.wire import read_pcap  # noqa: E402

APP = os.environ.get("BSDNET_E2E_APP", "main")
BOARD_IP = "10.7.0.2"
HOST_IP = "10.7.0.1"
TAP = "bsd0"
RTT = {}


_MISSING = netns_missing(("ip", "ping"))
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


def _needs(chip, runtime):
    """Skip (with the reason) while a piece the board is built from has not landed yet."""
    why = runtime_missing(runtime)
    if why:
        pytest.skip(why)
    if APP != "main":
        return
    for rel in ("tools/emu/%s.py" % chip, "lib/bsdnet/dev/%s.py" % chip, "lib/bsdnet/netif.py", "firmware/main.py"):
        if not os.path.exists(os.path.join(ROOT, rel)):
            pytest.skip("%s is not there yet" % rel)


def _tail(lines, n=30, board=None):
    s = "\n".join(x for x in lines[-n:] if x is not None)
    if board is not None:
        s += "\nunread output: %s" % board.unread()
    return s


def _extra():
    return ["--app", APP] if APP != "main" else []


RUNTIMES = WITH_ESP32
CHIPS = ("w5500", "enc28j60")


@pytest.fixture(scope="module", params=[(c, r) for r in RUNTIMES for c in CHIPS], ids=lambda p: "%s-%s" % p)
def board(request):
    chip, runtime = request.param
    esp32_gate(chip, runtime, smoke=True)
    _needs(chip, runtime)
    ns = Netns("bsdnet-e2e-%d-%s-%s" % (os.getpid(), chip[:3], runtime[:2]))
    b = None
    try:
        b = NetnsBoard(ns, chip, runtime, ip=BOARD_IP + "/24", host_ip=HOST_IP + "/24", tap=TAP, extra=_extra())
        b.wait_ready(READY_S.get(runtime, 60))
        yield b
        # teardown checks: SIGTERM ends it within 5 s, the TAP it made is gone, counters were printed
        secs = b.stop(5)
        b_stderr = b.stderr
        stopped, b = b, None
        assert secs is not None and secs < 5.0, "host board took %s s to exit after SIGTERM\n%s" % (
            secs, _tail(b_stderr))
        assert_no_chip_violations(stopped)
        assert ns.run(["ip", "link", "show", TAP], check=False).returncode != 0, "TAP left behind"
    finally:
        if b is not None:
            b.stop(5)
        ns.close()


def _ping(b, count=20, interval="0.05", deadline=True):
    # -w bounds the run, but with it ping sends past -c until count replies came: only when none may be lost
    argv = ["ping", "-c", str(count), "-i", interval, "-W", "2", BOARD_IP]
    if deadline:
        argv[1:1] = ["-w", str(10 + count)]
    p = b.ns.run(argv, timeout=60, check=False)
    return parse_ping(p.stdout) + (p.stdout,)


def test_ping_all_answered(board, capsys):
    sent, got, rtt, out = _ping(board)
    assert sent == 20 and got == 20, out
    assert rtt is not None
    key = "%s/%s" % (board.chip, board.runtime)
    RTT[key] = rtt
    line = "ping RTT %-22s min/avg/max %.3f/%.3f/%.3f ms (20/20 answered)" % (key, rtt[0], rtt[1], rtt[2])
    with capsys.disabled():
        print("\n" + line)
    st = board.stats()
    if APP == "main":
        assert st["icmp"]["icps_reflect"] >= 20
        assert st["mbuf"]["free"] == st["mbuf"]["size"], st["mbuf"]  # nothing leaked while serving
    else:
        assert st["echo"]["echo_replies"] >= 20


def test_arp_from_linux(board):
    mac = board.ready["mac"].lower()
    _ping(board, count=2, interval="0.2")  # make sure the kernel has a fresh entry
    out = board.ns.run(["ip", "neigh", "show", BOARD_IP, "dev", TAP]).stdout
    assert mac in out.lower(), out
    assert any(s in out for s in ("REACHABLE", "STALE", "DELAY", "PROBE")), out
    if shutil.which("arping"):
        p = board.ns.run(["arping", "-c", "3", "-w", "6", "-I", TAP, BOARD_IP], timeout=20, check=False)
        assert "Received 3 response" in p.stdout, p.stdout + p.stderr
        assert mac in p.stdout.lower(), p.stdout
    if APP == "main":
        # the board learned the host's address from the exchange
        st = board.stats()
        ips = [e[0] for e in st.get("arp_entries", [])]
        assert HOST_IP in ips, st.get("arp_entries")


_SEND = r"""
import sys
from scapy.all import Ether, IP, ICMP, ARP, sendp, get_if_hwaddr, conf
conf.verb = 0
tap, board_mac, board_ip, host_ip, n = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
me = get_if_hwaddr(tap)
frames = []
for i in range(n):
    # to another MAC (the board's IP): not for the board at the link layer
    frames.append(Ether(src=me, dst="02:00:00:00:00:99") / IP(src=host_ip, dst=board_ip) / ICMP(id=7, seq=100 + i))
    # to the board's MAC, another IP: not for the board at the IP layer (no forwarding)
    frames.append(Ether(src=me, dst=board_mac) / IP(src=host_ip, dst="10.7.0.99") / ICMP(id=7, seq=200 + i))
    # ARP request for another address
    frames.append(Ether(src=me, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=me, psrc=host_ip, pdst="10.7.0.77"))
for i in range(3):
    # controls: these are for the board and must be answered (so the drops are not just lost frames)
    frames.append(Ether(src=me, dst=board_mac) / IP(src=host_ip, dst=board_ip) / ICMP(id=7, seq=300 + i))
sendp(frames, iface=tap, inter=0.01)
"""


def _d(a, b, *path):
    for k in path:
        a = a.get(k, {})
        b = b.get(k, {})
    return (b or 0) - (a or 0)


def _below_ether(st):
    # unicast for another station dropped below ether_input: by the chip's MAC filter (the chip model
    # counts it) or by the driver's software filter (dev rx_dropped, e.g. W5500 with MFEN off)
    n = 0
    for sec in ("chip", "dev"):
        c = st.get(sec) or {}
        for k, v in c.items():
            if isinstance(v, int) and ("filter" in k or "notforus" in k or k == "rx_dropped"):
                n += v
    return n


def test_frames_not_for_the_board_are_dropped_and_counted(board):
    pytest.importorskip("scapy")
    n = 10
    before = board.stats()
    p = board.ns.run([sys.executable, "-c", _SEND, TAP, board.ready["mac"], BOARD_IP, HOST_IP, str(n)],
                     timeout=60, check=False)
    assert p.returncode == 0, "%s\nhost board (exit %s): %s" % (
        p.stderr, board.proc.poll(), _tail(board.stderr, board=board))
    after = None
    for _ in range(20):  # bounded: the board drains its chip within a few ms; the VM a little later
        time.sleep(0.1)
        after = board.stats()
        if APP == "main":
            if _d(before, after, "icmp", "icps_reflect") >= 3:
                break
        elif _d(before, after, "echo", "echo_replies") >= 3:
            break
    if APP != "main":
        assert _d(before, after, "echo", "echo_replies") == 3
        assert _d(before, after, "echo", "not_for_us") >= 3 * n
        return
    # the controls were answered, and nothing else was
    assert _d(before, after, "icmp", "icps_reflect") == 3, (before["icmp"], after["icmp"])
    # another IP: dropped by ip_input (no forwarding) and counted
    assert _d(before, after, "ip", "ips_cantforward") >= n, after["ip"]
    # ARP for another address: counted as not for us, not answered
    assert _d(before, after, "arp", "notforus") >= n, after["arp"]
    # another MAC: dropped by the chip's filter or by ether_input; counted either way
    mac_level = _d(before, after, "if", "notforus") - _d(before, after, "ip", "ips_cantforward")
    mac_level += _below_ether(after) - _below_ether(before)
    assert mac_level >= n, (after["if"], after.get("chip"))


def test_lossy_wire_with_pcap(tmp_path):
    """A seeded lossy wire between TAP and chip: some pings lost, the rest answered, all in the pcap."""
    chip, runtime = "w5500", "cpython"
    _needs(chip, runtime)
    pcap = str(tmp_path / "lossy.pcap")
    ns = Netns("bsdnet-e2e-%d-loss" % os.getpid())
    b = None
    try:
        b = NetnsBoard(ns, chip, runtime, ip=BOARD_IP + "/24", host_ip=HOST_IP + "/24", tap=TAP,
                       extra=["--impair", "loss=0.3,seed=3", "--pcap", pcap] + _extra())
        b.wait_ready(60)
        sent, got, rtt, out = _ping(b, count=20, interval="0.05", deadline=False)
        assert sent == 20 and 2 <= got <= 18, out  # ~49% of round trips survive two 30% losses
        st = b.stats()
        assert st["wire"]["impair"]["lost"] > 0
        assert b.stop(5) < 5.0
        b = None
        link, recs = read_pcap(open(pcap, "rb").read())
        assert link == 1
        icmp_types = [r[2][34] for r in recs if len(r[2]) > 34 and r[2][12:14] == b"\x08\x00" and r[2][23] == 1]
        # the pcap records what was delivered: requests that got through and the replies to them
        assert icmp_types.count(0) == got, (icmp_types, got)
        assert icmp_types.count(8) >= got
    finally:
        if b is not None:
            b.stop(5)
        ns.close()


_UDP_ECHO = r"""
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
for i, n in enumerate((1, 100, 1000)):
    data = bytes((i * 7 + j) & 0xFF for j in range(n))
    t = time.monotonic()
    s.sendto(data, (sys.argv[1], 7))
    got, src = s.recvfrom(2048)
    assert got == data and src == (sys.argv[1], 7), (n, len(got), src)
    print("udp echo %d B %.1f ms" % (n, 1000 * (time.monotonic() - t)))
"""


def test_reference_firmware_with_main_file(capsys):
    """--firmware FILE --main FILE: MicroPython's own W5500_EVB_PICO firmware (network.WIZNET5K + lwIP)
    booting tools/rp2040/ref_main.py as /main.py on the emulated Pico, relayed to the TAP: Linux pings
    it and gets UDP echo from port 7; the counters are the board's and the chip model's."""
    _needs("w5500", "rp2040")
    sys.path.insert(0, os.path.join(ROOT, "tools", "rp2040"))
    import run as rp

    why = rp.missing(rp.UF2_W5500)
    if why:
        pytest.skip("reference firmware: " + why)
    ns = Netns("bsdnet-e2e-%d-ref" % os.getpid())
    b = None
    try:
        b = NetnsBoard(ns, "w5500", "rp2040", ip=BOARD_IP + "/24", host_ip=HOST_IP + "/24", tap=TAP,
                       extra=["--firmware", rp.UF2_W5500, "--main", os.path.join("tools", "rp2040", "ref_main.py"),
                              "--main-ready", "ref up"])
        r = b.wait_ready(60)
        assert r["firmware"] == os.path.basename(rp.UF2_W5500) and r["main"] == "ref_main.py", r
        sent, got, rtt, out = _ping(b, count=5, interval="0.2")
        assert sent == 5 and got == 5, out
        p = ns.run([sys.executable, "-c", _UDP_ECHO, BOARD_IP], timeout=30, check=False)
        assert p.returncode == 0, "%s%s\nhost board: %s" % (p.stdout, p.stderr, _tail(b.stderr, board=b))
        st = b.stats()
        assert "icmp" not in st  # not our stack: no stack counters
        assert any("ref up: %s" % BOARD_IP in x for x in st["console_tail"]), st["console_tail"]
        # 5 echo requests + 3 datagrams (+ ARP) reached the chip and as many answers left it
        assert st["chip"]["rx_frames"] >= 8 and st["chip"]["tx_frames"] >= 8, st["chip"]
        # every frame the chip sent crossed to the host side: the board's count is read first and the
        # chip's a moment later, while the firmware runs on (lwIP may send one of its own in between)
        assert 0 <= st["chip"]["tx_frames"] - st["rp2040"]["frames_out"] <= 2, st
        assert st["board"]["mac"] == r["mac"], st["board"]
        key = "w5500/rp2040 lwIP ref"
        RTT[key] = rtt
        with capsys.disabled():
            print("\nping RTT %-22s min/avg/max %.3f/%.3f/%.3f ms (5/5 answered); %s" % (
                (key,) + rtt + ("; ".join(p.stdout.split("\n")).strip("; "),)))
        secs = b.stop(5)
        b = None
        assert secs is not None and secs < 5.0, secs
        assert ns.run(["ip", "link", "show", TAP], check=False).returncode != 0, "TAP left behind"
    finally:
        if b is not None:
            b.stop(5)
        ns.close()


def test_rtt_summary(capsys):
    # printed last, past pytest's capture: ping RTT per chip and runtime
    if not RTT:
        pytest.skip("no ping ran")
    with capsys.disabled():
        print()
        for k in sorted(RTT):
            print("ping RTT %-22s min/avg/max %.3f/%.3f/%.3f ms" % ((k,) + RTT[k]))
