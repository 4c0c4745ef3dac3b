# bcopy(src, soff, dst, doff, n): copy n bytes between buffers (BSD's bcopy with offsets), for the
# socket layer's copy in and out of mbufs. The viper variant allocates nothing; the portable one
# slices a memoryview (16 bytes of heap per call on MicroPython), which only the MicroPython VM
# and CPython use. The ranges must not overlap unless dst is before src.
IMPL = "portable"


def bcopy_portable(src, soff, dst, doff, n):
    if type(src) is not memoryview:
        src = memoryview(src)  # slicing bytes/bytearray would copy the data first
    dst[doff:doff + n] = src[soff:soff + n]


bcopy = bcopy_portable
try:
    from .bcopy_viper import bcopy_viper as _v

    _s = b"0123456789"
    _d = bytearray(6)
    _v(_s, 3, _d, 1, 4)
    if _d == bytearray(b"\x003456\x00"):  # a miscompiled variant falls back, not corrupts
        bcopy = _v
        IMPL = "viper"
    del _s, _d
except (ImportError, SyntaxError, NameError, AttributeError, TypeError, ValueError):
    pass
