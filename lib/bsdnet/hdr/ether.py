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


# Straight-line code, not `for i in range(6)`: on MicroPython a loop costs several times more
# per byte than the unrolled stores, and these run for every frame.
def emit(buf, off, dst, doff, src, soff, etype):
    mac_copy(buf, off, dst, doff)
    mac_copy(buf, off + 6, src, soff)
    buf[off + 12] = etype >> 8
    buf[off + 13] = etype & 0xFF


def mac_eq(a, aoff, b, boff):
    return (a[aoff] == b[boff] and a[aoff + 1] == b[boff + 1] and a[aoff + 2] == b[boff + 2]
            and a[aoff + 3] == b[boff + 3] and a[aoff + 4] == b[boff + 4] and a[aoff + 5] == b[boff + 5])


def mac_copy(dst, doff, src, soff):
    dst[doff] = src[soff]
    dst[doff + 1] = src[soff + 1]
    dst[doff + 2] = src[soff + 2]
    dst[doff + 3] = src[soff + 3]
    dst[doff + 4] = src[soff + 4]
    dst[doff + 5] = src[soff + 5]


def is_broadcast(buf, off):
    return (buf[off] & buf[off + 1] & buf[off + 2] & buf[off + 3] & buf[off + 4] & buf[off + 5]) == 0xFF


def is_multicast(buf, off):
    # the I/G bit: the least significant bit of the first octet (broadcast is multicast too)
    return (buf[off] & 1) == 1
