"""The board files (hardware only, clocks within the chips' limits, an mpy-cross architecture each),
the board's config.py as firmware/main.py reads it (static, dhcp, the older board.py layout), and the
boot line, on an emulated chip."""
import glob
import os
import re
import sys
import types

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (ROOT, os.path.join(ROOT, "firmware")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from bsdnet import boardcfg  # noqa: E402

BOARDS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(ROOT, "boards", "*.py")))
# the MCU family by file name prefix, and the architecture mpy-cross builds for it
ARCH_OF = {"pico2_": "armv7emsp", "pico_": "armv6m", "esp32_": "xtensawin"}
# SPI clock limits: ENC28J60.md §1 (20 MHz) and errata 1 (8 MHz minimum on B1/B4); W5500.md §13
# (80 MHz marketing, about 33 MHz guaranteed)
CLOCK = {"enc28j60": (8_000_000, 20_000_000), "w5500": (1, 33_000_000)}


@pytest.mark.parametrize("name", BOARDS)
def test_board_file_is_hardware_only(name):
    hw = boardcfg.board(name)
    assert hw.CHIP in CLOCK, hw.CHIP
    arch = next(a for p, a in ARCH_OF.items() if name.startswith(p))
    assert hw.ARCH == arch
    lo, hi = CLOCK[hw.CHIP]
    assert lo <= hw.BAUDRATE <= hi, (hw.CHIP, hw.BAUDRATE)
    for k in ("SPI_ID", "SCK", "MOSI", "MISO", "CS"):
        assert isinstance(getattr(hw, k), int), k
    for k in ("RST", "INT"):
        assert getattr(hw, k) is None or isinstance(getattr(hw, k), int), k
    pins = [hw.SCK, hw.MOSI, hw.MISO, hw.CS] + [p for p in (hw.RST, hw.INT) if p is not None]
    assert len(set(pins)) == len(pins), "a GPIO used twice: %r" % pins
    for k in ("IP", "NETMASK", "GATEWAY", "DNS", "MAC", "MCAST_GROUPS"):
        assert not hasattr(hw, k), "%s belongs in config.py, not the board file" % k


def test_readme_has_a_wiring_table_per_board():
    text = open(os.path.join(ROOT, "README.md")).read()
    for name in BOARDS + ["esp32_w5500", "esp32_enc28j60"]:
        assert re.search(r"^#### .*`%s`" % name, text, re.M), "README: no wiring section for %s" % name


def _cfg(**kw):
    m = types.ModuleType("config")
    m.__dict__.update(kw)
    return m


def test_address_forms():
    assert boardcfg.address(_cfg(IP="dhcp")) == ("dhcp", None, None)
    assert boardcfg.address(_cfg(IP="192.168.1.50/24")) == ("static", "192.168.1.50", "255.255.255.0")
    assert boardcfg.address(_cfg(IP="10.0.0.9/20")) == ("static", "10.0.0.9", "255.255.240.0")
    assert boardcfg.address(_cfg(IP="10.0.0.9/32")) == ("static", "10.0.0.9", "255.255.255.255")
    # the older board.py: IP and NETMASK apart
    assert boardcfg.address(_cfg(IP="10.7.0.2", NETMASK="255.255.255.0")) == ("static", "10.7.0.2", "255.255.255.0")
    for bad in ("10.0.0.9", "10.0.0.9/33", "10.0.0.9/0", "10.0.0.9/x", "10.0.0/24", None, "DHCP"):
        with pytest.raises(ValueError) as e:
            boardcfg.address(_cfg(IP=bad))
        assert "IP" in str(e.value) or "dotted-quad" in str(e.value), str(e.value)
    assert [boardcfg.mask_len(bytes(int(x) for x in boardcfg.prefix_mask(n).split("."))) for n in range(33)] \
        == list(range(33))


def test_board_name_errors_say_what_to_do():
    with pytest.raises(ValueError, match="BOARD"):
        boardcfg.board("../evil")
    with pytest.raises(ImportError, match="/lib/boards/nosuch.py"):
        boardcfg.board("nosuch")


@pytest.fixture
def board_files(monkeypatch):
    """config / board modules as the board would have them, and interface() on an emulated W5500
    (no machine module here); gives the chip model."""
    from emu import w5500 as emu
    from bsdnet.netif import Interface

    made = {}

    def interface(hw, mac=None):
        chip, spi, cs, rst, intn = emu.make()
        made["chip"] = chip
        made["hw"] = hw
        return Interface.w5500(spi, cs, rst=rst, intr=intn, mac=mac or b"\x02\x00\x0a\x07\x00\x02")

    import importlib

    # setup() unloads boardcfg when it is done: patch the module it will import now
    monkeypatch.setattr(importlib.import_module("bsdnet.boardcfg"), "interface", interface)
    monkeypatch.delitem(sys.modules, "config", raising=False)
    monkeypatch.delitem(sys.modules, "board", raising=False)
    yield made
    import services

    services.close_udp()


def _setup(capsys):
    import main

    nic = main.setup()
    assert "bsdnet.boardcfg" not in sys.modules  # boot-only code unloaded
    lines = [x for x in capsys.readouterr().out.splitlines() if x.startswith("bsdnet ")]
    return nic, lines


def test_setup_from_config_prints_the_boot_line(board_files, monkeypatch, capsys):
    from bsdnet import __version__

    monkeypatch.setitem(sys.modules, "config", _cfg(BOARD="pico_w5500", IP="10.7.0.2/24", GATEWAY="10.7.0.1",
                                                    DNS="0.0.0.0", HOSTNAME="b1", MAC=None, MCAST_GROUPS=()))
    nic, lines = _setup(capsys)
    assert board_files["hw"].CHIP == "w5500" and board_files["hw"].ARCH == "armv6m"
    assert nic.ifconfig() == ("10.7.0.2", "255.255.255.0", "10.7.0.1", "0.0.0.0")
    assert lines == ["bsdnet %s on pico_w5500 (W5500): 10.7.0.2/24 static, link up 100M full, mac "
                     "02:00:0a:07:00:02" % __version__], lines
    nic.active(False)


def test_setup_falls_back_to_the_older_board_py(board_files, monkeypatch, capsys):
    old = _cfg(CHIP="w5500", IP="10.7.0.3", NETMASK="255.255.0.0", GATEWAY="10.7.0.1", DNS="0.0.0.0", MAC=None)
    monkeypatch.setitem(sys.modules, "board", old)
    nic, lines = _setup(capsys)
    assert board_files["hw"] is old
    assert len(lines) == 1 and " on board.py (W5500): 10.7.0.3/16 static, link up" in lines[0], lines
    nic.active(False)


def test_setup_with_dhcp_makes_the_client_with_the_hostname(board_files, monkeypatch, capsys):
    import main

    monkeypatch.setattr(main, "dhcp", None)
    monkeypatch.setitem(sys.modules, "config", _cfg(BOARD="pico2_w5500", IP="dhcp", GATEWAY="0.0.0.0",
                                                    DNS="0.0.0.0", HOSTNAME="b2", MCAST_GROUPS=("239.1.2.3",)))
    nic, lines = _setup(capsys)
    c = main.dhcp
    assert c is not None and nic.dhcp is c and c.hostname == b"b2"
    assert c not in nic._timers and c.task is None  # serve() runs it as a task (boardcfg.up(): a timer)
    assert not main._lookup  # no LOOKUP: off
    assert nic.ifconfig()[0] == "0.0.0.0"  # no lease yet: serve() takes it
    assert len(lines) == 1 and " on pico2_w5500 (W5500): 0.0.0.0/0 dhcp, link up 100M full" in lines[0], lines
    c.stop(release=False)
    nic.active(False)
