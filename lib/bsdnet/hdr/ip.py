# IPv4 header (RFC 791; netinet/ip.h struct ip), with options.
#
# API (as in every hdr module; buf is a bytearray/memoryview, off where the IP header starts):
#   check(buf, off, n) -> 0 or DROP_*   n = bytes from off to the end of the frame. In ip_input's
#       order: short, version, header length, header checksum, total length, truncated, options
#       (EOL ends the list, NOP is one byte, any other option needs a length byte >= 2 that stays
#       inside the header). The readers below do no length checks of their own: check first.
#   readers(buf, off) -> small int: version(), hlen() (bytes), tos(), total_len(), ident(), frag()
#       (the raw ip_off word: IP_DF | IP_MF | IP_OFFMASK), ttl(), proto(), cksum()
#   addresses stay 4 bytes in the buffer at off + IP_SRC / off + IP_DST:
#       addr_eq(a, aoff, b, boff), addr_copy(dst, doff, src, soff)
#   emit(buf, off, hlen, tos, total_len, ident, frag, ttl, proto, src, soff, dst, doff)
#       writes the fixed 20 bytes with ip_sum 0; put options (if hlen > 20) at off + 20, then
#       fill_cksum(buf, off) -> ip_sum (also after any setter)
#   setters: set_total_len, set_ident, set_frag, set_ttl (no checksum update: fill_cksum after)
#   dec_ttl(buf, off) -> new ttl        forwarding: TTL - 1 and ip_sum updated per RFC 1624
#                                       (-1 and no change when the TTL is already 0)
#   opt_find(buf, off, kind) -> offset of the first option of that kind in a checked header, or -1
#   opt_errptr(buf, off) -> 0, or the offset of the first malformed option byte (ICMP param problem)
#   reason_name(code) -> str, NREASONS  (the ipstat counters: ips_toosmall, ips_badvers, ...)

from ..compat import const
from ..in_cksum import in_cksum, cksum_adjust

IP_HDR_LEN = const(20)
IP_MAX_HDR_LEN = const(60)
IP_VERSION = const(4)
_VHL = const(0)
_TOS = const(1)
_LEN = const(2)
_ID = const(4)
_OFF = const(6)
IP_TTL = const(8)
IP_P = const(9)
IP_SUM = const(10)
IP_SRC = const(12)
IP_DST = const(16)

IP_RF = const(0x8000)
IP_DF = const(0x4000)
IP_MF = const(0x2000)
IP_OFFMASK = const(0x1FFF)

IPPROTO_ICMP = const(1)
IPPROTO_IGMP = const(2)
IPPROTO_TCP = const(6)
IPPROTO_UDP = const(17)

IPOPT_EOL = const(0)
IPOPT_NOP = const(1)
IPOPT_RR = const(7)
IPOPT_TS = const(68)
IPOPT_LSRR = const(131)
IPOPT_SSRR = const(137)
IPOPT_RA = const(148)

DROP_SHORT = const(1)  # ips_toosmall: fewer than 20 bytes
DROP_VERSION = const(2)  # ips_badvers
DROP_HLEN = const(3)  # ips_badhlen: IHL < 5, or the header runs past the frame
DROP_CKSUM = const(4)  # ips_badsum
DROP_LEN = const(5)  # ips_badlen: total length < header length
DROP_TRUNC = const(6)  # ips_tooshort: total length beyond the frame
DROP_OPTION = const(7)  # ips_badoptions: option length < 2 or past the end of the header
NREASONS = const(8)
_REASONS = ("ok", "short", "bad version", "bad header length", "bad checksum", "bad total length",
            "truncated", "bad option")


def reason_name(code):
    return _REASONS[code] if 0 <= code < NREASONS else "?"


def check(buf, off, n):
    if n < IP_HDR_LEN:
        return DROP_SHORT
    vhl = buf[off]
    if vhl >> 4 != IP_VERSION:
        return DROP_VERSION
    hl = (vhl & 0x0F) << 2
    if hl < IP_HDR_LEN or hl > n:
        return DROP_HLEN
    if in_cksum(buf, off, hl) != 0:
        return DROP_CKSUM
    tl = (buf[off + _LEN] << 8) | buf[off + _LEN + 1]
    if tl < hl:
        return DROP_LEN
    if tl > n:
        return DROP_TRUNC
    if hl > IP_HDR_LEN and opt_errptr(buf, off):
        return DROP_OPTION
    return 0


def opt_errptr(buf, off):
    """0 if the options of the header at off are well formed, else the offset (from off) of the
    first bad byte: the pointer of an ICMP parameter problem."""
    i = off + IP_HDR_LEN
    end = off + ((buf[off] & 0x0F) << 2)
    while i < end:
        t = buf[i]
        if t == IPOPT_EOL:
            break
        if t == IPOPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            return i - off
        ol = buf[i + 1]
        if ol < 2 or i + ol > end:
            return i + 1 - off
        i += ol
    return 0


def opt_find(buf, off, kind):
    i = off + IP_HDR_LEN
    end = off + ((buf[off] & 0x0F) << 2)
    while i < end:
        t = buf[i]
        if t == kind:
            return i
        if t == IPOPT_EOL:
            break
        if t == IPOPT_NOP:
            i += 1
            continue
        if i + 1 >= end or buf[i + 1] < 2:
            break
        i += buf[i + 1]
    return -1


def version(buf, off):
    return buf[off] >> 4


def hlen(buf, off):
    return (buf[off] & 0x0F) << 2


def tos(buf, off):
    return buf[off + _TOS]


def total_len(buf, off):
    return (buf[off + _LEN] << 8) | buf[off + _LEN + 1]


def ident(buf, off):
    return (buf[off + _ID] << 8) | buf[off + _ID + 1]


def frag(buf, off):
    return (buf[off + _OFF] << 8) | buf[off + _OFF + 1]


def ttl(buf, off):
    return buf[off + IP_TTL]


def proto(buf, off):
    return buf[off + IP_P]


def cksum(buf, off):
    return (buf[off + IP_SUM] << 8) | buf[off + IP_SUM + 1]


def addr_eq(a, aoff, b, boff):
    return (a[aoff] == b[boff] and a[aoff + 1] == b[boff + 1] and a[aoff + 2] == b[boff + 2]
            and a[aoff + 3] == b[boff + 3])


def addr_copy(dst, doff, src, soff):
    dst[doff] = src[soff]
    dst[doff + 1] = src[soff + 1]
    dst[doff + 2] = src[soff + 2]
    dst[doff + 3] = src[soff + 3]


def emit(buf, off, hlen, tos, total_len, ident, frag, ttl, proto, src, soff, dst, doff):
    # byte stores: struct.pack_into parses its format on every call, about twice the time
    buf[off] = 0x40 | (hlen >> 2)
    buf[off + 1] = tos
    buf[off + 2] = total_len >> 8
    buf[off + 3] = total_len & 0xFF
    buf[off + 4] = ident >> 8
    buf[off + 5] = ident & 0xFF
    buf[off + 6] = frag >> 8
    buf[off + 7] = frag & 0xFF
    buf[off + 8] = ttl
    buf[off + 9] = proto
    buf[off + 10] = 0
    buf[off + 11] = 0
    buf[off + 12] = src[soff]
    buf[off + 13] = src[soff + 1]
    buf[off + 14] = src[soff + 2]
    buf[off + 15] = src[soff + 3]
    buf[off + 16] = dst[doff]
    buf[off + 17] = dst[doff + 1]
    buf[off + 18] = dst[doff + 2]
    buf[off + 19] = dst[doff + 3]


def fill_cksum(buf, off):
    buf[off + IP_SUM] = 0
    buf[off + IP_SUM + 1] = 0
    s = in_cksum(buf, off, (buf[off] & 0x0F) << 2)
    buf[off + IP_SUM] = s >> 8
    buf[off + IP_SUM + 1] = s & 0xFF
    return s


def set_total_len(buf, off, v):
    buf[off + _LEN] = v >> 8
    buf[off + _LEN + 1] = v & 0xFF


def set_ident(buf, off, v):
    buf[off + _ID] = v >> 8
    buf[off + _ID + 1] = v & 0xFF


def set_frag(buf, off, v):
    buf[off + _OFF] = v >> 8
    buf[off + _OFF + 1] = v & 0xFF


def set_ttl(buf, off, v):
    buf[off + IP_TTL] = v


def dec_ttl(buf, off):
    t = buf[off + IP_TTL]
    if t == 0:
        return -1  # ip_forward answers TTL <= 1 with time exceeded before it gets here
    p = buf[off + IP_P]
    s = cksum_adjust((buf[off + IP_SUM] << 8) | buf[off + IP_SUM + 1], (t << 8) | p, ((t - 1) << 8) | p)
    buf[off + IP_TTL] = t - 1
    buf[off + IP_SUM] = s >> 8
    buf[off + IP_SUM + 1] = s & 0xFF
    return t - 1
