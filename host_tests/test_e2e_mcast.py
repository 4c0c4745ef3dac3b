"""End to end multicast: the host board (firmware/main.py with --group: its UDP echo service joins the
group, the board setting MCAST_GROUPS) against the Linux kernel over a TAP, in a network namespace this
test makes, for each chip and the cpython and micropython runtimes (the VM is skipped without node).

Linux watches every IGMP frame in the namespace with an AF_PACKET socket (started before the board,
so the join's report is seen), then:
  - sees the board's unsolicited membership report for the group (IGMPv2, TTL 1, Router Alert, to the
    group's MAC), sent when the board started (on the cpython runtime the firmware starts before the
    host board has attached its wire: the first report is lost there, and Linux sees the repeat that
    RFC 2236 3 sends within 10 s for that very case);
  - sends a datagram to GROUP:7 from a plain UDP socket and gets the echo from 10.7.0.2:7;
  - sends to a group the board did not join (239.9.9.9: dropped by the chip's filter or the stack's
    list) and to one that shares the group's MAC (239.129.2.3: dropped by ip_input, ips_notmember):
    no echo for either;
  - sends an IGMP general query (Max Response Time 1 s) and sees the board's report for the group;
  - stops the board and sees its Leave Group to 224.0.0.2.
The board's counters at the end say the same, and its mbuf pool is full. Needs root, /dev/net/tun, ip.
"""
import json
import os
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from e2e import BOARD_IP, HOST_IP, TAP, board_id, board_params, board_tail, run_json  # noqa: E402
from tap import netns_missing  # noqa: E402
from demo import Netns, NetnsBoard, runtime_missing  # noqa: E402

_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

GROUP = "239.1.2.3"
NOT_JOINED = "239.9.9.9"
SAME_MAC = "239.129.2.3"  # 01:00:5e:01:02:03 like GROUP: only 23 bits of a group reach the MAC

# Linux side 1: every IGMP frame seen in the namespace, one JSON line each (bounded in time)
CAPTURE = r"""
import json, socket, sys, time
out = open(sys.argv[1], "w")
end = time.time() + float(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL, every interface
s.settimeout(0.2)
out.write(json.dumps({"ready": True}) + "\n")
out.flush()

def cksum(b):
    if len(b) & 1:
        b += b"\0"
    t = sum((b[i] << 8) | b[i + 1] for i in range(0, len(b), 2))
    while t >> 16:
        t = (t & 0xFFFF) + (t >> 16)
    return t

while time.time() < end:
    try:
        f, meta = s.recvfrom(2048)
    except socket.timeout:
        continue
    if len(f) < 42 or f[12:14] != b"\x08\x00" or f[23] != 2:
        continue
    hl = (f[14] & 15) * 4
    ic = 14 + hl
    tl = (f[16] << 8) | f[17]
    if len(f) < ic + 8:
        continue
    out.write(json.dumps({
        "t": time.time(), "pkttype": meta[2], "dmac": f[0:6].hex(), "src": socket.inet_ntoa(f[26:30]),
        "dst": socket.inet_ntoa(f[30:34]), "ttl": f[22], "ra": hl >= 24 and f[34:38] == b"\x94\x04\x00\x00",
        "ipsum_ok": cksum(bytes(f[14:14 + hl])) == 0xFFFF, "sum_ok": cksum(bytes(f[ic:14 + tl])) == 0xFFFF,
        "type": f[ic], "code": f[ic + 1], "group": socket.inet_ntoa(f[ic + 4:ic + 8])}) + "\n")
    out.flush()
"""

# Linux side 2: the group's echo, the groups not joined, and a general query
CLIENT = r"""
import json, socket, struct, sys, time
G, NOT_JOINED, SAME_MAC, BOARD, HOST = sys.argv[1:6]
out = {}
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(HOST))
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
s.settimeout(2)
echo = None
for i in range(5):  # the first one may wait for the board's ARP (its answer goes unicast to us)
    d = b"to the group %d" % i
    s.sendto(d, (G, 7))
    try:
        while True:
            got, addr = s.recvfrom(2000)
            if got == d:
                echo = [list(addr), i]
                break
    except socket.timeout:
        continue
    break
out["echo"] = echo
s.settimeout(1.5)
for g in (NOT_JOINED, SAME_MAC):
    s.sendto(b"anyone?", (g, 7))
    try:
        got, addr = s.recvfrom(2000)
        out[g] = ["answered", list(addr)]
    except socket.timeout:
        out[g] = "silent"
# an IGMPv2 general query, Max Response Time 1 s (the kernel puts the IP header in front)
q = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_IGMP)
q.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(HOST))
q.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
q.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
m = bytearray(struct.pack("!BBH4s", 0x11, 10, 0, bytes(4)))
t = sum((m[i] << 8) | m[i + 1] for i in range(0, 8, 2))
t = (t & 0xFFFF) + (t >> 16)
struct.pack_into("!H", m, 2, ~t & 0xFFFF)
out["query_at"] = time.time()
q.sendto(bytes(m), ("224.0.0.1", 0))
print(json.dumps(out))
"""


def _records(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.endswith("\n"):
                    out.append(json.loads(line))
    except FileNotFoundError:
        pass
    return out


def _wait_for(path, pred, timeout):
    """The capture's records matching pred, waiting up to timeout s for the first; [] if none."""
    end = time.monotonic() + timeout
    while True:
        got = [r for r in _records(path) if "t" in r and pred(r)]
        if got or time.monotonic() > end:
            return got
        time.sleep(0.05)


def _from_board(r):
    return r["src"] == BOARD_IP and r["pkttype"] != 4  # 4: PACKET_OUTGOING (Linux's own)


def _well_formed(r, dst):
    """RFC 2236 2: TTL 1, Router Alert, good checksums, to the group's MAC."""
    g = [int(x) for x in dst.split(".")]
    mac = "01005e%02x%02x%02x" % (g[1] & 0x7F, g[2], g[3])
    return r["ttl"] == 1 and r["ra"] and r["ipsum_ok"] and r["sum_ok"] and r["dst"] == dst and r["dmac"] == mac


@pytest.mark.parametrize("chip,runtime", board_params(runtimes=("cpython", "micropython")),
                         ids=lambda p: p if isinstance(p, str) else board_id(p))
def test_multicast_group_against_linux(chip, runtime, tmp_path, capsys):
    why = runtime_missing(runtime)
    if why:
        pytest.skip(why)
    ns = Netns("bsdnet-mc-%d-%s-%s" % (os.getpid(), chip[:3], runtime[:2]))
    cap = None
    b = None
    capfile = str(tmp_path / "igmp.jsonl")
    try:
        cap = subprocess.Popen(ns.cmd([sys.executable, "-c", CAPTURE, capfile, "180"]), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
        end = time.monotonic() + 10
        while not _records(capfile) and time.monotonic() < end:
            assert cap.poll() is None, cap.stderr.read()
            time.sleep(0.05)
        assert _records(capfile), "the capture did not start"
        t_start = time.time()
        b = NetnsBoard(ns, chip, runtime, ip=BOARD_IP + "/24", host_ip=HOST_IP + "/24", tap=TAP,
                       extra=["--group", GROUP])
        b.wait_ready(60)

        # 1. the report sent when the echo service joined (and its repeat within 10 s)
        joins = _wait_for(capfile, lambda r: _from_board(r) and r["type"] == 0x16 and r["group"] == GROUP, 15)
        assert joins, "no membership report for %s seen\n%s" % (GROUP, board_tail(b))
        assert all(_well_formed(r, GROUP) for r in joins), joins
        assert joins[0]["t"] >= t_start

        # 2.-4. the group's echo, groups not joined, a general query
        st0 = b.stats()
        r = run_json(b, [sys.executable, "-c", CLIENT, GROUP, NOT_JOINED, SAME_MAC, BOARD_IP, HOST_IP], timeout=90)
        assert r["echo"] is not None and r["echo"][0] == [BOARD_IP, 7], r
        assert r[NOT_JOINED] == "silent" and r[SAME_MAC] == "silent", r
        q = r["query_at"]
        answers = _wait_for(capfile, lambda x: _from_board(x) and x["type"] == 0x16 and x["group"] == GROUP
                            and x["t"] > q, 10)
        assert answers, "no report after the general query\n%s" % board_tail(b)
        delay = answers[0]["t"] - q
        st = b.stats()

        # 5. the board stops: its echo socket closes, the group is left
        t_stop = time.time()
        b.stop(5)
        leaves = _wait_for(capfile, lambda x: _from_board(x) and x["type"] == 0x17 and x["t"] >= t_stop, 10)
        assert leaves, "no Leave Group seen when the board stopped\n%s" % board_tail(b)
        assert leaves[0]["group"] == GROUP and _well_formed(leaves[0], "224.0.0.2"), leaves

        g, g0 = st["igmp"], st0["igmp"]
        assert g["igps_rcv_gen_queries"] - g0["igps_rcv_gen_queries"] >= 1, g
        assert g["igps_snd_reports"] >= 3 and g["igps_rcv_badsum"] == 0, g
        ip, ip0 = st["ip"], st0["ip"]
        assert ip["ips_notmember"] - ip0["ips_notmember"] >= 1, ip  # SAME_MAC: through the link layer
        chip_drops = st.get("chip", {}).get("drop_filter", 0) - st0.get("chip", {}).get("drop_filter", 0)
        mf = st["ether"]["mcastfilter"] - st0["ether"]["mcastfilter"]
        assert chip_drops + mf >= 1, (chip_drops, mf)  # NOT_JOINED: the chip's filter or the stack's list
        fin = b.final_stats or st
        assert fin["mbuf"]["free"] == fin["mbuf"]["size"], fin["mbuf"]
        with capsys.disabled():
            print("\nmulticast %s/%s: join report seen %.2f s after start, group echo on try %d, query answered "
                  "after %.2f s (max 1 s), leave seen; %d IGMP frames from the board"
                  % (chip, runtime, joins[0]["t"] - t_start, r["echo"][1], delay,
                     len([x for x in _records(capfile) if "t" in x and _from_board(x)])))
        assert delay <= (1.5 if runtime == "cpython" else 5.0), delay
    finally:
        if b is not None:
            b.stop(5)
        if cap is not None:
            cap.kill()
            cap.wait(5)
        ns.close()
