# The DHCP client (bsdnet.dhcp) driven by crafted server replies and a fake clock: the exchange
# DISCOVER/OFFER/REQUEST/ACK with the RFC 5227 probes, INIT-REBOOT, renew at T1 (unicast), rebind
# at T2 (broadcast), expiry, NAK, DECLINE on a probe answer, backoff, and hostile replies counted.
from bsdnet.netif import Interface
from bsdnet.inet import inet_aton
from bsdnet.compat import ticks_ms, ticks_add
from bsdnet import route, stats, dhcp
from bsdnet.hdr import arp as ah
from netfix import FakeDev, BOARD_MAC, HOST_MAC, BCAST, udp_frame, arp_frame

SERVER = "10.7.0.1"
OFFERED = "10.7.0.50"


def setup():
    for ifp in list(route.ifnet):
        route.if_detach(ifp)
    dev = FakeDev()
    nic = Interface(dev)
    nic.active(True)
    stats.stat_reset(dhcp.dhcpstat)
    return nic, dev


def state(c):
    return c.lease()["state"]


def st(name):
    return stats.stat("dhcp", name)


def sent_dhcp(dev):
    """The DHCP messages the board sent (and clears the list): [(dst ip, dst mac, message)]."""
    out = []
    for f in dev.sent:
        if f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x00\x43":
            out.append((".".join(str(x) for x in f[30:34]), f[0:6], f[42:]))
    dev.sent.clear()
    return out


def options(m):
    """{code: value} of a DHCP message."""
    o = {}
    i = 240
    while i < len(m) and m[i] != 255:
        if m[i] == 0:
            i += 1
            continue
        o[m[i]] = bytes(m[i + 2:i + 2 + m[i + 1]])
        i += 2 + m[i + 1]
    return o


def reply(m, mtype, yiaddr=OFFERED, server=SERVER, lease=120, t1=None, t2=None, mask="255.255.255.0",
          router=SERVER, dns=(SERVER, "10.7.0.3"), xid=None, chaddr=BOARD_MAC, extra=b"", src=SERVER, sport=67):
    """A server's reply to the client's message m, in a broadcast frame."""
    b = bytearray(240)
    b[0] = 2
    b[1] = 1
    b[2] = 6
    b[4:8] = xid if xid is not None else m[4:8]
    b[16:20] = inet_aton(yiaddr)
    b[28:34] = chaddr
    b[236:240] = b"\x63\x82\x53\x63"
    b += bytes((53, 1, mtype))
    if server:
        b += b"\x36\x04" + inet_aton(server)
    if lease is not None:
        b += b"\x33\x04" + lease.to_bytes(4, "big")
    if t1 is not None:
        b += b"\x3a\x04" + t1.to_bytes(4, "big")
    if t2 is not None:
        b += b"\x3b\x04" + t2.to_bytes(4, "big")
    if mask:
        b += b"\x01\x04" + inet_aton(mask)
    if router:
        b += b"\x03\x04" + inet_aton(router)
    if dns:
        b += bytes((6, 4 * len(dns)))
        for d in dns:
            b += inet_aton(d)
    b += extra + b"\xff"
    return udp_frame(src, "255.255.255.255", sport, 68, bytes(b), dmac=BCAST)


class Clock:
    """A fake clock from now on (made after the client, whose first action is due at its making)."""

    def __init__(self):
        self.t = ticks_ms()

    def __call__(self, ms=0):
        self.t = ticks_add(self.t, ms)
        return self.t


def feed(nic, dev, c, now, *frames):
    for f in frames:
        dev.rxq.append(f)
    nic.poll(now)
    return c.step(now)


def bind(nic, dev, c, clk, **kw):
    """DISCOVER, OFFER, REQUEST, ACK, two probes: bound. Returns the REQUEST."""
    c.step(clk())
    (d,) = sent_dhcp(dev)
    feed(nic, dev, c, clk(10), reply(d[2], 2, **kw))
    (r,) = sent_dhcp(dev)
    feed(nic, dev, c, clk(10), reply(r[2], 5, **kw))
    for _ in range(3):
        c.step(clk(500))
    assert state(c) == "bound", state(c)
    return r


def test_lease_exchange_probes_and_configures():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic, hostname="bsdnet")
    clk = Clock()
    c.step(clk())
    ((dst, dmac, m),) = sent_dhcp(dev)
    assert dst == "255.255.255.255" and dmac == BCAST
    assert m[0] == 1 and m[10] == 0x80 and m[28:34] == BOARD_MAC and m[12:16] == bytes(4)  # BROADCAST flag
    o = options(m)
    assert o[53] == b"\x01" and o[12] == b"bsdnet" and o[61] == b"\x01" + BOARD_MAC
    assert 1 in o[55] and 3 in o[55] and 6 in o[55] and 51 in o[55] and 58 in o[55] and 59 in o[55]
    assert len(m) >= 300
    feed(nic, dev, c, clk(10), reply(m, 2))  # OFFER
    ((dst, dmac, r),) = sent_dhcp(dev)
    o = options(r)
    assert dst == "255.255.255.255" and o[53] == b"\x03" and o[50] == inet_aton(OFFERED) and o[54] == inet_aton(SERVER)
    assert r[4:8] == m[4:8] and r[12:16] == bytes(4)
    feed(nic, dev, c, clk(10), reply(r, 5, t1=60, t2=100))  # ACK
    assert state(c) == "probing" and not c.configured
    probes = [f for f in dev.sent if f[12:14] == b"\x08\x06"]
    assert len(probes) == 1
    p = probes[0]
    assert p[0:6] == BCAST and p[28:32] == bytes(4) and p[38:42] == inet_aton(OFFERED)  # RFC 5227 probe
    assert nic.ifconfig()[0] == "0.0.0.0"
    dev.sent.clear()
    c.step(clk(500))
    assert len([f for f in dev.sent if f[12:14] == b"\x08\x06"]) == 1
    dev.sent.clear()
    c.step(clk(500))
    assert state(c) == "bound" and c.configured
    assert nic.ifconfig() == (OFFERED, "255.255.255.0", SERVER, SERVER)
    assert nic.nameservers == [SERVER, "10.7.0.3"]
    g = [f for f in dev.sent if f[12:14] == b"\x08\x06"]
    assert g and g[0][28:32] == inet_aton(OFFERED)  # the gratuitous ARP of ifconfig
    lease = c.lease()
    assert lease["addr"] == OFFERED and lease["lease_s"] == 120 and lease["t1_s"] == 60 and lease["t2_s"] == 100
    assert st("offers") == 1 and st("acks") == 1 and st("sent") == 2 and st("bad") == 0
    c.stop(release=False)


def test_renew_at_t1_unicast_then_rebind_at_t2_then_expiry():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic)
    clk = Clock()
    bind(nic, dev, c, clk, lease=100, t1=50, t2=80)
    dev.sent.clear()
    c.step(clk(47500))  # the lease counts from the ACK, before the probes' second
    assert sent_dhcp(dev) == [] and state(c) == "bound"
    c.step(clk(2000))  # T1: unicast to the server, which ARP resolves first
    assert state(c) == "renewing" and st("renews") == 1
    feed(nic, dev, c, clk(5), arp_frame(ah.ARPOP_REPLY, HOST_MAC, SERVER, BOARD_MAC, OFFERED, dst=BOARD_MAC))
    ((dst, dmac, r),) = sent_dhcp(dev)
    o = options(r)
    assert dst == SERVER and dmac == HOST_MAC and r[12:16] == inet_aton(OFFERED) and r[10] == 0
    assert o[53] == b"\x03" and 50 not in o and 54 not in o  # RFC 2131 table 5, RENEWING
    c.step(clk(14000))  # no answer: again after half the time to T2
    ((dst, _, r2),) = sent_dhcp(dev)
    assert dst == SERVER and r2[4:8] == r[4:8]
    c.step(clk(16000))  # T2
    assert state(c) == "rebinding" and st("rebinds") == 1
    ((dst, dmac, b),) = sent_dhcp(dev)
    assert dst == "255.255.255.255" and dmac == BCAST and b[12:16] == inet_aton(OFFERED) and 54 not in options(b)
    assert nic.ifconfig()[0] == OFFERED  # kept until the lease ends
    for _ in range(10):
        c.step(clk(2500))
    assert state(c) in ("init", "selecting") and st("expired") == 1
    assert nic.ifconfig()[0] == "0.0.0.0" and nic.nameservers == [] and not c.configured
    c.stop(release=False)


def test_renew_ack_extends_the_lease():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic)
    clk = Clock()
    bind(nic, dev, c, clk, lease=100, t1=50, t2=80)
    c.step(clk(49500))
    feed(nic, dev, c, clk(5), arp_frame(ah.ARPOP_REPLY, HOST_MAC, SERVER, BOARD_MAC, OFFERED, dst=BOARD_MAC))
    ((_, _, r),) = sent_dhcp(dev)
    ack = reply(r, 5, lease=100, t1=50, t2=80)
    feed(nic, dev, c, clk(5), ack)
    assert state(c) == "bound" and c.lease()["elapsed_s"] == 0 and st("acks") == 2
    c.step(clk(48000))
    assert state(c) == "bound" and nic.ifconfig()[0] == OFFERED  # the old lease would have been at T2 now
    c.stop(release=False)


def test_nak_restarts_and_a_foreign_servers_nak_does_not():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic)
    clk = Clock()
    c.step(clk())
    ((_, _, d),) = sent_dhcp(dev)
    feed(nic, dev, c, clk(10), reply(d, 2))
    ((_, _, r),) = sent_dhcp(dev)
    feed(nic, dev, c, clk(10), reply(r, 6, server="10.7.0.9", src="10.7.0.9", lease=None))
    assert state(c) == "requesting" and st("bad") == 1 and st("naks") == 0
    feed(nic, dev, c, clk(10), reply(r, 6, lease=None))
    assert st("naks") == 1
    ((_, _, d2),) = sent_dhcp(dev)
    assert options(d2)[53] == b"\x01" and d2[4:8] != d[4:8] and state(c) == "selecting"  # a new xid
    c.stop(release=False)


def test_decline_when_the_probe_is_answered():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic)
    clk = Clock()
    c.step(clk())
    ((_, _, d),) = sent_dhcp(dev)
    feed(nic, dev, c, clk(10), reply(d, 2))
    ((_, _, r),) = sent_dhcp(dev)
    feed(nic, dev, c, clk(10), reply(r, 5))
    other = b"\x02\x00\x00\x00\x00\x99"
    feed(nic, dev, c, clk(100), arp_frame(ah.ARPOP_REPLY, other, OFFERED, BOARD_MAC, "0.0.0.0", dst=BOARD_MAC))
    ((dst, _, x),) = sent_dhcp(dev)
    o = options(x)
    assert dst == "255.255.255.255" and o[53] == b"\x04" and o[50] == inet_aton(OFFERED) and o[54] == inet_aton(SERVER)
    assert st("declines") == 1 and state(c) == "init" and not c.configured and nic.ifconfig()[0] == "0.0.0.0"
    c.step(clk(9000))
    assert sent_dhcp(dev) == []  # RFC 2131 3.1.5: 10 s before starting again
    c.step(clk(1100))
    ((_, _, d2),) = sent_dhcp(dev)
    assert options(d2)[53] == b"\x01"
    c.stop(release=False)


def test_another_hosts_probe_for_the_address_is_a_conflict():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic)
    clk = Clock()
    c.step(clk())
    ((_, _, d),) = sent_dhcp(dev)
    feed(nic, dev, c, clk(10), reply(d, 2))
    ((_, _, r),) = sent_dhcp(dev)
    feed(nic, dev, c, clk(10), reply(r, 5))
    other = b"\x02\x00\x00\x00\x00\x98"
    feed(nic, dev, c, clk(100), arp_frame(ah.ARPOP_REQUEST, other, "0.0.0.0", bytes(6), OFFERED))
    assert st("declines") == 1 and state(c) == "init"
    c.stop(release=False)


def test_init_reboot_asks_for_the_last_address():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic, addr="10.7.0.77")
    clk = Clock()
    c.step(clk())
    ((dst, _, r),) = sent_dhcp(dev)
    o = options(r)
    assert dst == "255.255.255.255" and o[53] == b"\x03" and o[50] == inet_aton("10.7.0.77") and 54 not in o
    assert r[12:16] == bytes(4) and state(c) == "rebooting"
    feed(nic, dev, c, clk(10), reply(r, 5, yiaddr="10.7.0.77"))
    for _ in range(3):
        c.step(clk(500))
    assert state(c) == "bound" and nic.ifconfig()[0] == "10.7.0.77"
    c.stop(release=True)  # RELEASE, unicast to the server once ARP answers
    assert nic.ifconfig()[0] == "0.0.0.0"


def test_retransmissions_back_off_with_jitter():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic)
    clk = Clock()
    c.step(clk())
    sent_dhcp(dev)
    at = [0]
    t = 0
    while len(at) < 6 and t < 200000:
        c.step(clk(100))
        t += 100
        if sent_dhcp(dev):
            at.append(t)
    gaps = [at[i + 1] - at[i] for i in range(len(at) - 1)]
    for g, want in zip(gaps, (4000, 8000, 16000, 32000, 64000)):
        assert want - 1100 <= g <= want + 1100, gaps
    c.stop(release=False)


def test_hostile_replies_are_counted_and_change_nothing():
    nic, dev = setup()
    c = dhcp.DhcpClient(nic)
    clk = Clock()
    c.step(clk())
    ((_, _, d),) = sent_dhcp(dev)
    bad = [
        reply(d, 2, xid=b"\x00\x00\x00\x01"),  # wrong xid
        reply(d, 2, chaddr=b"\x02\x00\x00\x00\x00\x77"),  # for another client
        reply(d, 2, sport=53),  # not from the server port
        reply(d, 2, yiaddr="0.0.0.0"),
        reply(d, 2, yiaddr="127.0.0.1"),
        reply(d, 2, server=None),  # no server id
        reply(d, 2, extra=b"\x0c\x40abc"),  # an option past the end
        udp_frame(SERVER, "255.255.255.255", 67, 68, b"\x02\x01\x06" + bytes(100), dmac=BCAST),  # short
        udp_frame(SERVER, "255.255.255.255", 67, 68, b"", dmac=BCAST),
    ]
    for f in bad:
        feed(nic, dev, c, clk(1), f)
    feed(nic, dev, c, clk(1), reply(d, 5))  # an ACK while selecting: ignored, not bad (a late duplicate)
    assert state(c) == "selecting" and st("bad") == len(bad) and st("offers") == 0
    assert sent_dhcp(dev) == []
    feed(nic, dev, c, clk(1), reply(d, 2))
    ((_, _, r),) = sent_dhcp(dev)
    feed(nic, dev, c, clk(1), reply(r, 5, mask="255.0.255.0"))  # a mask ifconfig would refuse
    feed(nic, dev, c, clk(1), reply(r, 5, yiaddr="10.7.0.51"))  # not the address asked for
    feed(nic, dev, c, clk(1), reply(r, 5, lease=None))  # no lease time
    assert state(c) == "requesting" and st("bad") == len(bad) + 3
    feed(nic, dev, c, clk(1), reply(r, 5, lease=0))  # a 0 s lease is taken as the minimum, no storm
    for _ in range(3):
        c.step(clk(500))
    assert state(c) == "bound" and c.lease()["lease_s"] >= 10
    c.stop(release=False)
