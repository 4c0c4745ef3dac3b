# The one module that knows which runtime it is on: MicroPython (board, VM) or CPython (host).
# Everything else imports const, ticks_* and random bits from here.
import sys
import asyncio

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

    def const(x):  # type: ignore[misc]  # CPython stand-in for micropython.const
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


def _xorshift(st, n):
    """n <= 30 bits from the xorshift whose state is st[0] (30 bits, never 0: small ints only)."""
    x = st[0]
    x ^= (x & 0x1FFFF) << 13  # masked before the shift: x << 13 itself would be a heap int
    x ^= x >> 17
    x ^= (x & 0x1FFFFFF) << 5
    st[0] = x
    return x >> (30 - n)


# Random bits: os.urandom where the runtime has it, else random (the VM has no os.urandom),
# else a xorshift seeded from the clock. RFC 6528 ISNs, the IP ID key, DNS ids and ports take bits
# from here (unpredictable to a host on the LAN); timer jitter on a packet's path takes them from
# jitter(), which allocates nothing.
try:
    from os import urandom as _urandom

    _urandom(1)

    def getrandbits(n):
        """n <= 30 random bits. The top byte masked to 6 bits first: every step stays a small int
        on 32-bit MicroPython (b[0] << 24 would be a heap-allocated one, and so each | after it)."""
        b = _urandom(4)
        return (((b[0] & 0x3F) << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >> (30 - n)
except Exception:
    try:
        from random import getrandbits  # noqa: F401
    except ImportError:
        _x = [ticks_ms() | 1]  # type: ignore[operator]

        def getrandbits(n):
            return _xorshift(_x, n)

# jitter(n): n <= 30 bits for a timer's random delay (IGMP reports), on the per-packet path: a
# xorshift seeded once from getrandbits, no allocation per call (os.urandom makes a bytes object).
# Not for secrets: its output gives its state away.
_js = [getrandbits(30) | 1]


def jitter(n):
    return _xorshift(_js, n)


# The base of bsdnet's socket: io.IOBase on MicroPython, so that select.poll accepts a socket (it
# calls the object's ioctl(MP_STREAM_POLL)); a plain object elsewhere (CPython's IOBase would
# bring close-on-delete and a `closed` property that are not ours).
IOBase = object  # type: type
if MICROPYTHON:
    try:
        import io as _io

        IOBase = _io.IOBase  # type: ignore[misc]
    except (ImportError, AttributeError):
        pass

# asyncio: MicroPython has asyncio.sleep_ms and ThreadSafeFlag (set from an IRQ handler);
# CPython and the webassembly VM do not. netif uses these two names only.
if hasattr(asyncio, "sleep_ms"):
    aio_sleep_ms = asyncio.sleep_ms
else:

    async def aio_sleep_ms(ms):
        await asyncio.sleep(ms / 1000)


if hasattr(asyncio, "ThreadSafeFlag"):
    Flag = asyncio.ThreadSafeFlag
else:

    class Flag:  # type: ignore[no-redef]
        """ThreadSafeFlag look-alike over asyncio.Event (no IRQ context on these runtimes)."""

        def __init__(self):
            self._e = asyncio.Event()

        def set(self):
            self._e.set()

        def clear(self):
            self._e.clear()

        async def wait(self):
            await self._e.wait()
            self._e.clear()


async def wait_flag_ms(flag, ms):
    """Wait until flag is set or ms pass, whichever is first. True if the flag was set."""
    if ms <= 0:
        return False
    try:
        await asyncio.wait_for_ms(flag.wait(), ms) if hasattr(asyncio, "wait_for_ms") else await asyncio.wait_for(
            flag.wait(), ms / 1000
        )
        return True
    except asyncio.TimeoutError:
        return False
