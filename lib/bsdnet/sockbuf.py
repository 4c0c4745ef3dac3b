# Copies in and out of a ring buffer (TCP's send and receive rings, BSD's sockbuf data), the one
# place that knows how a copy wraps at the end of a ring: at most two bcopy calls, no slice of
# the ring (its memoryview is made once, with the ring).
from .bcopy import bcopy


def sb_put(ring, pos, src, soff, n):
    """Copy src[soff:soff+n] into ring from index pos (0 <= pos < len(ring)), wrapping."""
    first = len(ring) - pos
    if first >= n:
        bcopy(src, soff, ring, pos, n)
    else:
        bcopy(src, soff, ring, pos, first)
        bcopy(src, soff + first, ring, 0, n - first)


def sb_get(ring, pos, dst, doff, n):
    """Copy n bytes of ring from index pos (wrapping) into dst[doff:]."""
    first = len(ring) - pos
    if first >= n:
        bcopy(ring, pos, dst, doff, n)
    else:
        bcopy(ring, pos, dst, doff, first)
        bcopy(ring, 0, dst, doff + first, n - first)
