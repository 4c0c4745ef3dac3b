# ip_input(): checks, local delivery and the protocol switch (FreeBSD ip_input.c).
#
# Checks in the BSD order: header fits, version, header length, header checksum, total length
# against the frame (Ethernet padding trimmed), options; then the source (a martian source is
# dropped and never answered: RFC 1122 3.2.1.3), then "is it for us": our address, a broadcast,
# a group we joined; else forwarded when forwarding is on, dropped otherwise. Fragments wait in
# reassembly; a whole datagram goes to its protocol through in_proto's table.
import sys
from . import mbuf
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_multicast, in_nullhost
from . import in_proto
from .ip_icmp import icmp_error
from .route import ipforwarding
from .stats import stat_inc, ipstat
from .compat import const
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IFS_NOTFORUS = const(8)
_IPS_TOTAL = const(0)
_IPS_DELIVERED = const(1)
_IPS_TOOSMALL = const(2)
_IPS_BADVERS = const(3)
_IPS_BADHLEN = const(4)
_IPS_BADSUM = const(5)
_IPS_TOOSHORT = const(6)
_IPS_BADLEN = const(7)
_IPS_BADOPTIONS = const(8)
_IPS_CANTFORWARD = const(9)
_IPS_FRAGMENTS = const(11)
_IPS_FRAGDROPPED = const(12)
_IPS_BADADDR = const(16)
_IPS_NOTMEMBER = const(17)
_IPS_NOSRCROUTE = const(27)

# iph.check() drop reason -> counter, in the order of iph.DROP_*
_DROP_STAT = bytes((0, _IPS_TOOSMALL, _IPS_BADVERS, _IPS_BADHLEN, _IPS_BADSUM, _IPS_BADLEN, _IPS_TOOSHORT,
                    _IPS_BADOPTIONS))


_ip_forward = [None]  # ip_forward.ip_forward once a router has forwarded


def ip_input(ifp, m, now):
    """m.off at the IP header, m.len = bytes left in the frame. Consumes m."""
    stat_inc(ipstat, _IPS_TOTAL)
    b = m.buf
    o = m.off
    r = iph.check(b, o, m.len)
    if r != 0:
        stat_inc(ipstat, _DROP_STAT[r])
        if r == iph.DROP_OPTION:
            # RFC 1122 3.2.1.8: parameter problem, pointing at the bad byte (icmp_error applies
            # the rules on whom to answer, and the rate limit)
            icmp_error(ifp, m, ich.ICMP_PARAMPROB, 0, now, iph.opt_errptr(b, o))
        mbuf.m_free(m)
        return
    tlen = iph.total_len(b, o)
    if m.len > tlen:
        m.len = tlen  # strip Ethernet padding (frames shorter than 60 bytes are padded)
    ia = ifp.ia
    dst = o + iph.IP_DST
    ours = ia.is_ours(b, dst)
    if ia.martian_src(b, o + iph.IP_SRC, not ours) or b[dst] == 127 or (in_nullhost(b, dst) and ia.configured):
        stat_inc(ipstat, _IPS_BADADDR)
        mbuf.m_free(m)
        return
    hlen = iph.hlen(b, o)
    if hlen > iph.IP_HDR_LEN and (iph.opt_find(b, o, iph.IPOPT_LSRR) >= 0 or iph.opt_find(b, o, iph.IPOPT_SSRR) >= 0):
        # net.inet.ip.accept_sourceroute=0: a source route lets a spoofer get answers back
        stat_inc(ipstat, _IPS_NOSRCROUTE)
        mbuf.m_free(m)
        return
    if b[dst] & 0xF0 == 0xE0 and not (b[dst] == 224 and b[dst + 1] == 0 and b[dst + 2] == 0 and b[dst + 3] == 1):
        # a group not joined on this interface (224.0.0.1 always is: RFC 1112 4), RFC 1112 7.2; the
        # groups are igmp's, which loads with the first one
        g = sys.modules.get("bsdnet.igmp")
        if g is None or g.inm_lookup(ifp, b, dst) < 0:
            stat_inc(ipstat, _IPS_NOTMEMBER)
            mbuf.m_free(m)
            return
    if not ours and not (ia.is_broadcast(b, dst) or in_nullhost(b, dst) or in_multicast(b, dst)):
        if not ipforwarding[0]:
            stat_inc(ipstat, _IPS_CANTFORWARD)
            stat_inc(ifp.ifstat, _IFS_NOTFORUS)
            mbuf.m_free(m)
            return
        # a router (ip_forward.py): forwarded or dropped there, unless it is for the address of
        # another of our interfaces, which it hands back to be delivered as if it came in there
        fwd = _ip_forward[0]
        if fwd is None:  # loaded by the first datagram to forward; an import per packet allocates
            from .ip_forward import ip_forward as fwd

            _ip_forward[0] = fwd
        ifp = fwd(ifp, m, now)
        if ifp is None:
            return
    if iph.frag(b, o) & (iph.IP_MF | iph.IP_OFFMASK):
        m = _reass[0](ifp, m, now)  # held until the datagram is whole; then it goes on as a chain
        if m is None:
            return
        hlen = iph.hlen(m.buf, m.off)
    stat_inc(ipstat, _IPS_DELIVERED)
    in_proto.ip_deliver(ifp, m, hlen, now)


def _reass_load(ifp, m, now):
    """The first fragment: load reassembly (ip_reass.py; a board that never meets a fragment does
    not carry it) and hand the fragment on. With no heap to load it, the fragment is dropped."""
    try:
        from . import ip_reass
    except MemoryError:
        stat_inc(ipstat, _IPS_FRAGMENTS)
        stat_inc(ipstat, _IPS_FRAGDROPPED)
        mbuf.m_free(m)
        return None
    _reass[0] = ip_reass.ip_reass
    return ip_reass.ip_reass(ifp, m, now)


_reass = [_reass_load]  # ip_reass.ip_reass once loaded
