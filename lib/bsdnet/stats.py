# Protocol counters as preallocated lists indexed by const() names (FreeBSD's IPSTAT_INC /
# TCPSTAT_INC, lwIP's stats.h): an increment is one list store, no dict lookup. Every counter wraps
# below 2**29 (stat_inc, stat_add; SNMP's Counter32 wraps too), so that neither the value nor the
# sum on the way to it ever reaches 2**30 and becomes a heap-allocated int on a 32-bit port: a
# counter costs nothing for ever. The names tuples are for reporting only (netif.stats, HTTP
# /stats); this module imports no protocol, so reporting loads none.
from .compat import const

WRAP = const(0x1FFFFFFF)


def stat_inc(a, i):
    """a[i] += 1, wrapped below 2**29."""
    a[i] = (a[i] + 1) & WRAP


def stat_add(a, i, n):
    """a[i] += n (n < 2**29: bytes, a batch), wrapped below 2**29."""
    a[i] = (a[i] + n) & WRAP


# --- IPv4 (netinet/ip_var.h struct ipstat) ---
IPS_TOTAL = const(0)
IPS_DELIVERED = const(1)
IPS_TOOSMALL = const(2)
IPS_BADVERS = const(3)
IPS_BADHLEN = const(4)
IPS_BADSUM = const(5)
IPS_TOOSHORT = const(6)
IPS_BADLEN = const(7)
IPS_BADOPTIONS = const(8)
IPS_CANTFORWARD = const(9)  # not for us and not forwarded
IPS_NOPROTO = const(10)
IPS_FRAGMENTS = const(11)
IPS_FRAGDROPPED = const(12)
IPS_LOCALOUT = const(13)
IPS_NOROUTE = const(14)
IPS_ODROPPED = const(15)
IPS_BADADDR = const(16)  # martian source or destination: dropped, never answered
IPS_NOTMEMBER = const(17)  # multicast to a group we have not joined
IPS_FRAGTIMEOUT = const(18)
IPS_REASSEMBLED = const(19)
IPS_FRAGMENTED = const(20)
IPS_OFRAGMENTS = const(21)
IPS_CANTFRAG = const(22)
IPS_FORWARD = const(23)
IPS_REDIRECTSENT = const(24)
IPS_RAWOUT = const(25)
IPS_TOOLONG = const(26)  # reassembled datagram over IP_MAXPACKET
IPS_NOSRCROUTE = const(27)  # source-routed (LSRR/SSRR): dropped
IPS_N = const(28)
IPS_NAMES = (
    "ips_total", "ips_delivered", "ips_toosmall", "ips_badvers", "ips_badhlen", "ips_badsum", "ips_tooshort",
    "ips_badlen", "ips_badoptions", "ips_cantforward", "ips_noproto", "ips_fragments", "ips_fragdropped",
    "ips_localout", "ips_noroute", "ips_odropped", "ips_badaddr", "ips_notmember", "ips_fragtimeout",
    "ips_reassembled", "ips_fragmented", "ips_ofragments", "ips_cantfrag", "ips_forward", "ips_redirectsent",
    "ips_rawout", "ips_toolong", "ips_nosrcroute",
)
ipstat = [0] * IPS_N

# --- ICMP (netinet/icmp_var.h) ---
ICPS_RECEIVED = const(0)
ICPS_TOOSHORT = const(1)
ICPS_CHECKSUM = const(2)
ICPS_BADTYPE = const(3)
ICPS_BADCODE = const(4)
ICPS_BADLEN = const(5)
ICPS_ECHO = const(6)
ICPS_REFLECT = const(7)
ICPS_BMCASTECHO = const(8)
ICPS_ERROR = const(9)
ICPS_OLDICMP = const(10)
ICPS_BMCASTERR = const(11)  # no error about a broadcast/multicast/martian datagram
ICPS_BADADDR = const(12)
ICPS_RATELIMITED = const(13)
ICPS_NOMBUF = const(14)
ICPS_NOROUTE = const(15)
ICPS_UNREACH = const(16)
ICPS_TIMXCEED = const(17)
ICPS_REDIRECT = const(18)  # redirects accepted (host route from the current gateway)
ICPS_BADREDIRECT = const(19)  # redirects refused
ICPS_PARAMPROB = const(20)
ICPS_OUTHIST_ECHOREPLY = const(21)
ICPS_OUTHIST_UNREACH = const(22)
ICPS_OUTHIST_TIMXCEED = const(23)
ICPS_OUTHIST_REDIRECT = const(24)
ICPS_OUTHIST_PARAMPROB = const(25)
ICPS_N = const(26)
ICPS_NAMES = (
    "icps_received", "icps_tooshort", "icps_checksum", "icps_badtype", "icps_badcode", "icps_badlen", "icps_echo",
    "icps_reflect", "icps_bmcastecho", "icps_error", "icps_oldicmp", "icps_bmcasterr", "icps_badaddr",
    "icps_ratelimited", "icps_nombuf", "icps_noroute", "icps_unreach", "icps_timxceed", "icps_redirect",
    "icps_badredirect", "icps_paramprob", "icps_outhist_echoreply", "icps_outhist_unreach", "icps_outhist_timxceed",
    "icps_outhist_redirect", "icps_outhist_paramprob",
)
icmpstat = [0] * ICPS_N

# --- UDP (netinet/udp_var.h) ---
UDPS_IPACKETS = const(0)
UDPS_HDROPS = const(1)
UDPS_BADLEN = const(2)
UDPS_BADSUM = const(3)
UDPS_NOSUM = const(4)
UDPS_NOPORT = const(5)
UDPS_NOPORTBCAST = const(6)
UDPS_FULLSOCK = const(7)
UDPS_FILTERMCAST = const(8)  # multicast no socket joined
UDPS_PORT0 = const(9)  # destination port 0: dropped
UDPS_OPACKETS = const(10)
UDPS_ONOMBUF = const(11)
UDPS_NOROUTE = const(12)
UDPS_CTLNOTIFY = const(13)
UDPS_N = const(14)
UDPS_NAMES = (
    "udps_ipackets", "udps_hdrops", "udps_badlen", "udps_badsum", "udps_nosum", "udps_noport", "udps_noportbcast",
    "udps_fullsock", "udps_filtermcast", "udps_port0", "udps_opackets", "udps_onombuf", "udps_noroute",
    "udps_ctlnotify",
)
udpstat = [0] * UDPS_N

# --- raw IP ---
RIPS_DELIVERED = const(0)
RIPS_NOSOCK = const(1)
RIPS_FULLSOCK = const(2)
RIPS_OPACKETS = const(3)
RIPS_ONOMBUF = const(4)
RIPS_N = const(5)
RIPS_NAMES = (
    "rips_delivered", "rips_nosock", "rips_fullsock", "rips_opackets", "rips_onombuf",
)
ripstat = [0] * RIPS_N

# --- ARP (if_ether.c) ---
ARPS_RECEIVED = const(0)
ARPS_RXREQUESTS = const(1)
ARPS_RXREPLIES = const(2)
ARPS_TXREQUESTS = const(3)
ARPS_TXREPLIES = const(4)
ARPS_TXGRATUITOUS = const(5)
ARPS_DROPPED = const(6)
ARPS_BAD = const(7)
ARPS_BADSHA = const(8)  # sender hardware address broadcast/multicast
ARPS_BADSPA = const(9)  # martian sender protocol address
ARPS_NOTFORUS = const(10)
ARPS_DUPADDR = const(11)  # another host claims our address
ARPS_DEFENDED = const(12)  # our address announced in defence (rate limited)
ARPS_TIMEOUTS = const(13)
ARPS_HELD = const(14)
ARPS_HOLDDROPS = const(15)  # held packets dropped (quota, timeout, eviction)
ARPS_EVICTIONS = const(16)
ARPS_TABLEFULL = const(17)
ARPS_NOMBUF = const(18)
ARPS_N = const(19)
ARPS_NAMES = (
    "received", "rxrequests", "rxreplies", "txrequests", "txreplies", "txgratuitous", "dropped", "bad", "badsha",
    "badspa", "notforus", "dupaddr", "defended", "timeouts", "held", "holddrops", "evictions", "tablefull",
    "nombuf",
)
arpstat = [0] * ARPS_N

# --- Ethernet input ---
ETHS_SHORT = const(0)
ETHS_NOTFORUS = const(1)
ETHS_NOPROTO = const(2)
ETHS_MULTICAST = const(3)
ETHS_BROADCAST = const(4)
ETHS_MCASTFILTER = const(5)  # multicast to a group we have not joined
ETHS_N = const(6)
ETHS_NAMES = (
    "short", "notforus", "noproto", "multicast", "broadcast", "mcastfilter",
)
etherstat = [0] * ETHS_N

# --- an interface's own (netif.Interface.ifstat, one list each) ---
IFS_IPACKETS = const(0)
IFS_IBYTES = const(1)
IFS_OPACKETS = const(2)
IFS_OBYTES = const(3)
IFS_IERRORS = const(4)
IFS_OERRORS = const(5)
IFS_IQDROPS = const(6)  # frames left in the chip: the pool had no cluster
IFS_NOPROTO = const(7)
IFS_NOTFORUS = const(8)
IFS_N = const(9)
IFS_NAMES = (
    "ipackets", "ibytes", "opackets", "obytes", "ierrors", "oerrors", "iqdrops", "noproto", "notforus",
)

# --- the mbuf pool (mbuf.py) ---
MBS_GETS = const(0)
MBS_FREES = const(1)
MBS_DROPS = const(2)
MBS_DOUBLE_FREE = const(3)
MBS_QUOTADROPS = const(4)  # held packets dropped by a holder's quota
MBS_MIN_FREE = const(5)  # not a counter: the pool's low-water mark
MBS_N = const(6)
MBS_NAMES = (
    "gets", "frees", "drops", "double_free", "quotadrops", "min_free",
)
mbstat = [0] * MBS_N

# --- TCP (netinet/tcp_var.h struct tcpstat) ---
TCPS_CONNATTEMPT = const(0)  # connect() calls (SYN sent)
TCPS_ACCEPTS = const(1)  # connections made from a listener's SYN cache
TCPS_CONNECTS = const(2)  # connections established
TCPS_DROPS = const(3)  # established connections dropped (RST, timeout, abort)
TCPS_CONNDROPS = const(4)  # embryonic connections dropped
TCPS_CLOSED = const(5)  # connections closed (tcpcb freed)
TCPS_SEGSTIMED = const(6)  # segments for which an RTT was measured
TCPS_RTTUPDATED = const(7)
TCPS_DELACK = const(8)  # delayed ACKs sent
TCPS_TIMEOUTDROP = const(9)  # dropped by the retransmit or connection-establishment limit
TCPS_REXMTTIMEO = const(10)
TCPS_PERSISTTIMEO = const(11)
TCPS_KEEPTIMEO = const(12)
TCPS_KEEPPROBE = const(13)
TCPS_KEEPDROPS = const(14)
TCPS_SNDTOTAL = const(15)
TCPS_SNDPACK = const(16)  # data segments sent
TCPS_SNDBYTE = const(17)
TCPS_SNDREXMITPACK = const(18)
TCPS_SNDREXMITBYTE = const(19)
TCPS_SNDACKS = const(20)  # pure ACKs
TCPS_SNDPROBE = const(21)  # window probes
TCPS_SNDWINUP = const(22)
TCPS_SNDCTRL = const(23)  # SYN, FIN, RST
TCPS_SNDRST = const(24)
TCPS_RCVTOTAL = const(25)
TCPS_RCVPACK = const(26)  # in-sequence data segments
TCPS_RCVBYTE = const(27)
TCPS_RCVBADSUM = const(28)
TCPS_RCVBADOFF = const(29)
TCPS_RCVSHORT = const(30)
TCPS_RCVDUPPACK = const(31)  # duplicate-only segments
TCPS_RCVDUPBYTE = const(32)
TCPS_RCVPARTDUPPACK = const(33)
TCPS_RCVOOPACK = const(34)  # out-of-order segments kept
TCPS_RCVOOPACKDROP = const(35)  # out-of-order segments dropped (reassembly ranges full)
TCPS_RCVPACKAFTERWIN = const(36)
TCPS_RCVBYTEAFTERWIN = const(37)
TCPS_RCVAFTERCLOSE = const(38)  # data after the socket was closed (answered with RST)
TCPS_RCVWINPROBE = const(39)
TCPS_RCVDUPACK = const(40)
TCPS_RCVACKTOOMUCH = const(41)  # ACK for data never sent
TCPS_RCVACKPACK = const(42)
TCPS_RCVACKBYTE = const(43)
TCPS_RCVWINUPD = const(44)
TCPS_PAWSDROP = const(45)
TCPS_PREDACK = const(46)  # header prediction: pure ACK of new data
TCPS_PREDDAT = const(47)  # header prediction: in-order data
TCPS_BADSYN = const(48)  # SYN on a synchronized connection, or a bad SYN|ACK
TCPS_BADRST = const(49)  # RST outside the window, ignored
TCPS_BADADDR = const(50)  # broadcast/multicast/martian address: dropped, never answered
TCPS_NOPORT = const(51)  # segments to a closed port (answered with RST)
TCPS_LISTENDROP = const(52)  # refused: accept queue or connection slots full
TCPS_SC_ADDED = const(53)
TCPS_SC_RETRANSMITTED = const(54)
TCPS_SC_DUPSYN = const(55)
TCPS_SC_DROPPED = const(56)  # SYN dropped (no entry could be made)
TCPS_SC_COMPLETED = const(57)
TCPS_SC_BUCKETOVERFLOW = const(58)
TCPS_SC_CACHEOVERFLOW = const(59)
TCPS_SC_RESET = const(60)
TCPS_SC_STALE = const(61)  # entries expired after their retransmissions
TCPS_SC_BADACK = const(62)  # ACK to a listener matching no entry (answered with RST)
TCPS_FASTREXMT = const(63)
TCPS_TWRECYCLED = const(64)  # TIME_WAIT connections recycled for a new one
TCPS_NOMBUF = const(65)  # a segment not sent: the mbuf pool was empty
TCPS_NOROUTE = const(66)
TCPS_BADOPT = const(67)
TCPS_RCVRST = const(68)
TCPS_RCVMEMDROP = const(69)  # data beyond the receive buffer
TCPS_ZEROWIN = const(70)  # zero windows advertised
TCPS_CTLINPUT = const(71)  # ICMP errors delivered to a connection
TCPS_NOMEM = const(72)  # a connection refused: the heap could not make its rings
TCPS_NSTATS = const(73)

TCPS_NAMES = (
    "connattempt", "accepts", "connects", "drops", "conndrops", "closed", "segstimed",
    "rttupdated", "delack", "timeoutdrop", "rexmttimeo", "persisttimeo", "keeptimeo", "keepprobe",
    "keepdrops", "sndtotal", "sndpack", "sndbyte", "sndrexmitpack", "sndrexmitbyte", "sndacks",
    "sndprobe", "sndwinup", "sndctrl", "sndrst", "rcvtotal", "rcvpack", "rcvbyte", "rcvbadsum",
    "rcvbadoff", "rcvshort", "rcvduppack", "rcvdupbyte", "rcvpartduppack", "rcvoopack",
    "rcvoopackdrop", "rcvpackafterwin", "rcvbyteafterwin", "rcvafterclose", "rcvwinprobe",
    "rcvdupack", "rcvacktoomuch", "rcvackpack", "rcvackbyte", "rcvwinupd", "pawsdrop", "predack",
    "preddat", "badsyn", "badrst", "badaddr", "noport", "listendrop", "sc_added",
    "sc_retransmitted", "sc_dupsyn", "sc_dropped", "sc_completed", "sc_bucketoverflow",
    "sc_cacheoverflow", "sc_reset", "sc_stale", "sc_badack", "fastrexmt", "twrecycled", "nombuf",
    "noroute", "badopt", "rcvrst", "rcvmemdrop", "zerowin", "ctlinput", "nomem",
)

TCPSTAT_NAMES = TCPS_NAMES
tcpstat = [0] * TCPS_NSTATS

# what netif.stats() reports: (key, counters, names, prefix); ifstat and mbstat are reported by netif
TABLES = [("arp", arpstat, ARPS_NAMES, ""), ("ether", etherstat, ETHS_NAMES, ""), ("ip", ipstat, IPS_NAMES, ""),
          ("icmp", icmpstat, ICPS_NAMES, ""), ("udp", udpstat, UDPS_NAMES, ""), ("raw", ripstat, RIPS_NAMES, ""),
          ("tcp", tcpstat, TCPS_NAMES, "tcps_")]


def stat(key, name):
    """One counter by its reported name, e.g. stat("arp", "holddrops") (tests, tools; not the data path)."""
    for k, a, names, prefix in TABLES:
        if k == key:
            for i in range(len(names)):
                if prefix + names[i] == name or names[i] == name:
                    return a[i]
    if key == "mbuf":
        return mbstat[MBS_NAMES.index(name)]
    raise KeyError("%s.%s" % (key, name))


def stat_dict(a, names, prefix=""):
    """{name: value} for reporting."""
    d = {}
    for i in range(len(names)):
        d[prefix + names[i]] = a[i]
    return d


def tcpstat_dict():
    return stat_dict(tcpstat, TCPS_NAMES, "tcps_")


def stat_reset(a):
    for i in range(len(a)):
        a[i] = 0


def tcpstat_reset():
    stat_reset(tcpstat)
