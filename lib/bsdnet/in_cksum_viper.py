# The internet checksum sum (RFC 1071) as native code: @micropython.viper, for firmware built with
# the native emitter (armv6m on the RP2040, xtensawin on the ESP32). in_cksum.py imports it inside
# try/except and falls back to the portable loop: the MicroPython VM and CPython cannot compile it.
#
#   cksum_add_viper(buf, off, n, acc) -> s    same contract as in_cksum.cksum_add: the one's
#       complement sum of buf[off:off+n] as big-endian 16-bit words plus acc, folded, not complemented.
#
# Both targets are little-endian, and a Cortex-M0+ faults on unaligned halfword/word loads, so:
# one leading byte if the address is odd, one halfword if it is 2 mod 4, then aligned 32-bit words,
# then a halfword and a byte of tail. Little-endian loads sum byte-swapped words, and a one's
# complement sum of swapped words is the swapped sum (RFC 1071 2.(B)). After an odd leading byte
# the loads pair (low byte of word k, high byte of word k+1): the sum comes out in network order
# and needs no swap.
import micropython


@micropython.viper
def cksum_add_viper(buf, off: int, n: int, acc: int) -> int:
    p = uint(ptr8(buf)) + uint(off)
    e = p + uint(n)
    lead = uint(0)
    odd = p & 1
    if odd and p < e:
        lead = uint(ptr8(p)[0]) << 8
        p += 1
    s = uint(0)
    if (p & 2) and p + 2 <= e:
        s = uint(ptr16(p)[0])
        p += 2
    while e - p >= uint(4):
        # at most 4 KiB per block: s < 1024 * 0x1fffe + 0x1ffff, far from a 32-bit overflow
        blk = e - p
        if blk > uint(4096):
            blk = uint(4096)
        stop = p + (blk - (blk & 7))
        while p < stop:
            w = uint(ptr32(p)[0])
            x = uint(ptr32(p + 4)[0])
            s += (w & 0xFFFF) + (w >> 16) + (x & 0xFFFF) + (x >> 16)
            p += 8
        if blk & 4:
            w = uint(ptr32(p)[0])
            s += (w & 0xFFFF) + (w >> 16)
            p += 4
        s = (s & 0xFFFF) + (s >> 16)
    if p + 2 <= e:
        s += uint(ptr16(p)[0])
        p += 2
    if p < e:
        s += uint(ptr8(p)[0])  # the lone last byte: low lane of a little-endian load
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    if not odd:
        s = ((s & 0xFF) << 8) | (s >> 8)
    s += lead + uint(acc)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return int(s)
