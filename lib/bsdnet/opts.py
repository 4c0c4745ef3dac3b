# Every tunable of the stack, as const() so that mpy-cross folds them into the code
# (lwIP's opt.h, in one place). Change here, not at the use site.
from .compat import const

# --- mbuf pool (mbuf.py) ---
NMBCLUSTERS = const(16)  # clusters in the pool; one frame each
MCLBYTES = const(1536)  # one cluster: a full Ethernet frame (1514) rounded up
MAX_LINKHDR = const(14)  # room for the Ethernet header: a frame built behind it starts at the
# cluster's first byte, which the driver takes without a memoryview slice (netif.if_output)
MAX_HDR = const(128)  # header room for Ethernet + IP (60 with options) + TCP (60 with options)

# --- link ---
ETHERMTU = const(1500)
ETHER_MAX_FRAME = const(1514)  # without FCS
RX_BATCH = const(8)  # frames drained per wake-up before timers get a turn
POLL_MIN_MS = const(1)  # adaptive poll interval when no interrupt pin is wired
POLL_MAX_MS = const(20)

# --- ARP (if_ether.py) ---
ARP_TABLE_SIZE = const(8)
ARP_HOLD = const(2)  # mbufs held per unresolved entry (la_hold)
ARP_MAXTRIES = const(5)  # requests before an entry is given up
ARP_RETRY_MS = const(1000)
ARP_KEEP_MS = const(1200000)  # 20 min, net.link.ether.inet.max_age
ARP_DOWN_MS = const(20000)  # how long an unanswered entry stays down (arpt_down)

# --- IPv4 ---
IP_DEFTTL = const(64)
IP_REASS_SLOTS = const(2)
IP_REASS_TTL_MS = const(30000)
ICMP_LIM = const(200)  # ICMP errors sent per second at most (net.inet.icmp.icmplim)

# --- TCP (used from the TCP issue on) ---
TCP_MSS = const(1460)
TCP_SNDBUF = const(4096)
TCP_RCVBUF = const(4096)
TCP_MAXCONN = const(4)
TCP_SYNCACHE = const(8)
TCP_HOSTCACHE = const(8)
TCP_RTO_MIN_MS = const(200)
TCP_RTO_MAX_MS = const(60000)
TCP_RTO_INIT_MS = const(1000)
TCP_DELACK_MS = const(100)
TCP_KEEPIDLE_MS = const(7200000)
TCP_KEEPINIT_MS = const(75000)
TCP_MSL_MS = const(30000)
TCP_FINWAIT2_MS = const(60000)

# --- UDP ---
UDP_SOCKETS = const(4)  # UDP pcbs (sockets open at once)
UDP_RCVQ = const(4)  # datagrams queued per socket before udps_fullsock drops
UDP_SENDSPACE = const(1472)  # largest datagram sent (no fragmentation yet: MTU - 28)
RAW_SOCKETS = const(2)  # raw IP sockets open at once (ping from the board)

# --- debug: set True for checks that cost time (double free of an mbuf, ...) ---
DEBUG = const(True)
