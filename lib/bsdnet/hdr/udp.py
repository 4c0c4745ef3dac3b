# UDP header (RFC 768; netinet/udp.h struct udphdr): ports, length, checksum over a pseudo-header.
#
# API (as in every hdr module; buf is a bytearray/memoryview, off where the UDP header starts):
#   check(buf, off, n, src, soff, dst, doff) -> 0 or DROP_*
#       n = the IP payload length; src/dst: the IP addresses (4 bytes at soff/doff, usually the IP
#       header in the same buffer: buf, ip_off + ip.IP_SRC, buf, ip_off + ip.IP_DST).
#       Short; uh_ulen < 8 or beyond n; checksum over uh_ulen bytes (0 = none sent, RFC 768).
#       Bytes past uh_ulen (Ethernet padding) are not UDP's. The readers do no length checks.
#   readers(buf, off) -> small int      sport(), dport(), ulen(), cksum()
#   emit(buf, off, sport, dport, ulen)  8 bytes, uh_sum 0
#   fill_cksum(buf, off, n, src, soff, dst, doff) -> uh_sum over n bytes (header and payload in
#       place, n == uh_ulen); a computed 0 is sent as 0xffff (RFC 768: 0 means "no checksum")
#   set_ulen(buf, off, v)
#   reason_name(code) -> str, NREASONS  (udpstat: udps_hdrops, udps_badlen, udps_badsum)
from ..compat import const
from ..in_cksum import in_cksum, in_pseudo

UDP_HDR_LEN = const(8)
_SPORT = const(0)
_DPORT = const(2)
_ULEN = const(4)
UDP_SUM = const(6)
_IPPROTO_UDP = const(17)

DROP_SHORT = const(1)  # udps_hdrops: fewer than 8 bytes
DROP_LEN = const(2)  # udps_badlen: uh_ulen < 8 or beyond the IP payload
DROP_CKSUM = const(3)  # udps_badsum
NREASONS = const(4)
_REASONS = ("ok", "short", "bad length", "bad checksum")


def reason_name(code):
    return _REASONS[code] if 0 <= code < NREASONS else "?"


def check(buf, off, n, src, soff, dst, doff):
    if n < UDP_HDR_LEN:
        return DROP_SHORT
    ul = (buf[off + _ULEN] << 8) | buf[off + _ULEN + 1]
    if ul < UDP_HDR_LEN or ul > n:
        return DROP_LEN
    if buf[off + UDP_SUM] | buf[off + UDP_SUM + 1]:
        if in_cksum(buf, off, ul, in_pseudo(src, soff, dst, doff, _IPPROTO_UDP, ul)) != 0:
            return DROP_CKSUM
    return 0


def sport(buf, off):
    return (buf[off] << 8) | buf[off + 1]


def dport(buf, off):
    return (buf[off + _DPORT] << 8) | buf[off + _DPORT + 1]


def ulen(buf, off):
    return (buf[off + _ULEN] << 8) | buf[off + _ULEN + 1]


def cksum(buf, off):
    return (buf[off + UDP_SUM] << 8) | buf[off + UDP_SUM + 1]


def emit(buf, off, sport, dport, ulen):
    buf[off] = sport >> 8
    buf[off + 1] = sport & 0xFF
    buf[off + 2] = dport >> 8
    buf[off + 3] = dport & 0xFF
    buf[off + 4] = ulen >> 8
    buf[off + 5] = ulen & 0xFF
    buf[off + 6] = 0
    buf[off + 7] = 0


def set_ulen(buf, off, v):
    buf[off + _ULEN] = v >> 8
    buf[off + _ULEN + 1] = v & 0xFF


def fill_cksum(buf, off, n, src, soff, dst, doff):
    buf[off + UDP_SUM] = 0
    buf[off + UDP_SUM + 1] = 0
    s = in_cksum(buf, off, n, in_pseudo(src, soff, dst, doff, _IPPROTO_UDP, n))
    if s == 0:
        s = 0xFFFF
    buf[off + UDP_SUM] = s >> 8
    buf[off + UDP_SUM + 1] = s & 0xFF
    return s
