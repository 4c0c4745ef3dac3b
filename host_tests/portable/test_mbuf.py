from bsdnet import mbuf, opts
from bsdnet.stats import stat
import ptest


def test_get_free_roundtrip_and_headroom():
    m = mbuf.m_get()
    assert m is not None
    assert m.off == opts.MAX_HDR and m.len == 0
    assert len(m.buf) == opts.MCLBYTES
    assert mbuf.pool_free() == opts.NMBCLUSTERS - 1
    mbuf.m_free(m)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_exhaustion_returns_none_and_counts():
    got = []
    drops = stat("mbuf", "drops")
    for _ in range(opts.NMBCLUSTERS):
        m = mbuf.m_get()
        assert m is not None
        got.append(m)
    assert mbuf.m_get() is None
    assert stat("mbuf", "drops") == drops + 1
    assert stat("mbuf", "min_free") == 0
    # clusters do not overlap
    for i, m in enumerate(got):
        m.buf[0] = i
        m.buf[opts.MCLBYTES - 1] = i
    for i, m in enumerate(got):
        assert m.buf[0] == i and m.buf[opts.MCLBYTES - 1] == i
    for m in got:
        mbuf.m_free(m)


def test_double_free_is_caught():
    m = mbuf.m_get()
    mbuf.m_free(m)
    before = stat("mbuf", "double_free")
    e = ptest.raises(RuntimeError, mbuf.m_free, m)
    assert "twice" in str(e)
    assert stat("mbuf", "double_free") == before + 1
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_prepend_and_adj():
    m = mbuf.m_get(headroom=40)
    assert mbuf.m_append(m, b"payload", 7)
    assert mbuf.m_prepend(m, 20)
    assert m.off == 20 and m.len == 27
    assert mbuf.m_prepend(m, 20)
    assert not mbuf.m_prepend(m, 1)  # no room left in front
    mbuf.m_adj(m, 40)
    assert bytes(m.buf[m.off:m.off + m.len]) == b"payload"
    mbuf.m_adj(m, -3)
    assert bytes(m.buf[m.off:m.off + m.len]) == b"payl"
    mbuf.m_free(m)


def test_chain_free():
    a = mbuf.m_get()
    b = mbuf.m_get()
    a.next = b
    mbuf.m_freem(a)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_get_free_allocate_nothing():
    def cycle():
        mbuf.m_free(mbuf.m_get())

    ptest.report_alloc("m_get+m_free", cycle, n=100, limit=0)


def test_leak_is_detected_by_the_harness_check():
    # the pool check used by conftest and the VM harness sees a missing cluster
    m = mbuf.m_get()
    assert mbuf.pool_size() - mbuf.pool_free() == 1
    mbuf.m_free(m)
    assert mbuf.pool_size() - mbuf.pool_free() == 0


def test_pool_figures_follow_the_heap():
    """The pool and its quotas are the heap's (opts.TINY: under 200 KB in all, an ESP32 without
    PSRAM): 16 clusters and quotas of 4, or 10 and 2; the pool rule holds either way, and the
    largest datagram is what the reassembly quota's clusters hold."""
    n = 10 if opts.TINY else 16
    q = 2 if opts.TINY else 4
    assert opts.NMBCLUSTERS == n and mbuf.pool_size() == n and mbuf.pool_free() == n
    assert tuple(mbuf.quota) == (q, q, q) and opts.ARP_HOLD == q
    assert sum(mbuf.quota) <= opts.NMBCLUSTERS - opts.MBUF_RESERVE
    assert opts.IP_MAXREASS == q * 1480 and opts.UDP_SENDSPACE == opts.IP_MAXREASS - 8
    print("heap profile: %s, %d clusters (%d B), quotas %d, largest datagram %d B" % (
        "tiny" if opts.TINY else "full", n, n * opts.MCLBYTES, q, opts.UDP_SENDSPACE))
