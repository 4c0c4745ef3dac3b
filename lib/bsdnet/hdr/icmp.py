# ICMP header (RFC 792; netinet/ip_icmp.h struct icmp): type, code, checksum, 4 bytes that depend
# on the type (echo id/seq, next-hop MTU, parameter pointer, gateway), then data.
#
# API (as in every hdr module; buf is a bytearray/memoryview, off where the ICMP header starts):
#   check(buf, off, n) -> 0 or DROP_*   n = the ICMP message length (IP payload); short, checksum
#                                       over all n bytes. The readers do no length checks: check first.
#   readers(buf, off) -> small int      msg_type(), msg_code(), cksum(), ident(), seq() (echo),
#                                       nextmtu() (unreach/needfrag, RFC 1191), pptr() (paramprob)
#   the rest-of-header word as 16-bit halves: rest_hi(), rest_lo(); the redirect gateway stays in
#   the buffer at off + ICMP_GWADDR; a quoted IP header of an error starts at off + ICMP_MINLEN
#   emit(buf, off, type, code, rest_hi, rest_lo)   8 bytes, icmp_cksum 0
#   fill_cksum(buf, off, n) -> icmp_cksum, over n bytes (header and data in place)
#   set_type(buf, off, type)            rewrites the type and updates the checksum (RFC 1624):
#                                       echo -> echo reply in place (icmp_reflect)
#   reason_name(code) -> str, NREASONS  (icmpstat: icps_tooshort, icps_checksum)
from ..compat import const
from ..in_cksum import in_cksum, cksum_adjust

ICMP_MINLEN = const(8)
_CODE = const(1)
ICMP_CKSUM = const(2)
ICMP_GWADDR = const(4)

ICMP_ECHOREPLY = const(0)
ICMP_UNREACH = const(3)
ICMP_SOURCEQUENCH = const(4)
ICMP_REDIRECT = const(5)
ICMP_ECHO = const(8)
ICMP_TIMXCEED = const(11)
ICMP_PARAMPROB = const(12)
ICMP_TSTAMP = const(13)
ICMP_TSTAMPREPLY = const(14)
ICMP_MASKREQ = const(17)
ICMP_MASKREPLY = const(18)
ICMP_MAXTYPE = const(18)

ICMP_UNREACH_NET = const(0)
ICMP_UNREACH_HOST = const(1)
ICMP_UNREACH_PROTOCOL = const(2)
ICMP_UNREACH_PORT = const(3)
ICMP_UNREACH_NEEDFRAG = const(4)
ICMP_UNREACH_SRCFAIL = const(5)
ICMP_REDIRECT_NET = const(0)
ICMP_REDIRECT_HOST = const(1)
ICMP_REDIRECT_TOSNET = const(2)
ICMP_REDIRECT_TOSHOST = const(3)
ICMP_TIMXCEED_INTRANS = const(0)
ICMP_TIMXCEED_REASS = const(1)

DROP_SHORT = const(1)  # icps_tooshort: fewer than 8 bytes
DROP_CKSUM = const(2)  # icps_checksum
NREASONS = const(3)
_REASONS = ("ok", "short", "bad checksum")


def reason_name(code):
    return _REASONS[code] if 0 <= code < NREASONS else "?"


def check(buf, off, n):
    if n < ICMP_MINLEN:
        return DROP_SHORT
    if in_cksum(buf, off, n) != 0:
        return DROP_CKSUM
    return 0


def msg_type(buf, off):
    return buf[off]


def msg_code(buf, off):
    return buf[off + _CODE]


def cksum(buf, off):
    return (buf[off + ICMP_CKSUM] << 8) | buf[off + ICMP_CKSUM + 1]


def rest_hi(buf, off):
    return (buf[off + 4] << 8) | buf[off + 5]


def rest_lo(buf, off):
    return (buf[off + 6] << 8) | buf[off + 7]


def ident(buf, off):
    return (buf[off + 4] << 8) | buf[off + 5]


def seq(buf, off):
    return (buf[off + 6] << 8) | buf[off + 7]


def nextmtu(buf, off):
    return (buf[off + 6] << 8) | buf[off + 7]


def pptr(buf, off):
    return buf[off + 4]


def emit(buf, off, type, code, rest_hi, rest_lo):
    buf[off] = type
    buf[off + 1] = code
    buf[off + 2] = 0
    buf[off + 3] = 0
    buf[off + 4] = rest_hi >> 8
    buf[off + 5] = rest_hi & 0xFF
    buf[off + 6] = rest_lo >> 8
    buf[off + 7] = rest_lo & 0xFF


def fill_cksum(buf, off, n):
    buf[off + ICMP_CKSUM] = 0
    buf[off + ICMP_CKSUM + 1] = 0
    s = in_cksum(buf, off, n)
    buf[off + ICMP_CKSUM] = s >> 8
    buf[off + ICMP_CKSUM + 1] = s & 0xFF
    return s


def set_type(buf, off, type):
    old = (buf[off] << 8) | buf[off + 1]
    s = cksum_adjust((buf[off + 2] << 8) | buf[off + 3], old, (type << 8) | buf[off + 1])
    buf[off] = type
    buf[off + 2] = s >> 8
    buf[off + 3] = s & 0xFF
