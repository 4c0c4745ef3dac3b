# ip_forward(): the router's path for a datagram that is not for us (FreeBSD ip_input.c ip_forward,
# RFC 1812 5.2-5.3).
#
# Off by default, as in BSD (net.inet.ip.forwarding=0: a host that is no router neither forwards
# nor answers misdirected datagrams): opts.IP_FORWARDING = 1 makes the board a router from boot,
# set_forwarding(True/False) switches at run time. ip_input hands over what is not for us while it
# is on; off, ip_input drops it (ips_cantforward).
#
# In BSD's order: never a datagram that came as a link-level broadcast or multicast (M_BCAST,
# M_MCAST), nor one to or from an address no router passes on (in_canforward: 0/8, 127/8,
# multicast, 240/4 with the limited broadcast, RFC 3927's link-local 169.254/16, a broadcast address
# of any attached subnet, one of our own addresses as source); TTL <= 1: time exceeded in transit;
# the longest-prefix route (no route: host unreachable, as FreeBSD answers); larger than the outgoing
# MTU: "fragmentation needed" with that MTU when DF is set, else fragmented when ip_output can
# (ip_fragment), else dropped (ips_cantfrag). A datagram that leaves by the interface it came in
# on, from a sender on that interface's subnet, earns the sender a host redirect to the better
# next hop (RFC 1812 5.2.7.2: host redirects only; source-routed datagrams never get here, ip_input
# drops them). Then the TTL goes down by one with the checksum patched (RFC 1624), and the datagram
# leaves through ip_output's next-hop half with its header otherwise untouched.
#
# The ICMP errors quote the datagram as it arrived: they are built before the TTL changes (FreeBSD
# keeps a copy, mcopy, for the same reason; here the datagram is still in hand). A datagram for
# another of our own interfaces' addresses is not forwarded: ip_forward returns that interface and
# ip_input delivers it there (a router takes datagrams to any of its addresses: RFC 1122 3.3.4.2's
# weak end-system model).
# Per forwarded datagram nothing is allocated: it leaves in the cluster it came in.
from . import opts
from . import mbuf
from . import route
from . import ip_output as _ip_output
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_eq, in_copy
from .ip_icmp import icmp_error
from .ip_output import ip_output_rt
from .stats import stat_inc, ipstat
from .compat import const
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IPS_CANTFORWARD = const(9)
_IPS_NOROUTE = const(14)
_IPS_CANTFRAG = const(22)
_IPS_FORWARD = const(23)
ipforwarding = route.ipforwarding  # net.inet.ip.forwarding (in route: ip_input reads it without
# loading this module, which a host that never forwards does not carry)
ipsendredirects = [opts.IP_SENDREDIRECTS]  # net.inet.ip.redirect
_gw = bytearray(4)  # the next hop a redirect names


def set_forwarding(on, redirects=None):
    """Make the board a router (True) or a host (False). redirects: whether it sends ICMP host
    redirects (on by default, opts.IP_SENDREDIRECTS); None leaves that as it is. A router ignores
    the redirects it receives (ip_icmp)."""
    ipforwarding[0] = 1 if on else 0
    if redirects is not None:
        ipsendredirects[0] = 1 if redirects else 0


def forwarding():
    return ipforwarding[0] != 0


def _not_forwardable(b, a, as_src):
    """in_canforward() and FreeBSD ip_tryforward's tests: an address no router passes on, as
    destination, or (as_src) as source."""
    x = b[a]
    if x == 0 or x == 127 or x >= 224:
        return True  # 0/8, loopback, multicast, 240/4 and the limited broadcast
    if x == 169 and b[a + 1] == 254:
        return True  # RFC 3927 2.7: link-local, never forwarded
    for ifp in route.ifnet:
        ia = ifp.ia
        if ia.is_broadcast(b, a) or (as_src and ia.is_ours(b, a)):
            return True
    return False


def _fragment(rt, m, dst, doff, now):
    """Send m, larger than the MTU of rt's interface and without DF, in fragments when ip_output
    has ip_fragment(ifp, m, nexthop, nhoff, now) (it consumes m); else drop it (ips_cantfrag)."""
    frag = getattr(_ip_output, "ip_fragment", None)
    if frag is None:
        stat_inc(ipstat, _IPS_CANTFRAG)
        mbuf.m_free(m)
        return False
    if rt.flags & route.RTF_GATEWAY:
        return frag(rt.ifp, m, rt.gateway, 0, now)
    return frag(rt.ifp, m, dst, doff, now)


def ip_forward(ifp, m, now):
    """m (m.off at the IP header, checked by ip_input) came in on ifp and is not for ifp. Forward
    it, or drop it with its counter and ICMP error; consumes m and returns None. For another of
    our interfaces' addresses it is left alone: that interface is returned, to deliver it to."""
    b = m.buf
    o = m.off
    dst = o + iph.IP_DST
    for ifp2 in route.ifnet:
        if ifp2.ia.is_ours(b, dst):
            return ifp2
    if m.flags & (mbuf.M_BCAST | mbuf.M_MCAST) or _not_forwardable(b, dst, False) or \
            _not_forwardable(b, o + iph.IP_SRC, True):
        stat_inc(ipstat, _IPS_CANTFORWARD)
        mbuf.m_free(m)
        return None
    if b[o + iph.IP_TTL] <= 1:
        icmp_error(ifp, m, ich.ICMP_TIMXCEED, ich.ICMP_TIMXCEED_INTRANS, now)
        stat_inc(ipstat, _IPS_CANTFORWARD)
        mbuf.m_free(m)
        return None
    rt = route.rtalloc(b, dst)
    if rt is None:
        stat_inc(ipstat, _IPS_NOROUTE)
        stat_inc(ipstat, _IPS_CANTFORWARD)
        icmp_error(ifp, m, ich.ICMP_UNREACH, ich.ICMP_UNREACH_HOST, now)
        mbuf.m_free(m)
        return None
    oifp = rt.ifp
    big = m.len > oifp.mtu
    if big and iph.frag(b, o) & iph.IP_DF:
        # RFC 1191: the sender learns the next-hop MTU from this (path MTU discovery)
        stat_inc(ipstat, _IPS_CANTFRAG)
        stat_inc(ipstat, _IPS_CANTFORWARD)
        icmp_error(ifp, m, ich.ICMP_UNREACH, ich.ICMP_UNREACH_NEEDFRAG, now, oifp.mtu)
        mbuf.m_free(m)
        return None
    if oifp is ifp and ipsendredirects[0]:
        _redirect(ifp, m, rt, now)
    iph.dec_ttl(b, o)
    stat_inc(ipstat, _IPS_FORWARD)
    if big:
        _fragment(rt, m, b, dst, now)
    else:
        ip_output_rt(rt, m, b, dst, now)
    return None


def _redirect(ifp, m, rt, now):
    """It leaves by the interface it came in on: a host redirect to the sender when the sender is
    on that interface's subnet (it could have sent to the next hop itself), the route is not one a
    redirect taught us, and the next hop is not the sender itself."""
    b = m.buf
    o = m.off
    src = o + iph.IP_SRC
    if rt.flags & route.RTF_DYNAMIC or not ifp.ia.is_local(b, src):
        return
    if rt.flags & route.RTF_GATEWAY:
        in_copy(_gw, 0, rt.gateway, 0)
    else:
        in_copy(_gw, 0, b, o + iph.IP_DST)
    if in_eq(_gw, 0, b, src):
        return
    icmp_error(ifp, m, ich.ICMP_REDIRECT, ich.ICMP_REDIRECT_HOST, now, _gw)
