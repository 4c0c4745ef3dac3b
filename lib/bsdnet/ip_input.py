# ip_input(): checks, local delivery and the protocol switch (FreeBSD ip_input.c).
#
# Checks in the BSD order: header fits, version, header length, header checksum, total length
# against the frame (Ethernet padding trimmed), then "is it for us". This host does not forward
# (net.inet.ip.forwarding=0): packets for other hosts are counted and dropped silently.
# ip_protox maps each of the 256 protocol numbers to an entry of inetsw; unknown protocols go
# to the raw entry (rip_input), as ip_init() sets it up.
from . import mbuf
from .hdr import ip as iph
from .inet import in_multicast
from . import ip_icmp
from . import udp_usrreq
from . import raw_ip
from .stats import (stat_inc, ipstat, IPS_TOTAL, IPS_DELIVERED, IPS_TOOSMALL, IPS_BADVERS, IPS_BADHLEN,
    IPS_BADSUM, IPS_TOOSHORT, IPS_BADLEN, IPS_BADOPTIONS, IPS_CANTFORWARD, IPS_NOPROTO, IPS_FRAGMENTS, IPS_FRAGDROPPED,
    IFS_NOTFORUS)

# iph.check() drop reason -> counter, in the order of iph.DROP_*
_DROP_STAT = bytes((0, IPS_TOOSMALL, IPS_BADVERS, IPS_BADHLEN, IPS_BADSUM, IPS_BADLEN, IPS_TOOSHORT, IPS_BADOPTIONS))


# inetsw[] and ip_protox[]: every protocol indexes the raw entry until a protocol claims it
def _tcp_input(ifp, m, hlen, now):
    """TCP's input, loaded with the first TCP segment or socket: a board that never meets TCP does
    not carry its code (~50 KB of heap on a Pico, which loads it from .mpy files)."""
    try:
        from . import tcp_input
    except MemoryError:
        stat_inc(ipstat, IPS_NOPROTO)
        mbuf.m_free(m)
        return
    inetsw[3] = tcp_input.tcp_input
    tcp_input.tcp_input(ifp, m, hlen, now)


inetsw = [raw_ip.rip_input, ip_icmp.icmp_input, udp_usrreq.udp_input, _tcp_input]
ip_protox = bytearray(256)
ip_protox[iph.IPPROTO_ICMP] = 1
ip_protox[iph.IPPROTO_UDP] = 2
ip_protox[iph.IPPROTO_TCP] = 3


def ip_register(proto, pr_input):
    """Claim a protocol number for pr_input(ifp, m, hlen, now) (TCP, IGMP in later issues)."""
    inetsw.append(pr_input)
    ip_protox[proto] = len(inetsw) - 1


def ip_input(ifp, m, now):
    """m.off at the IP header, m.len = bytes left in the frame. Consumes m."""
    stat_inc(ipstat, IPS_TOTAL)
    b = m.buf
    o = m.off
    r = iph.check(b, o, m.len)
    if r != 0:
        stat_inc(ipstat, _DROP_STAT[r])
        mbuf.m_free(m)
        return
    tlen = iph.total_len(b, o)
    if m.len > tlen:
        m.len = tlen  # strip Ethernet padding (frames shorter than 60 bytes are padded)
    ia = ifp.ia
    dst = o + iph.IP_DST
    if not (ia.is_ours(b, dst) or ia.is_broadcast(b, dst) or in_multicast(b, dst)):
        stat_inc(ipstat, IPS_CANTFORWARD)
        stat_inc(ifp.ifstat, IFS_NOTFORUS)
        mbuf.m_free(m)
        return
    if iph.frag(b, o) & (iph.IP_MF | iph.IP_OFFMASK):
        # reassembly (ip_reass) comes with the IPv4 issue; until then fragments are dropped
        stat_inc(ipstat, IPS_FRAGMENTS)
        stat_inc(ipstat, IPS_FRAGDROPPED)
        mbuf.m_free(m)
        return
    stat_inc(ipstat, IPS_DELIVERED)
    inetsw[ip_protox[iph.proto(b, o)]](ifp, m, iph.hlen(b, o), now)
