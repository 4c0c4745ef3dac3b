# Multicast socket options (FreeBSD netinet/in_mcast.c: inp_setmoptions, inp_getmoptions,
# inp_freemoptions; the ip_moptions of a socket): IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP,
# IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP on UDP and raw sockets. Loaded by the first
# multicast option a socket sets; the data path does not import it (udp_input and rip_input read
# inp.moptions directly, ip_moutput its ttl and loop).
#
# Values as CPython code passes them on Linux:
#   IP_ADD_MEMBERSHIP, IP_DROP_MEMBERSHIP: struct ip_mreq, 8 bytes: the group, then the address of
#       the interface (INADDR_ANY: the one the route to the group leaves by), e.g.
#       struct.pack("4s4s", inet_aton("239.1.2.3"), inet_aton("10.7.0.2")); 12 or more bytes are an
#       ip_mreqn whose third word, an interface index, counts route.ifnet from 1 when the address is
#       INADDR_ANY (struct.pack("4sl", ..., INADDR_ANY) is 16 bytes on a 64-bit host, 8 on a board)
#   IP_MULTICAST_IF: the interface's address, 4 bytes (or an ip_mreq/ip_mreqn: the address at 4);
#       INADDR_ANY goes back to the route's choice. getsockopt gives the 4 bytes.
#   IP_MULTICAST_TTL: 0..255 as an int, or packed (struct.pack("b", 1), a C int); default 1
#       (RFC 1112 6.1); -1 restores it. 0 keeps datagrams on this host (looped back only).
#   IP_MULTICAST_LOOP: an int or packed; default on: our own datagrams to a group this host is in
#       reach its member sockets (ip_output.ip_mloopback)
# Errors as BSD and Linux give them: EINVAL (not a group, a bad length), EADDRNOTAVAIL (no such
# interface, dropping a group not joined), EADDRINUSE (joined already), ENOBUFS (table full).
from .compat import ticks_ms
from . import route
from .inet import in_nullhost, inet_ntoa, in_eq
from .errno import EINVAL, EADDRNOTAVAIL, EADDRINUSE, ENOPROTOOPT
from . import igmp
from . import mbuf
from . import in_proto
from .hdr import ip as iph

IP_MULTICAST_IF = 32
IP_MULTICAST_TTL = 33
IP_MULTICAST_LOOP = 34
IP_ADD_MEMBERSHIP = 35
IP_DROP_MEMBERSHIP = 36
clock = [ticks_ms]  # read once per socket call (joins and leaves start IGMP timers); tests replace it


class IpMoptions:
    """struct ip_moptions: one per socket that set a multicast option."""

    __slots__ = ("ttl", "loop", "ifp", "mships")

    def __init__(self):
        self.ttl = 1  # IP_DEFAULT_MULTICAST_TTL
        self.loop = True  # IP_DEFAULT_MULTICAST_LOOP
        self.ifp = None  # IP_MULTICAST_IF: None = as routed
        self.mships = 0  # bit s: this socket holds igmp's in_multi slot s

    def member(self, ifp, b, off):
        """imo_multi_filter: did this socket join group b[off:off+4] on ifp? (per datagram to a
        group, for each socket on its port: no allocation)"""
        m = self.mships
        if not m:
            return False
        s = igmp.inm_lookup(ifp, b, off)
        return s >= 0 and (m >> s) & 1 == 1


def inp_setmoptions(inp, opt, value):
    now = clock[0]()
    imo = inp.moptions
    if imo is None:
        imo = inp.moptions = IpMoptions()  # inp_findmoptions
    if opt == IP_ADD_MEMBERSHIP or opt == IP_DROP_MEMBERSHIP:
        b = _buf(value, 8, opt)
        if b[0] & 0xF0 != 0xE0:
            raise OSError(EINVAL, "%s is not a multicast group" % inet_ntoa(b, 0))
        ifp = _mreq_ifp(b)
        s = igmp.inm_lookup(ifp, b, 0)
        mine = s >= 0 and (imo.mships >> s) & 1
        if opt == IP_ADD_MEMBERSHIP:
            if mine:
                raise OSError(EADDRINUSE, "this socket is in group %s already" % inet_ntoa(b, 0))
            s = igmp.in_joingroup(ifp, b, 0, now)
            imo.mships |= 1 << s
        else:
            if not mine:
                raise OSError(EADDRNOTAVAIL, "this socket is not in group %s there" % inet_ntoa(b, 0))
            imo.mships &= ~(1 << s)
            igmp.in_leavegroup(s, now)
    elif opt == IP_MULTICAST_IF:
        b = _buf(value, 4, opt)
        a = 4 if len(b) >= 8 else 0
        k = _ifindex(b)
        if not in_nullhost(b, a):
            imo.ifp = _addr_ifp(b, a)
        elif k:
            imo.ifp = _index_ifp(k)
        else:
            imo.ifp = None
    elif opt == IP_MULTICAST_TTL:
        v = _int(value)
        if v == -1:
            v = 1
        if not 0 <= v <= 255:
            raise OSError(EINVAL, "IP_MULTICAST_TTL must be 0..255, not %d" % v)
        imo.ttl = v
    elif opt == IP_MULTICAST_LOOP:
        imo.loop = bool(_int(value))
    else:
        raise OSError(ENOPROTOOPT, "IPPROTO_IP option %r not supported" % (opt,))


def inp_getmoptions(inp, opt):
    imo = inp.moptions
    if opt == IP_MULTICAST_TTL:
        return 1 if imo is None else imo.ttl
    if opt == IP_MULTICAST_LOOP:
        return 1 if imo is None or imo.loop else 0
    if opt == IP_MULTICAST_IF:
        return bytes(4) if imo is None or imo.ifp is None else bytes(imo.ifp.ia.addr)
    raise OSError(ENOPROTOOPT, "IPPROTO_IP option %r cannot be read" % (opt,))


def inp_freemoptions(inp):
    """The socket closes: each of its groups loses a member (the last one leaves it)."""
    now = clock[0]()
    imo = inp.moptions
    inp.moptions = None
    if imo is None:
        return
    s = 0
    m = imo.mships
    while m:
        if m & 1:
            igmp.in_leavegroup(s, now)
        m >>= 1
        s += 1


def _buf(value, n, opt):
    try:
        b = memoryview(value)
    except TypeError:
        raise OSError(EINVAL, "option %d takes bytes (struct ip_mreq / in_addr), not %r" % (opt, type(value).__name__))
    if len(b) < n:
        raise OSError(EINVAL, "option %d takes at least %d bytes, not %d" % (opt, n, len(b)))
    return b


def _mreq_ifp(b):
    """The interface of an ip_mreq/ip_mreqn: its address (at 4), else its index (ip_mreqn, at 8;
    1 = route.ifnet[0]), else the one the route to the group (at 0) leaves by."""
    if not in_nullhost(b, 4):
        return _addr_ifp(b, 4)
    k = _ifindex(b)
    if k:
        return _index_ifp(k)
    ifp = route.rtalloc_ifp(b, 0)
    if ifp is None:
        raise OSError(EADDRNOTAVAIL, "no interface for multicast (none is up)")
    return ifp


def _ifindex(b):
    return b[8] | (b[9] << 8) | (b[10] << 16) if len(b) >= 12 else 0


def _index_ifp(k):
    if k > len(route.ifnet):
        raise OSError(EADDRNOTAVAIL, "no interface with index %d" % k)
    return route.ifnet[k - 1]


def _addr_ifp(b, off):
    for ifp in route.ifnet:
        if ifp.ia.configured and in_eq(ifp.ia.addr, 0, b, off):
            return ifp
    raise OSError(EADDRNOTAVAIL, "%s is not the address of an interface" % inet_ntoa(b, off))


def _int(value):
    if isinstance(value, bool) or isinstance(value, int):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)) and len(value) in (1, 4):
        b = bytes(value)
        if len(b) == 1:
            return b[0]
        v = b[0] | (b[1] << 8) | (b[2] << 16)  # a C int as the host packs it (little endian)
        return -1 if b[3] == 0xFF and v == 0xFFFFFF else v
    raise OSError(EINVAL, "option value must be an int or a packed 1- or 4-byte int, not %r" % (value,))


def ip_mloopback(ifp, m, dst, now):
    """ip_output's IP_MULTICAST_LOOP: when this host is in the group m.buf[dst:] on ifp, deliver a
    copy of the finished datagram as if it had come in on ifp (BSD ip_mloopback: the chip does not
    hear its own frames). The copy skips ip_input, whose martian check drops our own source."""
    if not in_proto.in_mcast_member(ifp, m.buf, dst):
        return
    c = mbuf.m_copypacket(m)
    if c is None:
        return  # counted by m_get (mbs drops)
    c.flags = mbuf.M_MCAST
    in_proto.ip_deliver(ifp, c, iph.hlen(c.buf, c.off), now)
