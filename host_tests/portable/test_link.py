# The link over each real driver and its chip model: status() and isconnected() as network.WIZNET5K
# answers them, the cable pulled and plugged back (the chip models' set_link), the change logged
# and counted, sends refused with ENETDOWN while it is down, an ICMP answer dropped and counted,
# traffic flowing again once it is back; and the link poll allocating nothing.
from bsdnet import opts, mbuf, stats, if_link, socket
from bsdnet.compat import ticks_add, ticks_ms
from bsdnet.errno import ENETDOWN
from bsdnet.netif import Interface, STAT_LINK_DOWN, STAT_ACTIVE
from bsdnet.hdr import arp as ah, icmp as ich, udp as udph
import ptest
from netfix import HOST_MAC, BOARD_MAC, arp_frame, echo_frame


def _board(chip_name, intr=True):
    if chip_name == "w5500":
        from emu import w5500 as emu
    else:
        from emu import enc28j60 as emu
    chip, spi, cs, rst, intn = emu.make()
    ctor = Interface.w5500 if chip_name == "w5500" else Interface.enc28j60
    nic = ctor(spi, cs, rst=rst, intr=intn if intr else None, mac=BOARD_MAC)
    nic.active(True)
    nic.ifconfig(("10.7.0.2", "255.255.255.0", "10.7.0.1", "0.0.0.0"))
    out = []
    chip.on_transmit = lambda f: out.append(bytes(f))
    return nic, chip, out


def _count(nic, name):
    return nic.ifstat[stats.stat_index("if", name)]


class _Log:
    """if_link's console lines, kept for the test (and given back to print afterwards)."""

    def __init__(self):
        self.lines = []
        self.saved = if_link.log
        if_link.log = self.lines.append

    def close(self):
        if_link.log = self.saved


def _pull_and_plug(chip_name, up_text):
    nic, chip, out = _board(chip_name)
    log = _Log()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        t = ticks_ms()
        assert nic.status() == STAT_ACTIVE and nic.isconnected()
        assert nic.status("link") == up_text and nic.stats()["link"] == up_text
        e = ptest.raises(ValueError, nic.status, "rssi")
        assert "rssi" in str(e)
        chip.deliver(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
        nic.poll(t)
        assert out and ah.op(out[-1], 14) == ah.ARPOP_REPLY
        assert log.lines == []  # the link as found at active(True) is no change

        chip.set_link(False)  # the cable pulled
        nic.poll(ticks_add(t, opts.LINK_POLL_MS + 10))  # the next look at the PHY
        assert log.lines == ["bsdnet: link down"], log.lines
        assert _count(nic, "linkdowns") == 1 and _count(nic, "linkups") == 0
        assert not nic.link and nic.status() == STAT_LINK_DOWN and not nic.isconnected()
        assert nic.status("link") == "down"
        e = ptest.raises(OSError, s.sendto, b"hello", ("10.7.0.1", 7))
        assert e.args[0] == ENETDOWN and "link is down" in str(e), e
        tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            e = ptest.raises(OSError, tcp.connect, ("10.7.0.1", 80))
            assert e.args[0] == ENETDOWN and "link is down" in str(e), e
        finally:
            tcp.close()
        assert not chip.deliver(echo_frame("10.7.0.1", "10.7.0.2", seq=1))  # the chip hears nothing

        n = len(out)
        chip.set_link(True)  # plugged back; the stack has not looked yet (W5500: it cannot know)
        if chip_name == "w5500":
            assert chip.deliver(echo_frame("10.7.0.1", "10.7.0.2", seq=2))
            nic.poll(ticks_add(t, opts.LINK_POLL_MS + 20))
            assert len(out) == n and _count(nic, "onolink") == 1  # the answer dropped and counted
        nic.poll(ticks_add(t, 2 * opts.LINK_POLL_MS + 20))
        assert log.lines == ["bsdnet: link down", "bsdnet: link " + up_text], log.lines
        assert _count(nic, "linkdowns") == 1 and _count(nic, "linkups") == 1
        assert nic.status() == STAT_ACTIVE and nic.isconnected()
        assert ah.op(out[-1], 14) == ah.ARPOP_REQUEST  # the gratuitous ARP of a link that came back

        chip.deliver(echo_frame("10.7.0.1", "10.7.0.2", seq=3))
        nic.poll(ticks_add(t, 2 * opts.LINK_POLL_MS + 30))
        assert ich.msg_type(out[-1], 34) == ich.ICMP_ECHOREPLY and ich.seq(out[-1], 34) == 3
        s.sendto(b"hello", ("10.7.0.1", 7))
        assert udph.dport(out[-1], 34) == 7 and out[-1][42:47] == b"hello"
    finally:
        s.close()
        log.close()
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    assert chip.violations == [], chip.violations


def test_pull_and_plug_w5500():
    _pull_and_plug("w5500", "up 100M full")


def test_pull_and_plug_enc28j60():
    _pull_and_plug("enc28j60", "up 10M half")


def test_enc28j60_link_interrupt_makes_the_look_at_once():
    nic, chip, out = _board("enc28j60")
    log = _Log()
    try:
        t = ticks_ms()
        chip.set_link(False)  # LINKIF: INT low
        nic.poll(t)  # before the next periodic look
        assert log.lines == ["bsdnet: link down"] and not nic.link
    finally:
        log.close()


def test_enc28j60_latched_drop_between_two_looks_counts():
    """No INT pin: a link that dropped and came back between two looks shows only in PHSTAT1.LLSTAT,
    which latches low; both halves are logged and counted."""
    nic, chip, out = _board("enc28j60", intr=False)
    log = _Log()
    try:
        t = ticks_ms()
        chip.set_link(False)
        chip.set_link(True)
        nic.poll(ticks_add(t, opts.LINK_POLL_MS + 10))
        assert log.lines == ["bsdnet: link down", "bsdnet: link up 10M half"], log.lines
        assert _count(nic, "linkdowns") == 1 and _count(nic, "linkups") == 1 and nic.link
    finally:
        log.close()


def test_w5500_renegotiated_speed_is_logged_not_counted():
    nic, chip, out = _board("w5500")
    log = _Log()
    phycfgr = lambda: nic.dev._r8(0x00, 0x2E)  # noqa: E731 - the whole register, common block
    try:
        assert phycfgr() == 0xBF  # RST, OPMD 0 + OPMDC 111 (W5500.md §2), DPX, SPD, LNK
        chip.set_link(False)
        assert phycfgr() == 0xB8  # the status bits 2..0 all clear
        chip.set_link(True, mbps=10, full=False)
        assert phycfgr() == 0xB9
        t = ticks_ms()
        nic.poll(t)  # the first look (the cable was back before it)
        assert log.lines == ["bsdnet: link up 10M half"], log.lines
        assert _count(nic, "linkups") == 0 and _count(nic, "linkdowns") == 0
        assert nic.status("link") == "up 10M half"
    finally:
        log.close()


def test_inactive_interface_reads_the_chip():
    from emu import w5500 as emu

    chip, spi, cs, rst, intn = emu.make()
    nic = Interface.w5500(spi, cs, rst=rst, intr=intn, mac=BOARD_MAC)
    assert nic.status() == 1 and not nic.isconnected()  # cable in, not active (WIZNET5K's 1)
    chip.set_link(False)
    assert nic.status() == STAT_LINK_DOWN


def test_link_poll_allocates_nothing_w5500():
    _link_poll_alloc("w5500")


def test_link_poll_allocates_nothing_enc28j60():
    _link_poll_alloc("enc28j60")


def _link_poll_alloc(chip_name):
    nic, chip, out = _board(chip_name, intr=False)
    now = ticks_ms()
    chip.deliver(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    nic.poll(now)  # the host's address resolved: the answers below go straight to if_output
    ptest.report_alloc("%s: one look at the link (no change)" % chip_name, lambda: nic.linkw.check(now),
                       n=20, limit=0)
    log = _Log()
    try:
        chip.set_link(False)
        nic.linkw.check(now)
    finally:
        log.close()
    chip.set_link(True)  # the chip hears again; the stack has not looked yet
    req = echo_frame("10.7.0.1", "10.7.0.2", seq=1)
    chip.on_transmit = None

    def one():
        chip.deliver(req)
        nic.poll(now)

    for _ in range(3):
        one()
    assert _count(nic, "onolink") == 3
    # the whole board, as test_netif_chips's ping figure (its limit: the VM's portable copy)
    ptest.report_alloc("%s: ping answer dropped, link down (stack+driver+chip model)" % chip_name, one,
                       n=20, limit=64)
    assert mbuf.pool_free() == opts.NMBCLUSTERS
