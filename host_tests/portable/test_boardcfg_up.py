# boardcfg.up(): the interface from a config (the board's /config.py) and a hardware module with its
# own interface(mac) (an emulated board, as tools/emuboard.py): a static address, a DHCP lease from
# a server that answers on the wire (DISCOVER -> OFFER, REQUEST -> ACK), the client then renewing
# from the interface's polls; and the errors for a missing config, a bad IP, an unknown BOARD.
import sys
from bsdnet import boardcfg, route, stats, dhcp
from bsdnet.compat import ticks_ms, ticks_add
from bsdnet.errno import ETIMEDOUT
from bsdnet.inet import inet_aton
from bsdnet.netif import Interface
from netfix import FakeDev, BOARD_MAC, BCAST, udp_frame
from ptest import raises

SERVER = "10.7.0.1"
LEASED = "10.7.0.60"


class Cfg:
    """A /config.py stand-in (sys.modules takes any object)."""

    def __init__(self, **kw):
        self.BOARD = "fakehw"
        for k in kw:
            setattr(self, k, kw[k])


class ServerDev(FakeDev):
    """The wire with a DHCP server on it: a DISCOVER gets an OFFER, a REQUEST an ACK (lease 120 s,
    T1 60 s), queued for the next poll; serve=False: nobody answers."""

    def __init__(self, serve=True):
        FakeDev.__init__(self)
        self.serve = serve
        self.requests = 0

    def send(self, buf, n):
        f = bytes(buf[0:n])
        self.sent.append(f)
        if self.serve and f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x00\x43":
            m = f[42:]
            t = m[m.index(b"\x35\x01", 240) + 2]  # option 53: the message type
            if t == 3:
                self.requests += 1
            self.rxq.append(_reply(m, 2 if t == 1 else 5))
        return True


def _reply(m, mtype):
    b = bytearray(240)
    b[0] = 2
    b[1] = 1
    b[2] = 6
    b[4:8] = m[4:8]
    b[16:20] = inet_aton(LEASED)
    b[28:34] = BOARD_MAC
    b[236:240] = b"\x63\x82\x53\x63"
    b += bytes((53, 1, mtype)) + b"\x36\x04" + inet_aton(SERVER) + b"\x33\x04\x00\x00\x00\x78"
    b += b"\x3a\x04\x00\x00\x00\x3c\x01\x04" + inet_aton("255.255.255.0") + b"\x03\x04" + inet_aton(SERVER)
    b += b"\x06\x04" + inet_aton(SERVER) + b"\xff"
    return udp_frame(SERVER, "255.255.255.255", 67, 68, bytes(b), dmac=BCAST)


class Hw:
    """boards.fakehw: a hardware module that builds its own interface (no SPI, no pins)."""

    CHIP = "fake"

    def __init__(self, dev):
        self.dev = dev
        self.macs = []

    def interface(self, mac):
        self.macs.append(mac)
        return Interface(self.dev)


_KEYS = ("config", "board", "boards", "boards.fakehw")


def _install(cfg, dev):
    for ifp in list(route.ifnet):
        route.if_detach(ifp)
    saved = {}
    for k in _KEYS:
        if k in sys.modules:
            saved[k] = sys.modules.pop(k)
    hw = Hw(dev)
    if cfg is not None:
        sys.modules["config"] = cfg
    sys.modules["boards"] = hw  # MicroPython imports boards.fakehw by way of `boards`
    sys.modules["boards.fakehw"] = hw
    return hw, saved


def _restore(saved, nic=None):
    if nic is not None:
        if nic.dhcp is not None:
            nic.dhcp.stop(release=False)
        nic.active(False)
    for k in _KEYS:
        sys.modules.pop(k, None)
    for k in saved:
        sys.modules[k] = saved[k]


def test_static_address_from_config():
    dev = ServerDev(serve=False)
    cfg = Cfg(IP="10.7.0.2/24", GATEWAY="10.7.0.1", DNS="10.7.0.3", MAC=b"\x02\x00\x00\x00\x00\x02")
    hw, saved = _install(cfg, dev)
    nic = None
    try:
        nic = boardcfg.up()
        assert hw.macs == [b"\x02\x00\x00\x00\x00\x02"]  # the config's MAC, given to the module's interface()
        assert nic.active() and nic in route.ifnet and nic.dhcp is None
        assert nic.ifconfig() == ("10.7.0.2", "255.255.255.0", "10.7.0.1", "10.7.0.3")
        assert not [f for f in dev.sent if f[23:24] == b"\x11"]  # no DHCP
    finally:
        _restore(saved, nic)


def test_dhcp_lease_then_renewal_from_the_interfaces_polls():
    dev = ServerDev()
    hw, saved = _install(Cfg(IP="dhcp", HOSTNAME="upboard"), dev)
    stats.stat_reset(dhcp.dhcpstat)
    nic = None
    try:
        t0 = ticks_ms()
        nic = boardcfg.up(timeout_s=10)
        c = nic.dhcp
        assert c is not None and c.configured and c.lease()["state"] == "bound"
        assert nic.ifconfig() == (LEASED, "255.255.255.0", SERVER, SERVER)
        assert dev.requests == 1 and stats.stat("dhcp", "acks") == 1
        assert c in nic._timers  # driven by the interface from now on: no task of its own
        assert c.task is None
        assert hw.macs == [None]
        print("lease in %d ms" % (ticks_ms() - t0))
        # T1 (60 s) comes while the application drives the interface (a blocking call's poll)
        nic.poll(ticks_add(ticks_ms(), 61000))
        assert c.lease()["state"] == "renewing" and stats.stat("dhcp", "renews") == 1
    finally:
        _restore(saved, nic)


def test_no_lease_times_out_clearly():
    dev = ServerDev(serve=False)
    hw, saved = _install(Cfg(IP="dhcp"), dev)
    try:
        e = raises(OSError, boardcfg.up, 1)
        assert e.args[0] == ETIMEDOUT and "no DHCP lease" in e.args[1] and "in 1 s" in e.args[1], e.args
        assert not route.ifnet  # the interface went down again
    finally:
        _restore(saved)


def _config_file():
    """A config or board module where imports look (the emulated Pico's flash has its /config.py; a
    directory of that name imports too, as a namespace package)."""
    import os

    for d in sys.path:
        for n in ("config.py", "config.mpy", "board.py", "board.mpy", "config", "board"):
            try:
                os.stat((d.rstrip("/") + "/" if d else "") + n)
                return True
            except OSError:
                pass
    return False


def test_missing_config_bad_ip_unknown_board():
    hw, saved = _install(None, ServerDev(serve=False))
    try:
        if not _config_file():
            e = raises(ImportError, boardcfg.up)
            assert "no /config.py" in str(e), str(e)
        sys.modules["config"] = Cfg(IP="10.7.0.2")  # no prefix length
        e = raises(ValueError, boardcfg.up)
        assert "config.py IP '10.7.0.2'" in str(e) and "A.B.C.D/N" in str(e), str(e)
        sys.modules["config"] = Cfg(IP="10.7.0.2/33")
        raises(ValueError, boardcfg.up)
        sys.modules["config"] = Cfg(IP="10.7.0.2/24", BOARD="no_such_board")
        e = raises(ImportError, boardcfg.up)
        assert "no_such_board" in str(e) and "boards/no_such_board.py" in str(e), str(e)
        assert not route.ifnet  # nothing was brought up
    finally:
        _restore(saved)


def test_aup_takes_the_lease_from_a_coroutine():
    import asyncio

    if not hasattr(asyncio, "run"):
        from ptest import skip

        skip("no asyncio.run here")
    dev = ServerDev()
    hw, saved = _install(Cfg(IP="dhcp"), dev)
    nic = None
    ticks = [0]

    async def other():  # another task runs while aup() waits
        while True:
            ticks[0] += 1
            await asyncio.sleep(0.01)

    async def main():
        t = asyncio.create_task(other())
        n = await boardcfg.aup(timeout_s=10)
        t.cancel()
        return n

    try:
        nic = asyncio.run(main())
        assert nic.ifconfig()[0] == LEASED and nic.dhcp.configured and nic.dhcp in nic._timers
        assert ticks[0] > 5, ticks
    finally:
        _restore(saved, nic)
