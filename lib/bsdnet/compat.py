# The one module that knows which runtime it is on: MicroPython (board, VM) or CPython (host).
# Everything else imports const, ticks_* and random bits from here.
import sys

MICROPYTHON = sys.implementation.name == "micropython"

if MICROPYTHON:
    from micropython import const  # noqa: F401
    import time as _time

    ticks_ms = _time.ticks_ms
    ticks_add = _time.ticks_add
    ticks_diff = _time.ticks_diff
    sleep_ms = _time.sleep_ms
    sleep_us = _time.sleep_us
else:
    import time as _time

    def const(x):
        return x

    # MicroPython's ticks wrap at 2**30 on every port; model the same period so that
    # wrap-around bugs show on the host too.
    _TICKS_PERIOD = 1 << 30
    _TICKS_MAX = _TICKS_PERIOD - 1
    _TICKS_HALF = _TICKS_PERIOD >> 1

    def ticks_ms():
        return int(_time.monotonic() * 1000) & _TICKS_MAX

    def ticks_add(t, delta):
        return (t + delta) & _TICKS_MAX

    def ticks_diff(a, b):
        return ((a - b + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF

    def sleep_ms(ms):
        _time.sleep(ms / 1000)

    def sleep_us(us):
        _time.sleep(us / 1000000)


# Random bits: os.urandom where the runtime has it, else random (the VM has no os.urandom),
# else a xorshift seeded from the clock. RFC 6528 ISNs and ARP jitter take bits from here.
try:
    from os import urandom as _urandom

    _urandom(1)

    def getrandbits(n):
        # n <= 30 keeps the result a small int on 32-bit MicroPython
        b = _urandom(4)
        return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) & ((1 << n) - 1)
except Exception:
    try:
        from random import getrandbits  # noqa: F401
    except ImportError:
        _x = [ticks_ms() | 1]

        def getrandbits(n):
            x = _x[0]
            x ^= (x << 13) & 0x3FFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0x3FFFFFFF
            _x[0] = x
            return x & ((1 << n) - 1)


def seed(n):
    """Make random bits repeatable in tests (where the runtime allows)."""
    try:
        import random

        random.seed(n)
    except ImportError:
        pass
