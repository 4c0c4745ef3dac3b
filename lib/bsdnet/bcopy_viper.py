# bcopy() as native code (@micropython.viper, armv6m / xtensawin firmware): copies without the
# memoryview slice the portable form needs (16 bytes of heap per call). bcopy.py imports it inside
# try/except and falls back; the MicroPython VM and CPython cannot compile it.
import micropython


@micropython.viper
def bcopy_viper(src, soff: int, dst, doff: int, n: int):
    s = ptr8(src)
    d = ptr8(dst)
    i = 0
    while i < n:
        d[doff + i] = s[soff + i]
        i += 1
