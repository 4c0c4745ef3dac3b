# Cross-check every wire format in lib/bsdnet/hdr/ against scapy, both ways: what our emit()
# writes, scapy parses to the same fields (and recomputes the same checksums); what scapy builds,
# our readers read and our check() accepts. Seeded random field values, IPv4 options, TCP options
# in varied orders with NOP padding.
import random

import pytest

scapy_all = pytest.importorskip("scapy.all")
from scapy.all import ARP, ICMP, IP, TCP, UDP, Ether, Raw  # noqa: E402
from scapy.layers.inet import IPOption_NOP, IPOption_RR, IPOption_Router_Alert, IPOption_Timestamp  # noqa: E402

from bsdnet.hdr import arp, ether, icmp, ip, tcp, udp  # noqa: E402

N = 60  # random cases per direction and format


def mac_str(b, o=0):
    return ":".join("%02x" % x for x in b[o:o + 6])


def ip_str(b, o=0):
    return "%d.%d.%d.%d" % tuple(b[o:o + 4])


def rbytes(r, n):
    return bytes(r.getrandbits(8) for _ in range(n))


def scapy_cksum_of(pkt, layer):
    """The checksum scapy computes for layer when it builds pkt afresh."""
    if layer is IP:
        # the header alone: scapy would rebuild (and re-checksum) any payload layer it decoded
        h = IP(bytes(pkt)[:pkt.ihl * 4])
        del h.chksum
        return IP(bytes(h)).chksum
    p = pkt.copy()
    del p[layer].chksum
    return IP(bytes(p))[layer].chksum


def u32(hi, lo):
    return (hi << 16) | lo


# --- Ethernet -----------------------------------------------------------------------------------

def test_ether_both_ways():
    r = random.Random(100)
    for _ in range(N):
        dst, src, et = rbytes(r, 6), rbytes(r, 6), r.randint(0x0600, 0xFFFF)
        b = bytearray(14)
        ether.emit(b, 0, dst, 0, src, 0, et)
        e = Ether(bytes(b))
        assert (e.dst, e.src, e.type) == (mac_str(dst), mac_str(src), et)
        raw = bytes(Ether(dst=mac_str(src), src=mac_str(dst), type=et))
        assert ether.check(raw, 0, len(raw)) == 0
        assert ether.ethertype(raw, 0) == et
        assert ether.mac_eq(raw, ether.ETHER_DHOST, src, 0) and ether.mac_eq(raw, ether.ETHER_SHOST, dst, 0)


# --- ARP ----------------------------------------------------------------------------------------

def test_arp_both_ways():
    r = random.Random(101)
    for _ in range(N):
        sha, spa, tha, tpa = rbytes(r, 6), rbytes(r, 4), rbytes(r, 6), rbytes(r, 4)
        op = r.choice((1, 2))
        b = bytearray(28)
        arp.emit(b, 0, op, sha, 0, spa, 0, tha, 0, tpa, 0)
        a = ARP(bytes(b))
        assert (a.hwtype, a.ptype, a.hwlen, a.plen, a.op) == (1, 0x0800, 6, 4, op)
        assert (a.hwsrc, a.psrc, a.hwdst, a.pdst) == (mac_str(sha), ip_str(spa), mac_str(tha), ip_str(tpa))
        raw = bytes(ARP(op=op, hwsrc=mac_str(tha), psrc=ip_str(tpa), hwdst=mac_str(sha), pdst=ip_str(spa)))
        assert arp.check(raw, 0, len(raw)) == 0
        assert arp.op(raw, 0) == op
        assert ether.mac_eq(raw, arp.ARP_SHA, tha, 0) and ether.mac_eq(raw, arp.ARP_THA, sha, 0)
        assert ip.addr_eq(raw, arp.ARP_SPA, tpa, 0) and ip.addr_eq(raw, arp.ARP_TPA, spa, 0)
        # our in-place reply to scapy's request is the reply scapy would build
        req = bytearray(bytes(ARP(op=1, hwsrc=mac_str(sha), psrc=ip_str(spa), pdst=ip_str(tpa))))
        arp.make_reply(req, 0, tha, 0)
        rep = ARP(op=2, hwsrc=mac_str(tha), psrc=ip_str(tpa), hwdst=mac_str(sha), pdst=ip_str(spa))
        assert bytes(req) == bytes(rep)


# --- IPv4 ---------------------------------------------------------------------------------------

def rand_ip_options(r):
    """Random IPv4 options as (scapy objects, raw bytes we expect on the wire) pairs, padded to 4."""
    out = []
    for _ in range(r.randint(0, 3)):
        k = r.choice(("nop", "rr", "ra", "ts"))
        if k == "nop":
            out.append(IPOption_NOP())
        elif k == "rr":
            out.append(IPOption_RR(routers=["10.0.0.%d" % r.randint(1, 254) for _ in range(r.randint(0, 2))]))
        elif k == "ra":
            out.append(IPOption_Router_Alert())
        else:
            out.append(IPOption_Timestamp(flg=0, timestamp=r.getrandbits(31)))
    raw = b"".join(bytes(o) for o in out)
    if len(raw) > 40:
        return rand_ip_options(r)
    return out, raw + b"\x00" * (-len(raw) % 4)


def test_ip_our_emit_scapy_parses():
    r = random.Random(102)
    for _ in range(N):
        _, opts = rand_ip_options(r)
        hl = 20 + len(opts)
        plen = r.randint(0, 30)
        tos, ident, frag, ttl = r.getrandbits(8), r.getrandbits(16), r.getrandbits(16) & 0x7FFF, r.randint(1, 255)
        p = r.randint(143, 254)  # unassigned: scapy decodes no payload layer (its IGMP adds options)
        src, dst = rbytes(r, 4), rbytes(r, 4)
        b = bytearray(hl + plen)
        ip.emit(b, 0, hl, tos, hl + plen, ident, frag, ttl, p, src, 0, dst, 0)
        b[20:hl] = opts
        b[hl:] = rbytes(r, plen)
        ours = ip.fill_cksum(b, 0)
        s = IP(bytes(b))
        assert (s.version, s.ihl * 4, s.tos, s.len, s.id, int(s.flags) << 13 | s.frag, s.ttl, s.proto) == (
            4, hl, tos, hl + plen, ident, frag, ttl, p)
        assert (s.src, s.dst) == (ip_str(src), ip_str(dst))
        assert s.chksum == ours == scapy_cksum_of(s, IP)
        assert b"".join(bytes(o) for o in s.options).ljust(len(opts), b"\x00") == opts
        assert ip.check(b, 0, len(b)) == 0


def test_ip_scapy_builds_we_read():
    r = random.Random(103)
    for _ in range(N):
        sopts, raw_opts = rand_ip_options(r)
        tos, ident, ttl = r.getrandbits(8), r.getrandbits(16), r.randint(1, 255)
        flags, frag = r.choice((0, 1, 2)), r.getrandbits(13)
        src, dst = rbytes(r, 4), rbytes(r, 4)
        payload = rbytes(r, r.randint(0, 40))
        pkt = IP(src=ip_str(src), dst=ip_str(dst), tos=tos, id=ident, ttl=ttl, flags=flags, frag=frag, proto=253,
                 options=sopts) / Raw(payload)
        raw = bytearray(bytes(pkt))
        hl = 20 + len(raw_opts)
        assert ip.check(raw, 0, len(raw)) == 0
        assert (ip.version(raw, 0), ip.hlen(raw, 0), ip.tos(raw, 0), ip.total_len(raw, 0), ip.ident(raw, 0),
                ip.frag(raw, 0), ip.ttl(raw, 0), ip.proto(raw, 0)) == (4, hl, tos, hl + len(payload), ident,
                                                                       flags << 13 | frag, ttl, 253)
        assert ip.cksum(raw, 0) == IP(bytes(raw)).chksum
        assert ip.addr_eq(raw, ip.IP_SRC, src, 0) and ip.addr_eq(raw, ip.IP_DST, dst, 0)
        for o in sopts:
            if not isinstance(o, IPOption_NOP):
                assert ip.opt_find(raw, 0, bytes(o)[0]) >= 20
        # forwarding: our incremental TTL decrement matches scapy's full recompute
        if ttl > 1:
            ip.dec_ttl(raw, 0)
            again = IP(bytes(raw))
            assert again.ttl == ttl - 1 and again.chksum == scapy_cksum_of(again, IP)


# --- ICMP ---------------------------------------------------------------------------------------

def test_icmp_both_ways():
    r = random.Random(104)
    src, dst = bytes((10, 0, 0, 1)), bytes((10, 0, 0, 2))
    for _ in range(N):
        ty, code = r.choice(((8, 0), (0, 0), (3, 4), (11, 0), (12, 0)))
        hi, lo = r.getrandbits(16), r.getrandbits(16)
        data = rbytes(r, r.randint(0, 40))
        b = bytearray(8 + len(data))
        icmp.emit(b, 0, ty, code, hi, lo)
        b[8:] = data
        ours = icmp.fill_cksum(b, 0, len(b))
        pkt = IP(src=ip_str(src), dst=ip_str(dst), proto=1) / Raw(bytes(b))
        s = IP(bytes(pkt))[ICMP]
        assert (s.type, s.code, s.chksum) == (ty, code, ours)
        assert s.chksum == scapy_cksum_of(IP(bytes(pkt)), ICMP)
        if ty in (0, 8):
            assert (s.id, s.seq) == (hi, lo)
        elif ty == 3:
            assert s.nexthopmtu == lo
        # scapy builds, we read
        if ty in (0, 8):
            sp = ICMP(type=ty, code=code, id=hi, seq=lo) / Raw(data)
        else:
            sp = ICMP(type=ty, code=code) / Raw(data)
        raw = bytearray(bytes(sp))
        assert icmp.check(raw, 0, len(raw)) == 0
        assert (icmp.msg_type(raw, 0), icmp.msg_code(raw, 0), icmp.cksum(raw, 0)) == (ty, code, ICMP(bytes(raw)).chksum)
        if ty in (0, 8):
            assert (icmp.ident(raw, 0), icmp.seq(raw, 0)) == (hi, lo)
            if ty == 8:
                icmp.set_type(raw, 0, 0)  # echo reply in place, checksum updated incrementally
                assert bytes(raw) == bytes(ICMP(type=0, id=hi, seq=lo) / Raw(data))


# --- UDP ----------------------------------------------------------------------------------------

def test_udp_both_ways():
    r = random.Random(105)
    for _ in range(N):
        src, dst = rbytes(r, 4), rbytes(r, 4)
        sp, dp = r.getrandbits(16), r.getrandbits(16)
        data = rbytes(r, r.randint(0, 50))
        n = 8 + len(data)
        b = bytearray(20 + n)
        ip.emit(b, 0, 20, 0, 20 + n, 1, 0, 64, ip.IPPROTO_UDP, src, 0, dst, 0)
        ip.fill_cksum(b, 0)
        udp.emit(b, 20, sp, dp, n)
        b[28:] = data
        ours = udp.fill_cksum(b, 20, n, b, ip.IP_SRC, b, ip.IP_DST)
        s = IP(bytes(b))
        u = s[UDP]
        assert (u.sport, u.dport, u.len, u.chksum) == (sp, dp, n, ours)
        assert u.chksum == scapy_cksum_of(s, UDP)
        assert bytes(u.payload) == data
        # scapy builds, we read (with Ethernet padding after the datagram)
        pkt = IP(src=ip_str(dst), dst=ip_str(src)) / UDP(sport=dp, dport=sp) / Raw(data)
        raw = bytearray(bytes(pkt)) + b"\x00" * 6
        assert ip.check(raw, 0, len(raw)) == 0
        assert udp.check(raw, 20, ip.total_len(raw, 0) - 20, raw, ip.IP_SRC, raw, ip.IP_DST) == 0
        assert (udp.sport(raw, 20), udp.dport(raw, 20), udp.ulen(raw, 20), udp.cksum(raw, 20)) == (
            dp, sp, n, IP(bytes(pkt))[UDP].chksum)
        raw[28 + len(data) - 1 if data else 27] ^= 0x10
        assert udp.check(raw, 20, n, raw, ip.IP_SRC, raw, ip.IP_DST) == udp.DROP_CKSUM


# --- TCP ----------------------------------------------------------------------------------------

def rand_tcp_options(r):
    """A random set of TCP options in random order, scapy-style, with NOPs sprinkled in."""
    kinds = [k for k in ("MSS", "WScale", "SAckOK", "Timestamp", "SAck") if r.getrandbits(1)]
    r.shuffle(kinds)
    out = []
    size = 0
    for k in kinds:
        if k == "MSS":
            o, n = ("MSS", r.getrandbits(16)), 4
        elif k == "WScale":
            o, n = ("WScale", r.randint(0, 14)), 3
        elif k == "SAckOK":
            o, n = ("SAckOK", b""), 2
        elif k == "Timestamp":
            o, n = ("Timestamp", (r.getrandbits(32), r.getrandbits(32))), 10
        else:
            nb = r.randint(1, 2)
            o, n = ("SAck", tuple(r.getrandbits(32) for _ in range(2 * nb))), 2 + 8 * nb
        nops = r.randint(0, 2)
        if size + n + nops > 40:
            continue
        out += [("NOP", None)] * nops + [o]
        size += n + nops
    if r.getrandbits(1) and size < 40:
        out.append(("EOL", None))
    return out


def check_opts_match(to, sopts):
    want = 0
    for name, val in sopts:
        if name == "MSS":
            want |= tcp.TOF_MSS
            assert to.to_mss == val
        elif name == "WScale":
            want |= tcp.TOF_SCALE
            assert to.to_wscale == val
        elif name == "SAckOK":
            want |= tcp.TOF_SACKPERM
        elif name == "Timestamp":
            want |= tcp.TOF_TS
            assert (u32(to.to_tsval_hi, to.to_tsval_lo), u32(to.to_tsecr_hi, to.to_tsecr_lo)) == val
        elif name == "SAck":
            want |= tcp.TOF_SACK
            assert to.to_nsacks == len(val) // 2
        elif name == "EOL":
            break
    assert to.to_flags == want


def test_tcp_scapy_builds_we_read():
    r = random.Random(106)
    to = tcp.TcpOpt()
    for _ in range(N):
        src, dst = rbytes(r, 4), rbytes(r, 4)
        sp, dp, seq, ack = r.getrandbits(16), r.getrandbits(16), r.getrandbits(32), r.getrandbits(32)
        flags, win, urp = r.getrandbits(8), r.getrandbits(16), r.getrandbits(16)
        sopts = rand_tcp_options(r)
        data = rbytes(r, r.randint(0, 30))
        pkt = IP(src=ip_str(src), dst=ip_str(dst)) / TCP(sport=sp, dport=dp, seq=seq, ack=ack, flags=flags,
                                                           window=win, urgptr=urp, options=sopts) / Raw(data)
        raw = bytearray(bytes(pkt))
        n = len(raw) - 20
        assert ip.check(raw, 0, len(raw)) == 0
        assert tcp.check(raw, 20, n, raw, ip.IP_SRC, raw, ip.IP_DST) == 0
        s = IP(bytes(raw))[TCP]
        assert (tcp.sport(raw, 20), tcp.dport(raw, 20), u32(tcp.seq_hi(raw, 20), tcp.seq_lo(raw, 20)),
                u32(tcp.ack_hi(raw, 20), tcp.ack_lo(raw, 20)), tcp.hlen(raw, 20), tcp.flags(raw, 20),
                tcp.win(raw, 20), tcp.cksum(raw, 20), tcp.urp(raw, 20)) == (
            sp, dp, seq, ack, s.dataofs * 4, flags, win, s.chksum, urp)
        hl = tcp.hlen(raw, 20)
        assert tcp.parse_options(raw, 40, hl - 20, to) == 0
        check_opts_match(to, sopts)
        for name, val in sopts:
            if name == "SAck":
                got = []
                for i in range(to.to_nsacks):
                    o = to.to_sacks + 8 * i
                    got += [u32(raw[o] << 8 | raw[o + 1], raw[o + 2] << 8 | raw[o + 3]),
                            u32(raw[o + 4] << 8 | raw[o + 5], raw[o + 6] << 8 | raw[o + 7])]
                assert tuple(got) == val


def test_tcp_our_emit_scapy_parses():
    r = random.Random(107)
    for _ in range(N):
        src, dst = rbytes(r, 4), rbytes(r, 4)
        sp, dp = r.getrandbits(16), r.getrandbits(16)
        sh, sl, ah_, al = (r.getrandbits(16) for _ in range(4))
        flags, win, urp = r.getrandbits(8), r.getrandbits(16), r.getrandbits(16)
        sopts = [o for o in rand_tcp_options(r) if o[0] != "EOL"]
        data = rbytes(r, r.randint(0, 30))
        b = bytearray(20 + 60 + len(data))
        n = 0
        o = 40
        for name, val in sopts:
            if name == "NOP":
                n += tcp.emit_nop(b, o + n)
            elif name == "MSS":
                n += tcp.emit_mss(b, o + n, val)
            elif name == "WScale":
                n += tcp.emit_wscale(b, o + n, val)
            elif name == "SAckOK":
                n += tcp.emit_sackperm(b, o + n)
            elif name == "Timestamp":
                n += tcp.emit_ts(b, o + n, val[0] >> 16, val[0] & 0xFFFF, val[1] >> 16, val[1] & 0xFFFF)
            elif name == "SAck":
                n += tcp.emit_sack(b, o + n, len(val) // 2)
                for i in range(0, len(val), 2):
                    n += tcp.emit_sack_block(b, o + n, val[i] >> 16, val[i] & 0xFFFF, val[i + 1] >> 16,
                                             val[i + 1] & 0xFFFF)
        optlen = tcp.pad_options(b, o, n)
        hl = 20 + optlen
        seglen = hl + len(data)
        del b[20 + seglen:]
        b[20 + hl:] = data
        tcp.emit(b, 20, sp, dp, sh, sl, ah_, al, hl, flags, win, urp)
        ip.emit(b, 0, 20, 0, 20 + seglen, 7, ip.IP_DF, 64, ip.IPPROTO_TCP, src, 0, dst, 0)
        ip.fill_cksum(b, 0)
        ours = tcp.fill_cksum(b, 20, seglen, b, ip.IP_SRC, b, ip.IP_DST)
        s = IP(bytes(b))
        t = s[TCP]
        assert (t.sport, t.dport, t.seq, t.ack, t.dataofs * 4, int(t.flags), t.window, t.chksum, t.urgptr) == (
            sp, dp, u32(sh, sl), u32(ah_, al), hl, flags, win, ours, urp)
        assert t.chksum == scapy_cksum_of(s, TCP)
        assert bytes(t.payload) == data
        # scapy's reading of our options: same kinds, same values, in the same order
        got = [(k, v) for k, v in t.options if k not in ("NOP", "EOL")]
        want = [(k, v) for k, v in sopts if k != "NOP"]
        assert [k for k, _ in got] == [k for k, _ in want]
        for (k, v), (_, w) in zip(got, want):
            if k == "SAckOK":
                continue
            assert v == w, (k, v, w)
