# The internet checksum (lib/bsdnet/in_cksum.py): RFC 1071 vectors, odd lengths and offsets,
# chaining, the pseudo-header, RFC 1624 incremental updates, the viper variant where the runtime
# has one, and zero allocation per call in the MicroPython VM.
import random

import ptest
from bsdnet import in_cksum as ck


def ref_sum(data, off, n, acc=0):
    """Straight from RFC 1071 4.1: add 16-bit words, pad an odd byte, fold the carries."""
    s = acc
    i = off
    while n > 1:
        s += (data[i] << 8) | data[i + 1]
        i += 2
        n -= 2
        if s > 0xFFFFFF:
            s = (s & 0xFFFF) + (s >> 16)
    if n > 0:
        s += data[i] << 8
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def rand_buf(n, seed):
    random.seed(seed)
    b = bytearray(n)
    for i in range(n):
        b[i] = random.getrandbits(8)
    return b


IMPLS = (("cksum_add", ck.cksum_add), ("portable", ck.cksum_add_portable))
RFC1071 = bytes((0x00, 0x01, 0xF2, 0x03, 0xF4, 0xF5, 0xF6, 0xF7))


def test_rfc1071_example():
    # RFC 1071 3.: the words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d
    for name, f in IMPLS:
        assert f(RFC1071, 0, 8, 0) == 0xDDF2, name
    assert ck.in_cksum(RFC1071, 0, 8) == 0x220D
    assert ref_sum(RFC1071, 0, 8) == 0xDDF2


def test_odd_length_pads_a_zero_byte():
    for name, f in IMPLS:
        assert f(RFC1071, 0, 7, 0) == ref_sum(RFC1071, 0, 7), name
        # 0001 + f203 + f4f5 + f600
        assert f(RFC1071, 0, 7, 0) == 0xDCFB, name
        assert f(b"\xab", 0, 1, 0) == 0xAB00, name
        assert f(b"", 0, 0, 0) == 0, name
        assert f(b"\x12\x34", 0, 0, 0x4321) == 0x4321, name


def test_odd_offset_reads_words_from_the_offset():
    b = bytearray(b"\x99") + bytearray(RFC1071) + bytearray(b"\x77")
    for name, f in IMPLS:
        assert f(b, 1, 8, 0) == 0xDDF2, name
        assert f(b, 1, 7, 0) == 0xDCFB, name
        assert f(memoryview(b), 1, 8, 0) == 0xDDF2, name


def test_all_ones_and_all_zeros():
    ff = bytearray(b"\xff" * 1501)
    zero = bytearray(1500)
    for name, f in IMPLS:
        assert f(ff, 0, 1500, 0) == 0xFFFF, name  # a sum of non-zero words never folds to 0
        assert f(ff, 1, 1500, 0) == 0xFFFF, name
        assert f(ff, 0, 1501, 0) == ref_sum(ff, 0, 1501), name
        assert f(zero, 0, 1500, 0) == 0, name
    assert ck.in_cksum(ff, 0, 1500) == 0
    assert ck.in_cksum(zero, 0, 1500) == 0xFFFF


def test_random_ranges_match_rfc1071_reference():
    b = rand_buf(1700, 1)
    random.seed(2)
    for _ in range(150):
        off = random.getrandbits(6)
        n = random.randint(0, 1600)
        acc = random.getrandbits(16)
        want = ref_sum(b, off, n, acc)
        for name, f in IMPLS:
            assert f(b, off, n, acc) == want, (name, off, n, acc)


def test_long_buffers_fold_without_big_ints():
    # more than one _CHUNK (16 KiB) of 0xff: the worst case for the lane sums
    ff = bytearray(b"\xff" * 40003)
    for name, f in IMPLS:
        for n in (16383, 16384, 16385, 32768, 40001, 40002):
            assert f(ff, 1, n, 0) == ref_sum(ff, 1, n), (name, n)
        assert f(ff, 0, 40000, 0x3FFFFFFF) == ref_sum(ff, 0, 40000, 0x3FFFFFFF), name


def test_chained_ranges_equal_one_pass():
    b = rand_buf(600, 3)
    whole = ck.cksum_add(b, 0, 600, 0)
    s = ck.cksum_add(b, 0, 20, 0)
    s = ck.cksum_add(b, 20, 380, s)
    s = ck.cksum_add(b, 400, 200, s)
    assert s == whole
    # a range starting at an odd position of the data: its sum is byte-swapped (RFC 1071 2.(B))
    s = ck.cksum_add(b, 0, 101, 0)
    assert ck.cksum_fold(s + ck.cksum_swap(ck.cksum_add(b, 101, 499, 0))) == whole
    assert ck.cksum_swap(0x1234) == 0x3412


def test_verify_over_the_stored_checksum_gives_zero():
    random.seed(4)
    for n in (20, 21, 60, 577, 1500):
        b = rand_buf(n + 2, n)
        b[0] = 0
        b[1] = 0
        c = ck.in_cksum(b, 0, n)
        b[0] = c >> 8
        b[1] = c & 0xFF
        assert ck.in_cksum(b, 0, n) == 0, n


def test_pseudo_header_matches_building_it():
    random.seed(5)
    for _ in range(50):
        src = rand_buf(7, random.getrandbits(16))
        dst = rand_buf(4, random.getrandbits(16))
        proto = random.choice((6, 17))
        length = random.randint(0, 0xFFFF)
        ph = bytearray(12)
        ph[0:4] = src[3:7]
        ph[4:8] = dst
        ph[9] = proto
        ph[10] = length >> 8
        ph[11] = length & 0xFF
        assert ck.in_pseudo(src, 3, dst, 0, proto, length) == ref_sum(ph, 0, 12)
    # UDP over a pseudo-header: checksum then verify gives 0
    seg = rand_buf(31, 6)
    seg[6] = seg[7] = 0
    a = bytearray((10, 0, 0, 1, 10, 0, 0, 2))
    c = ck.in_cksum(seg, 0, 31, ck.in_pseudo(a, 0, a, 4, 17, 31))
    seg[6] = c >> 8
    seg[7] = c & 0xFF
    assert ck.in_cksum(seg, 0, 31, ck.in_pseudo(a, 0, a, 4, 17, 31)) == 0


def test_incremental_update_matches_full_recompute():
    # RFC 1624 eqn. 3 against a full pass: TTL decrements on random IPv4 headers, and random
    # 16-bit word changes in random data (including to and from 0x0000 and 0xffff)
    random.seed(7)
    for t in range(300):
        n = 20 if t < 150 else random.randint(12, 80) & ~1
        b = rand_buf(n, t + 100)
        if t < 150:
            b[8] = random.randint(1, 255)  # TTL, proto at 9
            w = 8
        else:
            w = random.randint(0, n // 2 - 1) * 2
            if w == 10:
                w = 8
        b[10] = b[11] = 0
        c = ck.in_cksum(b, 0, n)
        b[10] = c >> 8
        b[11] = c & 0xFF
        old = (b[w] << 8) | b[w + 1]
        if t < 150:
            new = old - 0x100
        else:
            new = random.choice((0, 0xFFFF, random.getrandbits(16)))
        b[w] = new >> 8
        b[w + 1] = new & 0xFF
        c2 = ck.cksum_adjust(c, old, new)
        b[10] = b[11] = 0
        full = ck.in_cksum(b, 0, n)
        assert c2 == full, (t, hex(old), hex(new), hex(c2), hex(full))


def test_viper_matches_portable():
    if ck.IMPL != "viper":
        ptest.skip("no @micropython.viper on this runtime (in_cksum uses %s)" % ck.IMPL)
    from bsdnet.in_cksum_viper import cksum_add_viper

    b = rand_buf(4200, 8)
    random.seed(9)
    for _ in range(300):
        off = random.getrandbits(5)
        n = random.randint(0, 4100)
        acc = random.getrandbits(16)
        assert cksum_add_viper(b, off, n, acc) == ck.cksum_add_portable(b, off, n, acc), (off, n)


def test_runtime_picks_an_implementation():
    assert ck.IMPL in ("viper", "bigint", "portable")
    import sys

    if sys.implementation.name != "micropython":
        assert ck.IMPL == "bigint"


_frame = bytearray(1514)
for _i in range(1514):
    _frame[_i] = (_i * 37 + 11) & 0xFF
_addrs = bytearray((10, 1, 2, 3, 10, 4, 5, 6))


def test_no_allocation_per_call():
    ptest.report_alloc("in_cksum 1500 B", lambda: ck.in_cksum(_frame, 14, 1500), limit=0)
    ptest.report_alloc("cksum_add_portable 1500 B odd offset",
                       lambda: ck.cksum_add_portable(_frame, 13, 1499, 0xFFFF), limit=0)
    ptest.report_alloc("in_pseudo", lambda: ck.in_pseudo(_addrs, 0, _addrs, 4, 6, 1480), limit=0)
    ptest.report_alloc("cksum_adjust", lambda: ck.cksum_adjust(0x1234, 0x4006, 0x3F06), limit=0)
