# A board's two files: boards/<name>.py, the hardware (chip, SPI bus, pins, clock, mpy-cross
# architecture), on the board as /lib/boards/<name>.py, imported as `boards.<name>` (MicroPython and
# CPython import a directory without __init__.py as a namespace package); and /config.py, what is
# the network's: BOARD = "<name>", IP = "dhcp" or "A.B.C.D/N", GATEWAY, DNS, HOSTNAME, optional MAC
# and MCAST_GROUPS. Without config.py the older layout still works: the board file copied as
# /board.py with IP, NETMASK, GATEWAY, DNS, MAC and MCAST_GROUPS in it. Boot only: nothing here
# runs per packet.
#
#     from bsdnet import boardcfg
#     nic = boardcfg.up()            # built from /config.py, active, addressed (DHCP: bound)
#     nic = await boardcfg.aup()     # the same from a coroutine
# With IP = "dhcp" the client (nic.dhcp) is one of the interface's timers: whatever drives the
# interface (nic.run() under asyncio, or the polls of blocking socket calls) renews the lease; a
# blocking application that sleeps for longer than the lease without a socket call loses it.
from .inet import inet_aton


def spi(hw):
    import machine

    return machine.SPI(hw.SPI_ID, baudrate=hw.BAUDRATE, polarity=0, phase=0,
                       sck=machine.Pin(hw.SCK), mosi=machine.Pin(hw.MOSI), miso=machine.Pin(hw.MISO))


def pins(hw):
    """(cs, rst, int): CS and reset driven high (idle, out of reset), the interrupt an input with pull-up."""
    import machine

    cs = machine.Pin(hw.CS, machine.Pin.OUT, value=1)
    rst = machine.Pin(hw.RST, machine.Pin.OUT, value=1) if hw.RST is not None else None
    intn = machine.Pin(hw.INT, machine.Pin.IN, machine.Pin.PULL_UP) if hw.INT is not None else None
    return cs, rst, intn


def build(hw):
    """(spi, cs, rst, int): what a driver takes, e.g. W5500(*boardcfg.build(board))."""
    cs, rst, intn = pins(hw)
    return spi(hw), cs, rst, intn


def interface(hw, mac=None):
    """The Interface over the board's chip (mac: None for the driver's default, from the MCU's id)."""
    from .netif import Interface

    s, cs, rst, intn = build(hw)
    if hw.CHIP == "w5500":
        return Interface.w5500(s, cs, rst, intn, mac=mac)
    if hw.CHIP == "enc28j60":
        return Interface.enc28j60(s, cs, rst, intn, mac=mac)
    raise ValueError("board CHIP %r: give 'w5500' or 'enc28j60'" % (hw.CHIP,))


def nic(hw, cfg):
    """The Interface of hardware module hw with cfg's MAC: hw's own interface(mac) when it has one
    (an emulated board), else the chip on hw's SPI bus and pins."""
    mac = getattr(cfg, "MAC", None)
    mk = getattr(hw, "interface", None)
    return mk(mac) if mk is not None else interface(hw, mac)


def configure(dhcp_task=False):
    """(nic, how, name, hw, cfg): the interface from config.py (or board.py), active, with its
    static address; with IP "dhcp" nic.dhcp is the client (bsdnet.dhcp), not bound yet: one of the
    interface's timers, or with dhcp_task for an asyncio task that the caller starts."""
    hw, name, cfg = load()
    how, ip, mask = address(cfg)
    n = nic(hw, cfg)
    n.active(True)
    n.dhcp = None
    if how == "dhcp":
        from .dhcp import DhcpClient

        n.dhcp = DhcpClient(n, hostname=getattr(cfg, "HOSTNAME", None))
        if not dhcp_task:
            n.dhcp.attach()
    else:
        n.ifconfig((ip, mask, getattr(cfg, "GATEWAY", "0.0.0.0"), getattr(cfg, "DNS", "0.0.0.0")))
    return n, how, name, hw, cfg


def _late(n, t0, timeout_s):
    from .compat import ticks_ms, ticks_diff

    if ticks_diff(ticks_ms(), t0) >= timeout_s * 1000:
        from .errno import ETIMEDOUT

        n.dhcp.stop(release=False)  # down again: a second up() starts afresh
        n.dhcp = None
        n.active(False)
        raise OSError(ETIMEDOUT, "no DHCP lease from any server for mac %s in %d s (IP = 'dhcp' in config.py)"
                      % (":".join("%02x" % b for b in n.config("mac")), timeout_s))


def up(timeout_s=30):
    """The interface from config.py, up with its address: a static one at once, a DHCP lease
    within timeout_s (OSError ETIMEDOUT), the interfaces driven meanwhile as blocking socket calls
    do. The client then renews as nic.dhcp, driven by whatever drives the interface."""
    from .compat import ticks_ms, sleep_ms
    from .socket import drive

    n = configure()[0]
    t0 = ticks_ms()
    while n.dhcp is not None and not n.dhcp.configured:
        _late(n, t0, timeout_s)
        if not drive(ticks_ms()):
            sleep_ms(1)
    return n


async def aup(timeout_s=30):
    """up() from a coroutine: the other tasks run while it waits for a lease."""
    from .compat import ticks_ms, aio_sleep_ms
    from .socket import drive

    n = configure()[0]
    t0 = ticks_ms()
    while n.dhcp is not None and not n.dhcp.configured:
        _late(n, t0, timeout_s)
        drive(ticks_ms())
        await aio_sleep_ms(5)
    return n


def board(name):
    """The hardware module boards/<name>.py."""
    if not isinstance(name, str) or not name or "." in name or "/" in name:
        raise ValueError("config.py BOARD %r: give the name of a file in boards/, e.g. 'pico_w5500'" % (name,))
    try:
        return __import__("boards." + name, None, None, ("CHIP",))
    except ImportError as e:
        raise ImportError("config.py BOARD %r: boards/%s.py not found (on the board: /lib/boards/%s.py): %s"
                          % (name, name, name, e))


def load():
    """(hardware module, board name, config module) from /config.py, or from the older /board.py
    (name 'board.py', the same module both times) when there is no config.py."""
    try:
        import config  # type: ignore[import-not-found]  # the board's /config.py
    except ImportError as e:
        if "config" not in str(e):
            raise  # config.py is there but imports something missing
        try:
            import board as old  # type: ignore[import-not-found]
        except ImportError:
            raise ImportError("no /config.py (BOARD, IP, ...) and no /board.py: see README, Boards")
        return old, "board.py", old
    return board(getattr(config, "BOARD", None)), config.BOARD, config


def address(cfg):
    """('dhcp', None, None) or ('static', ip, netmask) from a config module (IP = 'dhcp' or
    'A.B.C.D/N'), or from an older board.py (IP and NETMASK)."""
    ip = getattr(cfg, "IP", None)
    if ip == "dhcp":
        return "dhcp", None, None
    if isinstance(ip, str) and "/" not in ip and hasattr(cfg, "NETMASK"):
        inet_aton(ip)
        inet_aton(cfg.NETMASK)
        return "static", ip, cfg.NETMASK
    bad = ValueError("config.py IP %r: give 'dhcp' or 'A.B.C.D/N', e.g. '192.168.1.50/24'" % (ip,))
    if not isinstance(ip, str) or ip.count("/") != 1:
        raise bad
    a, n = ip.split("/")
    if not n.isdigit() or not 1 <= int(n) <= 32:
        raise bad
    inet_aton(a)
    return "static", a, prefix_mask(int(n))


def prefix_mask(n):
    """'255.255.255.0' for 24: octet by octet (a 32-bit mask as one int is a long int on a 32-bit port)."""
    return ".".join(str((0xFF00 >> min(8, max(0, n - 8 * i))) & 0xFF) for i in range(4))


def mask_len(mask):
    """24 for the 4 mask bytes ff ff ff 00."""
    n = 0
    for i in range(4):
        b = mask[i]
        while b & 0x80:
            n += 1
            b = (b << 1) & 0xFF
    return n
