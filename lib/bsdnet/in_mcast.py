# Multicast socket options (FreeBSD netinet/in_mcast.c: inp_setmoptions, inp_getmoptions,
# inp_freemoptions; the ip_moptions of a socket): IP_ADD_MEMBERSHIP / IP_DROP_MEMBERSHIP,
# IP_MULTICAST_IF, IP_MULTICAST_TTL, IP_MULTICAST_LOOP on UDP and raw sockets; and what only they
# (or SO_REUSEADDR / SO_REUSEPORT) make necessary: a datagram to a group or a broadcast address
# delivered to several UDP sockets (udp_input_mcast), our own multicast looped back (ip_moutput).
# Loaded by the first socket option a datagram socket sets beyond SO_BROADCAST, or by a second raw
# socket (the socket layer imports it then; igmp.py comes with the first membership): until then no
# socket is in a group and a port has at most one socket, so a
# board that uses neither carries none of this (on a Pico every KB counts: the HTTP page of the
# firmware had no room left with all of it loaded at boot). The always-loaded code finds it in
# sys.modules (udp_input, ip_output.ip_moutput) or through a socket's _imo (rip_input).
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
from .compat import const, ticks_ms
from . import route
from .inet import in_nullhost, inet_ntoa, in_eq, in_copy
from .errno import EINVAL, EADDRNOTAVAIL, EADDRINUSE, ENOPROTOOPT
from . import mbuf
from .bcopy import bcopy
from . import in_proto
from .hdr import ip as iph
from .hdr import udp as udph
from .udp_usrreq import udbinfo, UDP_HDR_LEN
from .raw_ip import ripcbinfo, rip_append
from .ip_output import ip_output
from .stats import stat_inc, udpstat, ripstat
# udpstat's indices in bsdnet.stats (private consts: no RAM at run time)
_UDPS_NOPORTBCAST = const(6)
_UDPS_FULLSOCK = const(7)
_UDPS_FILTERMCAST = const(8)
_RIPS_FULLSOCK = const(2)
_FROM = const(8)  # raw_ip's: the sender's address 8 bytes before a queued raw datagram

_SOL_SOCKET = const(1)
_SO_REUSEADDR = const(2)
_SO_REUSEPORT = const(15)
_IPPROTO_IP = const(0)
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
        s = _igmp[0].inm_lookup(ifp, b, off)  # a membership: IGMP is loaded
        return s >= 0 and (m >> s) & 1 == 1


def dg_setsockopt(so, level, opt, value):
    """setsockopt of a UDP or raw socket, but SO_BROADCAST: SO_REUSEADDR / SO_REUSEPORT (bits of
    so._reuse, which in_pcbbind reads when bind() comes) and the IPPROTO_IP multicast options."""
    if level == _SOL_SOCKET and (opt == _SO_REUSEADDR or opt == _SO_REUSEPORT):
        bit = 2 if opt == _SO_REUSEPORT else 1
        so._reuse = (so._reuse | bit) if value else (so._reuse & ~bit)
    elif level == _IPPROTO_IP and IP_MULTICAST_IF <= opt <= IP_DROP_MEMBERSHIP:
        so._pcb()
        inp_setmoptions(so, opt, value)
    else:
        raise OSError(ENOPROTOOPT, "socket option level %r, option %r not supported" % (level, opt))


def dg_getsockopt(so, level, opt):
    if level == _SOL_SOCKET and (opt == _SO_REUSEADDR or opt == _SO_REUSEPORT):
        return 1 if so._reuse & (2 if opt == _SO_REUSEPORT else 1) else 0
    if level == _IPPROTO_IP and IP_MULTICAST_IF <= opt <= IP_MULTICAST_LOOP:
        so._pcb()
        return inp_getmoptions(so, opt)
    raise OSError(ENOPROTOOPT, "socket option level %r, option %r not supported" % (level, opt))


_igmp = [None]  # the igmp module, loaded with the first membership option


def _load_igmp():
    g = _igmp[0]
    if g is None:
        from . import igmp as g

        _igmp[0] = g
    return g


def _member(ifp, a, off):
    """Is this host in group a[off:] on ifp: all-hosts always, another once joined (igmp)."""
    if a[off] == 224 and a[off + 1] == 0 and a[off + 2] == 0 and a[off + 3] == 1:
        return True
    g = _igmp[0]
    return g is not None and g.inm_lookup(ifp, a, off) >= 0


def inp_setmoptions(so, opt, value):
    """setsockopt at IPPROTO_IP for a UDP or raw socket (so._imo: BSD keeps it on the inpcb; here it
    is the socket's, so that no pcb carries a field few use)."""
    now = clock[0]()
    imo = so._imo
    if imo is None:
        imo = so._imo = IpMoptions()  # inp_findmoptions
    if opt == IP_ADD_MEMBERSHIP or opt == IP_DROP_MEMBERSHIP:
        b = _buf(value, 8, opt)
        if b[0] & 0xF0 != 0xE0:
            raise OSError(EINVAL, "%s is not a multicast group" % inet_ntoa(b, 0))
        ifp = _mreq_ifp(b)
        igmp = _load_igmp()
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


def inp_getmoptions(so, opt):
    imo = so._imo
    if opt == IP_MULTICAST_TTL:
        return 1 if imo is None else imo.ttl
    if opt == IP_MULTICAST_LOOP:
        return 1 if imo is None or imo.loop else 0
    if opt == IP_MULTICAST_IF:
        return bytes(4) if imo is None or imo.ifp is None else bytes(imo.ifp.ia.addr)
    raise OSError(ENOPROTOOPT, "IPPROTO_IP option %r cannot be read" % (opt,))


def inp_freemoptions(so):
    """The socket closes: each of its groups loses a member (the last one leaves it)."""
    now = clock[0]()
    imo = so._imo
    so._imo = None
    if imo is None:
        return
    s = 0
    m = imo.mships
    while m:
        if m & 1:
            _igmp[0].in_leavegroup(s, now)
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


def ip_moutput(ifp, m, now, imo):
    """A datagram to a group (m.off at its IP header, as ip_newpacket made it) with the socket's
    multicast options (imo, or None: RFC 1112 6.1's defaults): IP_MULTICAST_TTL (1; 0 keeps it on
    this host), IP_MULTICAST_LOOP (on): when this host is in the group on ifp a copy is delivered as
    if it had come in on ifp (BSD ip_mloopback: the chip does not hear its own frames), skipping
    ip_input, whose martian check drops our own source. Then ip_output sends it."""
    b = m.buf
    o = m.off
    b[o + iph.IP_TTL] = 1 if imo is None else imo.ttl
    if (imo is None or imo.loop) and _member(ifp, b, o + iph.IP_DST):
        c = m_copypacket(m)
        if c is not None:  # else counted by m_get (mbs drops)
            iph.set_total_len(c.buf, o, mbuf.m_pktlen(c))  # what ip_output fills in the original
            iph.fill_cksum(c.buf, o)
            c.flags = mbuf.M_MCAST
            in_proto.ip_deliver(ifp, c, iph.hlen(c.buf, o), now)
    if b[o + iph.IP_TTL] == 0:
        mbuf.m_free(m)  # for this host only (RFC 1122 3.2.1.7: never sent with TTL 0)
        return False
    return ip_output(ifp, m, now, 0)


# --- one datagram to several sockets (BSD udp_input's multicast/broadcast loop) -------------------
def udp_input_mcast(ifp, m, hlen):
    """A datagram to a broadcast or multicast address goes to every socket it matches (BSD
    udp_input's multicast/broadcast loop): each gets its own copy, the last one the datagram
    itself. A socket gets a group's datagrams only when it joined that group on ifp (BSD's
    imo_multi_filter; udps_filtermcast). A copy needs a cluster and room in the socket queues'
    quota: without them that socket misses it (udps_fullsock), the others do not."""
    b = m.buf
    o = m.off
    u = o + hlen
    src = o + iph.IP_SRC
    dst = o + iph.IP_DST
    sport = udph.sport(b, u)
    dport = udph.dport(b, u)
    mc = b[dst] & 0xF0 == 0xE0
    ulen = udph.ulen(b, u)
    in_copy(b, u + 2, b, src)  # the sender's address, as udp_input leaves it for one socket
    m.len -= hlen + UDP_HDR_LEN  # what the first cluster holds after the UDP header
    m.off = u + UDP_HDR_LEN
    mbuf.m_truncate(m, ulen - UDP_HDR_LEN)  # a chain (reassembled) as udp_input has it
    last = None
    for inp in udbinfo.pcbs:
        if not inp.attached or inp.lport != dport:
            continue
        if not in_nullhost(inp.laddr, 0) and not in_eq(inp.laddr, 0, b, dst):
            continue
        if inp.fport != 0 and (inp.fport != sport or not in_eq(inp.faddr, 0, b, src)):
            continue
        if mc:
            imo = inp.so._imo
            if imo is None or not imo.member(ifp, b, dst):
                stat_inc(udpstat, _UDPS_FILTERMCAST)
                continue
        if last is not None:
            c = m_copypacket(m, UDP_HDR_LEN)
            if c is None:
                stat_inc(udpstat, _UDPS_FULLSOCK)  # no cluster for this socket's copy
            elif not last.so.sbappendaddr(c):
                stat_inc(udpstat, _UDPS_FULLSOCK)
                mbuf.m_free(c)
        last = inp
    if last is None:
        stat_inc(udpstat, _UDPS_NOPORTBCAST)
        mbuf.m_free(m)
    elif not last.so.sbappendaddr(m):
        stat_inc(udpstat, _UDPS_FULLSOCK)
        mbuf.m_free(m)


def m_copypacket(m, lead=0):
    """A copy of packet m with its chain (BSD m_copypacket, but the data is copied: a cluster has
    no reference count), for delivering one datagram to several sockets; here and not in mbuf.py,
    which every board loads, as only the code in this module copies. Each cluster of the copy sits
    at the same offset as the original's, and `lead` bytes in front of m.off come along (what
    udp_input/rip_input left there: the sender's address). None when the pool runs short (counted
    by m_get; what was copied already goes back)."""
    n = mbuf.m_get(m.off)
    if n is None:
        return None
    n.len = m.len
    n.flags = m.flags
    bcopy(m.buf, m.off - lead, n.buf, m.off - lead, lead + m.len)
    t = n
    c = m.cont
    while c is not None:
        x = mbuf.m_get(c.off)
        if x is None:
            mbuf.m_free(n)
            return None
        x.len = c.len
        bcopy(c.buf, c.off, x.buf, c.off, c.len)
        t.cont = x
        t = x
        c = c.cont
    return n


def rip_input_multi(ifp, m):
    """rip_input for every raw socket of the datagram's protocol whose addresses match (BSD
    rip_input): each a copy, the last the datagram itself; a socket with multicast options gets a
    group's datagrams only when it joined the group (imo_multi_filter). False, m untouched, when
    none matches (rip_input counts it and may answer protocol unreachable)."""
    b = m.buf
    o = m.off
    p = b[o + iph.IP_P]
    dst = o + iph.IP_DST
    mc = b[dst] & 0xF0 == 0xE0
    last = None
    for inp in ripcbinfo.pcbs:
        if not inp.attached or inp.proto != p:
            continue
        if not in_nullhost(inp.laddr, 0) and not in_eq(inp.laddr, 0, b, dst):
            continue
        if not in_nullhost(inp.faddr, 0) and not in_eq(inp.faddr, 0, b, o + iph.IP_SRC):
            continue
        if mc:
            imo = inp.so._imo
            if imo is not None and not imo.member(ifp, b, dst):
                continue
        if o < _FROM:
            return False
        if last is not None:
            c = m_copypacket(m, _FROM)
            if c is None:
                stat_inc(ripstat, _RIPS_FULLSOCK)  # no cluster for this socket's copy
            else:
                rip_append(last, c)
        last = inp
    if last is None:
        return False
    rip_append(last, m)
    return True
