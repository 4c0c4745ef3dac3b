# Receive-side data placement and the out-of-order queue (FreeBSD tcp_reass.c, in the manner of
# smoltcp's Assembler).
#
# Segment data is copied from its cluster into the connection's receive ring at once, at the
# place its sequence number gives it, and the cluster goes back to the pool: in-order data
# extends what the application can read; out-of-order data waits in the ring beyond it, recorded
# as one of at most TCP_REASS_MAX ranges [start, end) (offsets in the receive sequence space).
# So the out-of-order queue holds no mbuf at all (the pool rule of DESIGN.md 3 holds by
# construction); it is bounded in bytes by the window and in segments by the ranges. Overlaps
# are merged; bytes that arrive twice are written twice (the same bytes, from an honest peer).
from . import opts
from .sockbuf import sb_put
from .stats import stat_inc, tcpstat, stat_add
from .compat import const
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_TCPS_RCVPACK = const(26)
_TCPS_RCVBYTE = const(27)
_TCPS_RCVOOPACK = const(34)
_TCPS_RCVOOPACKDROP = const(35)
def _ring_put(tp, at, b, p, n):
    """Copy b[p:p+n] into the receive ring `at` bytes past the readable data."""
    size = tp.rb_hiwat
    pos = tp.rb_off + tp.rb_cc + at  # < 2 * size: the caller keeps at within the free space
    if pos >= size:
        pos -= size
    sb_put(tp.rb, pos, b, p, n)


def _range_add(tp, s, e):
    """Record [s, e) (merging); False when it needs a new range and all are taken."""
    rs = tp.rq_s
    re = tp.rq_e
    n = tp.rq_n
    i = 0
    while i < n and re[i] < s:
        i += 1
    # ranges i.. may touch [s, e): merge every one that starts at or before e
    j = i
    while j < n and rs[j] <= e:
        if rs[j] < s:
            s = rs[j]
        if re[j] > e:
            e = re[j]
        j += 1
    if j == i:  # touches none: insert at i
        if n >= opts.TCP_REASS_MAX:
            return False
        k = n
        while k > i:
            rs[k] = rs[k - 1]
            re[k] = re[k - 1]
            k -= 1
        rs[i] = s
        re[i] = e
        tp.rq_n = n + 1
        return True
    rs[i] = s
    re[i] = e
    d = j - i - 1  # ranges i+1..j-1 were swallowed
    if d:
        for k in range(j, n):
            rs[k - d] = rs[k]
            re[k - d] = re[k]
        tp.rq_n = n - d
    return True


def tcp_reass(tp, seq, b, p, n):
    """Place n bytes of b[p:] whose first has sequence offset seq (rcv_nxt <= seq; the caller
    trimmed the segment to the window). Returns the bytes newly made readable (0 for data kept
    out of order), or -1 when out-of-order data had to be dropped (no range free)."""
    nxt = tp.rcv_nxt
    room = tp.rb_hiwat - tp.rb_cc - (seq - nxt)
    if n > room:
        n = room  # never past the ring (the window the caller trimmed to should have done it)
    if n <= 0:
        return 0
    if seq != nxt:
        if not _range_add(tp, seq, seq + n):
            stat_inc(tcpstat, _TCPS_RCVOOPACKDROP)
            return -1
        _ring_put(tp, seq - nxt, b, p, n)
        stat_inc(tcpstat, _TCPS_RCVOOPACK)
        return 0
    _ring_put(tp, 0, b, p, n)
    stat_inc(tcpstat, _TCPS_RCVPACK)
    stat_add(tcpstat, _TCPS_RCVBYTE, n)
    end = nxt + n
    # pull in the ranges that now join
    rs = tp.rq_s
    re = tp.rq_e
    k = 0
    while k < tp.rq_n and rs[k] <= end:
        if re[k] > end:
            end = re[k]
        k += 1
    if k:
        m = tp.rq_n
        for i in range(k, m):
            rs[i - k] = rs[i]
            re[i - k] = re[i]
        tp.rq_n = m - k
    tp.rcv_nxt = end
    tp.rb_cc += end - nxt
    return end - nxt


def tcp_reass_flush(tp):
    tp.rq_n = 0
