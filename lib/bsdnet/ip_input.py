# ip_input(): checks, local delivery and the protocol switch (FreeBSD ip_input.c).
#
# Checks in the BSD order: header fits, version, header length, header checksum, total length
# against the frame (Ethernet padding trimmed), options; then the source (a martian source is
# dropped and never answered: RFC 1122 3.2.1.3), then "is it for us": our address, a broadcast,
# a group we joined; else forwarded when forwarding is on, dropped otherwise. Fragments wait in
# reassembly; a whole datagram goes to its protocol through in_proto's table.
from . import mbuf
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_multicast, in_nullhost
from . import in_proto
from .ip_icmp import icmp_error
from .stats import (stat_inc, ipstat, IPS_TOTAL, IPS_DELIVERED, IPS_TOOSMALL, IPS_BADVERS, IPS_BADHLEN,
    IPS_BADSUM, IPS_TOOSHORT, IPS_BADLEN, IPS_BADOPTIONS, IPS_CANTFORWARD, IPS_FRAGMENTS, IPS_FRAGDROPPED,
    IPS_BADADDR, IPS_NOSRCROUTE, IPS_NOTMEMBER, IFS_NOTFORUS)

# iph.check() drop reason -> counter, in the order of iph.DROP_*
_DROP_STAT = bytes((0, IPS_TOOSMALL, IPS_BADVERS, IPS_BADHLEN, IPS_BADSUM, IPS_BADLEN, IPS_TOOSHORT, IPS_BADOPTIONS))


def ip_input(ifp, m, now):
    """m.off at the IP header, m.len = bytes left in the frame. Consumes m."""
    stat_inc(ipstat, IPS_TOTAL)
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
        stat_inc(ipstat, IPS_BADADDR)
        mbuf.m_free(m)
        return
    hlen = iph.hlen(b, o)
    if hlen > iph.IP_HDR_LEN and (iph.opt_find(b, o, iph.IPOPT_LSRR) >= 0 or iph.opt_find(b, o, iph.IPOPT_SSRR) >= 0):
        # net.inet.ip.accept_sourceroute=0: a source route lets a spoofer get answers back
        stat_inc(ipstat, IPS_NOSRCROUTE)
        mbuf.m_free(m)
        return
    if b[dst] & 0xF0 == 0xE0 and not in_proto.in_mcast_member(ifp, b, dst):
        # a group not joined on this interface (224.0.0.1 always is): RFC 1112 7.2
        stat_inc(ipstat, IPS_NOTMEMBER)
        mbuf.m_free(m)
        return
    if not ours and not (ia.is_broadcast(b, dst) or in_nullhost(b, dst) or in_multicast(b, dst)):
        stat_inc(ipstat, IPS_CANTFORWARD)
        stat_inc(ifp.ifstat, IFS_NOTFORUS)
        mbuf.m_free(m)
        return
    if iph.frag(b, o) & (iph.IP_MF | iph.IP_OFFMASK):
        # reassembly (ip_reass) comes next; until then fragments are dropped
        stat_inc(ipstat, IPS_FRAGMENTS)
        stat_inc(ipstat, IPS_FRAGDROPPED)
        mbuf.m_free(m)
        return
    stat_inc(ipstat, IPS_DELIVERED)
    in_proto.ip_deliver(ifp, m, hlen, now)
