# Wire formats (lib/bsdnet/hdr/): emit -> bytes -> readers round trips with random values into a
# buffer prefilled with 0xA5 (a field that emit forgets shows as A5), every drop reason of every
# check(), random garbage never raising, and 0 bytes allocated per parsed header in the VM.
import random

import ptest
from bsdnet.hdr import ether, arp, ip, icmp, udp, tcp
from bsdnet import in_cksum as ck

MARK = 0xA5


def marked(n):
    return bytearray(bytes((MARK,)) * n)


def rnd_bytes(n):
    return bytearray(random.getrandbits(8) for _ in range(n))


def be16(v):
    return bytes((v >> 8, v & 0xFF))


def shuffle(lst):
    # MicroPython's random has no shuffle
    for i in range(len(lst) - 1, 0, -1):
        j = random.randint(0, i)
        lst[i], lst[j] = lst[j], lst[i]


def untouched(buf, start, end):
    """The bytes of buf outside [start, end) still hold the marker."""
    for i in range(len(buf)):
        if (i < start or i >= end) and buf[i] != MARK:
            return False
    return True


def test_reason_names_are_distinct_and_bounded():
    for mod in (ether, arp, ip, icmp, udp, tcp):
        names = [mod.reason_name(c) for c in range(mod.NREASONS)]
        assert names[0] == "ok", mod
        assert len(set(names)) == mod.NREASONS, mod
        assert mod.reason_name(mod.NREASONS) == "?" and mod.reason_name(-1) == "?"
        assert mod.DROP_SHORT == 1


# --- Ethernet -----------------------------------------------------------------------------------

def test_ether_emit_read_round_trip():
    random.seed(10)
    for _ in range(20):
        off = random.randint(0, 5)
        dst = rnd_bytes(8)
        src = rnd_bytes(7)
        et = random.choice((ether.ETHERTYPE_IP, ether.ETHERTYPE_ARP, 0x0600 + random.getrandbits(15)))
        b = marked(off + 20)
        ether.emit(b, off, dst, 2, src, 1, et)
        assert b[off:off + 14] == dst[2:8] + src[1:7] + be16(et)
        assert untouched(b, off, off + 14)
        assert ether.check(b, off, 14) == 0
        assert ether.ethertype(b, off) == et
        assert ether.mac_eq(b, off + ether.ETHER_DHOST, dst, 2)
        assert ether.mac_eq(b, off + ether.ETHER_SHOST, src, 1)
        assert not ether.mac_eq(b, off, src, 1) or dst[2:8] == src[1:7]
        got = bytearray(6)
        ether.mac_copy(got, 0, b, off + ether.ETHER_SHOST)
        assert got == src[1:7]


def test_ether_drops_and_address_kinds():
    b = bytearray(b"\xff" * 6 + b"\x02" * 6 + b"\x08\x00")
    assert ether.check(b, 0, 13) == ether.DROP_SHORT
    assert ether.check(b, 0, 14) == 0
    b[12] = 0x05
    b[13] = 0xDC  # 1500: an 802.3 length
    assert ether.check(b, 0, 14) == ether.DROP_8023
    assert ether.is_broadcast(b, 0) and ether.is_multicast(b, 0)
    assert not ether.is_broadcast(b, 6) and not ether.is_multicast(b, 6)
    m = bytearray((0x01, 0x00, 0x5E, 0x00, 0x00, 0x01))
    assert ether.is_multicast(m, 0) and not ether.is_broadcast(m, 0)
    m[5] = 0xFF
    m[0] = 0xFF
    assert not ether.is_broadcast(m, 0)


# --- ARP ----------------------------------------------------------------------------------------

def test_arp_emit_read_round_trip_and_reply():
    random.seed(11)
    for _ in range(20):
        off = random.randint(0, 5)
        sha, spa, tha, tpa = rnd_bytes(6), rnd_bytes(4), rnd_bytes(6), rnd_bytes(4)
        op = random.choice((arp.ARPOP_REQUEST, arp.ARPOP_REPLY))
        b = marked(off + 32)
        arp.emit(b, off, op, sha, 0, spa, 0, tha, 0, tpa, 0)
        want = b"\x00\x01\x08\x00\x06\x04" + be16(op) + sha + spa + tha + tpa
        assert b[off:off + 28] == want
        assert untouched(b, off, off + 28)
        assert arp.check(b, off, 28) == 0
        assert (arp.hrd(b, off), arp.pro(b, off), arp.hln(b, off), arp.pln(b, off), arp.op(b, off)) == (
            1, 0x0800, 6, 4, op)
        assert ip.addr_eq(b, off + arp.ARP_SPA, spa, 0) and ip.addr_eq(b, off + arp.ARP_TPA, tpa, 0)
        assert ether.mac_eq(b, off + arp.ARP_SHA, sha, 0) and ether.mac_eq(b, off + arp.ARP_THA, tha, 0)
        # a request for tpa, answered in place by the owner of tpa
        me = rnd_bytes(6)
        arp.make_reply(b, off, me, 0)
        assert b[off:off + 28] == b"\x00\x01\x08\x00\x06\x04\x00\x02" + me + tpa + sha + spa
    b = marked(28)
    arp.emit(b, 0, arp.ARPOP_REQUEST, sha, 0, spa, 0, None, 0, tpa, 0)
    assert b[arp.ARP_THA:arp.ARP_THA + 6] == bytes(6)


def test_arp_drops():
    good = bytearray(28)
    arp.emit(good, 0, arp.ARPOP_REQUEST, bytes(6), 0, bytes(4), 0, None, 0, bytes(4), 0)
    assert arp.check(good, 0, 28) == 0
    assert arp.check(good, 0, 27) == arp.DROP_SHORT
    for i, v, why in ((1, 6, arp.DROP_HRD), (0, 1, arp.DROP_HRD), (2, 0x86, arp.DROP_PRO), (3, 0xDD, arp.DROP_PRO),
                      (4, 8, arp.DROP_ADDRLEN), (5, 16, arp.DROP_ADDRLEN), (7, 3, arp.DROP_OP), (6, 1, arp.DROP_OP),
                      (7, 0, arp.DROP_OP)):
        b = bytearray(good)
        b[i] = v
        assert arp.check(b, 0, 28) == why, (i, v)


# --- IPv4 ---------------------------------------------------------------------------------------

_SRC = bytearray((10, 0, 0, 1))
_DST = bytearray((10, 0, 0, 2))


def make_ip(off, opts=b"", payload=0, tos=0, ident=0x1234, frag=0x4000, ttl=64, proto=17, extra=0):
    hl = 20 + len(opts)
    b = marked(off + hl + payload + extra)
    ip.emit(b, off, hl, tos, hl + payload, ident, frag, ttl, proto, _SRC, 0, _DST, 0)
    b[off + 20:off + hl] = opts
    for i in range(payload):
        b[off + hl + i] = i & 0xFF
    ip.fill_cksum(b, off)
    return b


def test_ip_emit_read_round_trip():
    random.seed(12)
    for _ in range(30):
        off = random.randint(0, 5)
        hl = 20 + 4 * random.randint(0, 10)
        tos, tlen, ident = random.getrandbits(8), random.randint(hl, 0xFFFF), random.getrandbits(16)
        frag, ttl, p = random.getrandbits(16), random.getrandbits(8), random.getrandbits(8)
        src, dst = rnd_bytes(4), rnd_bytes(4)
        b = marked(off + hl + 4)
        ip.emit(b, off, hl, tos, tlen, ident, frag, ttl, p, src, 0, dst, 0)
        want = bytes((0x40 | hl >> 2, tos)) + be16(tlen) + be16(ident) + be16(frag) + bytes((ttl, p)) + b"\0\0"
        assert b[off:off + 20] == want + src + dst
        assert untouched(b, off, off + 20)  # the options area is the caller's
        for i in range(20, hl):
            b[off + i] = ip.IPOPT_NOP
        s = ip.fill_cksum(b, off)
        assert ip.cksum(b, off) == s and ck.in_cksum(b, off, hl, 0) == 0
        assert (ip.version(b, off), ip.hlen(b, off), ip.tos(b, off), ip.total_len(b, off), ip.ident(b, off),
                ip.frag(b, off), ip.ttl(b, off), ip.proto(b, off)) == (4, hl, tos, tlen, ident, frag, ttl, p)
        assert ip.addr_eq(b, off + ip.IP_SRC, src, 0) and ip.addr_eq(b, off + ip.IP_DST, dst, 0)
        got = bytearray(4)
        ip.addr_copy(got, 0, b, off + ip.IP_DST)
        assert got == dst
        assert ip.check(b, off, hl + 4) == (0 if tlen <= hl + 4 else ip.DROP_TRUNC)
        ip.set_total_len(b, off, hl + 4)
        ip.fill_cksum(b, off)
        assert ip.check(b, off, hl + 4) == 0
        # setters, then a fresh checksum
        ip.set_total_len(b, off, 0x0102)
        ip.set_ident(b, off, 0xBEEF)
        ip.set_frag(b, off, ip.IP_MF | 3)
        ip.set_ttl(b, off, 9)
        ip.fill_cksum(b, off)
        assert (ip.total_len(b, off), ip.ident(b, off), ip.frag(b, off), ip.ttl(b, off)) == (0x0102, 0xBEEF, 0x2003, 9)
        assert ck.in_cksum(b, off, hl, 0) == 0


def test_ip_check_accepts_good_options():
    rr = bytes((ip.IPOPT_RR, 7, 4, 0, 0, 0, 0))
    for opts in (b"", bytes((1, 1, 1, 0)), rr + b"\x00", bytes((ip.IPOPT_RA, 4, 0, 0)), b"\x00\xff\xff\xff",
                 bytes((1,)) + rr, bytes((ip.IPOPT_TS, 36)) + bytes(34) + bytes(4)):
        assert len(opts) % 4 == 0, opts
        b = make_ip(2, opts, payload=8)
        assert ip.check(b, 2, len(b) - 2) == 0, opts
    b = make_ip(0, bytes((1,)) + rr, payload=0)
    assert ip.opt_find(b, 0, ip.IPOPT_RR) == 21
    assert ip.opt_find(b, 0, ip.IPOPT_LSRR) == -1
    b = make_ip(0, b"\x00" + rr)
    assert ip.opt_find(b, 0, ip.IPOPT_RR) == -1  # after EOL


def test_ip_drop_reasons():
    b = make_ip(0, payload=8, extra=6)
    n = len(b)
    assert ip.check(b, 0, n) == 0  # Ethernet padding after ip_len is fine
    assert ip.check(b, 0, 19) == ip.DROP_SHORT

    def with_byte(src, i, v, refill=True):
        c = bytearray(src)
        c[i] = v
        if refill and (c[0] & 0x0F) >= 5 and (c[0] & 0x0F) * 4 <= len(c):
            ip.fill_cksum(c, 0)
        return c

    assert ip.check(with_byte(b, 0, 0x65), 0, n) == ip.DROP_VERSION
    assert ip.check(with_byte(b, 0, 0x44), 0, n) == ip.DROP_HLEN  # IHL 4
    assert ip.check(with_byte(b, 0, 0x4F), 0, 40) == ip.DROP_HLEN  # 60-byte header in 40 bytes
    assert ip.check(with_byte(b, 15, 0x77, refill=False), 0, n) == ip.DROP_CKSUM
    assert ip.check(with_byte(b, 3, 19), 0, n) == ip.DROP_LEN  # ip_len 19 < 20
    assert ip.check(with_byte(b, 3, n + 1), 0, n) == ip.DROP_TRUNC
    assert ip.check(b, 0, 27) == ip.DROP_TRUNC
    # options: length 0, length 1, past the end, no room for the length byte
    for opts in (bytes((7, 0, 0, 0)), bytes((7, 1, 0, 0)), bytes((7, 5, 0, 0)), bytes((1, 1, 1, 7)),
                 bytes((ip.IPOPT_RR, 9, 4, 0, 0, 0, 0, 0))):
        c = make_ip(1, opts, payload=4)
        assert ip.check(c, 1, len(c) - 1) == ip.DROP_OPTION, opts


def test_ip_dec_ttl_keeps_the_checksum_right():
    random.seed(13)
    for t in range(40):
        opts = bytes((1, 1, 1, 1)) if t & 1 else b""
        b = make_ip(t & 3, opts, ttl=random.randint(1, 255), ident=random.getrandbits(16), proto=random.getrandbits(8))
        off = t & 3
        t0 = ip.ttl(b, off)
        assert ip.dec_ttl(b, off) == t0 - 1 and ip.ttl(b, off) == t0 - 1
        assert ip.check(b, off, len(b) - off) == 0
    b = make_ip(0, ttl=0)
    assert ip.dec_ttl(b, 0) == -1 and ip.ttl(b, 0) == 0 and ip.check(b, 0, 20) == 0


# --- ICMP ---------------------------------------------------------------------------------------

def test_icmp_emit_read_round_trip():
    random.seed(14)
    for _ in range(20):
        off = random.randint(0, 5)
        ty, code, hi, lo = random.getrandbits(8), random.getrandbits(8), random.getrandbits(16), random.getrandbits(16)
        n = 8 + random.randint(0, 40)
        b = marked(off + n + 2)
        icmp.emit(b, off, ty, code, hi, lo)
        assert b[off:off + 8] == bytes((ty, code, 0, 0)) + be16(hi) + be16(lo)
        assert untouched(b, off, off + 8)
        s = icmp.fill_cksum(b, off, n)
        assert icmp.cksum(b, off) == s
        assert icmp.check(b, off, n) == 0
        assert (icmp.msg_type(b, off), icmp.msg_code(b, off), icmp.rest_hi(b, off), icmp.rest_lo(b, off)) == (
            ty, code, hi, lo)
        assert (icmp.ident(b, off), icmp.seq(b, off), icmp.nextmtu(b, off), icmp.pptr(b, off)) == (hi, lo, lo, hi >> 8)


def test_icmp_echo_reply_in_place_and_drops():
    b = bytearray(64)
    icmp.emit(b, 0, icmp.ICMP_ECHO, 0, 0x1234, 7)
    for i in range(8, 64):
        b[i] = i
    icmp.fill_cksum(b, 0, 64)
    assert icmp.check(b, 0, 64) == 0
    icmp.set_type(b, 0, icmp.ICMP_ECHOREPLY)
    assert icmp.msg_type(b, 0) == icmp.ICMP_ECHOREPLY and icmp.check(b, 0, 64) == 0
    c = bytearray(b)
    icmp.fill_cksum(c, 0, 64)
    assert c == b  # the incremental update equals a full recompute
    assert icmp.check(b, 0, 7) == icmp.DROP_SHORT
    b[40] ^= 1
    assert icmp.check(b, 0, 64) == icmp.DROP_CKSUM


# --- UDP ----------------------------------------------------------------------------------------

def test_udp_emit_read_round_trip():
    random.seed(15)
    for _ in range(20):
        off = random.randint(0, 5)
        sp, dp = random.getrandbits(16), random.getrandbits(16)
        plen = random.randint(0, 60)
        b = marked(off + 8 + plen + 3)
        for i in range(plen):
            b[off + 8 + i] = random.getrandbits(8)
        udp.emit(b, off, sp, dp, 8 + plen)
        assert b[off:off + 8] == be16(sp) + be16(dp) + be16(8 + plen) + b"\0\0"
        assert (udp.sport(b, off), udp.dport(b, off), udp.ulen(b, off), udp.cksum(b, off)) == (sp, dp, 8 + plen, 0)
        assert udp.check(b, off, 8 + plen, _SRC, 0, _DST, 0) == 0  # no checksum sent
        s = udp.fill_cksum(b, off, 8 + plen, _SRC, 0, _DST, 0)
        assert s != 0 and udp.cksum(b, off) == s
        assert udp.check(b, off, 8 + plen, _SRC, 0, _DST, 0) == 0
        assert udp.check(b, off, 8 + plen + 3, _SRC, 0, _DST, 0) == 0  # trailing padding ignored
        assert udp.check(b, off, 8 + plen, _DST, 0, _SRC, 0) == 0  # the pseudo-header sum is symmetric
        assert udp.check(b, off, 8 + plen, _SRC, 0, bytes((10, 0, 0, 3)), 0) == udp.DROP_CKSUM
        udp.set_ulen(b, off, 8)
        assert udp.ulen(b, off) == 8


def test_udp_zero_checksum_is_sent_as_ffff():
    b = bytearray(12)
    udp.emit(b, 0, 1000, 2000, 12)
    c = ck.in_cksum(b, 0, 12, ck.in_pseudo(_SRC, 0, _DST, 0, 17, 12))
    b[10] = c >> 8
    b[11] = c & 0xFF  # now the data sums to 0xffff: the computed checksum is 0
    assert udp.fill_cksum(b, 0, 12, _SRC, 0, _DST, 0) == 0xFFFF
    assert udp.cksum(b, 0) == 0xFFFF
    assert udp.check(b, 0, 12, _SRC, 0, _DST, 0) == 0


def test_udp_drops():
    b = bytearray(20)
    udp.emit(b, 0, 1, 2, 20)
    udp.fill_cksum(b, 0, 20, _SRC, 0, _DST, 0)
    assert udp.check(b, 0, 7, _SRC, 0, _DST, 0) == udp.DROP_SHORT
    assert udp.check(b, 0, 19, _SRC, 0, _DST, 0) == udp.DROP_LEN
    c = bytearray(b)
    udp.set_ulen(c, 0, 7)
    assert udp.check(c, 0, 20, _SRC, 0, _DST, 0) == udp.DROP_LEN
    b[15] = 1
    assert udp.check(b, 0, 20, _SRC, 0, _DST, 0) == udp.DROP_CKSUM


# --- TCP ----------------------------------------------------------------------------------------

def emit_opts(b, o, order, mss, ws, tsv, tse, sacks):
    """Write the options named in order at b[o:], NOP padding between; return the padded length."""
    n = 0
    for name in order:
        if name == "mss":
            n += tcp.emit_mss(b, o + n, mss)
        elif name == "ws":
            n += tcp.emit_nop(b, o + n)
            n += tcp.emit_wscale(b, o + n, ws)
        elif name == "sackok":
            n += tcp.emit_sackperm(b, o + n)
        elif name == "ts":
            n += tcp.emit_nop(b, o + n)
            n += tcp.emit_nop(b, o + n)
            n += tcp.emit_ts(b, o + n, tsv[0], tsv[1], tse[0], tse[1])
        elif name == "sack":
            n += tcp.emit_nop(b, o + n)
            n += tcp.emit_nop(b, o + n)
            n += tcp.emit_sack(b, o + n, len(sacks))
            for blk in sacks:
                n += tcp.emit_sack_block(b, o + n, blk[0], blk[1], blk[2], blk[3])
    return tcp.pad_options(b, o, n)


def test_tcp_emit_read_round_trip_with_options():
    random.seed(16)
    to = tcp.TcpOpt()
    for _ in range(40):
        off = random.randint(0, 5)
        f = [random.getrandbits(16) for _ in range(6)]
        flags, win, urp = random.getrandbits(8), random.getrandbits(16), random.getrandbits(16)
        order = [x for x in ("mss", "ws", "sackok", "ts", "sack") if random.getrandbits(1)]
        shuffle(order)
        if "sack" in order and "ts" in order and "mss" in order and "ws" in order:
            order.remove("sack")  # 40 bytes of options at most
        mss, ws = random.getrandbits(16), random.getrandbits(4)
        tsv = (random.getrandbits(16), random.getrandbits(16))
        tse = (random.getrandbits(16), random.getrandbits(16))
        nsack = random.randint(1, 2)
        sacks = [[random.getrandbits(16) for _ in range(4)] for _ in range(nsack)]
        b = marked(off + 60 + 10)
        optlen = emit_opts(b, off + 20, order, mss, ws, tsv, tse, sacks)
        assert optlen <= 40 and optlen % 4 == 0
        hl = 20 + optlen
        plen = random.randint(0, 10)
        tcp.emit(b, off, f[0], f[1], f[2], f[3], f[4], f[5], hl, flags, win, urp)
        want = (be16(f[0]) + be16(f[1]) + be16(f[2]) + be16(f[3]) + be16(f[4]) + be16(f[5])
                + bytes(((hl >> 2) << 4, flags)) + be16(win) + b"\0\0" + be16(urp))
        assert b[off:off + 20] == want
        assert untouched(b, off, off + hl)
        for i in range(plen):
            b[off + hl + i] = i
        s = tcp.fill_cksum(b, off, hl + plen, _SRC, 0, _DST, 0)
        assert tcp.cksum(b, off) == s
        assert tcp.check(b, off, hl + plen, _SRC, 0, _DST, 0) == 0
        assert (tcp.sport(b, off), tcp.dport(b, off), tcp.seq_hi(b, off), tcp.seq_lo(b, off), tcp.ack_hi(b, off),
                tcp.ack_lo(b, off)) == tuple(f)
        assert (tcp.hlen(b, off), tcp.flags(b, off), tcp.win(b, off), tcp.urp(b, off)) == (hl, flags, win, urp)
        assert tcp.parse_options(b, off + 20, optlen, to) == 0
        want_flags = 0
        if "mss" in order:
            want_flags |= tcp.TOF_MSS
            assert to.to_mss == mss
        if "ws" in order:
            want_flags |= tcp.TOF_SCALE
            assert to.to_wscale == min(ws, 14)
        if "sackok" in order:
            want_flags |= tcp.TOF_SACKPERM
        if "ts" in order:
            want_flags |= tcp.TOF_TS
            assert (to.to_tsval_hi, to.to_tsval_lo, to.to_tsecr_hi, to.to_tsecr_lo) == tsv + tse
        if "sack" in order:
            want_flags |= tcp.TOF_SACK
            assert to.to_nsacks == nsack
            for i in range(nsack):
                o = to.to_sacks + 8 * i
                got = [(b[o + 2 * k] << 8) | b[o + 2 * k + 1] for k in range(4)]
                assert got == sacks[i]
        assert to.to_flags == want_flags, (order, to.to_flags)
        # setters
        tcp.set_seq(b, off, 0xDEAD, 0xBEEF)
        tcp.set_ack(b, off, 0x0102, 0x0304)
        tcp.set_flags(b, off, tcp.TH_ACK | tcp.TH_FIN)
        tcp.set_win(b, off, 0x4321)
        assert (tcp.seq_hi(b, off), tcp.seq_lo(b, off), tcp.ack_hi(b, off), tcp.ack_lo(b, off), tcp.flags(b, off),
                tcp.win(b, off)) == (0xDEAD, 0xBEEF, 0x0102, 0x0304, 0x11, 0x4321)
        assert tcp.check(b, off, hl + plen, _SRC, 0, _DST, 0) == tcp.DROP_CKSUM
        tcp.fill_cksum(b, off, hl + plen, _SRC, 0, _DST, 0)
        assert tcp.check(b, off, hl + plen, _SRC, 0, _DST, 0) == 0


def test_tcp_option_rules():
    to = tcp.TcpOpt()

    def parse(opts):
        b = bytearray(b"\xee") + bytearray(opts) + bytearray(b"\xee")
        return tcp.parse_options(b, 1, len(opts), to)

    assert parse(bytes((3, 3, 20, 0))) == 0 and to.to_wscale == 14  # RFC 7323 2.3: clamp to 14
    assert parse(bytes((2, 4, 5, 180, 0, 2, 4, 1))) == 0 and to.to_mss == 1460  # EOL ends the list
    assert parse(bytes((2, 5, 5, 180, 0, 1, 1, 1))) == 0 and to.to_flags == 0  # wrong MSS length: skipped
    assert parse(bytes((8, 6, 1, 2, 3, 4, 4, 2))) == 0 and to.to_flags == tcp.TOF_SACKPERM
    assert parse(bytes((5, 9) + tuple(range(7)))) == 0 and to.to_flags == 0  # SACK not 2 + 8k
    assert parse(bytes((5, 2, 1, 1))) == 0 and to.to_flags == 0  # SACK without blocks
    assert parse(bytes((99, 4, 0, 0, 4, 2, 1, 1))) == 0 and to.to_flags == tcp.TOF_SACKPERM  # unknown skipped
    assert parse(b"") == 0 and to.to_flags == 0
    # malformed: length 0, length 1, past the end, kind with no length byte; the parse keeps what it had
    assert parse(bytes((4, 2, 9, 0))) == tcp.DROP_OPTLEN and to.to_flags == tcp.TOF_SACKPERM
    assert parse(bytes((1, 9, 1, 1))) == tcp.DROP_OPTLEN
    assert parse(bytes((1, 1, 2, 4, 5, 180, 8, 10))) == tcp.DROP_OPTLEN and to.to_mss == 1460
    assert parse(bytes((1, 1, 1, 2))) == tcp.DROP_OPTLEN
    assert parse(bytes((2,))) == tcp.DROP_OPTLEN


def test_tcp_drops():
    b = bytearray(40)
    tcp.emit(b, 0, 1, 2, 3, 4, 5, 6, 24, tcp.TH_SYN, 1000, 0)
    tcp.emit_mss(b, 20, 1460)
    tcp.fill_cksum(b, 0, 40, _SRC, 0, _DST, 0)
    assert tcp.check(b, 0, 40, _SRC, 0, _DST, 0) == 0
    assert tcp.check(b, 0, 19, _SRC, 0, _DST, 0) == tcp.DROP_SHORT
    assert tcp.check(b, 0, 23, _SRC, 0, _DST, 0) == tcp.DROP_HLEN  # options cut off
    c = bytearray(b)
    c[12] = 4 << 4
    assert tcp.check(c, 0, 40, _SRC, 0, _DST, 0) == tcp.DROP_HLEN
    c[12] = 15 << 4
    assert tcp.check(c, 0, 40, _SRC, 0, _DST, 0) == tcp.DROP_HLEN
    assert tcp.check(b, 0, 40, _SRC, 0, bytes((10, 0, 0, 9)), 0) == tcp.DROP_CKSUM
    b[39] ^= 0x40
    assert tcp.check(b, 0, 40, _SRC, 0, _DST, 0) == tcp.DROP_CKSUM


# --- garbage never raises -----------------------------------------------------------------------

def test_random_garbage_gives_codes_not_exceptions():
    random.seed(17)
    to = tcp.TcpOpt()
    seen = {}
    for t in range(300):
        n = random.randint(0, 80)
        b = rnd_bytes(n + 4)
        if t & 1 and n >= 20:
            b[0] = 0x40 | random.randint(0, 15)  # mostly-IPv4 headers reach the later checks
            b[2] = 0
            b[3] = random.randint(0, n + 4)
            if t & 2 and 5 <= (b[0] & 15) and (b[0] & 15) * 4 <= n:
                ip.fill_cksum(b, 0)
        codes = (ether.check(b, 0, n), arp.check(b, 0, n), ip.check(b, 0, n), icmp.check(b, 0, n),
                 udp.check(b, 0, n, _SRC, 0, _DST, 0), tcp.check(b, 0, n, _SRC, 0, _DST, 0),
                 tcp.parse_options(b, 0, n, to))
        mods = (ether, arp, ip, icmp, udp, tcp, tcp)
        for i in range(7):
            assert 0 <= codes[i] < mods[i].NREASONS
            seen[(i, codes[i])] = 1
    # the fuzz reached more than the length checks
    assert (2, ip.DROP_CKSUM) in seen and (2, ip.DROP_VERSION) in seen and (6, tcp.DROP_OPTLEN) in seen


# --- allocation ---------------------------------------------------------------------------------

_f = bytearray(1514)
_to = tcp.TcpOpt()
_ip_off = 14
_l4 = 34


def _build_frame():
    ether.emit(_f, 0, bytes(6), 0, bytes((2, 0, 0, 0, 0, 1)), 0, ether.ETHERTYPE_IP)
    ip.emit(_f, 14, 20, 0, 1500, 1, ip.IP_DF, 64, ip.IPPROTO_TCP, _SRC, 0, _DST, 0)
    ip.fill_cksum(_f, 14)
    tcp.emit(_f, _l4, 80, 40000, 1, 2, 3, 4, 32, tcp.TH_ACK, 5000, 0)
    n = tcp.emit_nop(_f, _l4 + 20)
    n += tcp.emit_nop(_f, _l4 + 20 + n)
    n += tcp.emit_ts(_f, _l4 + 20 + n, 1, 2, 3, 4)
    for i in range(_l4 + 32, 1514):
        _f[i] = i & 0xFF
    tcp.fill_cksum(_f, _l4, 1480, _f, 26, _f, 30)


def _parse_frame():
    if ether.check(_f, 0, 1514) or ether.ethertype(_f, 0) != ether.ETHERTYPE_IP:
        return 1
    if ip.check(_f, 14, 1500):
        return 2
    ip.version(_f, 14)
    ip.tos(_f, 14)
    ip.ident(_f, 14)
    ip.frag(_f, 14)
    ip.ttl(_f, 14)
    ip.addr_eq(_f, 14 + ip.IP_SRC, _SRC, 0)
    hl = ip.hlen(_f, 14)
    n = ip.total_len(_f, 14) - hl
    o = 14 + hl
    if tcp.check(_f, o, n, _f, 14 + ip.IP_SRC, _f, 14 + ip.IP_DST):
        return 3
    tcp.sport(_f, o)
    tcp.dport(_f, o)
    tcp.seq_hi(_f, o)
    tcp.seq_lo(_f, o)
    tcp.ack_hi(_f, o)
    tcp.ack_lo(_f, o)
    tcp.flags(_f, o)
    tcp.win(_f, o)
    tcp.urp(_f, o)
    return tcp.parse_options(_f, o + 20, tcp.hlen(_f, o) - 20, _to)


_small = bytearray(64)
_arpb = bytearray(28)
arp.emit(_arpb, 0, arp.ARPOP_REQUEST, bytes(6), 0, _SRC, 0, None, 0, _DST, 0)


def _parse_small():
    arp.check(_arpb, 0, 28)
    arp.op(_arpb, 0)
    icmp.check(_small, 0, 64)
    icmp.msg_type(_small, 0)
    icmp.ident(_small, 0)
    udp.check(_small, 0, 64, _SRC, 0, _DST, 0)
    udp.sport(_small, 0)
    return udp.ulen(_small, 0)


def _emit_all():
    ether.emit(_small, 0, _f, 0, _f, 6, ether.ETHERTYPE_IP)
    ip.emit(_small, 14, 20, 0, 50, 7, 0, 64, 17, _SRC, 0, _DST, 0)
    ip.fill_cksum(_small, 14)
    udp.emit(_small, 34, 7, 7, 30)
    udp.fill_cksum(_small, 34, 30, _SRC, 0, _DST, 0)
    tcp.emit(_small, 34, 1, 2, 3, 4, 5, 6, 20, 0x12, 100, 0)
    tcp.emit_ts(_small, 54, 1, 2, 3, 4)
    icmp.emit(_small, 34, 8, 0, 1, 2)
    icmp.fill_cksum(_small, 34, 30)
    ip.dec_ttl(_small, 14)


def test_parsing_allocates_nothing():
    _build_frame()
    assert _parse_frame() == 0 and _to.to_flags == tcp.TOF_TS
    icmp.emit(_small, 0, 8, 0, 1, 2)
    icmp.fill_cksum(_small, 0, 64)
    udp.emit(_small, 0, 5, 6, 64)
    ptest.report_alloc("parse eth+ip+tcp(+ts) 1514 B frame incl. checksums", _parse_frame, limit=0)
    ptest.report_alloc("parse arp, icmp, udp", _parse_small, limit=0)
    ptest.report_alloc("emit eth, ip, udp, tcp, icmp + checksums", _emit_all, limit=0)
    ptest.report_alloc("in_cksum 1500 B frame", lambda: ck.in_cksum(_f, 14, 1500, 0), limit=0)
