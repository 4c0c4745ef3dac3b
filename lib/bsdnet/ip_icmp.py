# ICMP (RFC 792), after FreeBSD ip_icmp.c: for now the echo server (icmp_reflect of an echo
# request, in place: no copy, no new mbuf). Error generation with the RFC 1122 rules and the
# rate limit come with the IPv4 issue.
from . import mbuf
from .hdr import ip as iph
from .hdr import icmp as ich
from .inet import in_copy
from .ip_output import ip_output

icmpstat = {
    "icps_received": 0, "icps_tooshort": 0, "icps_checksum": 0, "icps_badtype": 0,
    "icps_echo": 0, "icps_reflect": 0, "icps_bmcastecho": 0, "icps_outhist_echoreply": 0,
}


def icmp_input(ifp, m, hlen, now):
    b = m.buf
    o = m.off
    icmpstat["icps_received"] += 1
    ic = o + hlen
    icmplen = m.len - hlen
    r = ich.check(b, ic, icmplen)
    if r != 0:
        icmpstat["icps_tooshort" if r == ich.DROP_SHORT else "icps_checksum"] += 1
        mbuf.m_free(m)
        return
    t = ich.msg_type(b, ic)
    if t != ich.ICMP_ECHO:
        icmpstat["icps_badtype"] += 1  # replies and errors: nobody listens yet
        mbuf.m_free(m)
        return
    icmpstat["icps_echo"] += 1
    ia = ifp.ia
    if not ia.is_ours(b, o + iph.IP_DST):
        # net.inet.icmp.bmcastecho=0: no echo for broadcast or multicast (smurf amplification)
        icmpstat["icps_bmcastecho"] += 1
        mbuf.m_free(m)
        return
    # icmp_reflect(): echo reply to the sender, from our address, options dropped
    if hlen != iph.IP_HDR_LEN:
        # drop the options: slide the 20-byte base header up against the ICMP message
        extra = hlen - iph.IP_HDR_LEN
        for i in range(iph.IP_HDR_LEN - 1, -1, -1):
            b[o + extra + i] = b[o + i]
        o += extra
        m.off = o
        m.len -= extra
        b[o] = 0x45
        hlen = iph.IP_HDR_LEN
    ich.set_type(b, ic, ich.ICMP_ECHOREPLY)
    in_copy(b, o + iph.IP_DST, b, o + iph.IP_SRC)
    in_copy(b, o + iph.IP_SRC, ia.addr, 0)
    icmpstat["icps_reflect"] += 1
    icmpstat["icps_outhist_echoreply"] += 1
    ip_output(ifp, m, now)
