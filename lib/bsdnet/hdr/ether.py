# Ethernet II header (net/ethernet.h): 6-byte destination, 6-byte source, 16-bit EtherType.
#
# API, the same shape in every hdr module (buf is a bytearray/memoryview, off where the header starts):
#   check(buf, off, n) -> 0 or DROP_*   n = bytes from off to the end of the frame; call it first:
#                                       the readers below do no length checks of their own
#   readers(buf, off) -> small int      here: ethertype()
#   emit(buf, off, dst, doff, src, soff, etype)   write the 14-byte header (MACs copied from buffers)
#   reason_name(code) -> str, NREASONS  drop reason names for counters (ether_input's stats)
#   MACs stay 6 bytes in buffers: mac_eq(), mac_copy(), is_broadcast(), is_multicast()
#   Public offsets: ETHER_DHOST, ETHER_SHOST, ETHER_TYPE; ETHER_HDR_LEN.
from ..compat import const

ETHER_ADDR_LEN = const(6)
ETHER_HDR_LEN = const(14)
ETHER_DHOST = const(0)
ETHER_SHOST = const(6)
ETHER_TYPE = const(12)

ETHERTYPE_IP = const(0x0800)
ETHERTYPE_ARP = const(0x0806)
ETHERTYPE_VLAN = const(0x8100)
ETHERTYPE_IPV6 = const(0x86DD)
_ETHERTYPE_MIN = const(0x0600)  # below: an IEEE 802.3 length field, not an EtherType

DROP_SHORT = const(1)  # fewer than 14 bytes
DROP_8023 = const(2)  # 802.3 length field instead of an EtherType (LLC/SNAP: not handled)
NREASONS = const(3)
_REASONS = ("ok", "short", "802.3 length")


def reason_name(code):
    return _REASONS[code] if 0 <= code < NREASONS else "?"


def check(buf, off, n):
    if n < ETHER_HDR_LEN:
        return DROP_SHORT
    if ((buf[off + 12] << 8) | buf[off + 13]) < _ETHERTYPE_MIN:
        return DROP_8023
    return 0


def ethertype(buf, off):
    return (buf[off + 12] << 8) | buf[off + 13]


def emit(buf, off, dst, doff, src, soff, etype):
    for i in range(6):
        buf[off + i] = dst[doff + i]
        buf[off + 6 + i] = src[soff + i]
    buf[off + 12] = etype >> 8
    buf[off + 13] = etype & 0xFF


def mac_eq(a, aoff, b, boff):
    for i in range(6):
        if a[aoff + i] != b[boff + i]:
            return False
    return True


def mac_copy(dst, doff, src, soff):
    for i in range(6):
        dst[doff + i] = src[soff + i]


def is_broadcast(buf, off):
    return (buf[off] & buf[off + 1] & buf[off + 2] & buf[off + 3] & buf[off + 4] & buf[off + 5]) == 0xFF


def is_multicast(buf, off):
    # the I/G bit: the least significant bit of the first octet (broadcast is multicast too)
    return (buf[off] & 1) == 1
