# bcopy() as native code (@micropython.viper, armv6m / xtensawin firmware): copies without the
# memoryview slice the portable form needs (16 bytes of heap per call). bcopy.py imports it inside
# try/except and falls back; the MicroPython VM and CPython cannot compile it.
#
# Words when source and destination share their alignment mod 4, halfwords when they share it
# mod 2 (a received payload sits at 42 mod 4 in its cluster), bytes otherwise: a Cortex-M0+
# faults on unaligned halfword and word accesses, and a byte loop is about 4x slower than words.
import micropython


@micropython.viper
def bcopy_viper(src, soff: int, dst, doff: int, n: int):
    s = int(ptr8(src)) + soff  # addresses as int: below 2**31 on both targets
    d = int(ptr8(dst)) + doff
    e = s + n
    if ((s ^ d) & 3) == 0:
        while s < e and (s & 3) != 0:
            ptr8(d)[0] = ptr8(s)[0]
            s += 1
            d += 1
        while s + 4 <= e:
            ptr32(d)[0] = ptr32(s)[0]
            s += 4
            d += 4
    elif ((s ^ d) & 1) == 0:
        if s < e and (s & 1) != 0:
            ptr8(d)[0] = ptr8(s)[0]
            s += 1
            d += 1
        while s + 2 <= e:
            ptr16(d)[0] = ptr16(s)[0]
            s += 2
            d += 2
    while s < e:
        ptr8(d)[0] = ptr8(s)[0]
        s += 1
        d += 1
