# The interface list and the routing table (BSD net/if.c ifnet, net/route.c rtalloc/rtrequest).
#
# A table of routes, longest prefix first, so the first entry that matches is the longest-prefix
# match. Each interface brings its connected route (its subnet, delivered directly) and, when it
# has a gateway, a default route (0.0.0.0/0, RTF_GATEWAY); ifconfig() replaces them. Static routes
# (route_add) go through a gateway on a connected subnet and stay until route_delete(). Host routes
# learnt from ICMP redirects (rtredirect: RTF_DYNAMIC) are bounded by opts.RT_DYNAMIC_MAX, the
# oldest replaced. Addresses and masks are 4-byte buffers; a lookup allocates nothing.
from .compat import const
from . import opts
from .inet import inet_aton, inet_ntoa, in_masked_eq, in_allones, in_nullhost
from .errno import EEXIST, ESRCH, ENETUNREACH, EINVAL

RTF_UP = const(0x1)
RTF_GATEWAY = const(0x2)  # the next hop is rt.gateway, not the destination itself
RTF_HOST = const(0x4)  # a /32
RTF_DYNAMIC = const(0x10)  # made by an ICMP redirect (rtredirect)
RTF_STATIC = const(0x800)  # added by route_add(), not by an interface's address

ifnet = []  # type: list  # attached interfaces, in the order they came up
rtable = []  # type: list  # Rtentry, longest prefix first
pr_timers = []  # type: list  # the protocols' timer objects every interface's loop runs (TCP's)
rtgen = [0]  # bumped on every change: a route cached on a pcb (BSD inp_route) is checked against it
ipforwarding = [opts.IP_FORWARDING]  # net.inet.ip.forwarding; ip_forward.set_forwarding() sets it


class Rtentry:
    __slots__ = ("dst", "mask", "gateway", "ifp", "flags", "plen", "age")

    def __init__(self, dst, mask, gateway, ifp, flags):
        self.dst = bytearray(4)
        self.mask = bytearray(mask)
        for i in range(4):
            self.dst[i] = dst[i] & mask[i]
        self.gateway = bytearray(gateway)
        self.ifp = ifp
        self.flags = flags
        n = 0
        for i in range(4):
            m = mask[i]
            while m & 0x80:
                n += 1
                m = (m << 1) & 0xFF
        self.plen = n
        self.age = 0  # RTF_DYNAMIC: when it was learnt (a sequence number; the oldest is replaced)


def _insert(rt):
    rtgen[0] += 1
    i = 0
    while i < len(rtable) and rtable[i].plen >= rt.plen:
        i += 1
    rtable.insert(i, rt)


def if_attach(ifp):
    if ifp not in ifnet:
        ifnet.append(ifp)
    rt_ifaddr(ifp)


def if_detach(ifp):
    if ifp in ifnet:
        ifnet.remove(ifp)
    rtgen[0] += 1
    rtable[:] = [rt for rt in rtable if rt.ifp is not ifp]


def rt_ifaddr(ifp):
    """The interface's address changed (or it came up): its connected and default routes anew."""
    rtable[:] = [rt for rt in rtable if rt.ifp is not ifp or rt.flags & RTF_STATIC]
    rtgen[0] += 1
    ia = ifp.ia
    if ifp not in ifnet or not ia.configured:
        return
    _insert(Rtentry(ia.net, ia.mask, bytes(4), ifp, RTF_UP))
    if not in_nullhost(ia.gateway, 0):
        _insert(Rtentry(bytes(4), bytes(4), ia.gateway, ifp, RTF_UP | RTF_GATEWAY))


def rtalloc(dst, doff):
    """The longest-prefix route to dst (4 bytes at dst[doff]), or None."""
    for rt in rtable:
        if in_masked_eq(dst, doff, rt.dst, 0, rt.mask):
            return rt
    return None


def rtalloc_ifp(dst, doff):
    """The interface a datagram to dst leaves by, or None (no route). The limited broadcast and
    multicast go out of the first interface (IP_MULTICAST_IF is for later)."""
    if in_allones(dst, doff) or dst[doff] & 0xF0 == 0xE0:
        return ifnet[0] if ifnet else None
    rt = rtalloc(dst, doff)
    return rt.ifp if rt is not None else None


def route_add(dst, mask, gateway):
    """A static route: dotted quads, e.g. route_add("10.9.0.0", "255.255.0.0", "10.7.0.254"). The
    gateway must be on a connected subnet (ENETUNREACH otherwise); the same prefix twice is EEXIST."""
    d = inet_aton(dst)
    m = inet_aton(mask)
    g = inet_aton(gateway)
    bits = (m[0] << 24) | (m[1] << 16) | (m[2] << 8) | m[3]
    inv = (~bits) & 0xFFFFFFFF
    if inv & (inv + 1):
        raise ValueError("netmask %s is not contiguous" % mask)
    if in_nullhost(g, 0):
        raise OSError(EINVAL, "a static route needs a gateway")
    via = None
    for rt in rtable:
        if not rt.flags & RTF_GATEWAY and in_masked_eq(g, 0, rt.dst, 0, rt.mask):
            via = rt.ifp
            break
    if via is None:
        raise OSError(ENETUNREACH, "gateway %s is on no connected subnet" % gateway)
    new = Rtentry(d, m, g, via, RTF_UP | RTF_GATEWAY | RTF_STATIC | (RTF_HOST if bits == 0xFFFFFFFF else 0))
    for rt in rtable:
        if rt.plen == new.plen and rt.dst == new.dst and rt.flags & RTF_DYNAMIC:
            rtable.remove(rt)  # what a redirect taught gives way to the administrator's route
            break
    for rt in rtable:
        if rt.plen == new.plen and rt.dst == new.dst:
            raise OSError(EEXIST, "a route to %s/%d exists" % (inet_ntoa(new.dst), new.plen))
    _insert(new)


def route_delete(dst, mask):
    d = inet_aton(dst)
    m = inet_aton(mask)
    for i in range(len(rtable)):
        rt = rtable[i]
        if rt.flags & RTF_STATIC and rt.mask == m and in_masked_eq(d, 0, rt.dst, 0, m):
            del rtable[i]
            rtgen[0] += 1
            return
    raise OSError(ESRCH, "no static route to %s mask %s" % (dst, mask))


def routes():
    """[(destination, mask, gateway or '', flags as netstat -r shows them)] longest prefix first."""
    out = []
    for rt in rtable:
        f = "U" + ("G" if rt.flags & RTF_GATEWAY else "") + ("H" if rt.flags & RTF_HOST else "") + \
            ("S" if rt.flags & RTF_STATIC else "") + ("D" if rt.flags & RTF_DYNAMIC else "")
        out.append((inet_ntoa(rt.dst), inet_ntoa(rt.mask),
                    inet_ntoa(rt.gateway) if rt.flags & RTF_GATEWAY else "", f))
    return out


_HOSTMASK = b"\xff\xff\xff\xff"
_dyn_seq = [0]


def rtredirect(dst, doff, gw, goff, ifp):
    """An ICMP redirect that ip_icmp has validated (RFC 1122 3.2.2.2): datagrams to dst (4 bytes at
    dst[doff]) go through gw (at gw[goff]), on ifp's subnet. A host route (RTF_HOST | RTF_GATEWAY |
    RTF_DYNAMIC): the dynamic one for dst is updated, else a new one made; with RT_DYNAMIC_MAX of
    them already, the oldest is reused. A static host route to dst is the administrator's and stays
    (False). Cached routes notice through rtgen. Rare: this may allocate."""
    reuse = None
    oldest = None
    n = 0
    for rt in rtable:
        if rt.plen == 32 and in_masked_eq(dst, doff, rt.dst, 0, _HOSTMASK):
            if not rt.flags & RTF_DYNAMIC:
                return False
            reuse = rt  # the same destination redirected again: its entry is updated
            break
        if rt.flags & RTF_DYNAMIC:
            n += 1
            if oldest is None or rt.age < oldest.age:
                oldest = rt
    if reuse is None and n >= opts.RT_DYNAMIC_MAX:
        reuse = oldest
    if reuse is not None:
        rtable.remove(reuse)
        rt = reuse
        for i in range(4):
            rt.dst[i] = dst[doff + i]
            rt.gateway[i] = gw[goff + i]
        rt.ifp = ifp
    else:
        rt = Rtentry(memoryview(dst)[doff:doff + 4], _HOSTMASK, memoryview(gw)[goff:goff + 4], ifp,
                     RTF_UP | RTF_GATEWAY | RTF_HOST | RTF_DYNAMIC)
    _dyn_seq[0] += 1
    rt.age = _dyn_seq[0]
    _insert(rt)
    return True
