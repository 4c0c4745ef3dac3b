# Fixtures for the multicast tests (test_igmp, test_mcast_delivery, test_mcast_chips): IGMP frames as
# a router or another host sends them, the check of what the board sends, and a clock for the socket
# calls that start IGMP timers (in_mcast.clock), so that a test drives all time itself.
from bsdnet import in_mcast, socket
from bsdnet.compat import ticks_ms, ticks_add
from bsdnet.inet import inet_aton, inet_ntoa
from bsdnet.in_cksum import in_cksum
from bsdnet.hdr import ether as eh, ip as iph
from netfix import HOST_MAC, BOARD_MAC

BOARD = "10.7.0.2"
HOST = "10.7.0.1"
OTHER = "10.7.0.9"  # another member of the groups on the LAN
T0 = 100000

now = [T0]


socks = []  # sockets a test opened: setup() and end() close them


def setup():
    """An interface up on a fake device, the test clock in use, the sockets of an earlier test closed."""
    import netfix

    while socks:
        socks.pop().close()
    nic, dev = netfix.make_if()
    use_clock()
    tick(nic)
    return nic, dev


def end():
    while socks:
        socks.pop().close()
    restore_clock()


def use_clock(t=T0):
    """Socket calls read `now` from here from now on (restore_clock() puts ticks_ms back)."""
    now[0] = t
    in_mcast.clock[0] = _clock


def restore_clock():
    in_mcast.clock[0] = ticks_ms


def _clock():
    return now[0]


def tick(nic, dt=0):
    """Advance the test clock by dt ms and run the interface (input and timers) at that time."""
    now[0] = ticks_add(now[0], dt)
    return nic.poll(now[0])


def group_mac(group):
    g = inet_aton(group)
    return bytes((0x01, 0x00, 0x5E, g[1] & 0x7F, g[2], g[3]))


def mreq(group, iface=BOARD):
    """struct ip_mreq as CPython code packs it: struct.pack("4s4s", inet_aton(g), inet_aton(i))."""
    return bytes(inet_aton(group)) + bytes(inet_aton(iface))


def join(s, group, iface=BOARD):
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq(group, iface))


def leave(s, group, iface=BOARD):
    s.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, mreq(group, iface))


def igmp_frame(src, dst, typ, group, code=0, ttl=1, extra=b"", bad_sum=False, ra=True, smac=HOST_MAC):
    """An IGMP message in its Ethernet frame (to the group's MAC), padded to 60 bytes."""
    hl = 24 if ra else 20
    n = hl + 8 + len(extra)
    b = bytearray(14 + n)
    eh.emit(b, 0, group_mac(dst), 0, smac, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, hl, 0xC0, n, 1, 0, ttl, iph.IPPROTO_IGMP, inet_aton(src), 0, inet_aton(dst), 0)
    if ra:
        b[34:38] = b"\x94\x04\x00\x00"
    iph.fill_cksum(b, 14)
    ic = 14 + hl
    b[ic] = typ
    b[ic + 1] = code
    b[ic + 4:ic + 8] = inet_aton(group)
    b[ic + 8:ic + 8 + len(extra)] = extra
    c = in_cksum(b, ic, 8 + len(extra))
    b[ic + 2] = c >> 8
    b[ic + 3] = c & 0xFF
    if bad_sum:
        b[ic + 2] ^= 0xFF
    if len(b) < 60:
        b.extend(bytes(60 - len(b)))
    return bytes(b)


def query(group="0.0.0.0", code=100, dst=None, **kw):
    """A membership query from the router (HOST): general to 224.0.0.1, or for one group to it."""
    if dst is None:
        dst = "224.0.0.1" if group == "0.0.0.0" else group
    return igmp_frame(HOST, dst, 0x11, group, code, **kw)


def report(group, typ=0x16, src=OTHER):
    """Another host's membership report for group."""
    return igmp_frame(src, group, typ, group, smac=b"\x02\x00\x00\x00\x00\x09")


def parse_igmp(f, src=BOARD, smac=BOARD_MAC):
    """(type, group, destination) of an IGMP frame the board sent, after checking what RFC 2236
    asks of it: TTL 1, the Router Alert option, both checksums, the group's MAC."""
    assert len(f) >= 14 + 32 and eh.ethertype(f, 0) == eh.ETHERTYPE_IP
    assert f[6:12] == smac
    assert iph.check(f, 14, len(f) - 14) == 0
    assert iph.proto(f, 14) == iph.IPPROTO_IGMP
    assert iph.ttl(f, 14) == 1, iph.ttl(f, 14)
    assert iph.hlen(f, 14) == 24 and f[34:38] == b"\x94\x04\x00\x00", bytes(f[34:38])
    assert iph.tos(f, 14) == 0xC0
    assert iph.total_len(f, 14) == 32
    assert in_cksum(f, 38, 8) == 0
    assert f[26:30] == bytes(inet_aton(src))
    dst = inet_ntoa(f, 30)
    assert f[0:6] == group_mac(dst), (bytes(f[0:6]), dst)
    return f[38], inet_ntoa(f, 42), dst


def igmp_sent(dev, src=BOARD):
    """The IGMP messages among dev.sent, parsed (and taken out of dev.sent)."""
    out = []
    keep = []
    for f in dev.sent:
        if len(f) >= 34 and eh.ethertype(f, 0) == eh.ETHERTYPE_IP and f[23] == iph.IPPROTO_IGMP:
            out.append(parse_igmp(f, src, dev.mac))
        else:
            keep.append(f)
    dev.sent[:] = keep
    return out
