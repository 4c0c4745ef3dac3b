# IPv4 addresses and the interface address (BSD in.c / in_var.h).
#
# Addresses stay 4 bytes in a buffer: as one int they reach 2**32 and would allocate on 32-bit
# MicroPython. in_ifaddr keeps the address, mask, subnet and broadcast of an interface
# (ia_addr, ia_subnetmask, ia_subnet, ia_broadaddr) and the default gateway.

from .hdr.ip import addr_eq as in_eq, addr_copy as in_copy  # noqa: F401 - re-exported


def inet_aton(s, buf=None, off=0):
    """Dotted quad to 4 bytes (into buf at off when given). ValueError names what was wrong."""
    if buf is None:
        buf = bytearray(4)
    parts = s.split(".") if isinstance(s, str) else None
    if parts is None or len(parts) != 4:
        raise ValueError("not a dotted-quad IPv4 address: %r" % (s,))
    for i in range(4):
        p = parts[i]
        if not p.isdigit() or len(p) > 3 or int(p) > 255:
            raise ValueError("not a dotted-quad IPv4 address: %r" % (s,))
        buf[off + i] = int(p)
    return buf


def inet_isdotted(s):
    """Is s a dotted quad (else a name for the resolver)?"""
    try:
        inet_aton(s)
        return True
    except ValueError:
        return False


def inet_ntoa(buf, off=0):
    return "%d.%d.%d.%d" % (buf[off], buf[off + 1], buf[off + 2], buf[off + 3])


def in_nullhost(a, off):
    return a[off] == 0 and a[off + 1] == 0 and a[off + 2] == 0 and a[off + 3] == 0


def in_allones(a, off):
    return a[off] == 255 and a[off + 1] == 255 and a[off + 2] == 255 and a[off + 3] == 255


def in_multicast(a, off):
    return a[off] & 0xF0 == 0xE0


def in_badsenddst(a, off):
    """0.0.0.0 and 127/8: no datagram may leave for them (this stack has no loopback interface),
    the caller gets EADDRNOTAVAIL instead of a packet on the wire."""
    return a[off] == 127 or in_nullhost(a, off)


def in_masked_eq(a, aoff, b, boff, mask):
    """(a & mask) == (b & mask) with mask a 4-byte buffer at 0."""
    return ((a[aoff] ^ b[boff]) & mask[0] == 0 and (a[aoff + 1] ^ b[boff + 1]) & mask[1] == 0
            and (a[aoff + 2] ^ b[boff + 2]) & mask[2] == 0 and (a[aoff + 3] ^ b[boff + 3]) & mask[3] == 0)


class InIfaddr:
    """in_ifaddr: an interface's IPv4 address. All fields are 4-byte buffers made once."""

    def __init__(self):
        self.addr = bytearray(4)  # ia_addr
        self.mask = bytearray(4)  # ia_subnetmask
        self.net = bytearray(4)  # ia_subnet
        self.bcast = bytearray(4)  # ia_broadaddr
        self.gateway = bytearray(4)  # default route's RTF_GATEWAY next hop (0.0.0.0: none)
        self.dns = bytearray(4)
        self.configured = False
        self.p2p = False  # a /31 or /32: no subnet broadcast (RFC 3021)

    def set(self, addr, mask, gateway="0.0.0.0", dns="0.0.0.0"):
        inet_aton(addr, self.addr)
        inet_aton(mask, self.mask)
        # a mask must be contiguous ones then zeros
        bits = (self.mask[0] << 24) | (self.mask[1] << 16) | (self.mask[2] << 8) | self.mask[3]
        inv = (~bits) & 0xFFFFFFFF
        if inv & (inv + 1):
            raise ValueError("netmask %s is not contiguous" % mask)
        inet_aton(gateway, self.gateway)
        inet_aton(dns, self.dns)
        for i in range(4):
            self.net[i] = self.addr[i] & self.mask[i]
            self.bcast[i] = self.net[i] | (~self.mask[i] & 0xFF)
        # RFC 3021: a /31 (and a /32) has no broadcast address and no network address: both of a
        # /31's addresses are hosts. Only the limited broadcast remains.
        self.p2p = inv <= 1
        if self.p2p:
            for i in range(4):
                self.bcast[i] = 255
        self.configured = not in_nullhost(self.addr, 0)

    def is_ours(self, a, off):
        return self.configured and in_eq(a, off, self.addr, 0)

    def is_broadcast(self, a, off):
        """in_broadcast(): all ones, the subnet's all-ones or all-zeros host part (4.2BSD form)."""
        x = a[off + 3]
        if x != 255 and x != self.bcast[3] and x != self.net[3]:
            return False  # the usual case, a unicast host, told by its last byte alone
        if in_allones(a, off):
            return True
        if not self.configured or self.p2p:
            return False
        return in_eq(a, off, self.bcast, 0) or in_eq(a, off, self.net, 0)

    def is_local(self, a, off):
        """in_localaddr(): on this interface's subnet (deliver directly, no gateway)."""
        return self.configured and in_masked_eq(a, off, self.addr, 0, self.mask)

    def martian_src(self, a, off, dst_ok_null):
        """A source address no host may send from (RFC 1122 3.2.1.3, FreeBSD ip_input and
        in_arpinput): 0/8 (0.0.0.0 itself only when dst_ok_null: a host without an address asks
        to a broadcast or multicast destination), 127/8, multicast, 240/4 (the limited broadcast
        with it), our subnet's broadcast, or our own address. Dropped, never answered."""
        x = a[off]
        if x == 0:
            return not (dst_ok_null and in_nullhost(a, off))
        if x == 127 or x >= 224:
            return True
        if not self.configured:
            return False
        return in_eq(a, off, self.addr, 0) or self.is_broadcast(a, off)
