from bsdnet import compat


def test_ticks_wrap_like_micropython():
    t = compat.ticks_ms()
    later = compat.ticks_add(t, 1000)
    assert compat.ticks_diff(later, t) == 1000
    assert compat.ticks_diff(t, later) == -1000
    # across the wrap of the tick counter
    big = compat.ticks_add(0, -5)
    assert compat.ticks_diff(compat.ticks_add(big, 10), big) == 10


def test_random_bits_in_range():
    seen = 0
    for _ in range(50):
        v = compat.getrandbits(16)
        assert 0 <= v < 65536
        seen |= v
    assert seen != 0


def test_random_bits_stay_small_ints_and_jitter_allocates_nothing():
    import ptest

    for n in (1, 8, 22, 30):
        seen = 0
        for _ in range(64):
            g = compat.getrandbits(n)
            j = compat.jitter(n)
            assert 0 <= g < (1 << n) and 0 <= j < (1 << n), (n, g, j)
            seen |= g | j
        assert seen >= (1 << n) >> 1, (n, seen)  # the top bit comes up: n bits, not fewer
    # on the path of a packet (an IGMP query's report delay): no heap
    ptest.report_alloc("compat.jitter(22)", lambda: compat.jitter(22), limit=0)
    ptest.report_alloc("compat.getrandbits(30)", lambda: compat.getrandbits(30), limit=32)


def test_const_is_identity():
    assert compat.const(5) == 5
