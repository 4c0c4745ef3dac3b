# ARP for IPv4 over Ethernet (RFC 826; net/if_arp.h, netinet/if_ether.h struct ether_arp): 28 bytes.
#
# API (as in every hdr module; buf is a bytearray/memoryview, off where the ARP header starts):
#   check(buf, off, n) -> 0 or DROP_*   call first: the readers do no length checks of their own.
#                                       Only Ethernet (hrd 1, hln 6) / IPv4 (pro 0x0800, pln 4),
#                                       op request or reply, passes.
#   readers(buf, off) -> small int      hrd(), pro(), hln(), pln(), op()
#   addresses stay in the buffer at off + ARP_SHA / ARP_SPA / ARP_THA / ARP_TPA (compare and copy
#   them with ether.mac_eq/mac_copy, ip.addr_eq/addr_copy)
#   emit(buf, off, op, sha, shaoff, spa, spaoff, tha, thaoff, tpa, tpaoff)
#                                       write a whole packet; tha None writes 00:00:00:00:00:00
#   make_reply(buf, off, lladdr, lloff) turn a request into its reply in place (RFC 826 "swap
#                                       hardware and protocol fields, put the local hardware address
#                                       in the sender field, set the opcode to reply")
#   reason_name(code) -> str, NREASONS
from ..compat import const

ARP_LEN = const(28)
_HRD = const(0)
_PRO = const(2)
_HLN = const(4)
_PLN = const(5)
_OP = const(6)
ARP_SHA = const(8)
ARP_SPA = const(14)
ARP_THA = const(18)
ARP_TPA = const(24)

ARPHRD_ETHER = const(1)
_ETHERTYPE_IP = const(0x0800)
ARPOP_REQUEST = const(1)
ARPOP_REPLY = const(2)

DROP_SHORT = const(1)  # fewer than 28 bytes
DROP_HRD = const(2)  # hardware type not Ethernet
DROP_PRO = const(3)  # protocol type not IPv4
DROP_ADDRLEN = const(4)  # hln != 6 or pln != 4
DROP_OP = const(5)  # neither request nor reply
NREASONS = const(6)
_REASONS = ("ok", "short", "bad hardware type", "bad protocol type", "bad address length", "bad opcode")


def reason_name(code):
    return _REASONS[code] if 0 <= code < NREASONS else "?"


def check(buf, off, n):
    if n < ARP_LEN:
        return DROP_SHORT
    if buf[off] != 0 or buf[off + 1] != ARPHRD_ETHER:
        return DROP_HRD
    if buf[off + 2] != 0x08 or buf[off + 3] != 0x00:
        return DROP_PRO
    if buf[off + _HLN] != 6 or buf[off + _PLN] != 4:
        return DROP_ADDRLEN
    op = (buf[off + _OP] << 8) | buf[off + _OP + 1]
    if op != ARPOP_REQUEST and op != ARPOP_REPLY:
        return DROP_OP
    return 0


def hrd(buf, off):
    return (buf[off] << 8) | buf[off + 1]


def pro(buf, off):
    return (buf[off + _PRO] << 8) | buf[off + _PRO + 1]


def hln(buf, off):
    return buf[off + _HLN]


def pln(buf, off):
    return buf[off + _PLN]


def op(buf, off):
    return (buf[off + _OP] << 8) | buf[off + _OP + 1]


def emit(buf, off, op, sha, shaoff, spa, spaoff, tha, thaoff, tpa, tpaoff):
    buf[off] = 0
    buf[off + 1] = ARPHRD_ETHER
    buf[off + 2] = _ETHERTYPE_IP >> 8
    buf[off + 3] = 0
    buf[off + _HLN] = 6
    buf[off + _PLN] = 4
    buf[off + _OP] = op >> 8
    buf[off + _OP + 1] = op & 0xFF
    for i in range(6):
        buf[off + ARP_SHA + i] = sha[shaoff + i]
        buf[off + ARP_THA + i] = 0 if tha is None else tha[thaoff + i]
    for i in range(4):
        buf[off + ARP_SPA + i] = spa[spaoff + i]
        buf[off + ARP_TPA + i] = tpa[tpaoff + i]


def make_reply(buf, off, lladdr, lloff):
    buf[off + _OP] = 0
    buf[off + _OP + 1] = ARPOP_REPLY
    for i in range(6):
        buf[off + ARP_THA + i] = buf[off + ARP_SHA + i]
        buf[off + ARP_SHA + i] = lladdr[lloff + i]
    for i in range(4):
        a = off + ARP_SPA + i
        t = buf[a]
        buf[a] = buf[off + ARP_TPA + i]
        buf[off + ARP_TPA + i] = t
