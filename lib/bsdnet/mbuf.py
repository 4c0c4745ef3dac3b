# mbufs: a fixed pool of frame-sized clusters carved from one arena at import.
#
# An mbuf is one cluster: `buf` is a memoryview over the whole cluster (made once, never sliced
# per packet), `off` is where the data starts and `len` how long it is. Received frames land at
# off 0; mbufs for output leave header room in front (MAX_HDR unless the caller asks for less) so
# that each layer prepends its header in place (m_prepend) without a copy, as BSD's M_PREPEND does
# with the leading space of an mbuf. A caller that knows every header below it asks for exactly
# that much, so the finished frame starts at the cluster's first byte (no slice for the driver).
# m_get() returns None when the pool is empty: the caller counts the drop (no exception).
from .compat import const
from . import opts

_DEBUG = const(True)


class Mbuf:
    __slots__ = ("buf", "off", "len", "idx", "next", "free")

    def __init__(self, buf, idx):
        self.buf = buf
        self.off = 0
        self.len = 0
        self.idx = idx
        self.next = None  # m_nextpkt: queues (ARP hold queue, socket buffers) link through here
        self.free = True


_arena = bytearray(opts.NMBCLUSTERS * opts.MCLBYTES)
_amv = memoryview(_arena)
_pool = [Mbuf(_amv[i * opts.MCLBYTES:(i + 1) * opts.MCLBYTES], i) for i in range(opts.NMBCLUSTERS)]
_free = list(_pool)  # a stack: list.pop()/append() on a preallocated list do not allocate
mbstat = {"get": 0, "free": 0, "drops": 0, "double_free": 0, "min_free": opts.NMBCLUSTERS}


def m_get(headroom=opts.MAX_HDR):
    """A free mbuf with `headroom` bytes reserved in front of the (empty) data, or None."""
    if not _free:
        mbstat["drops"] += 1
        return None
    m = _free.pop()
    m.free = False
    m.off = headroom
    m.len = 0
    m.next = None
    n = len(_free)
    if n < mbstat["min_free"]:
        mbstat["min_free"] = n
    mbstat["get"] += 1
    return m


def m_free(m):
    """Give m back to the pool. Freeing twice is caught (counted, and raised in debug builds)."""
    if m.free:
        mbstat["double_free"] += 1
        if _DEBUG:
            raise RuntimeError("mbuf %d freed twice" % m.idx)
        return
    m.free = True
    m.next = None
    _free.append(m)
    mbstat["free"] += 1


def m_freem(m):
    """Free a chain linked through m.next (a packet queue)."""
    while m is not None:
        n = m.next
        m_free(m)
        m = n


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
        _free.append(m)
