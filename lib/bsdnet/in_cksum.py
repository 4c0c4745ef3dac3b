# The internet checksum (RFC 1071) over a range of a buffer, without slicing (BSD in_cksum.c).
#
#   cksum_add(buf, off, n, acc) -> s
#       one's complement sum of buf[off:off+n] read as big-endian 16-bit words (odd n: the last
#       byte is padded with a zero byte), added to the partial sum acc (any int < 2**30; 0 to
#       start; no default: a viper function cannot have one), folded to 16 bits, NOT complemented.
#       Ranges chain: pass s as acc of the next range; every range but the last must have even
#       length (a range that starts at an odd position of the checksummed data would need its sum
#       byte-swapped, see cksum_swap).
#   in_cksum(buf, off, n, initial=0) -> ck
#       ~cksum_add(buf, off, n, initial) & 0xffff: the value to store in a header. Over a range that
#       includes a correct checksum field it gives 0.
#   in_pseudo(src_buf, src_off, dst_buf, dst_off, proto, length) -> s
#       folded (not complemented) sum of the UDP/TCP pseudo-header (RFC 768, RFC 793 3.1): the
#       addresses stay 4 bytes in their buffers. Pass it as `initial` to in_cksum.
#   cksum_adjust(old_cksum, old16, new16) -> ck
#       RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'): the checksum after one 16-bit word of the covered
#       data changed from old16 to new16 (TTL decrement, NAT-style rewrites), without a full pass.
#   cksum_chain(m, off, n, acc) -> s
#       cksum_add over n bytes of a packet that is a chain of mbufs (m.buf/m.off/m.len, linked
#       through m.cont: a reassembled or fragmented datagram), from byte off of its data. A piece
#       that starts at an odd position of the range has its sum byte-swapped (RFC 1071 2.(B)), so
#       the pieces may have any length.
#   in_cksum_chain(m, off, n, initial=0) -> ck    ~cksum_chain(...) & 0xffff
#   cksum_fold(acc) -> s     fold a sum of 16-bit words (< 2**30) to 16 bits (end-around carry).
#   cksum_swap(s) -> s       byte-swap a 16-bit partial sum (RFC 1071 2.(B), byte order independence).
#   IMPL                     "viper" | "bigint" | "portable": which cksum_add is in use.
#   cksum_add_portable       the pure-Python loop, always present (tests, tools/bench_cksum.py).
#
# Memory: nothing here allocates per call on MicroPython (no slices, no tuples, every intermediate
# below 2**30 on a 32-bit port: the loop folds every _CHUNK bytes). The viper variant
# (in_cksum_viper.py) is preferred where the firmware can compile it; the MicroPython VM and CPython
# cannot, and fall back. CPython (host tests) uses int.from_bytes and a modulus: it allocates, which
# only matters on a board, and is ~10x faster than the loop there (tools/bench_cksum.py).
from .compat import const, MICROPYTHON

# Bytes summed before the two byte-lane sums are folded into the running sum: per lane at most
# 8192 * 255 < 2**21, so (hi << 8) + lo + acc stays below 2**30 (a small int on 32-bit ports).
_CHUNK = const(16384)


def cksum_fold(acc):
    acc = (acc & 0xFFFF) + (acc >> 16)
    acc = (acc & 0xFFFF) + (acc >> 16)
    return acc


def cksum_swap(s):
    return ((s & 0xFF) << 8) | (s >> 8)


def cksum_add_portable(buf, off, n, acc):
    # The high bytes of the 16-bit words (even positions) and the low bytes (odd positions) are
    # summed in two lanes and combined once per chunk: a shift per word saved. Unrolled by 32 bytes:
    # 4.8 MB/s in the MicroPython VM against 3.1 MB/s for one word per iteration (measured).
    acc = cksum_fold(acc)
    b = buf
    while n > 0:
        k = n if n < _CHUNK else _CHUNK
        n -= k
        hi = 0
        lo = 0
        e32 = off + (k & ~31)
        for i in range(off, e32, 32):
            hi += (b[i] + b[i + 2] + b[i + 4] + b[i + 6] + b[i + 8] + b[i + 10] + b[i + 12] + b[i + 14]
                   + b[i + 16] + b[i + 18] + b[i + 20] + b[i + 22] + b[i + 24] + b[i + 26] + b[i + 28]
                   + b[i + 30])
            lo += (b[i + 1] + b[i + 3] + b[i + 5] + b[i + 7] + b[i + 9] + b[i + 11] + b[i + 13] + b[i + 15]
                   + b[i + 17] + b[i + 19] + b[i + 21] + b[i + 23] + b[i + 25] + b[i + 27] + b[i + 29]
                   + b[i + 31])
        e2 = off + (k & ~1)
        for i in range(e32, e2, 2):
            hi += b[i]
            lo += b[i + 1]
        if k & 1:
            hi += b[e2]  # odd length: the last byte is the high byte of a zero-padded word
        off += k
        acc = cksum_fold(acc + (hi << 8) + lo)
    return acc


def _cksum_add_bigint(buf, off, n, acc):
    # 2**16 == 1 (mod 0xffff), so the sum of the big-endian words is the big-endian number modulo
    # 0xffff; a non-zero sum that is a multiple of 0xffff folds to 0xffff, never to 0.
    x = int.from_bytes(memoryview(buf)[off:off + n], "big")
    if n & 1:
        x <<= 8
    x += acc
    r = x % 0xFFFF
    if r == 0 and x:
        r = 0xFFFF
    return r


IMPL = "portable"
cksum_add = cksum_add_portable
try:
    from .in_cksum_viper import cksum_add_viper as _v

    # RFC 1071 3. example, at an odd address too: a miscompiled variant falls back, not corrupts.
    _t = b"\x55\x00\x01\xf2\x03\xf4\xf5\xf6\xf7\x55"
    if _v(_t, 1, 8, 0) == 0xDDF2 and _v(_t, 2, 7, 0) == 0xF2DD and _v(_t, 0, 10, 0) == 0x4833:
        cksum_add = _v
        IMPL = "viper"
    del _t
except (ImportError, SyntaxError, NameError, AttributeError, TypeError, ValueError):
    # The MicroPython VM: SyntaxError or ImportError; CPython: no module named micropython.
    pass
if IMPL == "portable" and not MICROPYTHON:
    cksum_add = _cksum_add_bigint
    IMPL = "bigint"


def in_cksum(buf, off, n, initial=0):
    return ~cksum_add(buf, off, n, initial) & 0xFFFF


def in_pseudo(src_buf, src_off, dst_buf, dst_off, proto, length):
    s = ((src_buf[src_off] << 8) + src_buf[src_off + 1] + (src_buf[src_off + 2] << 8) + src_buf[src_off + 3]
         + (dst_buf[dst_off] << 8) + dst_buf[dst_off + 1] + (dst_buf[dst_off + 2] << 8) + dst_buf[dst_off + 3]
         + proto + length)
    return cksum_fold(s)


def cksum_adjust(old_cksum, old16, new16):
    s = (~old_cksum & 0xFFFF) + (~old16 & 0xFFFF) + (new16 & 0xFFFF)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def cksum_chain(m, off, n, acc):
    odd = 0
    while m is not None and n > 0:
        k = m.len - off
        if k <= 0:
            off -= m.len
            m = m.cont
            continue
        if k > n:
            k = n
        s = cksum_add(m.buf, m.off + off, k, 0)
        if odd:
            s = ((s & 0xFF) << 8) | (s >> 8)
        acc = cksum_fold(acc + s)
        odd ^= k & 1
        n -= k
        off = 0
        m = m.cont
    return acc


def in_cksum_chain(m, off, n, initial=0):
    return ~cksum_chain(m, off, n, initial) & 0xFFFF
