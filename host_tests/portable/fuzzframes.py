# The project's hostile frames, shared by the fuzz tests (in-process, CPython and the MicroPython VM)
# and the hostile-LAN end-to-end test (sent from Linux into the TAP): seed frames of every
# protocol the stack reads, the seeded mutations that break them, and the attacks of a hostile
# LAN (spoofed unresolvable sources, martian sources, UDP to port 0, fragments that never complete).
# A fixed seed replays a run exactly: failures print it.
from bsdnet.inet import inet_aton
from bsdnet.hdr import ether as eh, arp as ah, ip as iph, icmp as ich, udp as udph, tcp as tcph

BCAST = b"\xff\xff\xff\xff\xff\xff"


class Rng:
    """xorshift32: the same on CPython and MicroPython (no bigint past 32 bits)."""

    def __init__(self, seed):
        self.x = (seed & 0xFFFFFFFF) or 1

    def next(self, n):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x % n


def _pad(b):
    if len(b) < 60:
        b.extend(bytes(60 - len(b)))  # the sender's MAC pads to the Ethernet minimum
    return bytes(b)


def ip_frame(smac, dmac, src, dst, proto, payload, ident=7, frag=0, ttl=64, options=b""):
    """An IPv4 frame carrying payload (a transport header the caller made, with data)."""
    hl = 20 + len(options)
    n = hl + len(payload)
    b = bytearray(14 + n)
    eh.emit(b, 0, dmac, 0, smac, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, hl, 0, n, ident, frag, ttl, proto, inet_aton(src), 0, inet_aton(dst), 0)
    b[34:14 + hl] = options
    iph.fill_cksum(b, 14)
    b[14 + hl:] = payload
    return b


def arp(smac, op, spa, tpa, tha=b"\0" * 6, dmac=BCAST):
    b = bytearray(42)
    eh.emit(b, 0, dmac, 0, smac, 0, eh.ETHERTYPE_ARP)
    ah.emit(b, 14, op, smac, 0, inet_aton(spa), 0, tha, 0, inet_aton(tpa), 0)
    return _pad(b)


def icmp_echo(smac, dmac, src, dst, ident=0x4242, seq=1, payload=b"", options=b""):
    ic = bytearray(8 + len(payload))
    ich.emit(ic, 0, ich.ICMP_ECHO, 0, ident, seq)
    ic[8:] = payload
    ich.fill_cksum(ic, 0, len(ic))
    return _pad(ip_frame(smac, dmac, src, dst, iph.IPPROTO_ICMP, ic, options=options))


def udp(smac, dmac, src, dst, sport, dport, payload=b""):
    u = bytearray(8 + len(payload))
    udph.emit(u, 0, sport, dport, len(u))
    u[8:] = payload
    udph.fill_cksum(u, 0, len(u), inet_aton(src), 0, inet_aton(dst), 0)
    return _pad(ip_frame(smac, dmac, src, dst, iph.IPPROTO_UDP, u))


def tcp(smac, dmac, src, dst, sport, dport, flags, seq=0x1000, ack=0, payload=b"", mss=0):
    hl = 24 if mss else 20
    t = bytearray(hl + len(payload))
    tcph.emit(t, 0, sport, dport, seq >> 16, seq & 0xFFFF, ack >> 16, ack & 0xFFFF, hl, flags, 8192, 0)
    if mss:
        tcph.emit_mss(t, 20, mss)
    t[hl:] = payload
    tcph.fill_cksum(t, 0, len(t), inet_aton(src), 0, inet_aton(dst), 0)
    return _pad(ip_frame(smac, dmac, src, dst, iph.IPPROTO_TCP, t))


def igmp(smac, dmac, src, dst, type, group, maxresp=100):
    g = bytearray(8)
    g[0] = type
    g[1] = maxresp
    g[4:8] = inet_aton(group)
    from bsdnet.in_cksum import in_cksum

    s = in_cksum(g, 0, 8)
    g[2] = s >> 8
    g[3] = s & 0xFF
    return _pad(ip_frame(smac, dmac, src, dst, iph.IPPROTO_IGMP, g, ttl=1, options=b"\x94\x04\x00\x00"))


def fragment(smac, dmac, src, dst, ident, off8, more, payload, proto=iph.IPPROTO_UDP):
    """One fragment: offset in 8-byte units, MF when more."""
    return _pad(ip_frame(smac, dmac, src, dst, proto, payload, ident=ident,
                         frag=(iph.IP_MF if more else 0) | off8))


def seeds(smac, dmac, src, dst, bcast):
    """Valid frames of every protocol the stack reads, from src to the board at dst (dmac)."""
    return [
        arp(smac, ah.ARPOP_REQUEST, src, dst),
        arp(smac, ah.ARPOP_REPLY, src, dst, tha=dmac, dmac=dmac),
        icmp_echo(smac, dmac, src, dst, payload=bytes(40)),
        icmp_echo(smac, dmac, src, dst, options=b"\x07\x07\x04\0\0\0\0\x01"),
        udp(smac, dmac, src, dst, 40000, 7, b"hello"),
        udp(smac, dmac, src, dst, 40000, 4242, bytes(100)),
        udp(smac, BCAST, src, bcast, 40000, 7, b"bcast"),
        tcp(smac, dmac, src, dst, 40001, 7, tcph.TH_SYN, mss=1460),
        tcp(smac, dmac, src, dst, 40002, 4243, tcph.TH_SYN),
        tcp(smac, dmac, src, dst, 40003, 7, tcph.TH_ACK | tcph.TH_PUSH, ack=0x5000, payload=b"data"),
        tcp(smac, dmac, src, dst, 40004, 80, tcph.TH_RST, seq=0x2000),
        igmp(smac, b"\x01\x00\x5e\x00\x00\x01", src, "224.0.0.1", 0x11, "0.0.0.0"),
        fragment(smac, dmac, src, dst, 0x77, 0, True, bytes(16)),
        fragment(smac, dmac, src, dst, 0x77, 2, False, bytes(8)),
    ]


def mutate(rng, f):
    """A seeded corruption of frame f: bytes flipped, truncated, lengths and header fields forged,
    or garbage appended. Never longer than an Ethernet frame."""
    b = bytearray(f)
    kind = rng.next(8)
    if kind == 0:  # flip a few bytes anywhere
        for _ in range(1 + rng.next(4)):
            b[rng.next(len(b))] ^= 1 + rng.next(255)
    elif kind == 1:  # truncate
        b = b[:1 + rng.next(len(b) - 1)]  # a frame has at least one byte
    elif kind == 2:  # forge the IP total length
        v = rng.next(0x10000)
        b[16] = v >> 8
        b[17] = v & 0xFF
    elif kind == 3:  # forge the IP header length / version byte
        b[14] = rng.next(256)
    elif kind == 4:  # forge the transport length, ports or checksum area
        if len(b) > 40:
            b[34 + rng.next(8)] = rng.next(256)
    elif kind == 5:  # forge the fragment field and the protocol, keep the header checksum right
        if len(b) >= 34:
            b[20] = rng.next(256)
            b[21] = rng.next(256)
            b[23] = (1, 2, 6, 17, 47, 255)[rng.next(6)]
            b[24] = b[25] = 0
            iph.fill_cksum(b, 14)
    elif kind == 6:  # forge the TCP flags / UDP length with a correct IP header
        if len(b) > 47:
            b[47] = rng.next(256)
    else:  # extend with garbage
        for _ in range(rng.next(64)):
            b.append(rng.next(256))
    if len(b) > 1514:
        b = b[:1514]
    return bytes(b)


def spoofed(rng, net3, board_ip, board_mac):
    """An attack frame of a hostile LAN, picked at random:
    - an echo request or a UDP datagram from one of 200 spoofed, unresolvable sources on our subnet
      (net3 = "10.7.0."): each answer needs an ARP resolution that never completes;
    - a martian source (loopback, multicast, class E, broadcast, 0/8, ours);
    - UDP to port 0;
    - the first fragment of a datagram that never completes."""
    k = rng.next(5)
    mac = bytes((0x02, 0x66, rng.next(256), rng.next(256), rng.next(256), rng.next(256)))
    src = net3 + str(50 + rng.next(200))
    if k == 0:
        return icmp_echo(mac, board_mac, src, board_ip, seq=rng.next(65536), payload=bytes(16))
    if k == 1:
        return udp(mac, board_mac, src, board_ip, 1024 + rng.next(60000), 7, b"spoof")
    if k == 2:
        m = ("127.0.0.1", "224.1.2.3", "240.0.0.9", "255.255.255.255", net3 + "255", "0.9.9.9", board_ip)
        return icmp_echo(mac, board_mac, m[rng.next(len(m))], board_ip, payload=bytes(8))
    if k == 3:
        return udp(mac, board_mac, src, board_ip, 1024 + rng.next(60000), 0, b"port0")
    return fragment(mac, board_mac, src, board_ip, rng.next(65536), 0, True, bytes(64))
