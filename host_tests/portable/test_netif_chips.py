# The interface over each real driver and its chip emulator: ARP and ping answered through
# driver -> emulated SPI -> chip model, with the SPI budget and the heap figure per ping.
from bsdnet import opts, mbuf, stats
from bsdnet.netif import Interface
from bsdnet.hdr import arp as ah, ip as iph, icmp as ich
from bsdnet.in_cksum import in_cksum
import ptest
from netfix import HOST_MAC, BOARD_MAC, arp_frame, echo_frame, udp_frame
from bsdnet import socket
from bsdnet.hdr import udp as udph


def _board(chip_name, **kw):
    if chip_name == "w5500":
        from emu import w5500 as emu
    else:
        try:
            from emu import enc28j60 as emu
            from bsdnet.dev import enc28j60  # noqa: F401
        except ImportError as e:
            ptest.skip("enc28j60 driver or emulator missing: %s" % e)
    chip, spi, cs, rst, intn = emu.make(**kw)
    ctor = Interface.w5500 if chip_name == "w5500" else Interface.enc28j60
    nic = ctor(spi, cs, rst=rst, intr=intn, mac=BOARD_MAC)
    nic.active(True)
    nic.ifconfig(("10.7.0.2", "255.255.255.0", "10.7.0.1", "0.0.0.0"))
    out = []
    chip.on_transmit = lambda f: out.append(bytes(f))
    return nic, chip, out


def _ping_through(chip_name):
    nic, chip, out = _board(chip_name)
    assert chip.deliver(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    assert nic.poll(1000) == 1
    assert len(out) == 1 and ah.op(out[0], 14) == ah.ARPOP_REPLY
    assert out[0][0:6] == HOST_MAC
    for seq in range(20):
        req = echo_frame("10.7.0.1", "10.7.0.2", seq=seq, payload=bytes(range(56)))
        assert chip.deliver(req)
        assert nic.poll(1001 + seq) == 1
        rep = out[-1]
        assert ich.msg_type(rep, 34) == ich.ICMP_ECHOREPLY and ich.seq(rep, 34) == seq
        assert in_cksum(rep, 34, iph.total_len(rep, 14) - 20) == 0
    assert len(out) == 21
    # a frame for another MAC never reaches the stack's reply path, and is counted somewhere
    before = nic.ifstat[stats.stat_index("if", "notforus")] + nic.dev.rx_dropped
    chip.deliver(echo_frame("10.7.0.1", "10.7.0.2", dmac=b"\x02\x00\x00\x00\x00\x99"))
    nic.poll(2000)
    assert len(out) == 21
    chip_drops = sum(v for k, v in chip.counters().items() if "drop" in k or "filter" in k) \
        if hasattr(chip, "counters") else 0
    assert nic.ifstat[stats.stat_index("if", "notforus")] + nic.dev.rx_dropped + chip_drops > before
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    assert chip.violations == [], chip.violations  # the driver used the chip as its fact sheet says
    return nic, chip, out


def _figures(chip_name):
    nic, chip, out = _board(chip_name)
    chip.deliver(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    nic.poll(1000)
    req = echo_frame("10.7.0.1", "10.7.0.2", payload=bytes(56))
    chip.on_transmit = None  # keep the host side's copies out of the heap figure
    x0 = nic.dev.spi_xfers
    chip.deliver(req)
    nic.poll(1001)
    per_ping = nic.dev.spi_xfers - x0
    print("%s: %d SPI transactions per ping answered (rx + tx + the empty check)" % (chip_name, per_ping))

    def one():
        chip.deliver(req)
        nic.poll(1002)

    ptest.report_alloc("%s: whole board per ping answered (stack+driver+chip model)" % chip_name, one, n=30,
                       limit=64)
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    assert chip.violations == [], chip.violations
    return per_ping


def test_ping_through_w5500():
    _ping_through("w5500")


def test_ping_through_enc28j60():
    _ping_through("enc28j60")


def test_figures_w5500():
    assert _figures("w5500") <= 12


def test_figures_enc28j60():
    assert _figures("enc28j60") <= 16


def test_board_mac_is_used():
    nic, chip, out = _board("w5500")
    assert nic.config("mac") == BOARD_MAC
    assert nic.isconnected()
    chip.set_link(False)
    assert not nic.isconnected()


def _udp_echo_figures(chip_name):
    """A UDP echo server on the socket API over each chip: the frames and the heap per datagram
    for the whole board (what an application loop of recv_into + sendto costs)."""
    nic, chip, out = _board(chip_name)
    chip.deliver(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    nic.poll()  # the clock's time, as the socket calls use
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("", 7))
        s.setblocking(False)
        buf = bytearray(512)
        addr = ("10.7.0.1", 40000)
        req = udp_frame("10.7.0.1", "10.7.0.2", 40000, 7, bytes((i * 3) & 0xFF for i in range(512)))
        chip.deliver(req)
        nic.poll()
        n = s.recv_into(buf)
        assert n == 512 and buf == req[42:42 + 512], (n, nic.stats()["udp"], nic.stats()["if"])
        s.sendto(buf, addr)
        rep = out[-1]
        assert udph.dport(rep, 34) == 40000 and udph.sport(rep, 34) == 7, rep[34:42]
        assert rep[42:42 + 512] == bytes(buf)
        chip.on_transmit = None

        def one():
            chip.deliver(req)
            nic.poll()
            s.recv_into(buf)
            s.sendto(buf, addr)

        ptest.report_alloc("%s: whole board per UDP echo of 512 B (socket recv_into + sendto)" % chip_name, one,
                           n=30, limit=64)
    finally:
        s.close()
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    assert chip.violations == [], chip.violations


def test_udp_echo_w5500():
    _udp_echo_figures("w5500")


def test_udp_echo_enc28j60():
    _udp_echo_figures("enc28j60")
