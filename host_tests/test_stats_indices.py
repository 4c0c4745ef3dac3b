"""The counter indices are private consts in each module that counts (`_IPS_TOTAL = const(0)`: on
MicroPython a private const is folded into the code and costs no RAM, a public one is a global in
every module that names it). This test is the single source of truth's guard: every such const, in
every device module, must be the index of its name in bsdnet.stats (CPython keeps private consts
as module attributes, so they can be read here)."""
import glob
import importlib
import os
import re

from bsdnet import stats

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_KEY = {"IPS": ("ip", "ips_"), "ICPS": ("icmp", "icps_"), "UDPS": ("udp", "udps_"), "RIPS": ("raw", "rips_"),
        "ARPS": ("arp", ""), "ETHS": ("ether", ""), "IFS": ("if", ""), "MBS": ("mbuf", ""), "TCPS": ("tcp", ""),
        "IGPS": ("igmp", "igps_"), "DHCPS": ("dhcp", ""), "DNSS": ("dns", "")}
_PAT = re.compile(r"^_(%s)_([A-Z0-9_]+)$" % "|".join(_KEY))


def test_every_private_counter_index_matches_its_name():
    checked = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "lib", "bsdnet", "*.py"))):
        name = "bsdnet." + os.path.basename(path)[:-3]
        if name.endswith("_viper"):
            continue
        mod = importlib.import_module(name)
        for attr, v in vars(mod).items():
            m = _PAT.match(attr)
            if not m or not isinstance(v, int):
                continue
            key, prefix = _KEY[m.group(1)]
            if m.group(2) == "N" or m.group(2) == "NSTATS":
                n = len(stats._table(key)[0] or [0] * stats._IFS_N)
                assert v == n, "%s.%s = %d, the table has %d counters" % (name, attr, v, n)
            else:
                want = stats.stat_index(key, prefix + m.group(2).lower())
                assert v == want, "%s.%s = %d, but bsdnet.stats has it at %d" % (name, attr, v, want)
            checked += 1
    assert checked > 300, checked
