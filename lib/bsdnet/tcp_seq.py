# TCP sequence space (RFC 9293 3.4; BSD netinet/tcp_seq.h), in small ints on a 32-bit port.
#
# A sequence number is 32 bits; as one Python int it reaches 2**32 and would allocate on
# MicroPython's 32-bit ports (small ints stop at 2**30). So each direction of a connection keeps a
# base, the 32-bit number as two 16-bit halves (snd_base_hi/lo from the ISS, rcv_base_hi/lo from
# the IRS), and every other sequence variable of that direction is a plain int offset from it:
# snd_una, snd_nxt, rcv_nxt... are small ints, and SEQ_LT is `<`. Before offsets grow past
# SEQ_REBASE, the base moves forward (tcp_subr.tcp_snd_rebase / tcp_rcv_rebase), so a connection
# can carry any number of bytes and its ISN may sit anywhere, 2**32 - 1 included.
#
# A wire number becomes an offset with seq_off() (halves in, small int out), and an offset becomes
# wire halves again with seq_hi()/seq_lo(). Offsets from the wire further than SEQ_FAR from the
# base cannot belong to the connection (windows are far smaller): they are clamped to +-SEQ_FAR.
from .compat import const

SEQ_FAR = const(0x20000000)  # 2**29: |offset| is clamped here; still a small int on 32-bit ports
_FAR_HI = const(0x2000)
SEQ_REBASE = [const(0x8000000)]  # 2**27 (128 MiB): rebase past this; a list so tests can lower it


def SEQ_LT(a, b):
    return a < b


def SEQ_LEQ(a, b):
    return a <= b


def SEQ_GT(a, b):
    return a > b


def SEQ_GEQ(a, b):
    return a >= b


def SEQ_MIN(a, b):
    return a if a < b else b


def SEQ_MAX(a, b):
    return a if a > b else b


def seq_off(hi, lo, bhi, blo):
    """The 32-bit number (hi, lo) as a signed offset from the base (bhi, blo), modulo 2**32,
    clamped to [-SEQ_FAR, SEQ_FAR]. No intermediate value reaches 2**30."""
    dlo = lo - blo
    dhi = hi - bhi
    if dlo < 0:
        dlo += 0x10000
        dhi -= 1
    dhi &= 0xFFFF
    if dhi >= 0x8000:
        dhi -= 0x10000
    if dhi >= _FAR_HI:
        return SEQ_FAR
    if dhi < -_FAR_HI:
        return -SEQ_FAR
    return (dhi << 16) | dlo


def seq_hi(bhi, blo, off):
    """High half of base + off (mod 2**32); off is any small int, negative too."""
    return (bhi + (off >> 16) + ((blo + (off & 0xFFFF)) >> 16)) & 0xFFFF


def seq_lo(blo, off):
    """Low half of base + off."""
    return (blo + (off & 0xFFFF)) & 0xFFFF
