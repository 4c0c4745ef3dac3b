# The DNS resolver (bsdnet.dns) against a fake server inside the fake device: it answers each
# query it sees leave (and ARP for itself), as the test scripts it: plain A, CNAME chains with
# compression, NXDOMAIN, silence (timeouts, servers in turn), spoofed and malformed answers.
import sys
from bsdnet import dns, stats, socket
from bsdnet.inet import inet_aton
from bsdnet.hdr import arp as ah
from netfix import FakeDev, make_if, udp_frame, arp_frame, BOARD_MAC, HOST_MAC
import ptest

SERVER = "10.7.0.1"


class DnsDev(FakeDev):
    """Answers ARP for any 10.7.0.x server, and each DNS query with what self.answer(q) returns:
    a list of (src, sport, payload) datagrams (or [] for silence)."""

    def __init__(self):
        FakeDev.__init__(self)
        self.answer = None
        self.queries = []

    def send(self, buf, n):
        f = bytes(buf[0:n])
        self.sent.append(f)
        if f[12:14] == b"\x08\x06" and f[20:22] == b"\x00\x01" and f[38:42] != f[28:32]:  # not a gratuitous one
            tpa = ".".join(str(x) for x in f[38:42])
            self.rxq.append(arp_frame(ah.ARPOP_REPLY, HOST_MAC, tpa, BOARD_MAC, "10.7.0.2", dst=BOARD_MAC))
        elif f[12:14] == b"\x08\x00" and f[23] == 17 and f[36:38] == b"\x00\x35":
            q = f[42:]
            dst = ".".join(str(x) for x in f[30:34])
            sport = (f[34] << 8) | f[35]
            self.queries.append(dst)
            for src, port, payload in self.answer(q, dst):
                self.rxq.append(udp_frame(src, "10.7.0.2", port, sport, payload))
        return True


def setup(servers=(SERVER,)):
    dev = DnsDev()
    nic, _ = make_if(dev=dev)
    nic.ifconfig(("10.7.0.2", "255.255.255.0", SERVER, servers[0]))
    nic.nameservers = list(servers)
    dns.set_servers([])
    dns.cache_flush()
    dns.timeout_ms = 300
    stats.stat_reset(dns.dnsstat)
    return nic, dev


def name(s):
    out = b""
    for label in s.split("."):
        out += bytes((len(label),)) + label.encode()
    return out + b"\x00"


def rr(owner, typ, rdata, ttl=300):
    return owner + bytes((0, typ, 0, 1)) + ttl.to_bytes(4, "big") + len(rdata).to_bytes(2, "big") + rdata


def msg(q, answers, rcode=0, qid=None, question=None):
    """An answer to query q: its id and question (or others), the records given."""
    h = bytearray(q[0:12])
    if qid is not None:
        h[0:2] = qid
    h[2] = 0x81
    h[3] = 0x80 | rcode
    h[6] = 0
    h[7] = len(answers)
    qsec = question if question is not None else q[12:]
    return bytes(h) + qsec + b"".join(answers)


PTR_Q = b"\xc0\x0c"  # a pointer to the question's name


def test_a_record_and_the_cache():
    nic, dev = setup()
    dev.answer = lambda q, dst: [(dst, 53, msg(q, [rr(PTR_Q, 1, inet_aton("10.7.0.5"))]))]
    assert dns.resolve("host.lan") == "10.7.0.5"
    assert dns.resolve("HOST.lan.") == "10.7.0.5"  # from the cache: no second query
    assert len(dev.queries) == 1 and stats.stat("dns", "hits") == 1 and stats.stat("dns", "answers") == 1
    assert socket.getaddrinfo("host.lan", 80)[0][-1] == ("10.7.0.5", 80)


def test_cname_chain_with_compression_is_followed():
    nic, dev = setup()

    def answer(q, dst):
        # www.example.lan CNAME web.example.lan (its name compressed onto the question's
        # "example.lan"), web... CNAME srv.lan, then the A record for srv.lan (owner a pointer)
        qlen = len(q) - 12
        web = 12 + qlen  # where the first record's rdata will sit: after owner(2)+10 bytes
        r1 = rr(PTR_Q, 5, b"\x03web\xc0\x10")
        srv_at = web + 12 + 6
        r2 = rr(bytes((0xC0, web + 12)), 5, b"\x03srv\x03lan\x00")
        r3 = rr(bytes((0xC0, srv_at + 12)), 1, inet_aton("10.7.0.9"), ttl=0)
        return [(dst, 53, msg(q, [r1, r2, r3]))]

    dev.answer = answer
    assert dns.resolve("www.example.lan") == "10.7.0.9"
    assert dns.resolve("www.example.lan") == "10.7.0.9" and len(dev.queries) == 2  # TTL 0: not cached


def test_nxdomain_and_no_a_record_are_clear_errors():
    nic, dev = setup()
    dev.answer = lambda q, dst: [(dst, 53, msg(q, [], rcode=3))]
    e = ptest.raises(OSError, dns.resolve, "nope.lan")
    assert e.args[0] == dns.EAI_NONAME and "NXDOMAIN" in e.args[1] and "nope.lan" in e.args[1]
    assert len(dev.queries) == 1 and stats.stat("dns", "nxdomain") == 1
    dev.answer = lambda q, dst: [(dst, 53, msg(q, [rr(PTR_Q, 16, b"\x02hi")]))]  # a TXT only
    e = ptest.raises(OSError, dns.resolve, "txt.lan")
    assert e.args[0] == dns.EAI_NONAME and "no address" in e.args[1]


def test_silence_times_out_after_every_server_in_turn():
    nic, dev = setup(servers=(SERVER, "10.7.0.3"))
    dns.tries = 2
    try:
        dev.answer = lambda q, dst: []
        e = ptest.raises(OSError, dns.resolve, "quiet.lan")
    finally:
        dns.tries = 3
    assert e.args[0] == 110 and "no answer" in e.args[1]
    assert dev.queries == [SERVER, "10.7.0.3", SERVER, "10.7.0.3"], dev.queries
    assert stats.stat("dns", "timeouts") == 1
    # the second server answers when the first is silent
    dev.answer = lambda q, dst: [(dst, 53, msg(q, [rr(PTR_Q, 1, inet_aton("10.7.0.6"))]))] if dst != SERVER else []
    assert dns.resolve("second.lan") == "10.7.0.6"


def test_no_servers():
    nic, dev = setup()
    nic.nameservers = []
    nic.ifconfig(("10.7.0.2", "255.255.255.0", SERVER, "0.0.0.0"))
    e = ptest.raises(OSError, dns.resolve, "any.lan")
    assert e.args[0] == dns.EAI_FAIL and "no DNS servers" in e.args[1]


def test_spoofed_answers_are_dropped_and_the_real_one_taken():
    nic, dev = setup()
    ids = []

    def answer(q, dst):
        good = msg(q, [rr(PTR_Q, 1, inet_aton("10.7.0.5"))])
        evil = [rr(PTR_Q, 1, inet_aton("10.66.6.6"))]
        ids.append(bytes(q[0:2]))
        if len(ids) == 1:  # (a socket queues UDP_RCVQ = 4 datagrams: the spoofs come in two rounds)
            return [
                (dst, 53, msg(q, evil, qid=bytes((q[0] ^ 1, q[1])))),  # wrong id
                (dst, 5353, msg(q, evil)),  # wrong port
                ("10.7.0.66", 53, msg(q, evil)),  # wrong server
                (dst, 53, good),
            ]
        return [(dst, 53, msg(q, evil, question=name("other.lan") + b"\x00\x01\x00\x01")),  # wrong question
                (dst, 53, good)]

    dev.answer = answer
    assert dns.resolve("real.lan") == "10.7.0.5"
    assert stats.stat("dns", "bad") == 3
    dns.cache_flush()
    assert dns.resolve("real.lan") == "10.7.0.5" and ids[0] != ids[1]  # a new random id per query
    assert stats.stat("dns", "bad") == 4


def test_malformed_answers_compression_loops_and_truncation():
    nic, dev = setup()
    dns.tries = 1
    try:
        for records in (
            [rr(b"\xc0\x30", 1, inet_aton("10.7.0.5"))],  # a pointer forwards (to itself)
            [rr(PTR_Q, 5, b"\xc0\x0c")],  # a CNAME to itself: a loop
            [rr(PTR_Q, 1, inet_aton("10.7.0.5"))[:-3]],  # rdata past the end
            [b"\x3f" + b"a" * 10],  # a label past the end
        ):
            dev.answer = lambda q, dst, records=records: [(dst, 53, msg(q, records))]
            e = ptest.raises(OSError, dns.resolve, "bad.lan")
            assert e.args[0] in (110, dns.EAI_NONAME), e
            dns.cache_flush()
    finally:
        dns.tries = 3
    assert stats.stat("dns", "bad") == 4


def test_numeric_addresses_do_not_load_the_resolver():
    saved = sys.modules.pop("bsdnet.dns", None)
    try:
        assert socket.getaddrinfo("10.1.2.3", 80)[0][-1] == ("10.1.2.3", 80)
        assert socket.getaddrinfo("0.0.0.0", 7)[0][-1] == ("0.0.0.0", 7)
        assert "bsdnet.dns" not in sys.modules
    finally:
        if saved is not None:
            sys.modules["bsdnet.dns"] = saved
