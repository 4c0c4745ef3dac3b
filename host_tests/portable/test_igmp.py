# IGMPv2 (RFC 2236) on the host side, over the fake device: what a join and a leave send, how
# queries are answered (random delay within the Max Response Time, a running timer only shortened),
# suppression by another member's report, the IGMPv1 querier, bad messages counted, ip_input's
# membership check and the link-level list given to the driver; the socket options around them.
# Time is the test's own (igmpfix.tick, in_mcast.clock), so a 400-second querier timeout takes no time.
from bsdnet import opts, mbuf, socket, igmp
from bsdnet.stats import stat
from bsdnet.inet import inet_aton
import netfix
import ptest
import igmpfix as fx
from igmpfix import BOARD, HOST, OTHER, tick, join, leave, query, report, igmp_sent, igmp_frame, mreq
from netfix import udp_frame

G1 = "239.1.2.3"
G2 = "239.4.5.6"
G1_TWIN = "239.129.2.3"  # the same MAC as G1 (only 23 bits of a group reach the MAC, RFC 1112 6.4)
REPORT = 0x16
V1REPORT = 0x12
LEAVE = 0x17
_socks = fx.socks


def _setup():
    return fx.setup()


def _sock(port=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _socks.append(s)
    if port is not None:
        s.bind(("0.0.0.0", port))
    s.setblocking(False)
    return s


def _end(nic):
    while _socks:
        _socks.pop().close()
    fx.restore_clock()
    assert igmp.igmp_groups() == []
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def _until_report(nic, dev, limit_ms, step=50):
    """Run the clock in steps until the board sends IGMP; (ms waited, messages), or (-1, [])."""
    waited = 0
    while waited <= limit_ms:
        got = igmp_sent(dev)
        if got:
            return waited, got
        tick(nic, step)
        waited += step
    return -1, []


def _delta(table, name, fn):
    before = stat(table, name)
    fn()
    return stat(table, name) - before


# --- joining and leaving ---------------------------------------------------------------------------
def test_join_reports_at_once_and_once_more_within_10s():
    nic, dev = _setup()
    s = _sock(5000)
    join(s, G1)
    assert igmp_sent(dev) == [(REPORT, G1, G1)]  # unsolicited, to the group itself
    assert igmp.igmp_groups() == [(BOARD, G1, 1, "delaying")]
    waited, got = _until_report(nic, dev, 10000)
    assert 0 <= waited <= 10000 and got == [(REPORT, G1, G1)]  # the repeat (RFC 2236 3)
    assert igmp.igmp_groups() == [(BOARD, G1, 1, "idle")]
    tick(nic, 60000)
    assert igmp_sent(dev) == []  # then silence until a query
    assert stat("igmp", "igps_snd_reports") >= 2
    leave(s, G1)
    assert igmp_sent(dev) == [(LEAVE, G1, "224.0.0.2")]
    assert igmp.igmp_groups() == []
    _end(nic)


def test_second_socket_shares_the_group_last_one_out_sends_the_leave():
    nic, dev = _setup()
    a = _sock(5000)
    b = _sock(5001)
    join(a, G1)
    join(b, G1)
    assert igmp_sent(dev) == [(REPORT, G1, G1)]  # one report: the host joined once
    assert igmp.igmp_groups() == [(BOARD, G1, 2, "delaying")]
    leave(a, G1)
    assert igmp_sent(dev) == []  # b is still in it
    b.close()  # closing a socket drops its memberships (inp_freemoptions)
    assert igmp_sent(dev) == [(LEAVE, G1, "224.0.0.2")]
    assert igmp.igmp_groups() == []
    _end(nic)


def test_all_hosts_is_never_reported_and_always_received():
    nic, dev = _setup()
    s = _sock(5000)
    join(s, "224.0.0.1")  # a socket may join it to receive its datagrams; IGMP says nothing
    assert igmp_sent(dev) == []
    dev.rxq.append(udp_frame(HOST, "224.0.0.1", 4000, 5000, b"to all", dmac=fx.group_mac("224.0.0.1")))
    tick(nic)
    assert s.recvfrom(100) == (b"to all", (HOST, 4000))
    tick(nic, 30000)
    leave(s, "224.0.0.1")
    assert igmp_sent(dev) == []  # no leave for all-hosts either
    # still accepted by ip_input without any socket in it (queries come there)
    d = _delta("ip", "ips_notmember", lambda: (dev.rxq.append(query()), tick(nic)))
    assert d == 0
    _end(nic)


def test_link_level_list_follows_the_groups():
    nic, dev = _setup()
    assert dev.mcast is None  # before the first group: the driver's default (every multicast passes)
    a = _sock(5000)
    join(a, G1)
    join(a, G2)
    assert dev.mcast == [fx.group_mac("224.0.0.1"), fx.group_mac(G1), fx.group_mac(G2)]
    join(a, G1_TWIN)  # the same MAC: counted, not listed twice
    assert len(dev.mcast) == 3
    leave(a, G1)
    assert fx.group_mac(G1) in dev.mcast  # G1_TWIN still needs it
    leave(a, G1_TWIN)
    assert dev.mcast == [fx.group_mac("224.0.0.1"), fx.group_mac(G2)]
    a.close()
    assert dev.mcast == [fx.group_mac("224.0.0.1")]
    # and again after the interface was reset (the chip's filter is lost with it)
    dev.mcast = None
    nic.active(False)
    nic.active(True)
    assert dev.mcast == [fx.group_mac("224.0.0.1")]
    igmp_sent(dev)
    _end(nic)


# --- queries ---------------------------------------------------------------------------------------
def _joined_idle(nic, dev, groups, sock=None):
    s = sock or _sock(5000)
    for g in groups:
        join(s, g)
    tick(nic, 10001)  # the unsolicited repeats are out
    igmp_sent(dev)
    return s


def test_general_query_answered_for_each_group_within_max_response_time():
    nic, dev = _setup()
    _joined_idle(nic, dev, (G1, G2))
    for code in (10, 50):  # Max Response Time in tenths of a second: 1 s, 5 s
        dev.rxq.append(query(code=code))
        tick(nic)
        got = igmp_sent(dev)
        waited = 0
        while len(got) < 2 and waited <= code * 100:
            tick(nic, 20)
            waited += 20
            got += igmp_sent(dev)
        assert sorted(got) == [(REPORT, G1, G1), (REPORT, G2, G2)], got
        assert waited <= code * 100
        tick(nic, 30000)
        assert igmp_sent(dev) == []  # once each
    assert stat("igmp", "igps_rcv_gen_queries") >= 2
    _end(nic)


def test_delays_are_random():
    nic, dev = _setup()
    _joined_idle(nic, dev, (G1,))
    seen = []
    for _ in range(6):
        dev.rxq.append(query(code=100))  # 10 s
        tick(nic)
        waited, got = _until_report(nic, dev, 10000, step=100)
        assert got == [(REPORT, G1, G1)] and 0 <= waited <= 10000
        seen.append(waited)
    assert len(set(seen)) > 1, seen  # not a fixed delay: hosts must not answer in step
    _end(nic)


def test_group_specific_query_answers_that_group_only():
    nic, dev = _setup()
    _joined_idle(nic, dev, (G1, G2))
    dev.rxq.append(query(G2, code=10))
    tick(nic)
    waited, got = _until_report(nic, dev, 1000, step=20)
    assert got == [(REPORT, G2, G2)]
    tick(nic, 20000)
    assert igmp_sent(dev) == []
    # a query for a group we are not in is not even for us: its MAC is not ours (ether_input), and
    # one whose MAC we share is not our group (ip_input)
    d = _delta("ether", "mcastfilter", lambda: (dev.rxq.append(query("239.9.9.9", code=10)), tick(nic)))
    assert d == 1
    d = _delta("ip", "ips_notmember", lambda: (dev.rxq.append(query(G1_TWIN, code=10)), tick(nic)))
    assert d == 1
    tick(nic, 20000)
    assert igmp_sent(dev) == []
    assert stat("igmp", "igps_rcv_group_queries") >= 1
    _end(nic)


def test_running_timer_is_only_shortened():
    nic, dev = _setup()
    _joined_idle(nic, dev, (G1,))
    # a query asking within 25.5 s, then one asking within 0.5 s: the answer comes within 0.5 s
    dev.rxq.append(query(code=255))
    tick(nic)
    if igmp_sent(dev):  # the random delay was 0
        return _end(nic)
    dev.rxq.append(query(code=5))
    tick(nic)
    waited, got = _until_report(nic, dev, 500, step=10)
    assert got == [(REPORT, G1, G1)] and waited <= 500
    # a timer due within 1 s is not pushed back by a query allowing 25.5 s
    dev.rxq.append(query(code=10))
    tick(nic)
    if not igmp_sent(dev):
        dev.rxq.append(query(code=255))
        tick(nic)
        waited, got = _until_report(nic, dev, 1000, step=10)
        assert got == [(REPORT, G1, G1)] and waited <= 1000
    _end(nic)


def test_another_members_report_suppresses_ours_and_the_leave():
    nic, dev = _setup()
    s = _joined_idle(nic, dev, (G1, G2))
    dev.rxq.append(query(code=100))
    tick(nic)
    got = igmp_sent(dev)
    if got:  # a delay of 0 for one of them: it answered before the other host could
        return _end(nic)
    dev.rxq.append(report(G1))  # OTHER answers for G1 first
    tick(nic)
    assert stat("igmp", "igps_rcv_reports") >= 1
    got = []
    for _ in range(120):
        tick(nic, 100)
        got += igmp_sent(dev)
    assert got == [(REPORT, G2, G2)]  # G1's answer suppressed
    # G1: someone else reported last, so leaving sends nothing (RFC 2236 3: MAY skip); G2: a leave
    leave(s, G1)
    assert igmp_sent(dev) == []
    leave(s, G2)
    assert igmp_sent(dev) == [(LEAVE, G2, "224.0.0.2")]
    # a v1 report suppresses too
    join(s, G1)
    igmp_sent(dev)
    dev.rxq.append(report(G1, typ=V1REPORT))
    tick(nic)
    tick(nic, 10001)
    assert igmp_sent(dev) == []  # the unsolicited repeat was suppressed as well
    _end(nic)


def test_our_own_report_heard_back_is_ignored():
    nic, dev = _setup()
    _joined_idle(nic, dev, (G1,))
    dev.rxq.append(query(code=50))
    tick(nic)
    # from our own address (a looped or spoofed frame): ip_input's martian check drops it first
    d = _delta("ip", "ips_badaddr",
               lambda: (dev.rxq.append(igmp_frame(BOARD, G1, REPORT, G1, smac=b"\x02\x00\x00\x00\x00\x77")), tick(nic)))
    assert d == 1
    waited, got = _until_report(nic, dev, 5000, step=50)
    assert got == [(REPORT, G1, G1)]  # not suppressed by itself
    _end(nic)


def test_igmpv1_querier_gets_v1_reports_and_no_leave_then_v2_after_400s():
    nic, dev = _setup()
    s = _joined_idle(nic, dev, (G1,))
    dev.rxq.append(query(code=0))  # IGMPv1: Max Response Time 0 means 10 s
    tick(nic)
    waited, got = _until_report(nic, dev, 10000, step=100)
    assert got == [(V1REPORT, G1, G1)] and waited <= 10000
    join(s, G2)  # joins report in v1 as well
    assert igmp_sent(dev) == [(V1REPORT, G2, G2)]
    leave(s, G1)
    assert igmp_sent(dev) == []  # a v1 router does not know leaves
    tick(nic, 400000)  # Version 1 Router Present Timeout: the querier is gone
    igmp_sent(dev)
    dev.rxq.append(query(code=10))
    tick(nic)
    waited, got = _until_report(nic, dev, 1000, step=20)
    assert got == [(REPORT, G2, G2)]
    leave(s, G2)
    assert igmp_sent(dev) == [(LEAVE, G2, "224.0.0.2")]
    _end(nic)


def test_igmpv3_query_answered_as_v2():
    nic, dev = _setup()
    _joined_idle(nic, dev, (G1,))
    # 12 bytes: Resv/S/QRV, QQIC, no sources; code 0x8A: floating point, (0xA | 0x10) << 3 = 208 tenths
    dev.rxq.append(query(code=0x8A, extra=b"\x02\x7d\x00\x00"))
    tick(nic)
    waited, got = _until_report(nic, dev, 20800, step=100)
    assert got == [(REPORT, G1, G1)] and waited <= 20800
    assert stat("igmp", "igps_rcv_v3_queries") >= 1
    _end(nic)


def test_bad_messages_counted_and_ignored():
    nic, dev = _setup()
    _joined_idle(nic, dev, (G1,))
    cases = (
        ("igps_rcv_badsum", query(code=10, bad_sum=True)),
        ("igps_rcv_badttl", query(code=10, ttl=2)),
        ("igps_rcv_badqueries", query(code=10, dst=G1)),  # a general query sent to a group
        ("igps_rcv_badreports", igmp_frame(OTHER, G1, REPORT, G2)),  # a report for another group
    )
    for name, f in cases:
        d = _delta("igmp", name, lambda f=f: (dev.rxq.append(f), tick(nic)))
        assert d == 1, name
    # shorter than 8 bytes: an IP datagram of 4 bytes of IGMP
    f = bytearray(query(code=10))
    f[16:18] = b"\x00\x1c"  # total length 28: the header (24) and 4 bytes
    from bsdnet.hdr import ip as iph

    iph.fill_cksum(f, 14)
    assert _delta("igmp", "igps_rcv_tooshort", lambda: (dev.rxq.append(bytes(f)), tick(nic))) == 1
    tick(nic, 30000)
    assert igmp_sent(dev) == []  # none of them was taken for a query
    _end(nic)


# --- ip_input and the link layer -------------------------------------------------------------------
def test_groups_not_joined_are_dropped_and_counted():
    nic, dev = _setup()
    s = _sock(5000)
    join(s, G1)
    igmp_sent(dev)
    # another group's MAC: dropped by the interface's list (the chip may pass it: W5500, a hash)
    f = udp_frame(HOST, G2, 4000, 5000, b"x", dmac=fx.group_mac(G2))
    assert _delta("ether", "mcastfilter", lambda: (dev.rxq.append(f), tick(nic))) == 1
    # G1's MAC but another group: through the link layer, dropped by ip_input (RFC 1112 7.2)
    f = udp_frame(HOST, G1_TWIN, 4000, 5000, b"x", dmac=fx.group_mac(G1_TWIN))
    assert _delta("ip", "ips_notmember", lambda: (dev.rxq.append(f), tick(nic))) == 1
    # a datagram to the group itself arrives
    dev.rxq.append(udp_frame(HOST, G1, 4000, 5000, b"member", dmac=fx.group_mac(G1)))
    tick(nic)
    assert s.recvfrom(100) == (b"member", (HOST, 4000))
    e = ptest.raises(OSError, s.recv, 10)
    assert e.args[0] == socket.EAGAIN
    leave(s, G1)
    igmp_sent(dev)
    assert _delta("ether", "mcastfilter", lambda: (dev.rxq.append(udp_frame(HOST, G1, 4000, 5000, b"x",
                                                                             dmac=fx.group_mac(G1))),
                                                   tick(nic))) == 1
    _end(nic)


def test_raw_igmp_socket_sees_queries_and_reports():
    nic, dev = _setup()
    r = socket.socket(socket.AF_INET, socket.SOCK_RAW, 2)
    _socks.append(r)
    r.setblocking(False)
    dev.rxq.append(query(code=10))
    tick(nic)
    data, addr = r.recvfrom(100)
    assert addr == (HOST, 0) and data[0] == 0x46 and data[9] == 2 and data[24] == 0x11
    # a bad one is not passed on
    dev.rxq.append(query(code=10, bad_sum=True))
    tick(nic)
    e = ptest.raises(OSError, r.recv, 100)
    assert e.args[0] == socket.EAGAIN
    # nor counted as a protocol nobody handles
    assert _delta("ip", "ips_noproto", lambda: (r.close(), dev.rxq.append(query(code=10)), tick(nic))) == 0
    _end(nic)


# --- socket options --------------------------------------------------------------------------------
def test_membership_option_errors():
    nic, dev = _setup()
    s = _sock(5000)
    P = socket.IPPROTO_IP
    e = ptest.raises(OSError, s.setsockopt, P, socket.IP_ADD_MEMBERSHIP, mreq("10.7.0.9"))
    assert e.args[0] == socket.EINVAL  # not a group
    e = ptest.raises(OSError, s.setsockopt, P, socket.IP_ADD_MEMBERSHIP, mreq(G1, "10.9.9.9"))
    assert e.args[0] == socket.EADDRNOTAVAIL  # not one of our interfaces
    e = ptest.raises(OSError, s.setsockopt, P, socket.IP_ADD_MEMBERSHIP, bytes(inet_aton(G1)))
    assert e.args[0] == socket.EINVAL  # 4 bytes: not an ip_mreq
    e = ptest.raises(OSError, s.setsockopt, P, socket.IP_ADD_MEMBERSHIP, 5)
    assert e.args[0] == socket.EINVAL
    e = ptest.raises(OSError, s.setsockopt, P, socket.IP_DROP_MEMBERSHIP, mreq(G1))
    assert e.args[0] == socket.EADDRNOTAVAIL  # not joined
    join(s, G1)
    e = ptest.raises(OSError, s.setsockopt, P, socket.IP_ADD_MEMBERSHIP, mreq(G1))
    assert e.args[0] == socket.EADDRINUSE  # twice on one socket
    # INADDR_ANY: the interface the route to the group leaves by; 16 bytes as struct.pack("4sl")
    # gives on a 64-bit host (an ip_mreqn with index 0)
    t = _sock(5001)
    t.setsockopt(P, socket.IP_ADD_MEMBERSHIP, bytes(inet_aton(G2)) + bytes(12))
    assert igmp.igmp_groups()[-1][:2] == (BOARD, G2)
    t.setsockopt(P, socket.IP_DROP_MEMBERSHIP, bytes(inet_aton(G2)) + bytes(4))
    e = ptest.raises(OSError, s.setsockopt, P, 99, 1)
    assert e.args[0] == socket.ENOPROTOOPT
    igmp_sent(dev)
    _end(nic)


def test_membership_table_full_is_enobufs_and_nothing_leaks():
    nic, dev = _setup()
    socks = [_sock(5000 + i) for i in range(2)]
    n = 0
    groups = []
    for i in range(opts.IP_MAX_MEMBERSHIPS):
        g = "239.2.0.%d" % (i + 1)
        join(socks[i & 1], g)
        groups.append(g)
        n += 1
    e = ptest.raises(OSError, join, socks[0], "239.2.1.1")
    assert e.args[0] == socket.ENOBUFS
    assert len(igmp.igmp_groups()) == opts.IP_MAX_MEMBERSHIPS
    assert len(dev.mcast) == opts.IP_MAX_MEMBERSHIPS + 1
    # a group joined already can still be joined by another socket (a reference, not a slot)
    join(socks[1], groups[0])
    for s in socks:
        s.close()
    assert igmp.igmp_groups() == []
    assert dev.mcast == [fx.group_mac("224.0.0.1")]
    assert len([x for x in igmp_sent(dev) if x[0] == LEAVE]) == opts.IP_MAX_MEMBERSHIPS
    _end(nic)


def test_ttl_loop_if_values():
    nic, dev = _setup()
    s = _sock()
    P = socket.IPPROTO_IP
    assert s.getsockopt(P, socket.IP_MULTICAST_TTL) == 1  # RFC 1112 6.1 defaults
    assert s.getsockopt(P, socket.IP_MULTICAST_LOOP) == 1
    assert s.getsockopt(P, socket.IP_MULTICAST_IF) == bytes(4)
    s.setsockopt(P, socket.IP_MULTICAST_TTL, 32)
    assert s.getsockopt(P, socket.IP_MULTICAST_TTL) == 32
    s.setsockopt(P, socket.IP_MULTICAST_TTL, b"\x05")  # struct.pack("b", 5), as many examples do
    assert s.getsockopt(P, socket.IP_MULTICAST_TTL) == 5
    s.setsockopt(P, socket.IP_MULTICAST_TTL, b"\x07\x00\x00\x00")  # a packed C int
    assert s.getsockopt(P, socket.IP_MULTICAST_TTL) == 7
    s.setsockopt(P, socket.IP_MULTICAST_TTL, -1)  # back to the default
    assert s.getsockopt(P, socket.IP_MULTICAST_TTL) == 1
    e = ptest.raises(OSError, s.setsockopt, P, socket.IP_MULTICAST_TTL, 256)
    assert e.args[0] == socket.EINVAL
    s.setsockopt(P, socket.IP_MULTICAST_LOOP, 0)
    assert s.getsockopt(P, socket.IP_MULTICAST_LOOP) == 0
    s.setsockopt(P, socket.IP_MULTICAST_LOOP, b"\x01")
    assert s.getsockopt(P, socket.IP_MULTICAST_LOOP) == 1
    s.setsockopt(P, socket.IP_MULTICAST_IF, bytes(inet_aton(BOARD)))
    assert s.getsockopt(P, socket.IP_MULTICAST_IF) == bytes(inet_aton(BOARD))
    e = ptest.raises(OSError, s.setsockopt, P, socket.IP_MULTICAST_IF, bytes(inet_aton("10.7.0.77")))
    assert e.args[0] == socket.EADDRNOTAVAIL
    s.setsockopt(P, socket.IP_MULTICAST_IF, bytes(4))  # INADDR_ANY: as routed again
    assert s.getsockopt(P, socket.IP_MULTICAST_IF) == bytes(4)
    _end(nic)


# --- heap ------------------------------------------------------------------------------------------
def test_heap_per_group_datagram_and_per_query():
    dev = netfix.ReplayDev(udp_frame(HOST, G1, 4000, 5000, bytes(64), dmac=fx.group_mac(G1)))
    nic, _ = netfix.make_if(dev=dev)
    fx.use_clock()
    s = _sock(5000)
    join(s, G1)
    buf = bytearray(64)
    t = [fx.T0 + 20000]

    def rx():
        dev.count = 1
        nic.poll(t[0])
        s.recv_into(buf)

    rx()
    assert buf == bytes(64)
    from bsdnet import bcopy

    copy = 0 if bcopy.IMPL == "viper" else 16  # the copy into buf (as test_udp's figure)
    ptest.report_alloc("multicast datagram in to a member socket (ether filter, ip member check, "
                       "udp multicast loop, recv_into)", rx, limit=copy)
    q = query(code=100)
    dev.frame = bytearray(q)

    def one_query():
        dev.count = 1
        t[0] += 10
        nic.poll(t[0])

    ptest.report_alloc("IGMP general query in (one group's timer started)", one_query, limit=0)
    dev.frame = bytearray(report(G1))
    ptest.report_alloc("IGMP report from another member in (suppression)", one_query, limit=0)
    _end(nic)
