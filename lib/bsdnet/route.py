# The interface list and the route lookup (BSD net/if.c ifnet, net/route.c rtalloc).
#
# A board has one or two interfaces, so the "routing table" is the interfaces' own prefixes plus
# each one's default gateway: rtalloc() picks the interface whose subnet holds the destination
# (a connected route), else the first one with a gateway (the default route, RTF_GATEWAY).
# ip_output() then chooses direct delivery or the gateway on that interface. Longest-prefix match
# over static routes comes with the IPv4 issue and replaces the body of rtalloc(), not its callers.
ifnet = []  # type: list  # attached interfaces, in the order they came up


def if_attach(ifp):
    if ifp not in ifnet:
        ifnet.append(ifp)


def if_detach(ifp):
    if ifp in ifnet:
        ifnet.remove(ifp)


def rtalloc(dst, doff):
    """The interface to reach dst (4 bytes at dst[doff]), or None (no route)."""
    for ifp in ifnet:
        ia = ifp.ia
        if ia.is_local(dst, doff) or ia.is_broadcast(dst, doff):
            return ifp
    for ifp in ifnet:
        ia = ifp.ia
        if ia.configured and (ia.gateway[0] | ia.gateway[1] | ia.gateway[2] | ia.gateway[3]):
            return ifp
    if dst[doff] & 0xF0 == 0xE0 and ifnet:
        return ifnet[0]  # multicast without a route: the first interface (IP_MULTICAST_IF later)
    return None
