"""A hostile LAN against the host board, per chip and runtime: while Linux pings the board every
100 ms and echoes UDP off it, a flood of frames runs through the TAP (AF_PACKET from the namespace):
200 spoofed unresolvable sources on the board's subnet (each answer needs an ARP resolution that
never completes), martian sources, UDP to port 0, first fragments that never complete, and the
project's fuzz mutations of frames of every protocol (host_tests/portable/fuzzframes.py).

Phase 1, at a rate the board drains (DRAIN_FPS per runtime, measured: see the closing note of issue
#10): not one ping or echo lost after the first second, the pool never below its reserve, no frame
left in the chip for want of a cluster, the pool full once ARP has given up on the spoofed hosts.
Phase 2, at twice that rate: what the chip's buffer cannot hold is lost (physics: counted by the
chip model), and the board answers again within a second of the flood's end.
Every frame is accounted for: offered to the chip = dropped by the chip (counted) + read by the
driver; read by the driver = handed to the stack. Prints the figures. Needs root.
"""
import os
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

from e2e import board_id, board_params, netns_board, run_json, board_tail, pico_full_only  # noqa: E402
from tap import netns_missing  # noqa: E402

_MISSING = netns_missing()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")

# frames per second each runtime's board reads with room to spare, and how long phase 1 lasts (the
# issue: 20 s, 5 s on the emulated boards). Measured with this flood (3 s, pings every 100 ms, both
# chips): cpython and the VM lost nothing up to the fastest the script sends (7900/s and 1600/s);
# the emulated Pico answered every ping at 80/s (RTT median 17-20 ms) and at 160/s (63-132 ms, the
# ENC28J60's buffer overflowing: 8 frames in 3 s). A quarter to a third of that leaves a loaded CI
# machine its margin; phase 2 doubles it.
DRAIN_FPS = {"cpython": 2000, "micropython": 600, "rp2040": 60}
PHASE1_S = {"cpython": 20, "micropython": 5, "rp2040": 5}
PHASE2_S = 4


@pytest.fixture(scope="module", params=board_params(), ids=board_id)
def board(request):
    chip, runtime = request.param
    pico_full_only(runtime, chip)  # every test here is a flood of a minute or so
    with netns_board("hostile", chip, runtime) as b:
        b.runtime = runtime
        b.chip = chip
        yield b


# The Linux side: ping (raw ICMP) and UDP echo every 100 ms while a thread floods the TAP.
# argv: board_mac flood_fps flood_s seed. Prints one JSON line.
SCRIPT = r"""
import json, os, socket, struct, sys, threading, time
ROOT = sys.argv[5]
sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "host_tests", "portable")]
import fuzzframes as ff

BOARD = "10.7.0.2"
board_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
fps = float(sys.argv[2]); flood_s = float(sys.argv[3]); seed = int(sys.argv[4])

def cksum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

# the attack frames, made before the clock starts
rng = ff.Rng(seed)
HOSTILE_MAC = b"\x02\x66\x00\x00\x00\x09"
seeds = ff.seeds(HOSTILE_MAC, board_mac, "10.7.0.9", BOARD, "10.7.0.255")
frames = []
while len(frames) < 4000:
    k = rng.next(3)
    f = ff.spoofed(rng, "10.7.0.", BOARD, board_mac) if k == 0 else ff.mutate(rng, seeds[rng.next(len(seeds))])
    # no ARP packet may speak for Linux's own address: that is ARP spoofing of a third host, which
    # plain ARP cannot tell from the truth (the board would answer to the wrong MAC)
    if len(f) >= 42 and f[12:14] == b"\x08\x06" and f[28:32] == bytes([10, 7, 0, 1]):
        continue
    frames.append(f)

pk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
pk.bind(("bsd0", 0))
sent = [0]
stop = threading.Event()

def flood():
    t0 = time.monotonic()
    i = 0
    while not stop.is_set():
        due = t0 + i / fps
        now = time.monotonic()
        if now - t0 >= flood_s:
            break
        if due > now:
            time.sleep(min(due - now, 0.01))
            continue
        try:
            pk.send(frames[i % len(frames)])
            sent[0] += 1
        except OSError:
            pass
        i += 1

icmp = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
icmp.setblocking(False)
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.connect((BOARD, 7))
udp.setblocking(False)

def ping_req(seq):
    h = struct.pack("!BBHHH", 8, 0, 0, 0x7777, seq) + b"hostile-lan-%05d" % seq
    return h[:2] + struct.pack("!H", cksum(h)) + h[4:]

def drain(got_p, got_u, now):
    while True:
        try:
            d = icmp.recv(2000)
        except BlockingIOError:
            break
        hl = (d[0] & 15) * 4
        if len(d) >= hl + 8 and d[hl] == 0 and struct.unpack("!H", d[hl + 4:hl + 6])[0] == 0x7777:
            got_p.setdefault(struct.unpack("!H", d[hl + 6:hl + 8])[0], now)
    while True:
        try:
            d = udp.recv(2000)
        except (BlockingIOError, ConnectionRefusedError):
            break
        if d.startswith(b"echo-"):
            got_u.setdefault(int(d[5:]), now)

# warm up: both ARP caches, the board answering
got_p, got_u = {}, {}
for k in range(50):
    icmp.sendto(ping_req(60000 + k), (BOARD, 0))
    time.sleep(0.1)
    drain(got_p, got_u, time.monotonic())
    if got_p:
        break
warm = bool(got_p)
got_p, got_u = {}, {}
th = threading.Thread(target=flood)
t0 = time.monotonic()
th.start()
sent_at = {}
seq = 0
tail_s = 2.0  # after the flood: pings go on, the board must answer again
while time.monotonic() - t0 < flood_s + tail_s:
    now = time.monotonic()
    sent_at[seq] = now
    icmp.sendto(ping_req(seq), (BOARD, 0))
    udp.send(b"echo-%d" % seq)
    seq += 1
    end = now + 0.1
    while time.monotonic() < end:
        drain(got_p, got_u, time.monotonic())
        time.sleep(0.005)
stop.set()
th.join()
t_end = time.monotonic()
while time.monotonic() - t_end < 1.0:
    drain(got_p, got_u, time.monotonic())
    time.sleep(0.01)
flood_end = t0 + flood_s
def lost(got):
    # requests sent from the first second of the flood until its end, unanswered
    return [s for s, t in sent_at.items() if t0 + 1.0 <= t < flood_end - 0.3 and s not in got]
def first_after(got):
    # the first reply to a request sent after the flood ended: how long after the end it came
    ts = [got[s] for s, t in sent_at.items() if t >= flood_end and s in got]
    return (min(ts) - flood_end) if ts else None
rtts = sorted(got_p[s] - sent_at[s] for s in got_p if s in sent_at)
print(json.dumps({"warm": warm, "flood_sent": sent[0], "flood_fps": sent[0] / flood_s, "pings": seq,
                  "ping_lost": lost(got_p), "echo_lost": lost(got_u),
                  "ping_back_after_s": first_after(got_p), "echo_back_after_s": first_after(got_u),
                  "rtt_median_ms": rtts[len(rtts) // 2] * 1000 if rtts else None,
                  "rtt_max_ms": rtts[-1] * 1000 if rtts else None}))
"""


def _drops(chip):
    return sum(v for k, v in chip.items() if k.startswith("drop_"))


def _flood(b, fps, secs, seed):
    mac = b.ready["mac"]
    return run_json(b, [sys.executable, "-c", SCRIPT, mac, str(fps), str(secs), str(seed), ROOT],
                    timeout=secs + 60)


# The first fragments that never complete wait in reassembly for opts.IP_REASS_TTL_MS (30 s), held
# under its quota (opts.IP_REASS_MBUFS = 4 clusters): "full" counts those as back in the pool.
_REASS_QUOTA = 4


def _full(mb):
    return mb["free"] + mb["held_reass"] == mb["size"] and mb["held_reass"] <= _REASS_QUOTA


def _settled(b):
    """The board's stats once ARP has given up on the spoofed hosts (ARP_MAXTRIES requests a second
    apart) and the pool is full again (but for reassembly's held fragments). Few stats calls: on the
    emulated Pico each one ends and restarts the serving loop."""
    time.sleep(6)
    for _ in range(3):
        st = b.stats()
        if _full(st["mbuf"]):
            break
        time.sleep(2)
    return st


def test_hostile_lan_at_drainable_rate(board):
    b = board
    st0 = b.stats()
    fps = DRAIN_FPS[b.runtime]
    r = _flood(b, fps, PHASE1_S[b.runtime], 1)
    st = _settled(b)
    chip, dev, ifs, mb = st["chip"], st["dev"], st["if"], st["mbuf"]
    wp, wp0 = st["wire"]["ports"]["board"], st0["wire"]["ports"]["board"]
    offered = wp["rx"] + wp["refused"] - wp0["rx"] - wp0["refused"]
    chip_drops = _drops(chip) - _drops(st0["chip"])
    read = dev["rx_frames"] - st0["dev"]["rx_frames"]
    print("\n%s/%s phase 1: flood %d frames at %.0f/s for %d s; %d pings, rtt median %.1f ms max %.1f ms; "
          "chip dropped %d of %d offered; pool min_free %d; held arp/reass/sock %d/%d/%d; quota drops %d; "
          "arp holddrops %d, ip badaddr %d, udp port0 %d, fragdropped %d" % (
              b.chip, b.runtime, r["flood_sent"], r["flood_fps"], PHASE1_S[b.runtime], r["pings"],
              r["rtt_median_ms"] or -1, r["rtt_max_ms"] or -1, chip_drops, offered, mb["min_free"],
              mb["held_arp"], mb["held_reass"], mb["held_sock"], mb["quotadrops"], st["arp"]["holddrops"],
              st["ip"]["ips_badaddr"], st["udp"]["udps_port0"], st["ip"]["ips_fragdropped"]))
    assert r["warm"], board_tail(b)
    assert r["flood_fps"] >= 0.8 * fps, r
    assert r["ping_lost"] == [] and r["echo_lost"] == [], (r, board_tail(b))
    assert ifs["iqdrops"] == st0["if"]["iqdrops"], "frames left in the chip for want of a cluster"
    assert mb["min_free"] >= 1  # the holders' quotas kept their hands off the reserve
    assert _full(mb), "pool not full after the flood: %r" % mb
    # every frame accounted for: offered to the chip (the wire's count) = dropped by the chip (its
    # filter, a full buffer: counted) + stored; stored = read by the driver + dropped by the driver
    # (counted: W5500 in MACRAW passes unicast for others); read = handed to the stack
    stored = chip["frames_in"] - st0["chip"]["frames_in"]
    drv_drops = dev.get("rx_dropped", 0) - st0["dev"].get("rx_dropped", 0)
    # (the VM and the Pico read the chip model's counters and the board's in two steps: a frame
    # from Linux, IPv6 router solicitation say, may fall between them)
    slack = 0 if b.runtime == "cpython" else 2
    assert abs(offered - chip_drops - stored) <= slack, (offered, chip_drops, stored, chip)
    assert abs(stored - read - drv_drops) <= slack, (read, stored, dev)
    assert read == ifs["ipackets"] - st0["if"]["ipackets"], (read, ifs, dev)
    assert st["ip"]["ips_badaddr"] > st0["ip"]["ips_badaddr"] and st["udp"]["udps_port0"] > st0["udp"]["udps_port0"]


def test_hostile_lan_at_twice_the_rate_recovers_within_a_second(board):
    b = board
    fps = 2 * DRAIN_FPS[b.runtime]
    st0 = b.stats()
    r = _flood(b, fps, PHASE2_S, 2)
    st = _settled(b)
    chip = st["chip"]
    print("\n%s/%s phase 2: flood %d frames at %.0f/s; chip dropped %d (physics); answered again %.2f s "
          "after the flood (echo %.2f s); %d pings lost during it" % (
              b.chip, b.runtime, r["flood_sent"], r["flood_fps"], _drops(chip) - _drops(st0["chip"]),
              r["ping_back_after_s"] if r["ping_back_after_s"] is not None else -1,
              r["echo_back_after_s"] if r["echo_back_after_s"] is not None else -1, len(r["ping_lost"])))
    assert r["ping_back_after_s"] is not None and r["ping_back_after_s"] <= 1.0, (r, board_tail(b))
    assert r["echo_back_after_s"] is not None and r["echo_back_after_s"] <= 1.0, (r, board_tail(b))
    assert _full(st["mbuf"]), st["mbuf"]
    assert st["if"]["iqdrops"] == st0["if"]["iqdrops"]
