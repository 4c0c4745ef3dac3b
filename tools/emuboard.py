# What a --main FILE finds on the host board (tools/hostboard.py, cpython and micropython runtimes):
# this module is its `config` (BOARD = "emu", IP ("dhcp" or an address with NETMASK), GATEWAY, DNS,
# HOSTNAME, MAC, from the host board's command line) and its hardware module `boards.emu`, whose
# interface(mac) builds the driver on the emulated chip: bsdnet.boardcfg.up() brings it up as on a
# board deployed with `make deploy`. The older one-file layout's `import board` finds it too.
# Frames cross between the chip and the host in relay(chip), which the runtime supplies and which
# runs before every poll of the interface: FILE may block in a socket call (driving the interface
# itself) or run nic.run() under asyncio, and frames flow either way. No interrupt pin is wired:
# the interface polls (an edge would come from another thread on CPython).
# Portable Python: CPython and the MicroPython VM.
import sys

BOARD = "emu"
CHIP = "w5500"
IP = "10.7.0.2"
NETMASK = "255.255.255.0"
GATEWAY = "0.0.0.0"
DNS = "0.0.0.0"
MAC = None
HOSTNAME = "bsdnet"
chip = None  # the emulated chip, once interface() made it
nic = None
_relay = [None, None]  # relay(chip), transmit(frame)


def configure(chip_name, ip, mask, gateway, mac, relay, transmit, hostname=None):
    """The command line's settings (ip: a dotted quad with mask, or "dhcp"); this module becomes
    the modules `config`, `boards.emu` and `board`."""
    global CHIP, IP, NETMASK, GATEWAY, MAC, HOSTNAME
    CHIP, IP, NETMASK, GATEWAY, MAC = chip_name, ip, mask, gateway or "0.0.0.0", mac
    HOSTNAME = hostname or "bsdnet"
    _relay[0] = relay
    _relay[1] = transmit
    me = sys.modules[__name__]
    for name in ("config", "boards.emu", "board"):
        sys.modules[name] = me
    if "boards" not in sys.modules:
        sys.modules["boards"] = me  # MicroPython imports boards.emu by way of `boards`


def interface(mac=None):
    global chip, nic
    from bsdnet.netif import Interface

    emu = __import__("emu." + CHIP, None, None, ["make"])
    mac = mac or MAC
    chip, spi, cs, rst, _intn = emu.make(mac=mac)
    chip.set_link(True)
    chip.on_transmit = _relay[1]
    nic = getattr(Interface, CHIP)(spi, cs, rst=rst, intr=None, mac=mac)
    poll = nic.poll
    relay = _relay[0]
    c = chip

    def relayed_poll(now=None):
        relay(c)
        return poll(now)

    nic.poll = relayed_poll  # the instance's own: socket waits and nic.run() call it
    return nic


def stats():
    if nic is None:
        return {}
    d = dict(nic.stats())
    c = getattr(chip, "counters", None)
    if c is not None:
        d["chip"] = c()
    return d
