# The protocol switch (BSD netinet/in_proto.c inetsw[] and ip_protox[]): every IPv4 protocol's
# input, control input (ICMP errors about a datagram it sent) and socket calls, in one table.
#
# ip_protox maps each of the 256 protocol numbers to an entry; numbers no entry claims go to the
# raw entry (rip_input), as ip_init() sets it up. TCP's code is loaded with its first segment or
# socket: its entry starts as a loader that puts the real functions in place (a board that never
# meets TCP does not carry its ~50 KB). Nothing here is patched in from elsewhere: a protocol is
# added by adding its line to _PROTOSW.
import sys
from .compat import const
from . import mbuf
from .hdr import ip as iph
from . import ip_icmp, udp_usrreq, raw_ip
from .stats import stat_inc, ipstat
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IPS_NOPROTO = const(10)
SOCK_STREAM = const(1)
SOCK_DGRAM = const(2)
SOCK_RAW = const(3)

_PR_RAW = const(0)
_PR_ICMP = const(1)
_PR_UDP = const(2)
_PR_TCP = const(3)


def _tcp_input(ifp, m, hlen, now):
    """TCP's first segment: load TCP (its tcp_init puts tcp_input in the table), then hand it on."""
    try:
        from . import tcp_input
    except MemoryError:
        stat_inc(ipstat, _IPS_NOPROTO)
        mbuf.m_free(m)
        return
    pr_input[_PR_TCP] = tcp_input.tcp_input
    tcp_input.tcp_input(ifp, m, hlen, now)


def _tcp_ctlinput(err, b, q):
    """An ICMP error about a TCP segment: only a loaded TCP can have sent one."""
    t = sys.modules.get("bsdnet.tcp_subr")
    if t is not None:
        t.tcp_ctlinput(err, b, q)


def _icmp_input(ifp, m, hlen, now):
    """icmp_input() answers what the stack answers; an error about a datagram we sent goes to the
    quoted protocol's ctlinput ("deliver"), then everything it did not consume to raw sockets."""
    r = ip_icmp.icmp_input(ifp, m, hlen, now)
    if r == ip_icmp.ICMP_CONSUMED:
        return
    if r == ip_icmp.ICMP_NOTIFY:
        n = ip_icmp.icmp_notify
        pr_ctlinput(n[1], n[0], m.buf, n[2])
    raw_ip.rip_input(ifp, m, hlen, now)


def _igmp_input(ifp, m, hlen, now):
    """IGMP (igmp.py: queries answered, reports heard), then raw IGMP sockets see it, as in BSD.
    IGMP is loaded with the first group joined (in_mcast): before that this host is in no group
    but all-hosts, which is never reported, so there is nothing to answer or to suppress."""
    g = sys.modules.get("bsdnet.igmp")
    if g is None or g.igmp_input(ifp, m, hlen, now):
        raw_ip.rip_input(ifp, m, hlen, now)


# inetsw: (protocol, pr_input, pr_ctlinput); the raw entry first (the default of ip_protox)
_PROTOSW = (
    (0, raw_ip.rip_input, None),
    (iph.IPPROTO_ICMP, _icmp_input, None),
    (iph.IPPROTO_UDP, udp_usrreq.udp_input, udp_usrreq.udp_ctlinput),
    (iph.IPPROTO_TCP, _tcp_input, _tcp_ctlinput),
    (iph.IPPROTO_IGMP, _igmp_input, None),
)
pr_input = [e[1] for e in _PROTOSW]
_ctlinput = [e[2] for e in _PROTOSW]
ip_protox = bytearray(256)
for _i in range(1, len(_PROTOSW)):
    ip_protox[_PROTOSW[_i][0]] = _i


def pr_set_input(proto, fn):
    """A lazily loaded protocol puts its real input in its entry (tcp_init)."""
    pr_input[ip_protox[proto]] = fn


def ip_deliver(ifp, m, hlen, now):
    """Hand a datagram for us (m.off at the IP header) to its protocol: ip_input's last step."""
    pr_input[ip_protox[m.buf[m.off + iph.IP_P]]](ifp, m, hlen, now)


def pr_ctlinput(proto, err, b, q):
    """An ICMP error (errno err) about a datagram of protocol proto we sent, quoted at b[q]."""
    i = ip_protox[proto]
    fn = _ctlinput[i] if i else None
    if fn is not None:
        fn(err, b, q)


def pr_usrreqs(type):
    """The socket calls for a socket type (pffindtype): SOCK_DGRAM (UDP) and SOCK_RAW share the
    datagram calls; SOCK_STREAM's (TCP's) load TCP on first use."""
    from . import socket as so_mod  # the socket layer's calls live with the socket (it imports us)

    if type == SOCK_DGRAM or type == SOCK_RAW:
        return so_mod._dgram_usrreqs
    if type == SOCK_STREAM:
        return so_mod._stream_usrreqs()
    return None
