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
_IPS_TOTAL = const(0)
_IPS_DELIVERED = const(1)
_IPS_TOOSMALL = const(2)
_IPS_BADVERS = const(3)
_IPS_BADHLEN = const(4)
_IPS_BADSUM = const(5)
_IPS_TOOSHORT = const(6)
_IPS_BADLEN = const(7)
_IPS_BADOPTIONS = const(8)
_IPS_CANTFORWARD = const(9)  # not for us and not forwarded
_IPS_NOPROTO = const(10)
_IPS_FRAGMENTS = const(11)
_IPS_FRAGDROPPED = const(12)
_IPS_LOCALOUT = const(13)
_IPS_NOROUTE = const(14)
_IPS_ODROPPED = const(15)
_IPS_BADADDR = const(16)  # martian source or destination: dropped, never answered
_IPS_NOTMEMBER = const(17)  # multicast to a group we have not joined
_IPS_FRAGTIMEOUT = const(18)
_IPS_REASSEMBLED = const(19)
_IPS_FRAGMENTED = const(20)
_IPS_OFRAGMENTS = const(21)
_IPS_CANTFRAG = const(22)
_IPS_FORWARD = const(23)
_IPS_REDIRECTSENT = const(24)
_IPS_RAWOUT = const(25)
_IPS_TOOLONG = const(26)  # reassembled datagram over IP_MAXPACKET
_IPS_NOSRCROUTE = const(27)  # source-routed (LSRR/SSRR): dropped
_IPS_N = const(28)
IPS_NAMES = (
    "ips_total ips_delivered ips_toosmall ips_badvers ips_badhlen ips_badsum ips_tooshort ips_badlen "
    "ips_badoptions ips_cantforward ips_noproto ips_fragments ips_fragdropped ips_localout ips_noroute "
    "ips_odropped ips_badaddr ips_notmember ips_fragtimeout ips_reassembled ips_fragmented ips_ofragments "
    "ips_cantfrag ips_forward ips_redirectsent ips_rawout ips_toolong ips_nosrcroute"
)
ipstat = [0] * _IPS_N

# --- ICMP (netinet/icmp_var.h) ---
_ICPS_RECEIVED = const(0)
_ICPS_TOOSHORT = const(1)
_ICPS_CHECKSUM = const(2)
_ICPS_BADTYPE = const(3)
_ICPS_BADCODE = const(4)
_ICPS_BADLEN = const(5)
_ICPS_ECHO = const(6)
_ICPS_REFLECT = const(7)
_ICPS_BMCASTECHO = const(8)
_ICPS_ERROR = const(9)
_ICPS_OLDICMP = const(10)
_ICPS_BMCASTERR = const(11)  # no error about a broadcast/multicast/martian datagram
_ICPS_BADADDR = const(12)
_ICPS_RATELIMITED = const(13)
_ICPS_NOMBUF = const(14)
_ICPS_NOROUTE = const(15)
_ICPS_UNREACH = const(16)
_ICPS_TIMXCEED = const(17)
_ICPS_REDIRECT = const(18)  # redirects accepted (host route from the current gateway)
_ICPS_BADREDIRECT = const(19)  # redirects refused
_ICPS_PARAMPROB = const(20)
_ICPS_OUTHIST_ECHOREPLY = const(21)
_ICPS_OUTHIST_UNREACH = const(22)
_ICPS_OUTHIST_TIMXCEED = const(23)
_ICPS_OUTHIST_REDIRECT = const(24)
_ICPS_OUTHIST_PARAMPROB = const(25)
_ICPS_N = const(26)
ICPS_NAMES = (
    "icps_received icps_tooshort icps_checksum icps_badtype icps_badcode icps_badlen icps_echo icps_reflect "
    "icps_bmcastecho icps_error icps_oldicmp icps_bmcasterr icps_badaddr icps_ratelimited icps_nombuf "
    "icps_noroute icps_unreach icps_timxceed icps_redirect icps_badredirect icps_paramprob "
    "icps_outhist_echoreply icps_outhist_unreach icps_outhist_timxceed icps_outhist_redirect "
    "icps_outhist_paramprob"
)
icmpstat = [0] * _ICPS_N

# --- UDP (netinet/udp_var.h) ---
_UDPS_IPACKETS = const(0)
_UDPS_HDROPS = const(1)
_UDPS_BADLEN = const(2)
_UDPS_BADSUM = const(3)
_UDPS_NOSUM = const(4)
_UDPS_NOPORT = const(5)
_UDPS_NOPORTBCAST = const(6)
_UDPS_FULLSOCK = const(7)
_UDPS_FILTERMCAST = const(8)  # multicast no socket joined
_UDPS_PORT0 = const(9)  # destination port 0: dropped
_UDPS_OPACKETS = const(10)
_UDPS_ONOMBUF = const(11)
_UDPS_NOROUTE = const(12)
_UDPS_CTLNOTIFY = const(13)
_UDPS_N = const(14)
UDPS_NAMES = (
    "udps_ipackets udps_hdrops udps_badlen udps_badsum udps_nosum udps_noport udps_noportbcast udps_fullsock "
    "udps_filtermcast udps_port0 udps_opackets udps_onombuf udps_noroute udps_ctlnotify"
)
udpstat = [0] * _UDPS_N

# --- raw IP ---
_RIPS_DELIVERED = const(0)
_RIPS_NOSOCK = const(1)
_RIPS_FULLSOCK = const(2)
_RIPS_OPACKETS = const(3)
_RIPS_ONOMBUF = const(4)
_RIPS_N = const(5)
RIPS_NAMES = (
    "rips_delivered rips_nosock rips_fullsock rips_opackets rips_onombuf"
)
ripstat = [0] * _RIPS_N

# --- ARP (if_ether.c) ---
_ARPS_RECEIVED = const(0)
_ARPS_RXREQUESTS = const(1)
_ARPS_RXREPLIES = const(2)
_ARPS_TXREQUESTS = const(3)
_ARPS_TXREPLIES = const(4)
_ARPS_TXGRATUITOUS = const(5)
_ARPS_DROPPED = const(6)
_ARPS_BAD = const(7)
_ARPS_BADSHA = const(8)  # sender hardware address broadcast/multicast
_ARPS_BADSPA = const(9)  # martian sender protocol address
_ARPS_NOTFORUS = const(10)
_ARPS_DUPADDR = const(11)  # another host claims our address
_ARPS_DEFENDED = const(12)  # our address announced in defence (rate limited)
_ARPS_TIMEOUTS = const(13)
_ARPS_HELD = const(14)
_ARPS_HOLDDROPS = const(15)  # held packets dropped (quota, timeout, eviction)
_ARPS_EVICTIONS = const(16)
_ARPS_TABLEFULL = const(17)
_ARPS_NOMBUF = const(18)
_ARPS_N = const(19)
ARPS_NAMES = (
    "received rxrequests rxreplies txrequests txreplies txgratuitous dropped bad badsha badspa notforus "
    "dupaddr defended timeouts held holddrops evictions tablefull nombuf"
)
arpstat = [0] * _ARPS_N

# --- Ethernet input ---
_ETHS_SHORT = const(0)
_ETHS_NOTFORUS = const(1)
_ETHS_NOPROTO = const(2)
_ETHS_MULTICAST = const(3)
_ETHS_BROADCAST = const(4)
_ETHS_MCASTFILTER = const(5)  # multicast to a group we have not joined
_ETHS_N = const(6)
ETHS_NAMES = (
    "short notforus noproto multicast broadcast mcastfilter"
)
etherstat = [0] * _ETHS_N

# --- an interface's own (netif.Interface.ifstat, one list each) ---
_IFS_IPACKETS = const(0)
_IFS_IBYTES = const(1)
_IFS_OPACKETS = const(2)
_IFS_OBYTES = const(3)
_IFS_IERRORS = const(4)
_IFS_OERRORS = const(5)
_IFS_IQDROPS = const(6)  # frames left in the chip: the pool had no cluster
_IFS_NOPROTO = const(7)
_IFS_NOTFORUS = const(8)
_IFS_LINKDOWNS = const(9)  # link changes (if_link): down, including a drop seen only by a latch
_IFS_LINKUPS = const(10)
_IFS_ONOLINK = const(11)  # frames not sent: the link was down
_IFS_N = const(12)
IFS_NAMES = (
    "ipackets ibytes opackets obytes ierrors oerrors iqdrops noproto notforus linkdowns linkups onolink"
)

# --- the mbuf pool (mbuf.py) ---
_MBS_GETS = const(0)
_MBS_FREES = const(1)
_MBS_DROPS = const(2)
_MBS_DOUBLE_FREE = const(3)
_MBS_QUOTADROPS = const(4)  # held packets dropped by a holder's quota
_MBS_MIN_FREE = const(5)  # not a counter: the pool's low-water mark
_MBS_N = const(6)
MBS_NAMES = (
    "gets frees drops double_free quotadrops min_free"
)
mbstat = [0] * _MBS_N

# --- TCP (netinet/tcp_var.h struct tcpstat) ---
_TCPS_CONNATTEMPT = const(0)  # connect() calls (SYN sent)
_TCPS_ACCEPTS = const(1)  # connections made from a listener's SYN cache
_TCPS_CONNECTS = const(2)  # connections established
_TCPS_DROPS = const(3)  # established connections dropped (RST, timeout, abort)
_TCPS_CONNDROPS = const(4)  # embryonic connections dropped
_TCPS_CLOSED = const(5)  # connections closed (tcpcb freed)
_TCPS_SEGSTIMED = const(6)  # segments for which an RTT was measured
_TCPS_RTTUPDATED = const(7)
_TCPS_DELACK = const(8)  # delayed ACKs sent
_TCPS_TIMEOUTDROP = const(9)  # dropped by the retransmit or connection-establishment limit
_TCPS_REXMTTIMEO = const(10)
_TCPS_PERSISTTIMEO = const(11)
_TCPS_KEEPTIMEO = const(12)
_TCPS_KEEPPROBE = const(13)
_TCPS_KEEPDROPS = const(14)
_TCPS_SNDTOTAL = const(15)
_TCPS_SNDPACK = const(16)  # data segments sent
_TCPS_SNDBYTE = const(17)
_TCPS_SNDREXMITPACK = const(18)
_TCPS_SNDREXMITBYTE = const(19)
_TCPS_SNDACKS = const(20)  # pure ACKs
_TCPS_SNDPROBE = const(21)  # window probes
_TCPS_SNDWINUP = const(22)
_TCPS_SNDCTRL = const(23)  # SYN, FIN, RST
_TCPS_SNDRST = const(24)
_TCPS_RCVTOTAL = const(25)
_TCPS_RCVPACK = const(26)  # in-sequence data segments
_TCPS_RCVBYTE = const(27)
_TCPS_RCVBADSUM = const(28)
_TCPS_RCVBADOFF = const(29)
_TCPS_RCVSHORT = const(30)
_TCPS_RCVDUPPACK = const(31)  # duplicate-only segments
_TCPS_RCVDUPBYTE = const(32)
_TCPS_RCVPARTDUPPACK = const(33)
_TCPS_RCVOOPACK = const(34)  # out-of-order segments kept
_TCPS_RCVOOPACKDROP = const(35)  # out-of-order segments dropped (reassembly ranges full)
_TCPS_RCVPACKAFTERWIN = const(36)
_TCPS_RCVBYTEAFTERWIN = const(37)
_TCPS_RCVAFTERCLOSE = const(38)  # data after the socket was closed (answered with RST)
_TCPS_RCVWINPROBE = const(39)
_TCPS_RCVDUPACK = const(40)
_TCPS_RCVACKTOOMUCH = const(41)  # ACK for data never sent
_TCPS_RCVACKPACK = const(42)
_TCPS_RCVACKBYTE = const(43)
_TCPS_RCVWINUPD = const(44)
_TCPS_PAWSDROP = const(45)
_TCPS_PREDACK = const(46)  # header prediction: pure ACK of new data
_TCPS_PREDDAT = const(47)  # header prediction: in-order data
_TCPS_BADSYN = const(48)  # SYN on a synchronized connection, or a bad SYN|ACK
_TCPS_BADRST = const(49)  # RST outside the window, ignored
_TCPS_BADADDR = const(50)  # broadcast/multicast/martian address: dropped, never answered
_TCPS_NOPORT = const(51)  # segments to a closed port (answered with RST)
_TCPS_LISTENDROP = const(52)  # refused: accept queue or connection slots full
_TCPS_SC_ADDED = const(53)
_TCPS_SC_RETRANSMITTED = const(54)
_TCPS_SC_DUPSYN = const(55)
_TCPS_SC_DROPPED = const(56)  # SYN dropped (no entry could be made)
_TCPS_SC_COMPLETED = const(57)
_TCPS_SC_BUCKETOVERFLOW = const(58)
_TCPS_SC_CACHEOVERFLOW = const(59)
_TCPS_SC_RESET = const(60)
_TCPS_SC_STALE = const(61)  # entries expired after their retransmissions
_TCPS_SC_BADACK = const(62)  # ACK to a listener matching no entry (answered with RST)
_TCPS_FASTREXMT = const(63)
_TCPS_TWRECYCLED = const(64)  # TIME_WAIT connections recycled for a new one
_TCPS_NOMBUF = const(65)  # a segment not sent: the mbuf pool was empty
_TCPS_NOROUTE = const(66)
_TCPS_BADOPT = const(67)
_TCPS_RCVRST = const(68)
_TCPS_RCVMEMDROP = const(69)  # data beyond the receive buffer
_TCPS_ZEROWIN = const(70)  # zero windows advertised
_TCPS_CTLINPUT = const(71)  # ICMP errors delivered to a connection
_TCPS_NOMEM = const(72)  # a connection refused: the heap could not make its rings
_TCPS_NSTATS = const(73)

TCPS_NAMES = (
    "connattempt accepts connects drops conndrops closed segstimed rttupdated delack timeoutdrop rexmttimeo "
    "persisttimeo keeptimeo keepprobe keepdrops sndtotal sndpack sndbyte sndrexmitpack sndrexmitbyte sndacks "
    "sndprobe sndwinup sndctrl sndrst rcvtotal rcvpack rcvbyte rcvbadsum rcvbadoff rcvshort rcvduppack "
    "rcvdupbyte rcvpartduppack rcvoopack rcvoopackdrop rcvpackafterwin rcvbyteafterwin rcvafterclose "
    "rcvwinprobe rcvdupack rcvacktoomuch rcvackpack rcvackbyte rcvwinupd pawsdrop predack preddat badsyn "
    "badrst badaddr noport listendrop sc_added sc_retransmitted sc_dupsyn sc_dropped sc_completed "
    "sc_bucketoverflow sc_cacheoverflow sc_reset sc_stale sc_badack fastrexmt twrecycled nombuf noroute "
    "badopt rcvrst rcvmemdrop zerowin ctlinput nomem"
)

TCPSTAT_NAMES = TCPS_NAMES
tcpstat = [0] * _TCPS_NSTATS

# what netif.stats() reports: (key, counters, names, prefix); ifstat and mbstat are reported by netif
TABLES = [("arp", arpstat, ARPS_NAMES, ""), ("ether", etherstat, ETHS_NAMES, ""), ("ip", ipstat, IPS_NAMES, ""),
          ("icmp", icmpstat, ICPS_NAMES, ""), ("udp", udpstat, UDPS_NAMES, ""), ("raw", ripstat, RIPS_NAMES, ""),
          ("tcp", tcpstat, TCPS_NAMES, "tcps_")]


def _table(key):
    if key == "mbuf":
        return mbstat, MBS_NAMES, ""
    if key == "if":
        return None, IFS_NAMES, ""
    for k, a, names, prefix in TABLES:
        if k == key:
            return a, names, prefix
    raise KeyError(key)


def stat_index(key, name):
    """The index of counter `name` in table `key` ("ip", "tcp", "if", "mbuf", ...), the name as
    reported (stat_dict), e.g. stat_index("tcp", "tcps_predack"). The indices are private consts of
    the modules that count (they cost no RAM there); tests and tools find them by name."""
    a, names, prefix = _table(key)
    if prefix and name.startswith(prefix):
        name = name[len(prefix):]
    i = 0
    for n in stat_names(names):
        if n == name:
            return i
        i += 1
    raise KeyError("%s.%s" % (key, name))


def stat(key, name):
    """One counter by its reported name, e.g. stat("arp", "holddrops") (tests, tools; not the data path)."""
    return _table(key)[0][stat_index(key, name)]
    raise KeyError("%s.%s" % (key, name))


def stat_names(names):
    """The names of a table one by one (a generator): each table's names are one string, a word a
    counter, so that a board keeps one object per table instead of one per name."""
    i = 0
    n = len(names)
    while i < n:
        j = names.find(" ", i)
        if j < 0:
            j = n
        yield names[i:j]
        i = j + 1


def stat_dict(a, names, prefix=""):
    """{name: value} for reporting."""
    d = {}
    i = 0
    for name in stat_names(names):
        d[prefix + name] = a[i]
        i += 1
    return d


def tcpstat_dict():
    return stat_dict(tcpstat, TCPS_NAMES, "tcps_")


def stat_reset(a):
    for i in range(len(a)):
        a[i] = 0


def tcpstat_reset():
    stat_reset(tcpstat)
