# mbufs: a fixed pool of frame-sized clusters carved from one arena at import.
#
# An mbuf is one cluster: `buf` is a memoryview over the whole cluster (made once, never sliced
# per packet), `off` is where the data starts and `len` how long it is. Received frames land at
# off 0; mbufs for output leave header room in front (MAX_HDR unless the caller asks for less) so
# that each layer prepends its header in place (m_prepend) without a copy, as BSD's M_PREPEND does
# with the leading space of an mbuf. A caller that knows every header below it asks for exactly
# that much, so the finished frame starts at the cluster's first byte (no slice for the driver).
# m_get() returns None when the pool is empty: the caller counts the drop (no exception).
#
# A datagram larger than a cluster (a reassembled one) is a chain of clusters linked through
# `cont` (BSD's m_next); `next` (m_nextpkt) links packets in a queue. m_free() frees a packet with
# its chain. `flags` carries what the link layer knew (M_BCAST, M_MCAST: the frame came to a link
# broadcast or multicast address), so that upper layers never look back at the Ethernet header.
#
# The pool rule (DESIGN.md 3): whoever keeps clusters beyond the packet in hand (ARP's hold queues,
# reassembly, socket receive queues) holds them under a quota (m_hold); the quotas leave
# opts.MBUF_RESERVE clusters that no holder can take, for receive and for the answers the stack
# must send. A held cluster is released by m_free() wherever it is freed.
from .compat import const
from . import opts
from .stats import stat_inc, mbstat
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_MBS_GETS = const(0)
_MBS_FREES = const(1)
_MBS_DROPS = const(2)
_MBS_DOUBLE_FREE = const(3)
_MBS_MIN_FREE = const(5)
_DEBUG = const(True)

M_BCAST = const(1)  # received as a link-level broadcast
M_MCAST = const(2)  # received as a link-level multicast
M_FRAG = const(4)  # a fragment of a datagram (ip_output: more follow or not)

HOLD_ARP = const(0)  # ARP's hold queues, all entries together (opts.ARP_HOLD_TOTAL)
HOLD_REASS = const(1)  # IP reassembly queues (opts.IP_REASS_MBUFS)
HOLD_SOCK = const(2)  # datagram socket receive queues, all sockets together (opts.SB_MBUFS)
_NOHOLD = const(255)

quota = bytes((opts.ARP_HOLD_TOTAL, opts.IP_REASS_MBUFS, opts.SB_MBUFS))
held = bytearray(3)
if opts.ARP_HOLD_TOTAL + opts.IP_REASS_MBUFS + opts.SB_MBUFS > opts.NMBCLUSTERS - opts.MBUF_RESERVE:
    raise ValueError("opts: the holders' quotas exceed NMBCLUSTERS - MBUF_RESERVE (the pool rule)")


class Mbuf:
    __slots__ = ("buf", "off", "len", "idx", "next", "cont", "free", "flags", "hold", "stamp")

    def __init__(self, buf, idx):
        self.buf = buf
        self.off = 0
        self.len = 0
        self.idx = idx
        self.next = None  # m_nextpkt: queues (ARP hold queue, socket buffers) link through here
        self.cont = None  # m_next: the rest of a datagram larger than one cluster
        self.free = True
        self.flags = 0
        self.hold = _NOHOLD  # the holder whose quota this cluster counts against
        self.stamp = 0  # ticks when it was held (the oldest goes first when a quota is full)


_arena = bytearray(opts.NMBCLUSTERS * opts.MCLBYTES)
_amv = memoryview(_arena)
_pool = [Mbuf(_amv[i * opts.MCLBYTES:(i + 1) * opts.MCLBYTES], i) for i in range(opts.NMBCLUSTERS)]
_free = list(_pool)  # a stack: list.pop()/append() on a preallocated list do not allocate
mbstat[_MBS_MIN_FREE] = opts.NMBCLUSTERS


def m_get(headroom=opts.MAX_HDR):
    """A free mbuf with `headroom` bytes reserved in front of the (empty) data, or None."""
    if not _free:
        stat_inc(mbstat, _MBS_DROPS)
        return None
    m = _free.pop()
    m.free = False
    m.off = headroom
    m.len = 0
    m.next = None
    m.cont = None
    m.flags = 0
    n = len(_free)
    if n < mbstat[_MBS_MIN_FREE]:
        mbstat[_MBS_MIN_FREE] = n
    stat_inc(mbstat, _MBS_GETS)
    return m


def m_free(m):
    """Give a packet back to the pool: m and the clusters chained to it through m.cont. Freeing
    twice is caught (counted, and raised in debug builds)."""
    while m is not None:
        if m.free:
            stat_inc(mbstat, _MBS_DOUBLE_FREE)
            if _DEBUG:
                raise RuntimeError("mbuf %d freed twice" % m.idx)
            return
        c = m.cont
        if m.hold != _NOHOLD:
            held[m.hold] -= 1
            m.hold = _NOHOLD
        m.free = True
        m.next = None
        m.cont = None
        _free.append(m)
        stat_inc(mbstat, _MBS_FREES)
        m = c


def m_freem(m):
    """Free a queue of packets linked through m.next."""
    while m is not None:
        n = m.next
        m_free(m)
        m = n


def m_hold(m, kind, now):
    """Count packet m (with its chain) against holder kind's quota. False when the quota has no
    room for it: the holder drops its oldest packet (counted) and asks again, or drops m."""
    k = 0
    c = m
    while c is not None:
        k += 1
        c = c.cont
    if held[kind] + k > quota[kind]:
        return False
    held[kind] += k
    c = m
    while c is not None:
        c.hold = kind
        c = c.cont
    m.stamp = now
    return True


def m_unhold(m):
    """m leaves its holder without being freed (handed on, e.g. ARP's held packet to the driver)."""
    while m is not None:
        if m.hold != _NOHOLD:
            held[m.hold] -= 1
            m.hold = _NOHOLD
        m = m.cont


def m_clusters(m):
    """How many clusters packet m takes."""
    k = 0
    while m is not None:
        k += 1
        m = m.cont
    return k


def m_pktlen(m):
    """Bytes of data in packet m and its chain."""
    n = 0
    while m is not None:
        n += m.len
        m = m.cont
    return n


_bcopy = [None]  # bcopy, imported by the first m_copydata (see there)


def m_copydata(m, off, n, dst, doff):
    """Copy n bytes of packet m (across its chain), from byte off of its data, to dst[doff:]
    (BSD m_copydata). The caller makes sure the packet holds off + n bytes."""
    bcopy = _bcopy[0]
    if bcopy is None:
        # not at import: bcopy (its viper self-test) loaded before the chip driver left a Pico's
        # heap without the 1280 bytes the driver's import needs at boot (measured)
        from .bcopy import bcopy

        _bcopy[0] = bcopy
    while m is not None and n > 0:
        k = m.len - off
        if k <= 0:
            off -= m.len
            m = m.cont
            continue
        if k > n:
            k = n
        bcopy(m.buf, m.off + off, dst, doff, k)
        doff += k
        n -= k
        off = 0
        m = m.cont


def m_truncate(m, n):
    """Keep the first n bytes of packet m: the cluster where they end is shortened and the
    clusters after it are freed (BSD m_adj with a negative count, over a chain)."""
    while m is not None:
        if n <= m.len:
            m.len = n
            c = m.cont
            m.cont = None
            m_free(c)
            return
        n -= m.len
        m = m.cont


def m_prepend(m, n):
    """Grow the data by n bytes in front (for a lower layer's header). False if no room."""
    if m.off < n:
        return False
    m.off -= n
    m.len += n
    return True


def m_adj(m, n):
    """Trim n bytes from the front (n > 0) or -n bytes from the end (n < 0)."""
    if n >= 0:
        if n > m.len:
            n = m.len
        m.off += n
        m.len -= n
    else:
        n = -n
        if n > m.len:
            n = m.len
        m.len -= n


def m_append(m, src, n):
    """Copy n bytes of src at the end of the data; False if the cluster has no room."""
    end = m.off + m.len
    if end + n > opts.MCLBYTES:
        return False
    m.buf[end:end + n] = src[:n] if len(src) != n else src
    m.len += n
    return True


def pool_free():
    return len(_free)


def pool_size():
    return opts.NMBCLUSTERS


def pool_reset():
    """Return every cluster to the pool (tests, after a failure)."""
    del _free[:]
    for m in _pool:
        m.free = True
        m.next = None
        m.cont = None
        m.hold = _NOHOLD
        _free.append(m)
    for k in range(len(held)):
        held[k] = 0
