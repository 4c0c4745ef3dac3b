# The `board` module that a --main FILE imports on the host board (tools/hostboard.py, cpython and
# micropython runtimes): the settings of boards/<name>.py (CHIP, IP, NETMASK, GATEWAY, DNS, MAC, from
# the host board's command line) and interface(), which builds the driver on the emulated chip.
# Frames cross between the chip and the host in relay(chip), which the runtime supplies and which
# runs before every poll of the interface: FILE may block in a socket call (driving the interface
# itself) or run nic.run() under asyncio, and frames flow either way. No interrupt pin is wired:
# the interface polls (an edge would come from another thread on CPython).
# Portable Python: CPython and the MicroPython VM.
CHIP = "w5500"
IP = "10.7.0.2"
NETMASK = "255.255.255.0"
GATEWAY = "0.0.0.0"
DNS = "0.0.0.0"
MAC = None
chip = None  # the emulated chip, once interface() made it
nic = None
_relay = [None, None]  # relay(chip), transmit(frame)


def configure(chip_name, ip, mask, gateway, mac, relay, transmit):
    global CHIP, IP, NETMASK, GATEWAY, MAC
    CHIP, IP, NETMASK, GATEWAY, MAC = chip_name, ip, mask, gateway or "0.0.0.0", mac
    _relay[0] = relay
    _relay[1] = transmit


def interface():
    global chip, nic
    from bsdnet.netif import Interface

    emu = __import__("emu." + CHIP, None, None, ["make"])
    chip, spi, cs, rst, _intn = emu.make(mac=MAC)
    chip.set_link(True)
    chip.on_transmit = _relay[1]
    nic = getattr(Interface, CHIP)(spi, cs, rst=rst, intr=None, mac=MAC)
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
