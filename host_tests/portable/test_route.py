# The routing table (route.py): connected and default routes from ifconfig, static routes with
# longest-prefix match, host routes, and what ip_output does with them on the wire.
from bsdnet import opts, mbuf, socket, route
from bsdnet.hdr import arp as ah, ip as iph
from bsdnet.inet import inet_aton
import netfix
import ptest
from netfix import HOST_MAC, arp_frame

HOST = "10.7.0.1"
BOARD = "10.7.0.2"


def _if(gw=HOST):
    nic, dev = netfix.make_if(gw=gw)
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
    nic.poll()
    dev.sent.clear()
    return nic, dev


def _nexthop(dev):
    """The address the last frame's next hop was asked for (an ARP request), or None if it went out."""
    f = dev.sent[-1]
    if f[12:14] == b"\x08\x06" and ah.op(f, 14) == ah.ARPOP_REQUEST:
        return bytes(f[38:42])
    return None


def test_ifconfig_brings_connected_and_default_routes():
    nic, dev = _if()
    assert route.routes() == [("10.7.0.0", "255.255.255.0", "", "U"), ("0.0.0.0", "0.0.0.0", HOST, "UG")]
    assert route.rtalloc(inet_aton("10.7.0.77"), 0).flags & route.RTF_GATEWAY == 0
    assert route.rtalloc(inet_aton("192.0.2.1"), 0).flags & route.RTF_GATEWAY
    nic.ifconfig(("10.8.0.2", "255.255.0.0", "10.8.0.1", "0.0.0.0"))  # replaced, not added to
    assert route.routes() == [("10.8.0.0", "255.255.0.0", "", "U"), ("0.0.0.0", "0.0.0.0", "10.8.0.1", "UG")]
    nic.ifconfig((BOARD, "255.255.255.0", "0.0.0.0", "0.0.0.0"))  # no gateway: no default route
    assert route.routes() == [("10.7.0.0", "255.255.255.0", "", "U")]
    assert route.rtalloc(inet_aton("192.0.2.1"), 0) is None
    nic.active(False)
    assert route.routes() == [] and route.ifnet == []


def test_static_routes_longest_prefix_first():
    nic, dev = _if()
    route.route_add("10.9.0.0", "255.255.0.0", "10.7.0.254")
    route.route_add("10.9.3.3", "255.255.255.255", "10.7.0.253")
    route.route_add("10.0.0.0", "255.0.0.0", "10.7.0.252")
    assert [r[0] for r in route.routes()] == ["10.9.3.3", "10.7.0.0", "10.9.0.0", "10.0.0.0", "0.0.0.0"]
    assert route.routes()[0][3] == "UGHS"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for dst, hop in (("10.9.3.3", "10.7.0.253"), ("10.9.200.1", "10.7.0.254"), ("10.200.0.1", "10.7.0.252"),
                         ("192.0.2.9", None), ("10.7.0.99", "10.7.0.99")):
            dev.sent.clear()
            s.sendto(b"x", (dst, 9))
            got = _nexthop(dev)
            if hop is None:  # the default route: the gateway is resolved, the datagram left at once
                f = dev.sent[-1]
                assert got is None and f[0:6] == HOST_MAC and f[30:34] == bytes(inet_aton(dst))
            else:
                assert got == bytes(inet_aton(hop)), (dst, got)
    finally:
        s.close()
    route.route_delete("10.9.0.0", "255.255.0.0")
    assert route.rtalloc(inet_aton("10.9.200.1"), 0).gateway == inet_aton("10.7.0.252")  # the /8 now
    nic.active(False)  # the datagrams held for ARP answers that never come go back to the pool
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_route_errors():
    _if()
    e = ptest.raises(OSError, route.route_add, "10.9.0.0", "255.255.0.0", "10.8.0.1")
    assert e.args[0] == 101  # ENETUNREACH: the gateway is on no connected subnet
    route.route_add("10.9.0.0", "255.255.0.0", "10.7.0.254")
    assert ptest.raises(OSError, route.route_add, "10.9.1.0", "255.255.0.0", "10.7.0.253").args[0] == 17  # same /16
    assert ptest.raises(ValueError, route.route_add, "10.9.0.0", "255.0.255.0", "10.7.0.254")
    assert ptest.raises(ValueError, route.route_add, "10.9.0.300", "255.255.0.0", "10.7.0.254")
    assert ptest.raises(OSError, route.route_add, "10.9.0.0", "255.255.0.0", "0.0.0.0").args[0] == 22
    assert ptest.raises(OSError, route.route_delete, "10.10.0.0", "255.255.0.0").args[0] == 3  # ESRCH
    assert ptest.raises(OSError, route.route_delete, "10.7.0.0", "255.255.255.0").args[0] == 3  # not static


def test_no_route_and_limited_broadcast():
    nic, dev = _if(gw="0.0.0.0")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        assert ptest.raises(OSError, s.sendto, b"x", ("192.0.2.1", 9)).args[0] == 113  # EHOSTUNREACH
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        s.sendto(b"all", ("255.255.255.255", 9))
        f = dev.sent[-1]
        assert f[0:6] == b"\xff" * 6 and f[30:34] == b"\xff" * 4 and iph.proto(f, 14) == 17
    finally:
        s.close()
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_route_lookup_allocates_nothing():
    _if()
    route.route_add("10.9.0.0", "255.255.0.0", "10.7.0.254")
    a = inet_aton("192.0.2.1")  # the last entry: the whole table is walked
    ptest.report_alloc("rtalloc over %d routes" % len(route.rtable), lambda: route.rtalloc(a, 0), limit=0)
