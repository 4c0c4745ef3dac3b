# Internet protocol control blocks (BSD netinet/in_pcb.c): the local and foreign halves of an
# association, the list a protocol keeps them on, and the lookup input uses to find a socket.
#
# Addresses are 4-byte buffers made once per pcb; ports are small ints. Lookup is
# exact-then-wildcard as in in_pcblookup(): a pcb whose four fields all match wins at once,
# otherwise the match with the fewest wildcards (unspecified local address, unconnected
# foreign half) is taken. A connected pcb only ever matches its own peer. No allocation.
from .compat import const, getrandbits
from .inet import in_eq, in_copy, in_nullhost
from .errno import EADDRINUSE, EADDRNOTAVAIL, ENOBUFS, EINVAL

# the socket options that let a port be bound twice, as bits of a socket's so._reuse (in_pcbbind's
# reuse argument): SO_REUSEADDR 1, SO_REUSEPORT 2
_REUSEADDR = const(1)
_REUSEPORT = const(2)
IPPORT_EPHEMERALFIRST = const(49152)  # RFC 6335 dynamic range (net.inet.ip.portrange.first)
IPPORT_EPHEMERALLAST = const(65535)
INPLOOKUP_WILDCARD = const(1)
INP_DONTFRAG = const(0x800)  # inp.flags: IP_DONTFRAG, send with DF (EMSGSIZE over the MTU)



class Inpcb:
    __slots__ = ("laddr", "lport", "faddr", "fport", "so", "info", "attached", "proto", "ppcb", "flags")

    def __init__(self, info):
        self.laddr = bytearray(4)  # inp_laddr: 0.0.0.0 = INADDR_ANY
        self.lport = 0  # inp_lport: 0 = not bound
        self.faddr = bytearray(4)  # inp_faddr: 0.0.0.0 = not connected
        self.fport = 0
        self.so = None  # the socket this pcb serves
        self.info = info
        self.attached = False
        self.proto = 0  # inp_ip_p: the IP protocol of a raw socket
        self.ppcb = None  # inp_ppcb: the protocol's own block (TCP's tcpcb)
        self.flags = 0  # inp_flags: INP_DONTFRAG


class Inpcbinfo:
    """One protocol's pcbs (udbinfo, tcbinfo): at most `size`, made as sockets first need them and
    kept, so that a board serving four listeners and a connection does not carry sixteen TCP pcbs
    (~180 bytes each). Running out of slots, or of heap for a new one, is an error, not a crash."""

    def __init__(self, name, size):
        self.name = name
        self.size = size
        self.pcbs = []
        # a random start (RFC 6056): port numbers after a reboot do not repeat the last run's
        self.lastport = IPPORT_EPHEMERALFIRST + getrandbits(13)


def in_pcbreserve(info, n):
    """Make info's first n pcbs now (tcp_init: while the heap is in one piece)."""
    while len(info.pcbs) < min(n, info.size):
        info.pcbs.append(Inpcb(info))


def in_pcballoc(info, so, proto=0):
    """A free pcb attached to so; OSError(ENOBUFS) when every slot is taken or no heap is left
    for a new one."""
    for inp in info.pcbs:
        if not inp.attached:
            break
    else:
        if len(info.pcbs) >= info.size:
            raise OSError(ENOBUFS, "all %d %s sockets are in use (opts: raise the limit or close one)"
                          % (info.size, info.name))
        try:
            inp = Inpcb(info)
            info.pcbs.append(inp)
        except MemoryError:
            raise OSError(ENOBUFS, "no heap for another %s socket" % info.name)
    inp.attached = True
    inp.so = so
    inp.proto = proto
    inp.flags = 0
    inp.lport = 0
    inp.fport = 0
    for i in range(4):
        inp.laddr[i] = 0
        inp.faddr[i] = 0
    return inp


def in_pcbdetach(inp):
    inp.attached = False
    inp.so = None
    inp.lport = 0
    inp.fport = 0


def _port_in_use(info, addr, port, skip, reuse=0):
    """Would binding addr:port clash with a pcb of info? BSD in_pcbbind_setup's rule: a bind
    without SO_REUSEADDR/SO_REUSEPORT clashes with any pcb on the port whose local address
    overlaps (equal, or either one the wildcard); with either option only a pcb on the very same
    address clashes, and not even that one when both sockets set SO_REUSEPORT, or both set one of
    the two on a multicast address (SO_REUSEADDR counts as SO_REUSEPORT there). Connections
    (TIME_WAIT too) do not hold the port against a SO_REUSEADDR bind."""
    for p in info.pcbs:
        if p is skip or not p.attached or p.lport != port:
            continue
        if reuse & _REUSEADDR and p.fport != 0:
            continue
        if in_eq(p.laddr, 0, addr, 0):
            pr = p.so._reuse if p.so is not None else 0  # BSD: the other socket's so_options
            if reuse & pr & _REUSEPORT:
                continue
            if reuse and pr and addr[0] & 0xF0 == 0xE0:
                continue
            return True
        if not reuse and (in_nullhost(p.laddr, 0) or in_nullhost(addr, 0)):
            return True
    return False


def in_pcbbind(inp, addr, port, is_ours, reuse=0):
    """Bind the local half: addr (4 bytes; 0.0.0.0 = any) and port (0 = pick an ephemeral one).
    is_ours(addr) says whether a specific address belongs to this host (EADDRNOTAVAIL if not); UDP
    may bind a multicast address (the socket then gets only that group's datagrams). reuse:
    the binding socket's so._reuse bits (True means SO_REUSEADDR); a bound pcb's own are read from
    its socket when another binds."""
    info = inp.info
    if inp.lport != 0:
        raise OSError(EINVAL, "socket is already bound to port %d" % inp.lport)
    if not in_nullhost(addr, 0) and not (addr[0] & 0xF0 == 0xE0 and info.name == "udp") and not is_ours(addr):
        raise OSError(EADDRNOTAVAIL, "%d.%d.%d.%d is not an address of this host" % tuple(addr))
    if port == 0:
        port = in_pcb_ephemeral(info, addr)
    elif not 0 < port <= 0xFFFF:
        raise OSError(EINVAL, "port %d out of range" % port)
    elif _port_in_use(info, addr, port, inp, reuse):
        raise OSError(EADDRINUSE, "%s port %d is in use" % (info.name, port))
    in_copy(inp.laddr, 0, addr, 0)
    inp.lport = port


def in_pcb_ephemeral(info, addr):
    """The next free port of the dynamic range, round robin from the last one handed out."""
    span = IPPORT_EPHEMERALLAST - IPPORT_EPHEMERALFIRST + 1
    p = info.lastport
    for _ in range(span):
        p += 1
        if p > IPPORT_EPHEMERALLAST:
            p = IPPORT_EPHEMERALFIRST
        if not _port_in_use(info, addr, p, None):
            info.lastport = p
            return p
    raise OSError(EADDRINUSE, "no free %s port in %d-%d" % (info.name, IPPORT_EPHEMERALFIRST,
                                                            IPPORT_EPHEMERALLAST))


def in_pcbconnect(inp, faddr, fport):
    """Record the foreign half (the local one must be bound already)."""
    if fport == 0 or not 0 < fport <= 0xFFFF:
        raise OSError(EINVAL, "cannot connect to port %d" % fport)
    in_copy(inp.faddr, 0, faddr, 0)
    inp.fport = fport


def in_pcbdisconnect(inp):
    for i in range(4):
        inp.faddr[i] = 0
    inp.fport = 0


def in_pcblookup(info, fa, faoff, fport, la, laoff, lport, flags):
    """The pcb for a segment from fa:fport to la:lport (addresses at offsets in a packet buffer),
    or None. With INPLOOKUP_WILDCARD, wildcard pcbs match too (fewest wildcards wins)."""
    best = None
    bestw = 3
    for inp in info.pcbs:
        if not inp.attached or inp.lport != lport:
            continue
        w = 0
        if inp.fport != 0:
            if inp.fport != fport or not in_eq(inp.faddr, 0, fa, faoff):
                continue
        else:
            w += 1
        if in_nullhost(inp.laddr, 0):
            w += 1
        elif not in_eq(inp.laddr, 0, la, laoff):
            continue
        if w == 0:
            return inp
        if w < bestw:
            best = inp
            bestw = w
    if flags & INPLOOKUP_WILDCARD:
        return best
    return None
