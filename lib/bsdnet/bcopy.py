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

    # every alignment pair, both length parities: a miscompiled variant falls back, not corrupts
    _s = bytearray(range(40))
    _ok = True
    for _so in range(4):
        for _do in range(4):
            for _n in (0, 1, 7, 18):
                _d = bytearray(24)
                _v(_s, _so, _d, _do, _n)
                if _d[_do:_do + _n] != _s[_so:_so + _n] or any(_d[:_do]) or any(_d[_do + _n:]):
                    _ok = False
    if _ok:
        bcopy = _v
        IMPL = "viper"
    del _s, _d, _ok
except (ImportError, SyntaxError, NameError, AttributeError, TypeError, ValueError):
    pass
