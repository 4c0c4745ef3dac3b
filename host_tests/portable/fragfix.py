# Fixtures for the IP fragmentation and reassembly tests: IP fragments in Ethernet frames, a UDP
# datagram and an ICMP echo request as bytes to cut into them, and the reverse: the datagram put
# together again from the fragments the board sent (checked as a receiver would).
from bsdnet import mbuf, ip_reass
from bsdnet.inet import inet_aton
from bsdnet.in_cksum import in_cksum, in_pseudo
from bsdnet.hdr import ether as eh, ip as iph, icmp as ich, udp as udph
from netfix import HOST_MAC, BOARD_MAC, FakeDev

HOST = "10.7.0.1"
BOARD = "10.7.0.2"


def udp_datagram(sport, dport, data, src=HOST, dst=BOARD):
    """The UDP header and data (checksum set) that fragments carry."""
    n = 8 + len(data)
    b = bytearray(n)
    udph.emit(b, 0, sport, dport, n)
    b[8:] = data
    udph.fill_cksum(b, 0, n, inet_aton(src), 0, inet_aton(dst), 0)
    return b  # not copied to bytes: on the Pico a second 6 KB block may not be there


def echo_request(ident, seq, data):
    b = bytearray(8 + len(data))
    ich.emit(b, 0, ich.ICMP_ECHO, 0, ident, seq)
    b[8:] = data
    ich.fill_cksum(b, 0, len(b))
    return bytes(b)


def pattern(n, k=7):
    return bytes((i * k + (i >> 8)) & 0xFF for i in range(n))


def is_pattern(buf, n, k=7):
    """buf[:n] == pattern(n, k), without making either (the Pico's heap)."""
    for i in range(n):
        if buf[i] != (i * k + (i >> 8)) & 0xFF:
            return False
    return True


def frag(payload, a, b, ident, proto=iph.IPPROTO_UDP, mf=None, src=HOST, dst=BOARD, options=b"", data=None,
         dmac=BOARD_MAC):
    """A frame with bytes [a, b) of the datagram's payload at offset a (MF unless b is its end;
    mf overrides). data replaces the bytes carried (a forged overlap)."""
    if mf is None:
        mf = b < len(payload)
    piece = payload[a:b] if data is None else data
    hl = 20 + len(options)
    n = hl + len(piece)
    f = bytearray(14 + n)
    eh.emit(f, 0, dmac, 0, HOST_MAC, 0, eh.ETHERTYPE_IP)
    iph.emit(f, 14, hl, 0, n, ident, (a >> 3) | (iph.IP_MF if mf else 0), 64, proto, inet_aton(src), 0,
             inet_aton(dst), 0)
    f[34:14 + hl] = options
    iph.fill_cksum(f, 14)
    f[14 + hl:] = piece
    if len(f) < 60:
        f.extend(bytes(60 - len(f)))
    return bytes(f)


def cut(payload, size, ident, proto=iph.IPPROTO_UDP, **kw):
    """The datagram's payload in fragments of `size` bytes (a multiple of 8), in order."""
    out = []
    a = 0
    while a < len(payload):
        b = min(a + size, len(payload))
        out.append(frag(payload, a, b, ident, proto, **kw))
        a = b
    return out


def join(frames):
    """The datagram from the fragments the board sent (Ethernet frames), checked: every header
    valid, one ID, offsets that tile the payload. Returns (first IP header, payload)."""
    ident = None
    parts = {}
    end = None
    first = None
    for f in frames:
        assert eh.ethertype(f, 0) == eh.ETHERTYPE_IP
        assert iph.check(f, 14, len(f) - 14) == 0
        hl = iph.hlen(f, 14)
        tl = iph.total_len(f, 14)
        fr = iph.frag(f, 14)
        assert not fr & iph.IP_DF
        if ident is None:
            ident = iph.ident(f, 14)
        assert iph.ident(f, 14) == ident, "fragments of one datagram carry one ID"
        a = (fr & iph.IP_OFFMASK) << 3
        piece = f[14 + hl:14 + tl]
        if fr & iph.IP_MF:
            assert len(piece) % 8 == 0, "a fragment but the last carries a multiple of 8 bytes"
        else:
            end = a + len(piece)
        if a == 0:
            first = f[14:14 + hl]
        parts[a] = piece
    assert first is not None and end is not None
    out = bytearray()
    for a in sorted(parts):
        assert a == len(out), "fragments leave a hole or overlap at %d" % a
        out += parts[a]
    assert len(out) == end
    return first, bytes(out)


def udp_ok(hdr, payload):
    """The UDP checksum of a datagram put together by join() holds."""
    n = len(payload)
    return udph.ulen(payload, 0) == n and in_cksum(payload, 0, n, in_pseudo(hdr, 12, hdr, 16, 17, n)) == 0


def reass_reset():
    """No datagram left in reassembly from an earlier (failed) test."""
    if ip_reass.ip_reass_count():
        if mbuf.pool_free() == mbuf.pool_size():  # the harness gave every cluster back already
            for s in range(len(ip_reass._used)):
                ip_reass._used[s] = 0
                ip_reass._head[s] = None
            ip_reass._nused[0] = 0
        else:
            ip_reass.ip_reass_flush()


class SeqReplayDev(FakeDev):
    """Hands a fixed list of preallocated frames to recv_into, one per call, `count` rounds of the
    list at most, and only counts what is sent: measures the stack's own heap per packet."""

    def __init__(self, frames, mac=BOARD_MAC):
        FakeDev.__init__(self, mac)
        self.frames = [bytearray(f) for f in frames]
        self.i = 0
        self.left = 0
        self.nsent = 0
        self.last_len = 0

    def pending(self):
        return self.left > 0

    def recv_into(self, buf):
        if self.left <= 0:
            return 0
        self.left -= 1
        f = self.frames[self.i]
        self.i += 1
        if self.i == len(self.frames):
            self.i = 0
        n = len(f)
        for k in range(n):
            buf[k] = f[k]
        return n

    def send(self, buf, n):
        self.nsent += 1
        self.last_len = n
        return True
