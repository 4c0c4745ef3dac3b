# Protocol counters as preallocated lists indexed by const() names (FreeBSD's TCPSTAT_INC, lwIP's
# stats.h): an increment is one list store, no dict lookup and no allocation while the value
# stays a small int. Counters that can pass 2**30 (bytes) are bumped with stat_add(), which wraps
# them below 2**30 so that they never become a heap-allocated int on a 32-bit port.
# TCP's counters live here first; the other protocols move here with the IPv4 issue.
from .compat import const

_WRAP = const(0x3FFFFFFF)

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

TCPSTAT_NAMES = (
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

tcpstat = [0] * TCPS_NSTATS


def stat_add(a, i, n):
    """a[i] += n, wrapped below 2**30 (byte counters)."""
    a[i] = (a[i] + n) & _WRAP


def tcpstat_dict():
    """{name: value} for reporting (the host board's stats line, HTTP /stats)."""
    d = {}
    for i in range(TCPS_NSTATS):
        d["tcps_" + TCPSTAT_NAMES[i]] = tcpstat[i]
    return d


def tcpstat_reset():
    for i in range(TCPS_NSTATS):
        tcpstat[i] = 0
