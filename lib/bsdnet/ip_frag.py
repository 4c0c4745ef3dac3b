# IPv4 fragmentation (RFC 791 3.2, BSD ip_fragment) and the chain a send larger than the MTU is
# built in. Loaded by ip_output with the first datagram that needs it (a board that never sends one
# over its MTU does not carry this code: on a Pico every KB of heap counts).
#
# A chain whose clusters each hold one fragment's worth of payload (what ip_newchain builds for a
# large send, and what reassembly delivers: an echo request answered in place) is fragmented in
# place: the first cluster keeps its header, every following one gets a copy of it in its leading
# space, and each goes to the link as it is (no copy, no new cluster). Anything else (a single
# cluster over a smaller MTU, a chain cut differently) is copied into new clusters, all taken before
# the first is sent: the datagram goes whole or not at all. Offsets are multiples of 8, every
# fragment but the last has MF, the later fragments carry only the options marked "copied"; DF set:
# dropped (ips_cantfrag: udp_output and rip_output answer EMSGSIZE before it gets here).
from . import opts
from . import mbuf
from .hdr import ip as iph
from .inet import in_nullhost, in_copy
from .if_ether import ether_output
from .bcopy import bcopy
from .stats import stat_inc, ipstat
from .compat import const
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IPS_ODROPPED = const(15)
_IPS_FRAGMENTED = const(20)
_IPS_OFRAGMENTS = const(21)
_IPS_CANTFRAG = const(22)

_nh = bytearray(4)  # the next hop of the datagram being fragmented (it may sit in its own header)
_hdr = bytearray(iph.IP_MAX_HDR_LEN)  # the header of the fragments after the first


def ip_fragment(ifp, m, nh, nhoff, now):
    """Send datagram m (header complete, m.off at it) in fragments that fit ifp.mtu; consumes m.
    True if every fragment left now."""
    b = m.buf
    o = m.off
    hl = iph.hlen(b, o)
    fr = iph.frag(b, o)
    mtu = ifp.mtu
    if fr & iph.IP_DF:
        stat_inc(ipstat, _IPS_CANTFRAG)
        mbuf.m_free(m)
        return False
    fhl = _fraghdr(b, o, hl)
    if mtu - hl < 8 or mtu - fhl < 8:
        stat_inc(ipstat, _IPS_ODROPPED)  # an MTU under 68 (RFC 791's minimum) fits no fragment
        mbuf.m_free(m)
        return False
    in_copy(_nh, 0, nh, nhoff)
    stat_inc(ipstat, _IPS_FRAGMENTED)
    if _fits_in_place(m, hl, fhl, mtu):
        return _frag_in_place(ifp, m, hl, fhl, fr, now)
    return _frag_copy(ifp, m, hl, fhl, fr, now)


def _fraghdr(b, o, hl):
    """The header of the later fragments into _hdr: the fixed part and the options whose copied
    flag is set (RFC 791 3.1, BSD ip_optcopy), padded to 4 bytes. Returns its length."""
    for i in range(iph.IP_HDR_LEN):
        _hdr[i] = b[o + i]
    j = iph.IP_HDR_LEN
    i = o + iph.IP_HDR_LEN
    end = o + hl
    while i < end:
        t = b[i]
        if t == iph.IPOPT_EOL:
            break
        if t == iph.IPOPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            break
        ol = b[i + 1]
        if ol < 2 or i + ol > end:
            break
        if t & 0x80:
            for k in range(ol):
                _hdr[j + k] = b[i + k]
            j += ol
        i += ol
    while j & 3:
        _hdr[j] = iph.IPOPT_EOL
        j += 1
    _hdr[0] = 0x40 | (j >> 2)
    return j


def _fits_in_place(m, hl, fhl, mtu):
    """Each cluster of chain m holds one fragment: the first a whole header and a multiple of 8
    bytes, the rest at most mtu - fhl bytes (multiples of 8 but the last) with room in front for
    the fragment header and the link header."""
    c = m.cont
    p = m.len - hl
    if c is None or m.len > mtu or p <= 0 or p & 7:
        return False
    room = opts.MAX_LINKHDR + fhl
    lim = mtu - fhl
    while c is not None:
        if c.len > lim or c.off < room:
            return False
        if c.cont is not None and (c.len <= 0 or c.len & 7):
            return False
        c = c.cont
    return True


def _frag_in_place(ifp, m, hl, fhl, fr, now):
    off0 = fr & iph.IP_OFFMASK  # a fragment being fragmented again keeps its place
    mf0 = fr & iph.IP_MF
    c = m.cont
    m.cont = None
    b = m.buf
    o = m.off
    p = m.len - hl
    iph.set_total_len(b, o, m.len)
    iph.set_frag(b, o, off0 | iph.IP_MF)
    iph.fill_cksum(b, o)
    m.flags |= mbuf.M_FRAG
    stat_inc(ipstat, _IPS_OFRAGMENTS)
    ok = ether_output(ifp, m, _nh, 0, now)
    while c is not None:
        n = c.cont
        c.cont = None
        c.off -= fhl
        c.len += fhl
        cb = c.buf
        co = c.off
        for i in range(fhl):
            cb[co + i] = _hdr[i]
        iph.set_total_len(cb, co, c.len)
        iph.set_frag(cb, co, (off0 + (p >> 3)) | (iph.IP_MF if n is not None or mf0 else 0))
        iph.fill_cksum(cb, co)
        p += c.len - fhl
        c.flags |= mbuf.M_FRAG
        stat_inc(ipstat, _IPS_OFRAGMENTS)
        if not ether_output(ifp, c, _nh, 0, now):
            ok = False
        c = n
    return ok


def _frag_copy(ifp, m, hl, fhl, fr, now):
    off0 = fr & iph.IP_OFFMASK
    mf0 = fr & iph.IP_MF
    mtu = ifp.mtu
    total = mbuf.m_pktlen(m) - hl  # payload bytes
    # how many fragments, then all their clusters: the datagram goes whole or not at all
    k = 0
    p = 0
    h = hl
    while True:
        k += 1
        if total - p <= mtu - h:
            break
        p += (mtu - h) & ~7
        h = fhl
    head = None
    for _ in range(k):
        c = mbuf.m_get(opts.MAX_LINKHDR)
        if c is None:
            mbuf.m_freem(head)
            mbuf.m_free(m)
            stat_inc(ipstat, _IPS_ODROPPED)
            return False
        c.next = head
        head = c
    b = m.buf
    o = m.off
    p = 0
    c = head
    while c is not None:
        cb = c.buf
        co = c.off
        if p == 0:
            h = hl
            for i in range(hl):
                cb[co + i] = b[o + i]
        else:
            h = fhl
            for i in range(fhl):
                cb[co + i] = _hdr[i]
        n = total - p
        last = n <= mtu - h
        if not last:
            n = (mtu - h) & ~7
        mbuf.m_copydata(m, hl + p, n, cb, co + h)
        c.len = h + n
        iph.set_total_len(cb, co, c.len)
        iph.set_frag(cb, co, (off0 + (p >> 3)) | (iph.IP_MF if not last or mf0 else 0))
        iph.fill_cksum(cb, co)
        c.flags |= mbuf.M_FRAG
        p += n
        c = c.next
    mbuf.m_free(m)
    ok = True
    c = head
    while c is not None:
        n = c.next
        c.next = None
        stat_inc(ipstat, _IPS_OFRAGMENTS)
        if not ether_output(ifp, c, _nh, 0, now):
            ok = False
        c = n
    return ok


def ip_newchain(ifp, laddr, proto, src, n, xhlen, faddr, foff):
    """ip_newpacket for n bytes of src that do not fit ifp's MTU in one frame: a chain cut for
    fragmentation in place. The first cluster holds the IP header, xhlen bytes left for the
    transport header and as much of src as fills a fragment; each next one a fragment's worth of
    payload behind room for its IP and link headers (m.cont). None when the pool cannot supply
    every cluster (the caller counts it)."""
    room = (ifp.mtu - iph.IP_HDR_LEN) & ~7  # payload bytes in a fragment but the last
    k = room - xhlen  # src bytes in the first cluster
    if k <= 0 or k >= n or mbuf.pool_free() < 1 + (n - k + room - 1) // room:
        return None
    t = type(src)
    if t is not bytes and t is not bytearray and t is not memoryview:
        try:
            src = memoryview(src)
        except Exception:  # TypeError on CPython, NotImplementedError on MicroPython for a list
            raise TypeError("a bytes-like object is required, not %r" % type(src).__name__)
    m = mbuf.m_get(opts.MAX_LINKHDR)
    if m is None:
        return None
    b = m.buf
    o = m.off
    if in_nullhost(laddr, 0):
        laddr = ifp.ia.addr
    bcopy(src, 0, b, o + iph.IP_HDR_LEN + xhlen, k)  # no slice: nothing allocated with the viper bcopy
    m.len = iph.IP_HDR_LEN + xhlen + k
    c = m
    while k < n:
        c.cont = mbuf.m_get(opts.MAX_LINKHDR + iph.IP_HDR_LEN)
        c = c.cont
        if c is None:
            mbuf.m_free(m)  # with the clusters chained so far
            return None
        j = n - k if n - k < room else room
        bcopy(src, k, c.buf, c.off, j)
        c.len = j
        k += j
    iph.emit(b, o, iph.IP_HDR_LEN, 0, m.len, 0, 0, 0, proto, laddr, 0, faddr, foff)
    return m
