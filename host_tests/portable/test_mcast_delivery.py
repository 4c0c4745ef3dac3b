# Broadcast and multicast delivery to every matching socket (each its own copy, the pool full again
# afterwards), unicast to the single most specific one; the copies short of clusters or of queue
# room; our own multicast looped back to our member sockets (IP_MULTICAST_LOOP), its TTL
# (IP_MULTICAST_TTL) and interface (IP_MULTICAST_IF); raw sockets; reassembled datagrams. The
# SO_REUSEADDR / SO_REUSEPORT rules are test_so_reuse's.
from bsdnet import opts, mbuf, socket, igmp, route
from bsdnet.netif import Interface
from bsdnet.stats import stat
from bsdnet.inet import inet_aton
from bsdnet.hdr import ether as eh, ip as iph, udp as udph, icmp as ich
from bsdnet.in_cksum import in_cksum, in_pseudo
import netfix
import ptest
import igmpfix as fx
from igmpfix import BOARD, HOST, OTHER, tick, join, igmp_sent
from netfix import HOST_MAC, BOARD_MAC, BCAST, udp_frame, echo_frame

G1 = "239.1.2.3"
G2 = "239.4.5.6"
P = socket.IPPROTO_IP
_socks = fx.socks


def _setup():
    return fx.setup()


def _end():
    fx.end()
    assert igmp.igmp_groups() == []
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def _sock(addr=None, reuse=0, kind=socket.SOCK_DGRAM, proto=0):
    s = socket.socket(socket.AF_INET, kind, proto)
    _socks.append(s)
    s.setblocking(False)
    if reuse & 1:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse & 2:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if addr is not None:
        s.bind(addr)
    return s


def _drain(s):
    """Every datagram queued on s, as (data, addr) pairs."""
    out = []
    while True:
        try:
            out.append(s.recvfrom(2000))
        except OSError as e:
            assert e.args[0] == socket.EAGAIN
            return out


def _delta(table, name, fn):
    before = stat(table, name)
    fn()
    return stat(table, name) - before


def _udp_sent(dev):
    """(dst MAC, src, dst, ttl, sport, dport, payload) of each UDP datagram among dev.sent (removed)."""
    out = []
    keep = []
    for f in dev.sent:
        if len(f) >= 42 and eh.ethertype(f, 0) == eh.ETHERTYPE_IP and f[23] == iph.IPPROTO_UDP:
            assert iph.check(f, 14, len(f) - 14) == 0
            ul = udph.ulen(f, 34)
            assert in_cksum(f, 34, ul, in_pseudo(f, 26, f, 30, 17, ul)) == 0
            out.append((bytes(f[0:6]), "%d.%d.%d.%d" % tuple(f[26:30]), "%d.%d.%d.%d" % tuple(f[30:34]),
                        iph.ttl(f, 14), udph.sport(f, 34), udph.dport(f, 34), bytes(f[42:42 + ul - 8])))
        else:
            keep.append(f)
    dev.sent[:] = keep
    return out


# --- delivery --------------------------------------------------------------------------------------
def test_broadcast_goes_to_every_matching_socket_unicast_to_one():
    nic, dev = _setup()
    a = _sock(("0.0.0.0", 6000), reuse=2)
    b = _sock(("0.0.0.0", 6000), reuse=2)
    c = _sock((BOARD, 6000), reuse=1)  # a specific address beside the wildcard ones (SO_REUSEADDR)
    d = _sock(("0.0.0.0", 6001))
    for dst in ("10.7.0.255", "255.255.255.255"):
        dev.rxq.append(udp_frame(HOST, dst, 4000, 6000, b"hello all " + dst.encode(), dmac=BCAST))
        tick(nic)
        want = [(b"hello all " + dst.encode(), (HOST, 4000))]
        assert _drain(a) == want and _drain(b) == want
        assert _drain(c) == [] and _drain(d) == []  # bound elsewhere: not for them (BSD)
        assert mbuf.pool_free() == opts.NMBCLUSTERS  # the copies went back as they were read
    # unicast to the port: one socket only, the most specific (c: its address, no wildcard)
    dev.rxq.append(udp_frame(HOST, BOARD, 4000, 6000, b"just one"))
    tick(nic)
    assert _drain(c) == [(b"just one", (HOST, 4000))]
    assert _drain(a) == [] and _drain(b) == []
    c.close()
    dev.rxq.append(udp_frame(HOST, BOARD, 4000, 6000, b"one of two"))
    tick(nic)
    assert len(_drain(a)) + len(_drain(b)) == 1
    # a socket connected to another peer does not get the host's broadcasts
    a.connect((OTHER, 7))
    dev.rxq.append(udp_frame(HOST, "10.7.0.255", 4000, 6000, b"b", dmac=BCAST))
    tick(nic)
    assert _drain(a) == [] and _drain(b) == [(b"b", (HOST, 4000))]
    # nobody on the port: counted, never answered
    assert _delta("udp", "udps_noportbcast", lambda: (dev.rxq.append(udp_frame(HOST, "10.7.0.255", 4000, 6009,
                                                                               b"?", dmac=BCAST)), tick(nic))) == 1
    assert dev.sent == []
    _end()


def test_multicast_only_to_sockets_in_the_group():
    nic, dev = _setup()
    a = _sock(("0.0.0.0", 7000), reuse=2)
    b = _sock(("0.0.0.0", 7000), reuse=2)
    join(a, G1)
    igmp_sent(dev)
    f = udp_frame(HOST, G1, 4000, 7000, b"group one", dmac=fx.group_mac(G1))
    assert _delta("udp", "udps_filtermcast", lambda: (dev.rxq.append(f), tick(nic))) == 1  # b is not in it
    assert _drain(a) == [(b"group one", (HOST, 4000))] and _drain(b) == []
    join(b, G1)
    c = _sock((G1, 7000), reuse=1)  # bound to the group's address: only that group's datagrams
    join(c, G1)
    d = _sock((G2, 7000), reuse=1)
    join(d, G2)
    igmp_sent(dev)
    dev.rxq.append(f)
    tick(nic)
    want = [(b"group one", (HOST, 4000))]
    assert _drain(a) == want and _drain(b) == want and _drain(c) == want and _drain(d) == []
    dev.rxq.append(udp_frame(HOST, G2, 4000, 7000, b"two", dmac=fx.group_mac(G2)))
    tick(nic)
    assert _drain(d) == [(b"two", (HOST, 4000))] and _drain(a) == []
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    igmp_sent(dev)
    _end()


def test_copies_short_of_clusters_or_queue_room_are_counted():
    nic, dev = _setup()
    socks = [_sock(("0.0.0.0", 6100), reuse=2) for _ in range(3)]
    # the pool almost empty: the frame itself gets the last cluster, no copy can be made
    held = []
    while mbuf.pool_free() > 1:
        held.append(mbuf.m_get())
    d = _delta("udp", "udps_fullsock", lambda: (dev.rxq.append(udp_frame(HOST, "10.7.0.255", 4000, 6100, b"x",
                                                                         dmac=BCAST)), tick(nic)))
    assert d == 2
    got = [len(_drain(s)) for s in socks]
    assert got == [0, 0, 1]  # the last match took the original
    for m in held:
        mbuf.m_free(m)
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    # queue room: every copy is either queued on a socket or counted in udps_fullsock (a socket's
    # queue full, opts.UDP_RCVQ, or the oldest datagram dropped for room in all the sockets'
    # share of the pool, opts.SB_MBUFS: mbuf quotadrops too)
    n = 6
    st0 = stat("udp", "udps_fullsock")
    q0 = stat("mbuf", "quotadrops")
    for i in range(n):
        dev.rxq.append(udp_frame(HOST, "10.7.0.255", 4000, 6100, b"%d" % i, dmac=BCAST))
        tick(nic)
    dropped = stat("udp", "udps_fullsock") - st0
    queued = [len(_drain(s)) for s in socks]
    assert sum(queued) + dropped == 3 * n, (queued, dropped)
    assert max(queued) <= opts.UDP_RCVQ and sum(queued) <= opts.SB_MBUFS and stat("mbuf", "quotadrops") > q0
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    _end()


def test_raw_sockets_each_get_a_copy_and_multicast_filter():
    nic, dev = _setup()
    r1 = _sock(kind=socket.SOCK_RAW, proto=1)
    r2 = _sock(kind=socket.SOCK_RAW, proto=1)
    rep = bytearray(echo_frame(HOST, BOARD, ident=7, seq=9, payload=b"pong"))
    rep[34] = ich.ICMP_ECHOREPLY
    rep[36] = rep[37] = 0
    ich.fill_cksum(rep, 34, 12)
    dev.rxq.append(bytes(rep))
    tick(nic)
    a = _drain(r1)
    b = _drain(r2)
    assert len(a) == 1 and a == b and a[0][1] == (HOST, 0) and a[0][0][20] == ich.ICMP_ECHOREPLY
    r1.close()
    r2.close()
    # OSPF-like: a raw socket of protocol 89 in 224.0.0.5 gets it; one with multicast options but
    # not in the group does not; one without any multicast state gets what ip_input let in (BSD)
    ospf = "224.0.0.5"
    m1 = _sock(kind=socket.SOCK_RAW, proto=89)
    join(m1, ospf)
    m2 = _sock(kind=socket.SOCK_RAW, proto=89)
    m2.setsockopt(P, socket.IP_MULTICAST_TTL, 1)
    f = _ip_frame(HOST, ospf, 89, b"hello neighbours")
    dev.rxq.append(f)
    tick(nic)
    assert len(_drain(m1)) == 1 and _drain(m2) == []
    m2.close()
    m3 = _sock(kind=socket.SOCK_RAW, proto=89)
    dev.rxq.append(f)
    tick(nic)
    assert len(_drain(m1)) == 1 and len(_drain(m3)) == 1
    igmp_sent(dev)
    _end()


def _ip_frame(src, dst, proto, payload):
    n = 20 + len(payload)
    b = bytearray(14 + n)
    dmac = fx.group_mac(dst) if inet_aton(dst)[0] >= 224 else BOARD_MAC
    eh.emit(b, 0, dmac, 0, HOST_MAC, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, 20, 0, n, 3, 0, 1, proto, inet_aton(src), 0, inet_aton(dst), 0)
    iph.fill_cksum(b, 14)
    b[34:] = payload
    if len(b) < 60:
        b.extend(bytes(60 - len(b)))
    return bytes(b)


# --- output: loopback, TTL, interface --------------------------------------------------------------
def test_own_multicast_looped_back_to_member_sockets():
    nic, dev = _setup()
    member = _sock(("0.0.0.0", 7100), reuse=2)
    join(member, G1)
    igmp_sent(dev)
    tx = _sock()
    tx.sendto(b"to the group", (G1, 7100))
    port = tx.getsockname()[1]
    assert _drain(member) == [(b"to the group", (BOARD, port))]  # looped back (IP_MULTICAST_LOOP 1)
    sent = _udp_sent(dev)
    assert sent == [(fx.group_mac(G1), BOARD, G1, 1, port, 7100, b"to the group")]  # TTL 1 by default
    # the sender in the group itself hears itself too (BSD and Linux do)
    join(tx, G1)
    tx.sendto(b"me too", (G1, 7100))
    assert _drain(member) == [(b"me too", (BOARD, port))]
    assert len(_udp_sent(dev)) == 1
    tx.close()
    igmp_sent(dev)
    tx = _sock()
    tx.setsockopt(P, socket.IP_MULTICAST_LOOP, 0)
    tx.sendto(b"not to us", (G1, 7100))
    assert _drain(member) == [] and len(_udp_sent(dev)) == 1
    tx.setsockopt(P, socket.IP_MULTICAST_LOOP, 1)
    tx.setsockopt(P, socket.IP_MULTICAST_TTL, 0)  # host-local
    tx.sendto(b"only here", (G1, 7100))
    assert len(_drain(member)) == 1 and _udp_sent(dev) == []
    tx.setsockopt(P, socket.IP_MULTICAST_TTL, 5)
    tx.sendto(b"further", (G1, 7100))
    assert _udp_sent(dev)[0][3] == 5 and len(_drain(member)) == 1
    # to a group nobody here is in: out, and no copy
    assert _delta("mbuf", "gets", lambda: tx.sendto(b"g2", (G2, 7100))) == 1
    assert len(_udp_sent(dev)) == 1
    # raw sockets loop back too
    r = _sock(kind=socket.SOCK_RAW, proto=89)
    join(r, "224.0.0.5")
    r.sendto(b"hello", ("224.0.0.5", 0))
    got = _drain(r)
    assert len(got) == 1 and got[0][0][20:] == b"hello" and got[0][0][8] == 1  # TTL 1
    igmp_sent(dev)
    dev.sent.clear()
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    _end()


def test_multicast_if_picks_the_interface():
    nic, dev = _setup()
    dev2 = netfix.FakeDev(b"\x02\x00\x00\x00\x00\x22")
    nic2 = Interface(dev2)
    nic2.active(True)
    nic2.ifconfig(("10.8.0.2", "255.255.255.0", "0.0.0.0", "0.0.0.0"))
    dev2.sent.clear()
    assert route.ifnet == [nic, nic2]
    tx = _sock()
    tx.setsockopt(P, socket.IP_MULTICAST_LOOP, 0)
    tx.sendto(b"first", (G1, 7200))
    assert len(_udp_sent(dev)) == 1 and dev2.sent == []  # as routed: the first interface
    tx.setsockopt(P, socket.IP_MULTICAST_IF, bytes(inet_aton("10.8.0.2")))
    tx.sendto(b"second", (G1, 7200))
    assert dev.sent == []
    out = _udp_sent(dev2)
    assert len(out) == 1 and out[0][1] == "10.8.0.2" and out[0][2] == G1
    # a membership on the second interface: reported there, from its address; received there only
    rx = _sock(("0.0.0.0", 7200))
    join(rx, G1, "10.8.0.2")
    assert igmp_sent(dev2, src="10.8.0.2") == [(0x16, G1, G1)] and igmp_sent(dev) == []
    assert dev2.mcast[-1] == fx.group_mac(G1) and dev.mcast is None  # the first interface has no group
    f = udp_frame(HOST, G1, 4000, 7200, b"on 2", dmac=fx.group_mac(G1))
    dev.rxq.append(f)
    tick(nic)
    assert _drain(rx) == []
    dev2.rxq.append(f)
    nic2.poll(fx.now[0])
    assert _drain(rx) == [(b"on 2", (HOST, 4000))]
    # the ip_mreqn form: index 2 is the second interface
    rx2 = _sock(("0.0.0.0", 7201))
    rx2.setsockopt(P, socket.IP_ADD_MEMBERSHIP, bytes(inet_aton(G2)) + bytes(4) + b"\x02\x00\x00\x00")
    assert igmp_sent(dev2, src="10.8.0.2") == [(0x16, G2, G2)]
    rx.close()
    rx2.close()
    igmp_sent(dev2, src="10.8.0.2")
    # the chosen interface goes down: no route for the group's datagrams
    nic2.active(False)
    e = ptest.raises(OSError, tx.sendto, b"x", (G1, 7200))
    assert e.args[0] in (socket.EHOSTUNREACH, socket.ENETDOWN)
    _end()


# --- heap --------------------------------------------------------------------------------------
def test_heap_per_broadcast_to_three_sockets():
    dev = netfix.ReplayDev(udp_frame(HOST, "10.7.0.255", 4000, 6200, bytes(64), dmac=BCAST))
    nic, _ = netfix.make_if(dev=dev)
    socks = [_sock(("0.0.0.0", 6200), reuse=2) for _ in range(3)]
    buf = bytearray(64)

    def rx():
        dev.count = 1
        nic.poll(5000)
        for s in socks:
            s.recv_into(buf)

    rx()
    from bsdnet import bcopy

    # two copies made (m_copypacket) and three copies out to buf: bcopy's memoryview slice each
    # in the MicroPython VM (16 B), nothing with the viper bcopy of a board
    per = 0 if bcopy.IMPL == "viper" else 5 * 16
    ptest.report_alloc("broadcast datagram to 3 sockets (2 m_copypacket, 3 recv_into)", rx, limit=per)
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    _end()


def test_heap_per_multicast_send_looped_back():
    nic, dev = _setup()
    member = _sock(("0.0.0.0", 7300), reuse=2)
    join(member, G1)
    tx = _sock(("0.0.0.0", 7301))
    data = bytes(64)
    buf = bytearray(64)
    addr = (G1, 7300)
    dev.fail_send = True  # the fake device keeps no copy (its own heap would count); counted as oerrors

    def one():
        tx.sendto(data, addr)
        member.recv_into(buf)

    one()
    from bsdnet import bcopy

    # the loop-back copy (m_copypacket) and the copy out to buf: one slice each with the portable bcopy
    per = 0 if bcopy.IMPL == "viper" else 2 * 16
    ptest.report_alloc("multicast sendto looped back to a member socket (ip_mloopback) and read", one, limit=per)
    dev.fail_send = False
    igmp_sent(dev)
    _end()


def test_before_any_option_a_port_has_one_socket():
    """in_mcast is loaded by the first reuse or multicast option a datagram socket sets; before
    that (here: taken out of sys.modules for the test) udp_input finds the one socket a port can
    have, with the same rules: broadcast to a wildcard-bound socket, no group datagram to a socket
    that joined nothing."""
    import sys

    nic, dev = _setup()
    saved = sys.modules.pop("bsdnet.in_mcast")
    try:
        a = _sock(("0.0.0.0", 6300))
        c = _sock((BOARD, 6301))
        dev.rxq.append(udp_frame(HOST, "10.7.0.255", 4000, 6300, b"to all", dmac=BCAST))
        tick(nic)
        assert _drain(a) == [(b"to all", (HOST, 4000))]
        d = _delta("udp", "udps_noportbcast", lambda: (dev.rxq.append(udp_frame(HOST, "10.7.0.255", 4000, 6301,
                                                                                 b"x", dmac=BCAST)), tick(nic)))
        assert d == 1 and _drain(c) == []  # bound to its unicast address: not a broadcast's
        f = udp_frame(HOST, "224.0.0.1", 4000, 6300, b"x", dmac=fx.group_mac("224.0.0.1"))
        assert _delta("udp", "udps_filtermcast", lambda: (dev.rxq.append(f), tick(nic))) == 1
        assert _drain(a) == [] and "bsdnet.in_mcast" not in sys.modules
        a.sendto(b"out", (G1, 7000))  # to a group: TTL 1 (RFC 1112 6.1), nobody here to loop it to
        assert [x[3] for x in _udp_sent(dev)] == [1]
    finally:
        sys.modules["bsdnet.in_mcast"] = saved
    _end()


def test_reassembled_group_datagram_to_two_sockets_and_looped_back_in_fragments():
    """A datagram larger than the MTU to a group: reassembled from its fragments, it reaches both
    member sockets (a chain of clusters copied for the first); sent by the board, it leaves in
    fragments and its looped-back copy, a chain too, reaches the members."""
    import fragfix

    nic, dev = _setup()
    a = _sock(("0.0.0.0", 7400), reuse=2)
    b = _sock(("0.0.0.0", 7400), reuse=2)
    join(a, G1)
    join(b, G1)
    igmp_sent(dev)
    # two clusters: both sockets' copies fit the sockets' share of the pool (opts.SB_MBUFS, 5); small
    # enough for a Pico's heap to hold the test's own copies of it
    data = fragfix.pattern(1700, 5)
    d = fragfix.udp_datagram(555, 7400, data, dst=G1)
    for lo, hi in ((1480, len(d)), (0, 1480)):  # out of order
        dev.rxq.append(fragfix.frag(d, lo, hi, 77, dst=G1, dmac=fx.group_mac(G1)))
        tick(nic)
    assert a.recv(2000) == data and b.recv(2000) == data
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    tx = _sock()
    tx.sendto(data, (G1, 7400))
    assert a.recv(2000) == data and b.recv(2000) == data  # looped back (a chain), to each
    frames = [f for f in dev.sent if eh.ethertype(f, 0) == eh.ETHERTYPE_IP and f[23] == iph.IPPROTO_UDP]
    assert len(frames) == 2 and all(f[0:6] == fx.group_mac(G1) and iph.ttl(f, 14) == 1 for f in frames)
    dev.sent.clear()
    _end()
