# Forwarding between two interfaces (ip_forward.py), ICMP redirects sent and received, and raw
# sockets with IP_HDRINCL. One process, two fake devices:
#
#   H1 10.7.0.1 ---- if1 10.7.0.2 [router] if2 10.8.0.1 ---- H2 10.8.0.2
#
# Frames are fed to a device's receive queue and what the router sent is read from each device.
from bsdnet import opts, mbuf, route, socket, ip_forward
from bsdnet import ip_output as ip_output_mod
from bsdnet.netif import Interface
from bsdnet.stats import stat
from bsdnet.in_cksum import in_cksum
from bsdnet.inet import inet_aton
from bsdnet.hdr import ether as eh, arp as ah, ip as iph, icmp as ich
import netfix
import ptest
from netfix import HOST_MAC, BCAST, arp_frame, echo_frame

R1_MAC = b"\x02\x00\x00\x00\x01\x02"  # the router on net 1 (10.7.0.2)
R2_MAC = b"\x02\x00\x00\x00\x02\x01"  # the router on net 2 (10.8.0.1)
H2_MAC = b"\x02\x00\x00\x00\x02\x02"  # H2, 10.8.0.2
H1, R1, R2, H2 = "10.7.0.1", "10.7.0.2", "10.8.0.1", "10.8.0.2"


def _a(s):
    return bytes(inet_aton(s))


def _router(forwarding=True, mtu2=None):
    """The router with both neighbours in its ARP tables; forwarding on unless told otherwise."""
    nic1, dev1 = netfix.make_if(ip=R1, gw="0.0.0.0", dev=netfix.FakeDev(R1_MAC))
    dev2 = netfix.FakeDev(R2_MAC)
    nic2 = Interface(dev2)
    nic2.active(True)
    nic2.ifconfig((R2, "255.255.255.0", "0.0.0.0", "0.0.0.0"))
    if mtu2 is not None:
        nic2.mtu = mtu2
    dev1.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, H1, b"\0" * 6, R1))
    nic1.poll(1000)
    dev2.rxq.append(arp_frame(ah.ARPOP_REQUEST, H2_MAC, H2, b"\0" * 6, R2))
    nic2.poll(1000)
    dev1.sent.clear()
    dev2.sent.clear()
    ip_forward.set_forwarding(forwarding, True)
    return nic1, dev1, nic2, dev2


def _feed(nic, dev, frame, now=2000):
    dev.rxq.append(frame)
    nic.poll(now)


def _ip_frame(src, dst, proto=253, payload=b"payload!", ttl=64, frag=0, dmac=R1_MAC, smac=HOST_MAC, ident=9):
    n = 20 + len(payload)
    b = bytearray(14 + n)
    eh.emit(b, 0, dmac, 0, smac, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, 20, 0, n, ident, frag, ttl, proto, inet_aton(src), 0, inet_aton(dst), 0)
    iph.fill_cksum(b, 14)
    b[34:] = payload
    if len(b) < 60:
        b.extend(bytes(60 - len(b)))
    return bytes(b)


def _icmp_err(f, src, dst, type, code):
    """f is an ICMP error of this type/code from src to dst, well formed: returns the ICMP offset."""
    assert eh.ethertype(f, 0) == eh.ETHERTYPE_IP and iph.check(f, 14, len(f) - 14) == 0
    assert f[26:30] == _a(src) and f[30:34] == _a(dst), (f[26:30], f[30:34])
    assert iph.proto(f, 14) == iph.IPPROTO_ICMP
    ic = 14 + iph.hlen(f, 14)
    assert in_cksum(f, ic, iph.total_len(f, 14) - iph.hlen(f, 14)) == 0
    assert (ich.msg_type(f, ic), ich.msg_code(f, ic)) == (type, code), (ich.msg_type(f, ic), ich.msg_code(f, ic))
    return ic


def _arp_asked(f):
    """The address an ARP request in frame f asks for, or None if f is no ARP request."""
    if eh.ethertype(f, 0) == eh.ETHERTYPE_ARP and ah.op(f, 14) == ah.ARPOP_REQUEST:
        return bytes(f[38:42])
    return None


def test_forwarding_is_off_by_default():
    assert opts.IP_FORWARDING == 0 and not ip_forward.forwarding()
    nic1, dev1, nic2, dev2 = _router(forwarding=False)
    c0 = stat("ip", "ips_cantforward")
    f0 = stat("ip", "ips_forward")
    _feed(nic1, dev1, echo_frame(H1, H2, dmac=R1_MAC))
    assert dev1.sent == [] and dev2.sent == []  # neither forwarded nor answered (a host is silent)
    assert stat("ip", "ips_cantforward") == c0 + 1 and stat("ip", "ips_forward") == f0
    # nor for the router's other address (a host keeps to the strong model: left to ip_input)
    _feed(nic1, dev1, echo_frame(H1, R2, dmac=R1_MAC))
    assert dev1.sent == [] and dev2.sent == [] and stat("ip", "ips_cantforward") == c0 + 2
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_forward_decrements_ttl_with_a_valid_checksum():
    nic1, dev1, nic2, dev2 = _router()
    f0 = stat("ip", "ips_forward")
    req = echo_frame(H1, H2, dmac=R1_MAC, ttl=64, payload=bytes(range(100)))
    _feed(nic1, dev1, req)
    assert dev1.sent == [] and len(dev2.sent) == 1
    f = dev2.sent[0]
    assert f[0:6] == H2_MAC and f[6:12] == R2_MAC and eh.ethertype(f, 0) == eh.ETHERTYPE_IP
    assert iph.ttl(f, 14) == 63 and iph.check(f, 14, len(f) - 14) == 0
    # the incremental checksum (RFC 1624) is the one a full pass gives
    g = bytearray(f[14:34])
    s = (g[10] << 8) | g[11]
    g[10] = g[11] = 0
    assert in_cksum(g, 0, 20) == s
    # nothing else changed: addresses, ID, the ICMP message byte for byte
    assert f[14:22] == req[14:22] and f[23] == req[23] and f[26:34] == req[26:34]
    assert f[34:14 + iph.total_len(f, 14)] == req[34:14 + iph.total_len(req, 14)]
    assert stat("ip", "ips_forward") == f0 + 1
    # and back: H2's reply leaves by if1 to H1
    rep = bytearray(echo_frame(H2, H1, dmac=R2_MAC, smac=H2_MAC, ttl=255))
    _feed(nic2, dev2, bytes(rep))
    assert len(dev1.sent) == 1 and dev1.sent[0][0:6] == HOST_MAC and dev1.sent[0][6:12] == R1_MAC
    assert iph.ttl(dev1.sent[0], 14) == 254 and iph.check(dev1.sent[0], 14, len(dev1.sent[0]) - 14) == 0
    assert stat("ip", "ips_forward") == f0 + 2
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_forward_through_a_gateway_and_fragments_unchanged():
    nic1, dev1, nic2, dev2 = _router()
    route.route_add("10.9.0.0", "255.255.0.0", "10.8.0.254")
    _feed(nic1, dev1, _ip_frame(H1, "10.9.1.1"))
    assert _arp_asked(dev2.sent[-1]) == _a("10.8.0.254")  # the gateway is resolved, not the destination
    # a fragment is forwarded as it is (routers do not reassemble): offset and MF kept
    dev2.sent.clear()
    _feed(nic1, dev1, _ip_frame(H1, H2, frag=iph.IP_MF | 185))
    assert len(dev2.sent) == 1 and iph.frag(dev2.sent[0], 14) == iph.IP_MF | 185 and iph.ttl(dev2.sent[0], 14) == 63
    nic2.active(False)  # what waits for the gateway's ARP answer goes back to the pool
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_ttl_expiry_is_answered_with_time_exceeded():
    nic1, dev1, nic2, dev2 = _router()
    c0 = stat("ip", "ips_cantforward")
    t0 = stat("icmp", "icps_outhist_timxceed")
    for ttl in (1, 0):
        dev1.sent.clear()
        req = echo_frame(H1, H2, dmac=R1_MAC, ttl=ttl)
        _feed(nic1, dev1, req)
        assert dev2.sent == [] and len(dev1.sent) == 1
        f = dev1.sent[0]
        ic = _icmp_err(f, R1, H1, ich.ICMP_TIMXCEED, ich.ICMP_TIMXCEED_INTRANS)
        assert f[ic + 8:ic + 8 + 28] == req[14:42]  # the datagram as it came, TTL and all, + 8 bytes
    assert stat("ip", "ips_cantforward") == c0 + 2 and stat("icmp", "icps_outhist_timxceed") == t0 + 2
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_no_route_is_answered_with_host_unreachable():
    nic1, dev1, nic2, dev2 = _router()
    n0 = stat("ip", "ips_noroute")
    c0 = stat("ip", "ips_cantforward")
    req = _ip_frame(H1, "192.0.2.9")
    _feed(nic1, dev1, req)
    assert dev2.sent == [] and len(dev1.sent) == 1
    ic = _icmp_err(dev1.sent[0], R1, H1, ich.ICMP_UNREACH, ich.ICMP_UNREACH_HOST)
    assert dev1.sent[0][ic + 8:ic + 8 + 28] == req[14:42]
    assert stat("ip", "ips_noroute") == n0 + 1 and stat("ip", "ips_cantforward") == c0 + 1
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_too_big_for_the_next_hop():
    nic1, dev1, nic2, dev2 = _router(mtu2=576)
    c0 = stat("ip", "ips_cantfrag")
    big = _ip_frame(H1, H2, payload=bytes(600), frag=iph.IP_DF)
    _feed(nic1, dev1, big)
    assert dev2.sent == [] and len(dev1.sent) == 1
    ic = _icmp_err(dev1.sent[0], R1, H1, ich.ICMP_UNREACH, ich.ICMP_UNREACH_NEEDFRAG)
    assert ich.nextmtu(dev1.sent[0], ic) == 576  # RFC 1191: the next hop's MTU for path MTU discovery
    assert stat("ip", "ips_cantfrag") == c0 + 1
    dev1.sent.clear()
    _feed(nic1, dev1, _ip_frame(H1, H2, payload=bytes(600)))  # no DF
    assert dev1.sent == []
    if getattr(ip_output_mod, "ip_fragment", None) is None:
        assert dev2.sent == [] and stat("ip", "ips_cantfrag") == c0 + 2  # no fragmentation in this build
    else:
        assert len(dev2.sent) >= 2 and all(len(f) - 14 <= 576 for f in dev2.sent)
        assert all(iph.ttl(f, 14) == 63 and iph.check(f, 14, len(f) - 14) == 0 for f in dev2.sent)
    # what fits is forwarded, DF or not
    dev2.sent.clear()
    _feed(nic1, dev1, _ip_frame(H1, H2, payload=bytes(556), frag=iph.IP_DF))
    assert len(dev2.sent) == 1 and iph.frag(dev2.sent[0], 14) == iph.IP_DF
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_redirect_when_it_leaves_by_the_interface_it_came_in():
    nic1, dev1, nic2, dev2 = _router()
    r0 = stat("ip", "ips_redirectsent")
    h0 = stat("icmp", "icps_outhist_redirect")
    # H1 sends through us to a host on its own subnet: it could have sent there itself
    req = _ip_frame(H1, "10.7.0.77")
    _feed(nic1, dev1, req)
    assert dev2.sent == [] and len(dev1.sent) == 2
    ic = _icmp_err(dev1.sent[0], R1, H1, ich.ICMP_REDIRECT, ich.ICMP_REDIRECT_HOST)
    f = dev1.sent[0]
    assert f[ic + ich.ICMP_GWADDR:ic + ich.ICMP_GWADDR + 4] == _a("10.7.0.77")  # the next hop: the host itself
    assert f[ic + 8:ic + 8 + 28] == req[14:42]  # quoted as it came (TTL 64, before the decrement)
    assert _arp_asked(dev1.sent[1]) == _a("10.7.0.77")  # and the datagram still goes on its way
    assert stat("ip", "ips_redirectsent") == r0 + 1 and stat("icmp", "icps_outhist_redirect") == h0 + 1
    # through a gateway on the same subnet: the redirect names the gateway
    route.route_add("10.9.0.0", "255.255.0.0", "10.7.0.254")
    dev1.sent.clear()
    _feed(nic1, dev1, _ip_frame(H1, "10.9.3.4"))
    ic = _icmp_err(dev1.sent[0], R1, H1, ich.ICMP_REDIRECT, ich.ICMP_REDIRECT_HOST)
    assert dev1.sent[0][ic + 4:ic + 8] == _a("10.7.0.254")
    assert stat("ip", "ips_redirectsent") == r0 + 2
    # a sender off the subnet (behind H1) cannot use a redirect: forwarded without one
    dev1.sent.clear()
    _feed(nic1, dev1, _ip_frame("10.6.0.5", "10.7.0.77"))
    assert all(eh.ethertype(f, 0) != eh.ETHERTYPE_IP for f in dev1.sent)
    # ... and none is sent when redirects are switched off (net.inet.ip.redirect=0)
    ip_forward.set_forwarding(True, redirects=False)
    dev1.sent.clear()
    _feed(nic1, dev1, _ip_frame(H1, "10.7.0.77"))
    assert all(eh.ethertype(f, 0) != eh.ETHERTYPE_IP for f in dev1.sent)
    assert stat("ip", "ips_redirectsent") == r0 + 2
    nic1.active(False)  # held for ARP answers that never come
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_no_forwarding_of_broadcasts_multicasts_and_martians():
    nic1, dev1, nic2, dev2 = _router()
    c0 = stat("ip", "ips_cantforward")
    f0 = stat("ip", "ips_forward")
    cases = (
        _ip_frame(H1, H2, dmac=BCAST),  # a unicast datagram in a link-level broadcast frame
        _ip_frame(H1, H2, dmac=b"\x01\x00\x5e\x00\x00\x01"),  # ... or multicast frame (all-hosts': the
        # link layer keeps only the groups joined, ether_input's mcastfilter)
        _ip_frame(H1, "10.8.0.255"),  # the directed broadcast of the other subnet
        _ip_frame(H1, "10.8.0.0"),  # its all-zeros host (4.2BSD broadcast)
        _ip_frame(H1, "169.254.7.7"),  # link-local (RFC 3927)
        _ip_frame("169.254.7.7", H2),
        _ip_frame(H1, "240.0.0.1"),  # class E
        _ip_frame(H1, "0.1.2.3"),  # "this network"
        _ip_frame(R2, H2),  # our own other address as the source: spoofed
        _ip_frame("10.8.0.255", H2),  # a broadcast address as the source
    )
    for f in cases:
        _feed(nic1, dev1, f)
    assert dev1.sent == [] and dev2.sent == []
    assert stat("ip", "ips_forward") == f0 and stat("ip", "ips_cantforward") == c0 + len(cases)
    # what ip_input itself refuses or takes never reaches ip_forward: multicast (not forwarded
    # without a multicast router), a martian source, loopback
    b0 = stat("ip", "ips_badaddr")
    for f in (_ip_frame(H1, "239.1.2.3", dmac=b"\x01\x00\x5e\x01\x02\x03"), _ip_frame("127.0.0.1", H2),
              _ip_frame(H1, "127.0.0.1"), _ip_frame("224.0.0.5", H2)):
        _feed(nic1, dev1, f)
    assert dev2.sent == [] and stat("ip", "ips_forward") == f0 and stat("ip", "ips_badaddr") == b0 + 3
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_datagram_for_our_other_address_is_delivered_not_forwarded():
    nic1, dev1, nic2, dev2 = _router()
    f0 = stat("ip", "ips_forward")
    req = echo_frame(H1, R2, dmac=R1_MAC, ttl=1)  # TTL 1 does not matter: it is not forwarded
    _feed(nic1, dev1, req)
    assert dev2.sent == [] and len(dev1.sent) == 1
    f = dev1.sent[0]
    assert f[0:6] == HOST_MAC and f[26:30] == _a(R2) and f[30:34] == _a(H1)  # answered from that address
    assert ich.msg_type(f, 34) == ich.ICMP_ECHOREPLY and stat("ip", "ips_forward") == f0
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_forwarding_switched_at_run_time():
    nic1, dev1, nic2, dev2 = _router(forwarding=False)
    _feed(nic1, dev1, echo_frame(H1, H2, dmac=R1_MAC))
    assert dev2.sent == []
    ip_forward.set_forwarding(True)
    assert ip_forward.forwarding()
    _feed(nic1, dev1, echo_frame(H1, H2, dmac=R1_MAC))
    assert len(dev2.sent) == 1
    ip_forward.set_forwarding(False)
    _feed(nic1, dev1, echo_frame(H1, H2, dmac=R1_MAC))
    assert len(dev2.sent) == 1
    assert mbuf.pool_free() == opts.NMBCLUSTERS


# --- redirects received by a host --------------------------------------------------------------
GW = "10.7.0.1"  # the board's default gateway (H1 above)
BOARD = "10.7.0.2"


def _host():
    nic, dev = netfix.make_if(ip=BOARD, gw=GW, dev=netfix.FakeDev(R1_MAC))
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, GW, b"\0" * 6, BOARD))
    nic.poll(1000)
    dev.sent.clear()
    return nic, dev


def _redirect_frame(frm, gw, qdst, qsrc=BOARD, code=ich.ICMP_REDIRECT_HOST, to=BOARD, dmac=R1_MAC):
    """An ICMP redirect from frm: datagrams to qdst should go to gw; quoting a UDP datagram qsrc -> qdst."""
    quoted = bytearray(28)
    iph.emit(quoted, 0, 20, 0, 36, 77, 0, 63, iph.IPPROTO_UDP, inet_aton(qsrc), 0, inet_aton(qdst), 0)
    iph.fill_cksum(quoted, 0)
    quoted[20:28] = b"\xc0\x01\x00\x07\x00\x10\x00\x00"
    msg = bytearray(8) + quoted
    ich.emit(msg, 0, ich.ICMP_REDIRECT, code, 0, 0)
    msg[4:8] = inet_aton(gw)
    ich.fill_cksum(msg, 0, len(msg))
    return _ip_frame(frm, to, proto=iph.IPPROTO_ICMP, payload=bytes(msg), dmac=dmac)


def _hop(nic, dev, dst):
    """Where a datagram from the board to dst goes first: the next hop's address (ARP request) or MAC."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        dev.sent.clear()
        s.sendto(b"x", (dst, 9))
        f = dev.sent[-1]
        return _arp_asked(f) or bytes(f[0:6])
    finally:
        s.close()


def test_redirect_from_the_gateway_installs_a_host_route():
    nic, dev = _host()
    assert _hop(nic, dev, "10.9.0.5") == HOST_MAC  # by the default route, to the gateway
    r0 = stat("icmp", "icps_redirect")
    g0 = route.rtgen[0]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)
    try:
        s.setblocking(False)
        red = _redirect_frame(GW, "10.7.0.3", "10.9.0.5")
        _feed(nic, dev, red)
        assert stat("icmp", "icps_redirect") == r0 + 1 and route.rtgen[0] != g0
        assert ("10.9.0.5", "255.255.255.255", "10.7.0.3", "UGHD") in route.routes()
        assert route.routes()[0][0] == "10.9.0.5"  # a /32: first in the table
        data = s.recv(200)  # raw ICMP sockets see the redirect too
        assert data[20] == ich.ICMP_REDIRECT and data[24:28] == _a("10.7.0.3")
    finally:
        s.close()
    assert _hop(nic, dev, "10.9.0.5") == _a("10.7.0.3")  # now through the new gateway (ARP for it)
    assert _hop(nic, dev, "10.9.0.6") == HOST_MAC  # a host redirect: the neighbour is unchanged
    # redirected again by the gateway we use now for it (10.7.0.3): the entry is updated, not added
    _feed(nic, dev, _redirect_frame("10.7.0.3", "10.7.0.4", "10.9.0.5"))
    assert [r for r in route.routes() if r[0] == "10.9.0.5"] == [("10.9.0.5", "255.255.255.255", "10.7.0.4", "UGHD")]
    # a static route for it takes the place of what a redirect taught
    route.route_add("10.9.0.5", "255.255.255.255", "10.7.0.1")
    assert [r for r in route.routes() if r[0] == "10.9.0.5"] == [("10.9.0.5", "255.255.255.255", "10.7.0.1", "UGHS")]
    nic.active(False)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_bad_redirects_are_refused():
    nic, dev = _host()
    route.route_add("10.9.3.0", "255.255.255.0", "10.7.0.254")
    b0 = stat("icmp", "icps_badredirect")
    before = route.routes()
    bad = (
        _redirect_frame("10.7.0.9", "10.7.0.3", "10.9.0.5"),  # not from our gateway for it
        _redirect_frame(GW, "10.7.0.3", "10.9.3.1"),  # its gateway is 10.7.0.254, not the sender
        _redirect_frame(GW, "10.20.0.1", "10.9.0.5"),  # new gateway off our subnet
        _redirect_frame(GW, BOARD, "10.9.0.5"),  # to ourselves
        _redirect_frame(GW, "10.7.0.255", "10.9.0.5"),  # to the subnet's broadcast
        _redirect_frame(GW, "10.7.0.0", "10.9.0.5"),  # to the subnet's all-zeros address
        _redirect_frame(GW, "10.7.0.3", "10.9.0.5", qsrc="10.7.0.50"),  # about a datagram not ours
        _redirect_frame(GW, "10.7.0.3", "10.7.0.40"),  # about a destination on our link (no gateway)
        _redirect_frame(GW, "10.7.0.3", "10.9.0.5", to="10.7.0.255", dmac=BCAST),  # broadcast to all
    )
    for f in bad:
        _feed(nic, dev, f)
    assert stat("icmp", "icps_badredirect") == b0 + len(bad)
    c0 = stat("icmp", "icps_badcode")
    _feed(nic, dev, _redirect_frame(GW, "10.7.0.3", "10.9.0.5", code=4))
    assert stat("icmp", "icps_badcode") == c0 + 1
    # a router ignores redirects (RFC 1812)
    ip_forward.set_forwarding(True)
    _feed(nic, dev, _redirect_frame(GW, "10.7.0.3", "10.9.0.5"))
    assert stat("icmp", "icps_badredirect") == b0 + len(bad) + 1
    assert route.routes() == before
    # a network redirect is taken as a host redirect (RFC 1122 3.2.2.2)
    ip_forward.set_forwarding(False)
    _feed(nic, dev, _redirect_frame(GW, "10.7.0.3", "10.9.0.5", code=ich.ICMP_REDIRECT_NET))
    assert route.routes()[0] == ("10.9.0.5", "255.255.255.255", "10.7.0.3", "UGHD")
    assert dev.sent == []  # none of them is answered
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_dynamic_routes_are_bounded_oldest_replaced():
    nic, dev = _host()
    n = opts.RT_DYNAMIC_MAX
    for i in range(n + 2):
        _feed(nic, dev, _redirect_frame(GW, "10.7.0.3", "10.9.0.%d" % (10 + i)))
    dyn = [r[0] for r in route.routes() if "D" in r[3]]
    assert len(dyn) == n
    assert sorted(dyn) == sorted("10.9.0.%d" % (10 + i) for i in range(2, n + 2))  # the two oldest went
    assert mbuf.pool_free() == opts.NMBCLUSTERS


# --- IP_HDRINCL ----------------------------------------------------------------------------------
def _hdr(n, ttl=5, ident=0, src="0.0.0.0", dst=GW, frag=iph.IP_DF, total=0, proto=253, vhl=0x45):
    b = bytearray(n)
    iph.emit(b, 0, 20, 0, total, ident, frag, ttl, proto, inet_aton(src), 0, inet_aton(dst), 0)
    b[0] = vhl
    b[10] = 0xAB  # a checksum that is wrong: filled in
    b[11] = 0xCD
    for i in range(20, n):
        b[i] = i & 0xFF
    return b


def test_hdrincl_send_with_a_user_header():
    nic, dev = _host()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
    try:
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL) == 0
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        assert s.getsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL) == 1
        r0 = stat("ip", "ips_rawout")
        d = _hdr(60)
        assert s.sendto(d, (GW, 0)) == 60
        f = dev.sent[-1]
        assert f[0:6] == HOST_MAC and len(f) == 14 + 60 and iph.check(f, 14, 60) == 0
        assert iph.total_len(f, 14) == 60 and iph.ident(f, 14) != 0  # filled: total length, ID
        assert f[26:30] == _a(BOARD)  # 0.0.0.0: our address
        assert iph.ttl(f, 14) == 5 and iph.frag(f, 14) == iph.IP_DF and iph.proto(f, 14) == 253  # the user's
        assert f[34:74] == d[20:60]
        assert stat("ip", "ips_rawout") == r0 + 1
        # what the user gave is kept: ID, source (a raw socket may claim any), total length if right
        s.sendto(_hdr(40, ident=0x1234, src="10.7.0.99", total=40, ttl=1, frag=0), (GW, 0))
        f = dev.sent[-1]
        assert iph.ident(f, 14) == 0x1234 and f[26:30] == _a("10.7.0.99") and iph.ttl(f, 14) == 1
        assert iph.check(f, 14, 40) == 0 and stat("ip", "ips_rawout") == r0 + 2
        # header options are sent as given
        o = _hdr(32)
        o[0] = 0x46
        o[20:24] = b"\x01\x01\x01\x00"
        s.sendto(o, (GW, 0))
        f = dev.sent[-1]
        assert iph.hlen(f, 14) == 24 and iph.check(f, 14, 32) == 0
        # refused: EINVAL for a header that is not IPv4 or does not fit, EMSGSIZE over the MTU
        for bad in (_hdr(40, vhl=0x65), _hdr(40, vhl=0x44), _hdr(40, vhl=0x4F), _hdr(40, total=41), bytes(12)):
            assert ptest.raises(OSError, s.sendto, bad, (GW, 0)).args[0] == socket.EINVAL
        bo = _hdr(32)
        bo[0] = 0x46
        bo[20:24] = b"\x07\x09\x00\x00"  # an option running past the header
        assert ptest.raises(OSError, s.sendto, bo, (GW, 0)).args[0] == socket.EINVAL
        assert ptest.raises(OSError, s.sendto, _hdr(1501), (GW, 0)).args[0] == socket.EMSGSIZE
        assert stat("ip", "ips_rawout") == r0 + 3
        # off again: the payload gets our header in front
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 0)
        s.sendto(b"payload", (GW, 0))
        f = dev.sent[-1]
        assert iph.total_len(f, 14) == 27 and f[34:41] == b"payload" and iph.proto(f, 14) == 253
    finally:
        s.close()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:  # IP_HDRINCL is for raw sockets
        e = ptest.raises(OSError, u.setsockopt, socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        assert e.args[0] == socket.ENOPROTOOPT
    finally:
        u.close()
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_hdrincl_source_is_the_bound_address_and_next_hop_the_sendto_address():
    nic, dev = _host()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)
    try:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        s.bind((BOARD, 0))
        # the header says 10.9.9.9, sent to the gateway: it goes to the gateway's MAC as it is
        s.sendto(_hdr(28, dst="10.9.9.9", proto=1), (GW, 0))
        f = dev.sent[-1]
        assert f[0:6] == HOST_MAC and f[26:30] == _a(BOARD) and f[30:34] == _a("10.9.9.9")
    finally:
        s.close()
    assert mbuf.pool_free() == opts.NMBCLUSTERS


# --- memory ------------------------------------------------------------------------------------
def test_forward_path_heap():
    """Heap bytes the stack allocates per forwarded datagram (it leaves in the cluster it came in)."""
    nic1, dev1, nic2, dev2 = _router()
    rdev = netfix.ReplayDev(echo_frame(H1, H2, dmac=R1_MAC, payload=bytes(56)), mac=R1_MAC)
    out = netfix.ReplayDev(b"", mac=R2_MAC)
    nic1.dev = rdev
    nic2.dev = out
    f0 = stat("ip", "ips_forward")

    def one():
        rdev.count = 1
        nic1.poll(3000)

    for _ in range(5):
        one()
    assert out.nsent == 5 and out.last_len == 14 + 20 + 8 + 56 and stat("ip", "ips_forward") == f0 + 5
    ptest.report_alloc("stack per datagram forwarded", one, n=50, limit=0)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_icmp_answers_of_the_router_heap():
    """Heap per datagram answered with a redirect (and forwarded) and per datagram answered with
    time exceeded: the ICMP error is built in a cluster from the pool; the quote is copied with
    bcopy, whose portable form (the VM's) slices a memoryview (16 B); the viper form on a board
    allocates nothing."""
    from bsdnet import bcopy

    lim = 0 if bcopy.IMPL == "viper" else 16
    nic1, dev1, nic2, dev2 = _router()
    _feed(nic1, dev1, _ip_frame(H1, "10.7.0.77"))  # the router asks for 10.7.0.77 (ARP) ...
    dev1.rxq.append(arp_frame(ah.ARPOP_REPLY, b"\x02\x00\x00\x00\x01\x4d", "10.7.0.77", R1_MAC, R1, dst=R1_MAC))
    nic1.poll(1000)  # ... and learns it from the answer
    red = netfix.ReplayDev(_ip_frame(H1, "10.7.0.77"), mac=R1_MAC)
    nic1.dev = red
    r0 = stat("ip", "ips_redirectsent")
    now = [10000]

    def one():
        red.count = 1
        now[0] += 1000  # past the ICMP rate limit's one-second window
        nic1.poll(now[0])

    one()
    assert red.nsent == 2 and stat("ip", "ips_redirectsent") == r0 + 1  # the redirect, then the datagram
    ptest.report_alloc("stack per datagram forwarded with a redirect", one, n=50, limit=lim)
    exp = netfix.ReplayDev(echo_frame(H1, H2, dmac=R1_MAC, ttl=1), mac=R1_MAC)
    nic1.dev = exp

    def two():
        exp.count = 1
        now[0] += 1000
        nic1.poll(now[0])

    two()
    assert exp.nsent == 1
    ptest.report_alloc("stack per datagram answered with time exceeded", two, n=50, limit=lim)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_hdrincl_send_heap():
    nic, dev = _host()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
    try:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        out = netfix.ReplayDev(b"", mac=R1_MAC)
        nic.dev = out
        d = _hdr(100)
        to = (GW, 0)
        s.sendto(d, to)
        assert out.last_len == 114
        ptest.report_alloc("socket.sendto of an IP_HDRINCL datagram", lambda: s.sendto(d, to), n=50, limit=0)
    finally:
        s.close()


def test_hostile_lan_cannot_drain_the_pool_through_the_router():
    """400 frames a hostile H1 sends through the router: to next hops that never answer ARP
    (held, then dropped: ARP's total quota), TTL 1 and no-route floods (ICMP rate limited), redirect
    bait, broadcasts and martians. The pool's reserve is never reached, nothing leaks, and a good
    datagram is still forwarded afterwards."""
    nic1, dev1, nic2, dev2 = _router()
    x = 12345
    now = 5000
    r0 = stat("icmp", "icps_ratelimited")
    kinds = 6
    for i in range(400):
        x = (x * 1103515245 + 12345) & 0x3FFFFFFF
        k = (x >> 8) % kinds
        h = 3 + (x >> 12) % 250
        if k == 0:
            f = _ip_frame(H1, "10.8.0.%d" % h)  # a host on net 2 that never answers ARP
        elif k == 1:
            f = echo_frame(H1, H2, dmac=R1_MAC, ttl=1)
        elif k == 2:
            f = _ip_frame(H1, "198.51.100.%d" % h)  # no route
        elif k == 3:
            f = _ip_frame(H1, "10.7.0.%d" % h)  # back out the same interface: a redirect each
        elif k == 4:
            f = _ip_frame(H1, "10.8.0.%d" % h, dmac=BCAST)
        else:
            f = _ip_frame("10.8.0.%d" % h, H2)  # spoofed from the other side's subnet: forwarded
        now += 1  # 400 frames in 0.4 s: the ICMP errors meet the rate limit
        _feed(nic1, dev1, f, now)
        dev1.sent.clear()
        dev2.sent.clear()
        free = mbuf.pool_free()
        assert free + sum(mbuf.held) == opts.NMBCLUSTERS, "round %d: an mbuf leaked" % i
        assert free >= opts.MBUF_RESERVE, "round %d: the reserve was reached" % i
    assert stat("icmp", "icps_ratelimited") > r0 or opts.ICMP_LIM > 200
    _feed(nic1, dev1, echo_frame(H1, H2, dmac=R1_MAC, seq=77), now + 1)
    assert [f for f in dev2.sent if f[0:6] == H2_MAC and iph.ttl(f, 14) == 63]
    nic1.active(False)
    nic2.active(False)
    assert mbuf.pool_free() == opts.NMBCLUSTERS
