# Every tunable of the stack, as const() so that mpy-cross folds them into the code
# (lwIP's opt.h, in one place). Change here, not at the use site. The mbuf pool's figures follow
# the heap (TINY): those are plain names, read at run time.
from .compat import const

# --- the heap: a few figures follow the board's memory, read once at import ---
TINY_HEAP = const(200 * 1024)  # a heap smaller than this in all: an ESP32 without PSRAM (stock
# MicroPython: ~166 KB at boot, ~190 KB once grown), against a Pico's 240 KB
try:
    from gc import mem_free as _mf, mem_alloc as _ma  # type: ignore[attr-defined]

    TINY = _mf() + _ma() < TINY_HEAP
except ImportError:  # CPython: memory enough
    TINY = False

# --- mbuf pool (mbuf.py) ---
# Not const(): the pool's figures are the heap's (TINY), so they are read at run time (a lookup
# where a datagram is sent or a fragment kept: nowhere per frame).
NMBCLUSTERS = 10 if TINY else 16  # clusters in the pool; one frame each. On a tiny heap 10: 15 KB
# instead of 24 KB, the difference between serving TCP and HTTP or not on an ESP32 (measured)
MCLBYTES = const(1536)  # one cluster: a full Ethernet frame (1514) rounded up
MAX_LINKHDR = const(14)  # room for the Ethernet header: a frame built behind it starts at the
# cluster's first byte, which the driver takes without a memoryview slice (netif.if_output)
MAX_HDR = const(128)  # header room for Ethernet + IP (60 with options) + TCP (60 with options)
# The pool rule (DESIGN.md 3: receive never starves). Whatever keeps clusters beyond the packet in
# hand does so under a quota; the quotas sum to at most NMBCLUSTERS - MBUF_RESERVE (checked at
# import), so a hostile LAN can cost us held packets, never the clusters to read the next frame and
# send the answers the stack owes (ARP replies, echo replies, RST/ACK). A full quota drops the
# holder's oldest packet (counted). Cost: none beyond the pool; the figures are clusters. On a
# tiny heap every quota is halved, and with it the largest datagram (IP_MAXREASS).
MBUF_RESERVE = const(4)  # never held: one frame being read, its answer, an ICMP error, headroom
IP_REASS_MBUFS = 2 if TINY else 4  # fragments waiting for reassembly, all datagrams together
# (ips_fragdropped); also the largest reassembled datagram: 4 x 1480 = 5920 bytes of IP payload
# (IP_MAXREASS; 2960 on a tiny heap)
ARP_HOLD_TOTAL = IP_REASS_MBUFS  # packets waiting for ARP answers, all entries together (arpstat
# holddrops): the fragments of the largest datagram sent to a host not yet resolved
SB_MBUFS = IP_REASS_MBUFS  # datagrams queued on UDP and raw sockets, all together (udps_fullsock);
# at least the clusters of the largest reassembled datagram

# --- link ---
ETHERMTU = const(1500)
ETHER_MAX_FRAME = const(1514)  # without FCS
RX_BATCH = const(8)  # frames drained per wake-up before timers get a turn
POLL_MIN_MS = const(1)  # adaptive poll interval when no interrupt pin is wired
POLL_MAX_MS = const(20)
LINK_POLL_MS = const(1000)  # the PHY's link state is read this often (if_link; never per frame)

# --- ARP (if_ether.py) ---
ARP_TABLE_SIZE = const(8)
ARP_HOLD = ARP_HOLD_TOTAL  # mbufs held per unresolved entry (la_hold): the fragments of the largest
# datagram sent to a host not yet resolved; ARP_HOLD_TOTAL bounds them all
ARP_MAXTRIES = const(5)  # requests before an entry is given up
ARP_RETRY_MS = const(1000)
ARP_KEEP_MS = const(1200000)  # 20 min, net.link.ether.inet.max_age
ARP_DEFEND_MS = const(10000)  # RFC 5227 DEFEND_INTERVAL: one announcement per conflict and interval
ARP_DOWN_MS = const(20000)  # how long an unanswered entry stays down (arpt_down)

# --- IPv4 ---
IP_DEFTTL = const(64)
IP_REASS_SLOTS = const(2)  # datagrams in reassembly at once (ipq entries); a fragment of a third
# one drops the oldest (ips_fragdropped). Cost: ~60 bytes of tables per slot (ip_reass.py).
IP_REASS_TTL_MS = const(30000)  # a datagram not complete this long after its first fragment is
# dropped (ips_fragtimeout), with ICMP time exceeded (reassembly) when its fragment 0 had come
IP_MAXREASS = IP_REASS_MBUFS * 1480  # the largest datagram reassembled, in bytes of IP payload: what
# IP_REASS_MBUFS clusters of 1480 bytes (an Ethernet fragment's payload) hold. Larger ones, or ones
# sent in smaller fragments that need more clusters, are dropped (ips_toolong, ips_fragdropped).
# Also the most a raw socket sends in one datagram (fragmented by ip_output).
ICMP_LIM = const(200)  # ICMP errors sent per second at most (net.inet.icmp.icmplim)
IP_FORWARDING = const(0)  # 1: a router from boot (net.inet.ip.forwarding); at run time
# ip_forward.set_forwarding(True/False). Off, datagrams for others are dropped (ips_cantforward)
IP_SENDREDIRECTS = const(1)  # a router sends ICMP host redirects (net.inet.ip.redirect)
RT_DYNAMIC_MAX = const(4)  # host routes learnt from ICMP redirects; past it the oldest is replaced
IP_MAX_MEMBERSHIPS = const(8)  # multicast groups joined at once, all interfaces and sockets together
# (igmp.py's in_multi table, ~40 B a slot; at most 30: a socket's memberships are a bitmask of slots)

# --- TCP (tcp_*.py) ---
TCP_MSS = const(1460)  # ours: ETHERMTU - 40 (the interface's MTU decides; this is the Ethernet figure)
TCP_MSS_DEFAULT = const(536)  # the peer's when its SYN has no MSS option (RFC 9293 3.7.1)
TCP_MSS_MIN = const(216)  # a peer's MSS below this is raised to it (net.inet.tcp.minmss)
TCP_SNDBUF = const(4096)  # send ring per connection (cost: this many bytes per slot, at first use)
TCP_RCVBUF = const(4096)  # receive ring per connection, and the largest window we offer
TCP_MAXCONN = const(8)  # connections with rings at once (2 x 4 KiB each, made on first need)
TCP_SMALL_HEAP = const(512 * 1024)  # a heap smaller than this in all (a Pico's 240 KB, an ESP32
# without PSRAM): rings of half the sizes above (tcp_subr.tcp_init)
TCP_PREALLOC = const(4)  # connections whose tcpcb and rings tcp_subr.tcp_init() makes at once (a
# running Pico's heap is too cut up for a 2 KiB ring later: measured); the rest on first need
TCP_LISTEN = const(5)  # listening sockets (the firmware uses 4: echo, discard, chargen, http)
TCP_TIMEWAIT = const(3)  # extra pcb slots that only TIME_WAIT uses (no rings: ~900 B each);
# past them the oldest TIME_WAIT is recycled (tcps_twrecycled)
TCP_REASS_MAX = const(4)  # out-of-order ranges kept per connection; the data waits in the
# receive ring itself, so reassembly holds no mbuf (the pool rule, DESIGN.md 3)
TCP_SYNCACHE = const(8)  # SYN cache entries in all (~100 B each)
TCP_SYNCACHE_BUCKETS = const(4)  # hashed by a key random at boot
TCP_SYNCACHE_BUCKETLIMIT = const(4)  # entries per bucket
TCP_SYNCACHE_RXTMAX = const(3)  # SYN|ACK retransmissions before an entry is dropped
TCP_HOSTCACHE = const(8)
TCP_RTO_MIN_MS = const(200)  # the minimum RTO (Linux's; RFC 6298 says 1 s, FreeBSD uses 30 ms)
TCP_RTO_MAX_MS = const(60000)
TCP_RTO_INIT_MS = const(1000)  # RFC 6298 2.1
TCP_DELACK_MS = const(100)
TCP_PERSMIN_MS = const(5000)  # persist probe interval bounds (tcp_persmin/tcp_persmax)
TCP_PERSMAX_MS = const(60000)
TCP_KEEPIDLE_MS = const(7200000)  # SO_KEEPALIVE: first probe after 2 h idle (TCP_KEEPIDLE)
TCP_KEEPINTVL_MS = const(75000)  # then one every 75 s (TCP_KEEPINTVL)
TCP_KEEPCNT = const(8)  # and the connection is dropped after this many unanswered (TCP_KEEPCNT)
TCP_KEEPINIT_MS = const(75000)  # connection-establishment limit
TCP_MSL_MS = const(30000)  # TIME_WAIT lasts 2 MSL = 60 s
TCP_FINWAIT2_MS = const(60000)  # FIN_WAIT_2 after close(): give up on the peer's FIN
TCP_IW_SEGS = const(10)  # initial window in segments (RFC 6928)

# --- UDP ---
UDP_SOCKETS = const(6)  # UDP pcbs (sockets open at once): the firmware's 3 services, DHCP, a DNS query, one more
UDP_RCVQ = const(4)  # datagrams queued per socket before udps_fullsock drops
UDP_SENDSPACE = IP_MAXREASS - 8  # largest datagram sent (5912; 2952 on a tiny heap): what we could receive.
# Over MTU - 28 (1472) it leaves in fragments built straight from the caller's data, one cluster
# each (ip_newpacket): 5912 bytes take 4 clusters for as long as the driver needs to send them.
RAW_SOCKETS = const(2)  # raw IP sockets open at once (ping from the board)

# --- debug: set True for checks that cost time (double free of an mbuf, ...) ---
DEBUG = const(True)
