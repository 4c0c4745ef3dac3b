# What a hostile LAN sends, one kind at a time: martian sources, source routes, bad options, our
# address in link-level broadcast frames, UDP to port 0, sends to 127/8 and 0.0.0.0, /31 subnets,
# floods of datagrams nobody reads (the socket quota), and counters past their wrap point.
from bsdnet import opts, mbuf, socket, stats
from bsdnet.stats import stat
from bsdnet.hdr import ip as iph, icmp as ich
from bsdnet.inet import InIfaddr, inet_aton
from bsdnet.errno import EADDRNOTAVAIL
import netfix
import ptest
from netfix import BCAST, echo_frame, udp_frame

_MCAST_MAC = b"\x01\x00\x5e\x00\x00\x01"


def _feed(nic, dev, frames, now=1000):
    for f in frames:
        dev.rxq.append(f)
        nic.poll(now)


def test_martian_sources_dropped_and_never_answered():
    nic, dev = netfix.make_if()
    n = stat("ip", "ips_badaddr")
    srcs = ("127.0.0.1", "0.1.2.3", "224.0.0.5", "239.1.1.1", "240.0.0.1", "255.255.255.255", "10.7.0.255",
            "10.7.0.0", "10.7.0.2")
    for src in srcs:
        _feed(nic, dev, [echo_frame(src, "10.7.0.2"), udp_frame(src, "10.7.0.2", 1000, 9999, b"x")])
    assert stat("ip", "ips_badaddr") == n + 2 * len(srcs)
    assert dev.sent == []  # no echo reply, no port unreachable, no ARP request
    assert nic.arp_entries() == []


def test_null_source_only_to_broadcast_and_never_answered():
    # 0.0.0.0 is a legal source only for a host asking without an address (DHCP, to broadcast)
    nic, dev = netfix.make_if()
    n = stat("ip", "ips_badaddr")
    _feed(nic, dev, [echo_frame("0.0.0.0", "10.7.0.2")])
    assert stat("ip", "ips_badaddr") == n + 1
    u = stat("udp", "udps_noportbcast")
    _feed(nic, dev, [udp_frame("0.0.0.0", "255.255.255.255", 68, 67, b"discover", dmac=BCAST)])
    assert stat("ip", "ips_badaddr") == n + 1 and stat("udp", "udps_noportbcast") == u + 1
    assert dev.sent == []


def test_destination_loopback_or_zero_dropped():
    nic, dev = netfix.make_if()
    n = stat("ip", "ips_badaddr")
    _feed(nic, dev, [echo_frame("10.7.0.1", "127.0.0.1"), echo_frame("10.7.0.1", "0.0.0.0")])
    assert stat("ip", "ips_badaddr") == n + 2 and dev.sent == []


def test_source_routed_datagrams_dropped():
    nic, dev = netfix.make_if()
    n = stat("ip", "ips_nosrcroute")
    # LSRR and SSRR, each with one hop (pointer 4), then EOL padding
    for kind in (iph.IPOPT_LSRR, iph.IPOPT_SSRR):
        opt = bytes([kind, 7, 4, 10, 7, 0, 1, 0])
        _feed(nic, dev, [echo_frame("10.7.0.1", "10.7.0.2", options=opt)])
    assert stat("ip", "ips_nosrcroute") == n + 2 and dev.sent == []


def test_malformed_option_answered_with_parameter_problem():
    nic, dev = netfix.make_if()
    dev.rxq.append(netfix.arp_frame(1, netfix.HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    nic.poll(1000)  # resolves 10.7.0.1 (the answer goes there)
    dev.sent.clear()
    n = stat("ip", "ips_badoptions")
    opt = bytes([iph.IPOPT_RR, 1, 0, 0])  # length 1: malformed (at header byte 21)
    _feed(nic, dev, [echo_frame("10.7.0.1", "10.7.0.2", options=opt)])
    assert stat("ip", "ips_badoptions") == n + 1
    assert len(dev.sent) == 1
    r = dev.sent[0]
    ic = 14 + 20
    assert r[14 + iph.IP_P] == iph.IPPROTO_ICMP and ich.msg_type(r, ic) == ich.ICMP_PARAMPROB
    assert ich.pptr(r, ic) == 21
    # the same from a link-level broadcast frame: not answered
    _feed(nic, dev, [echo_frame("10.7.0.1", "10.7.0.2", options=opt, dmac=BCAST)])
    assert stat("ip", "ips_badoptions") == n + 2 and len(dev.sent) == 1


def test_our_address_in_link_broadcast_or_multicast_frame_not_answered():
    # M_BCAST/M_MCAST travel with the mbuf: no echo reply, no port unreachable, no RST
    nic, dev = netfix.make_if()
    e = stat("icmp", "icps_bmcastecho")
    b = stat("icmp", "icps_bmcasterr")
    for dmac in (BCAST, _MCAST_MAC):
        _feed(nic, dev, [echo_frame("10.7.0.1", "10.7.0.2", dmac=dmac),
                         udp_frame("10.7.0.1", "10.7.0.2", 1000, 9999, b"x", dmac=dmac)])
    assert stat("icmp", "icps_bmcastecho") == e + 2 and stat("icmp", "icps_bmcasterr") == b + 2
    assert dev.sent == []


def test_udp_to_port_zero_dropped_without_answer():
    # port 0 is no port: an unbound socket (local port 0) must not receive it
    nic, dev = netfix.make_if()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setblocking(False)
        n = stat("udp", "udps_port0")
        _feed(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 1000, 0, b"x"),
                         udp_frame("10.7.0.1", "10.7.0.255", 1000, 0, b"y", dmac=BCAST)])
        assert stat("udp", "udps_port0") == n + 2 and dev.sent == []
        ptest.raises(OSError, s.recv, 10)
    finally:
        s.close()


def test_send_to_loopback_or_zero_fails_with_eaddrnotavail():
    nic, dev = netfix.make_if()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        for a in ("127.0.0.1", "127.9.9.9", "0.0.0.0"):
            assert ptest.raises(OSError, s.sendto, b"x", (a, 9)).errno == EADDRNOTAVAIL
        assert ptest.raises(OSError, t.connect, ("127.0.0.1", 80)).errno == EADDRNOTAVAIL
        assert dev.sent == []
    finally:
        s.close()
        t.close()


def test_slash_31_has_no_broadcast_address():
    ia = InIfaddr()
    ia.set("10.9.0.0", "255.255.255.254")
    for a in ("10.9.0.0", "10.9.0.1"):
        assert not ia.is_broadcast(inet_aton(a), 0)
    assert ia.is_broadcast(inet_aton("255.255.255.255"), 0)
    assert not ia.martian_src(inet_aton("10.9.0.1"), 0, False)
    ia.set("10.9.0.1", "255.255.255.254")
    assert ia.martian_src(inet_aton("10.9.0.1"), 0, False)  # our own
    assert not ia.martian_src(inet_aton("10.9.0.0"), 0, False)  # the peer
    ia.set("10.9.0.5", "255.255.255.0")
    assert ia.is_broadcast(inet_aton("10.9.0.255"), 0) and ia.martian_src(inet_aton("10.9.0.255"), 0, False)


def test_socket_queues_together_stay_within_their_quota():
    # the pool rule: datagrams no one reads hold at most SB_MBUFS clusters over all sockets; the
    # oldest datagram of the longest queue makes room, so the other sockets keep receiving
    nic, dev = netfix.make_if()
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        a.bind(("0.0.0.0", 5001))
        b.bind(("0.0.0.0", 5002))
        a.setblocking(False)
        b.setblocking(False)
        q = stat("mbuf", "quotadrops")
        for k in range(opts.UDP_RCVQ):
            _feed(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 1000, 5001, b"a%d" % k)])
        for k in range(opts.SB_MBUFS):
            _feed(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 1000, 5002, b"b%d" % k)])
        assert mbuf.held[mbuf.HOLD_SOCK] == opts.SB_MBUFS
        assert mbuf.pool_free() == opts.NMBCLUSTERS - opts.SB_MBUFS
        assert stat("mbuf", "quotadrops") > q
        got_b = []
        while True:
            try:
                got_b.append(b.recv(16))
            except OSError:
                break
        # b got in: its newest datagrams are there
        assert got_b and got_b[-1] == b"b%d" % (opts.SB_MBUFS - 1)
    finally:
        a.close()
        b.close()
    assert mbuf.held[mbuf.HOLD_SOCK] == 0 and mbuf.pool_free() == opts.NMBCLUSTERS


def test_counters_wrap_without_allocating():
    a = [0] * 2
    a[0] = stats.WRAP
    stats.stat_inc(a, 0)
    assert a[0] == 0
    a[1] = stats.WRAP - 5
    stats.stat_add(a, 1, 1514)
    assert a[1] == 1508
    # the echo path with every counter it touches parked just below the wrap point allocates
    # nothing (a counter that reached 2**30 would be a heap int on a 32-bit port)
    nic, fake = netfix.make_if()
    _feed(nic, fake, [netfix.arp_frame(1, netfix.HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2")])
    dev = nic.dev = netfix.ReplayDev(echo_frame("10.7.0.1", "10.7.0.2"))
    tables = (stats.ipstat, stats.icmpstat, stats.etherstat, stats.mbstat, nic.ifstat)
    saved = [list(t) for t in tables]
    for t in tables:
        for i in range(len(t)):
            if t is not stats.mbstat or i != stats.stat_index("mbuf", "min_free"):
                t[i] = stats.WRAP - 3

    def one():
        dev.count = 1
        nic.poll(1000)

    try:
        for _ in range(8):
            one()
        assert dev.nsent == 8
        assert stats.ipstat[stats.stat_index("ip", "ips_total")] == 4  # wrapped
        ptest.report_alloc("echo with counters past the wrap point", one, n=20, limit=0)
    finally:
        for t, v in zip(tables, saved):
            t[:] = v


def test_every_counter_has_a_name():
    for key, a, names, prefix in stats.TABLES + [("mbuf", stats.mbstat, stats.MBS_NAMES, ""),
                                                  ("if", nic_ifstat(), stats.IFS_NAMES, "")]:
        d = stats.stat_dict(a, names, prefix)
        assert len(d) == len(a), key


def nic_ifstat():
    nic, dev = netfix.make_if()
    return nic.ifstat
