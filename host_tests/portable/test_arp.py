# ARP (RFC 826) over the fake device: replies, table updates, hold queue, retries, eviction.
from bsdnet import opts, mbuf
from bsdnet.compat import ticks_add
from bsdnet.if_ether import ether_output
from bsdnet.stats import stat
from bsdnet.inet import inet_aton
from bsdnet.hdr import ether as eh, arp as ah
import netfix
from netfix import HOST_MAC, BOARD_MAC, BCAST, arp_frame


def _ip_packet(dst):
    """An mbuf holding a minimal IP-looking payload, m.off at the 'IP header'."""
    m = mbuf.m_get()
    m.len = 20
    return m, inet_aton(dst)


def test_reply_to_request_for_us_and_learn_sender():
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    assert nic.poll(1000) == 1
    assert len(dev.sent) == 1
    r = dev.sent[0]
    assert r[0:6] == HOST_MAC and r[6:12] == BOARD_MAC
    assert eh.ethertype(r, 0) == eh.ETHERTYPE_ARP
    assert ah.op(r, 14) == ah.ARPOP_REPLY
    assert r[14 + ah.ARP_SHA:14 + ah.ARP_SHA + 6] == BOARD_MAC
    assert r[14 + ah.ARP_SPA:14 + ah.ARP_SPA + 4] == bytes([10, 7, 0, 2])
    assert r[14 + ah.ARP_THA:14 + ah.ARP_THA + 6] == HOST_MAC
    assert r[14 + ah.ARP_TPA:14 + ah.ARP_TPA + 4] == bytes([10, 7, 0, 1])
    assert ("10.7.0.1", "02:00:00:00:00:01", "reachable") in nic.arp_entries()


def test_no_reply_for_other_targets_and_no_entry_created():
    nic, dev = netfix.make_if()
    before = stat("arp", "notforus")
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.99"))
    nic.poll(1000)
    assert dev.sent == []
    assert nic.arp_entries() == []
    assert stat("arp", "notforus") == before + 1


def test_malformed_arp_is_counted_not_raised():
    nic, dev = netfix.make_if()
    f = bytearray(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    bad = stat("arp", "bad")
    dev.rxq.append(bytes(f[:30]))  # truncated
    f2 = bytearray(f)
    f2[14 + 4] = 8  # hln 8
    dev.rxq.append(bytes(f2))
    nic.poll(1000)
    assert dev.sent == []
    assert stat("arp", "bad") == bad + 2


def test_resolve_holds_then_sends_on_reply():
    nic, dev = netfix.make_if()
    m, dst = _ip_packet("10.7.0.9")
    assert not ether_output(nic, m, dst, 0, 1000)
    # a broadcast request went out for 10.7.0.9
    assert len(dev.sent) == 1 and dev.sent[0][0:6] == BCAST
    assert ah.op(dev.sent[0], 14) == ah.ARPOP_REQUEST
    assert dev.sent[0][14 + ah.ARP_TPA:14 + ah.ARP_TPA + 4] == bytes([10, 7, 0, 9])
    assert mbuf.pool_free() == opts.NMBCLUSTERS - 1  # held
    other = b"\x02\x00\x00\x00\x00\x09"
    dev.rxq.append(arp_frame(ah.ARPOP_REPLY, other, "10.7.0.9", BOARD_MAC, "10.7.0.2", dst=BOARD_MAC))
    nic.poll(1010)
    assert len(dev.sent) == 2
    held = dev.sent[1]
    assert held[0:6] == other and eh.ethertype(held, 0) == eh.ETHERTYPE_IP
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    # now resolved: sent at once
    m, dst = _ip_packet("10.7.0.9")
    assert ether_output(nic, m, dst, 0, 1020)
    assert dev.sent[2][0:6] == other


def test_hold_queue_is_bounded():
    nic, dev = netfix.make_if()
    drops = stat("arp", "holddrops")
    for _ in range(opts.ARP_HOLD + 3):
        m, dst = _ip_packet("10.7.0.9")
        ether_output(nic, m, dst, 0, 1000)
    assert mbuf.pool_free() == opts.NMBCLUSTERS - opts.ARP_HOLD
    assert stat("arp", "holddrops") == drops + 3
    nic.active(False)  # flush frees the hold queue
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_retries_then_gives_up_and_frees_hold():
    nic, dev = netfix.make_if()
    m, dst = _ip_packet("10.7.0.9")
    now = 1000
    ether_output(nic, m, dst, 0, now)
    timeouts = stat("arp", "timeouts")
    for _ in range(opts.ARP_MAXTRIES + 2):
        now = ticks_add(now, opts.ARP_RETRY_MS)
        nic.poll(now)
    requests = [f for f in dev.sent if ah.op(f, 14) == ah.ARPOP_REQUEST]
    assert len(requests) == opts.ARP_MAXTRIES
    assert stat("arp", "timeouts") == timeouts + 1
    assert mbuf.pool_free() == opts.NMBCLUSTERS
    assert ("10.7.0.9", "", "down") in nic.arp_entries()
    # while down, packets are dropped without asking again
    m, dst = _ip_packet("10.7.0.9")
    n = len(dev.sent)
    assert not ether_output(nic, m, dst, 0, now)
    assert len(dev.sent) == n
    # after ARP_DOWN_MS the entry is freed
    nic.poll(ticks_add(now, opts.ARP_DOWN_MS + 1))
    assert nic.arp_entries() == []


def test_update_existing_entry_from_any_arp():
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    nic.poll(1000)
    newmac = b"\x02\x00\x00\x00\x00\x77"
    # a request for someone else still updates the sender we know (RFC 826 merge flag)
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, newmac, "10.7.0.1", b"\0" * 6, "10.7.0.50"))
    nic.poll(1001)
    assert ("10.7.0.1", "02:00:00:00:00:77", "reachable") in nic.arp_entries()


def test_table_full_evicts_least_recently_used():
    nic, dev = netfix.make_if()
    now = 1000
    for i in range(opts.ARP_TABLE_SIZE + 1):
        mac = bytes([2, 0, 0, 0, 1, i])
        dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, mac, "10.7.0.%d" % (10 + i), b"\0" * 6, "10.7.0.2"))
        nic.poll(now + i)
    ips = [e[0] for e in nic.arp_entries()]
    assert len(ips) == opts.ARP_TABLE_SIZE
    assert "10.7.0.10" not in ips  # the oldest went
    assert "10.7.0.%d" % (10 + opts.ARP_TABLE_SIZE) in ips


def test_gratuitous_arp_on_address_change():
    nic, dev = netfix.make_if()
    g = stat("arp", "txgratuitous")
    nic.ifconfig(("10.7.0.3", "255.255.255.0", "10.7.0.1", "0.0.0.0"))
    assert stat("arp", "txgratuitous") == g + 1
    f = dev.sent[-1]
    assert f[0:6] == BCAST
    assert f[14 + ah.ARP_SPA:14 + ah.ARP_SPA + 4] == f[14 + ah.ARP_TPA:14 + ah.ARP_TPA + 4] == bytes([10, 7, 0, 3])


def test_duplicate_address_defended_once_per_interval():
    # RFC 5227 2.4 (b): another host claims our address: count it, announce ours once, and not
    # again for ARP_DEFEND_MS however often the claim repeats; learn nothing from the claimant
    nic, dev = netfix.make_if()
    d = stat("arp", "dupaddr")
    df = stat("arp", "defended")
    thief = b"\x02\x00\x00\x00\x00\x66"
    for k in range(5):
        dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, thief, "10.7.0.2", b"\0" * 6, "10.7.0.2"))
        nic.poll(1000 + k * 100)
    assert stat("arp", "dupaddr") == d + 5 and stat("arp", "defended") == df + 1
    assert len(dev.sent) == 1
    f = dev.sent[0]
    assert f[0:6] == BCAST and ah.op(f, 14) == ah.ARPOP_REQUEST
    assert f[14 + ah.ARP_SHA:14 + ah.ARP_SHA + 6] == BOARD_MAC
    assert f[14 + ah.ARP_SPA:14 + ah.ARP_SPA + 4] == f[14 + ah.ARP_TPA:14 + ah.ARP_TPA + 4] == bytes([10, 7, 0, 2])
    dev.rxq.append(arp_frame(ah.ARPOP_REPLY, thief, "10.7.0.2", BOARD_MAC, "10.7.0.1", dst=BOARD_MAC))
    nic.poll(1000 + opts.ARP_DEFEND_MS + 1)
    assert stat("arp", "defended") == df + 2 and len(dev.sent) == 2
    assert not any(e[0] == "10.7.0.2" for e in nic.arp_entries())


def test_broadcast_or_multicast_sender_hardware_address_ignored():
    nic, dev = netfix.make_if()
    n = stat("arp", "badsha")
    for sha in (BCAST, b"\x01\x00\x5e\x00\x00\x01"):
        dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, sha, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
        nic.poll(1000)
    assert stat("arp", "badsha") == n + 2 and dev.sent == [] and nic.arp_entries() == []


def test_martian_sender_protocol_address_ignored():
    nic, dev = netfix.make_if()
    n = stat("arp", "badspa")
    for spa in ("127.0.0.1", "224.0.0.9", "255.255.255.255", "10.7.0.255", "0.1.2.3", "240.0.0.1"):
        dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, spa, b"\0" * 6, "10.7.0.2"))
        nic.poll(1000)
    assert stat("arp", "badspa") == n + 6 and dev.sent == [] and nic.arp_entries() == []


def test_probe_for_our_address_is_answered_but_teaches_nothing():
    # an RFC 5227 probe (sender 0.0.0.0) for our address: the reply tells the prober it is taken
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "0.0.0.0", b"\0" * 6, "10.7.0.2"))
    nic.poll(1000)
    assert len(dev.sent) == 1 and ah.op(dev.sent[0], 14) == ah.ARPOP_REPLY
    assert nic.arp_entries() == []


def test_never_arp_for_our_own_or_a_martian_address():
    nic, dev = netfix.make_if()
    for a in ("10.7.0.2", "127.0.0.1", "0.0.0.0"):
        m, dst = _ip_packet(a)
        assert not ether_output(nic, m, dst, 0, 1000)
    assert dev.sent == [] and nic.arp_entries() == []


def test_hold_queues_together_stay_within_their_quota():
    # the pool rule: unresolvable next hops (a spoofed flood) hold at most ARP_HOLD_TOTAL
    # clusters in all; the oldest held packet makes room for the newest
    nic, dev = netfix.make_if()
    q = stat("mbuf", "quotadrops")
    n = 0
    for k in range(2 * opts.ARP_TABLE_SIZE):
        for _ in range(opts.ARP_HOLD):
            m, dst = _ip_packet("10.7.0.%d" % (10 + k))
            ether_output(nic, m, dst, 0, 1000 + k)
            n += 1
    assert mbuf.held[mbuf.HOLD_ARP] == opts.ARP_HOLD_TOTAL
    assert mbuf.pool_free() == opts.NMBCLUSTERS - opts.ARP_HOLD_TOTAL
    assert stat("mbuf", "quotadrops") > q
    # the newest packets are the ones held
    last = "10.7.0.%d" % (10 + 2 * opts.ARP_TABLE_SIZE - 1)
    assert (last, "", "incomplete") in nic.arp_entries()
    nic.active(False)
    assert mbuf.pool_free() == opts.NMBCLUSTERS and mbuf.held[mbuf.HOLD_ARP] == 0


def test_unresolvable_addresses_do_not_evict_answered_entries():
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    nic.poll(1000)
    for k in range(3 * opts.ARP_TABLE_SIZE):
        m, dst = _ip_packet("10.7.0.%d" % (100 + k))
        ether_output(nic, m, dst, 0, 2000 + k)
    assert ("10.7.0.1", "02:00:00:00:00:01", "reachable") in nic.arp_entries()
    nic.active(False)


def test_send_to_a_host_arp_gave_up_on_fails_with_ehostdown():
    from bsdnet import socket
    from bsdnet.errno import EHOSTDOWN
    import ptest

    nic, dev = netfix.make_if()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        from bsdnet.compat import ticks_ms

        now = ticks_ms()
        s.sendto(b"x", ("10.7.0.9", 9))  # held for ARP: no error yet
        for _ in range(opts.ARP_MAXTRIES + 1):
            now = ticks_add(now, opts.ARP_RETRY_MS)
            nic.poll(now)
        assert ("10.7.0.9", "", "down") in nic.arp_entries()
        e = ptest.raises(OSError, s.sendto, b"x", ("10.7.0.9", 9))
        assert e.errno == EHOSTDOWN
    finally:
        s.close()
