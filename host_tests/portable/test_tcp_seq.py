# tcp_seq: wire numbers (16-bit halves) <-> small offsets from a base, across the 2**32 wrap, the
# +-2**29 clamp, and a base walked through more than 4 GiB; SEQ_LT and friends.
from bsdnet.tcp_seq import (seq_off, seq_hi, seq_lo, SEQ_FAR, SEQ_LT, SEQ_LEQ, SEQ_GT, SEQ_GEQ, SEQ_MIN,
                            SEQ_MAX)
import ptest

M32 = 0xFFFFFFFF


def _halves(x):
    x &= M32
    return (x >> 16) & 0xFFFF, x & 0xFFFF


def _off(x, base):
    hi, lo = _halves(x)
    bhi, blo = _halves(base)
    return seq_off(hi, lo, bhi, blo)


def _abs(base, off):
    bhi, blo = _halves(base)
    return (seq_hi(bhi, blo, off) << 16) | seq_lo(blo, off)


def test_round_trip_across_the_wrap():
    for base in (0, 1, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFF0000, 0xFFFFFF00, 0xFFFFFFFF):
        for off in (0, 1, -1, 255, 256, 0xFFFF, 0x10000, -0x10000, 65535 * 3, 0x1000000, -0x1000000,
                    SEQ_FAR - 1, -(SEQ_FAR - 1), SEQ_FAR, -SEQ_FAR):
            x = (base + off) & M32
            assert _abs(base, off) == x, (base, off)
            assert _off(x, base) == off, (base, off, _off(x, base))


def test_wrap_neighbours():
    base = 0xFFFFFFF0
    assert _off(0x00000000, base) == 16
    assert _off(0x0000000F, base) == 31
    assert _off(0xFFFFFFEF, base) == -1
    assert _abs(base, 16) == 0 and _abs(base, 15) == M32
    assert _abs(0, -1) == M32 and _abs(5, -10) == (5 - 10) & M32


def test_clamped_at_2_29():
    base = 0x12345678
    for far in (SEQ_FAR, SEQ_FAR + 1, SEQ_FAR + 0x10000, 0x7FFFFFFF, 0x80000000):
        assert _off(base + far, base) == (SEQ_FAR if far < 0x80000000 else -SEQ_FAR), far
        assert _off(base - far, base) == -SEQ_FAR, far
    assert _off(base + SEQ_FAR - 1, base) == SEQ_FAR - 1
    assert _off(base - SEQ_FAR + 1, base) == -(SEQ_FAR - 1)
    # offsets stay small ints on a 32-bit port: |off| <= 2**29 < 2**30
    assert SEQ_FAR <= (1 << 29)


def test_base_walks_through_more_than_4_gib():
    """A base moved forward in 2**27 steps (the rebase of tcp_subr) through 33 steps: 4.125 GiB,
    the wire numbers continuous mod 2**32, every offset small."""
    for start in (0, 0xFFFFFF00, 0x7FFFFFFF, 0xDEADBEEF):
        bhi, blo = _halves(start)
        total = start
        step = 1 << 27
        for _ in range(33):
            wire_hi = seq_hi(bhi, blo, step)
            wire_lo = seq_lo(blo, step)
            total = (total + step) & M32
            assert (wire_hi << 16) | wire_lo == total
            # the next data lies just beyond the new base: a small positive offset from it
            assert seq_off(wire_hi, wire_lo, bhi, blo) == step
            bhi, blo = wire_hi, wire_lo
            assert seq_off(seq_hi(bhi, blo, 1000), seq_lo(blo, 1000), bhi, blo) == 1000
        assert (bhi << 16) | blo == (start + 33 * step) & M32


def test_seq_compare():
    assert SEQ_LT(1, 2) and not SEQ_LT(2, 2) and SEQ_LEQ(2, 2) and SEQ_GT(3, 2) and SEQ_GEQ(2, 2)
    assert SEQ_LT(-5, 3) and SEQ_GT(3, -5)
    assert SEQ_MIN(4, -1) == -1 and SEQ_MAX(4, -1) == 4
    # comparisons are on offsets: numbers on both sides of the wrap order correctly once converted
    base = 0xFFFFFF00
    a = _off(0xFFFFFFF0, base)
    b = _off(0x00000010, base)
    assert SEQ_LT(a, b) and SEQ_GT(b, a) and b - a == 0x20


def test_seq_off_allocates_nothing():
    def f():
        seq_off(0xFFFF, 0xFF00, 0x0000, 0x0100)
        seq_hi(0xFFFF, 0xFF00, 0x1FFFFFFF)
        seq_lo(0xFF00, -0x1FFFFFFF)

    ptest.report_alloc("tcp_seq seq_off/seq_hi/seq_lo", f, limit=0)
