# ip_output(): complete the IPv4 header, pick the next hop and hand the packet to the link.
#
# The caller leaves m.off at a header whose protocol, source, destination and total length are
# set. We fill the total length, TTL, the ID and the checksum, then pick the next hop: the limited
# broadcast, multicast and destinations on ifp's own subnet go out of ifp directly (a reply leaves
# by the interface its request came in, and it is the cheapest test); anything else by the
# longest-prefix route (route.rtalloc): a connected subnet directly, RTF_GATEWAY to its gateway.
#
# Fragmentation (RFC 791 3.2, BSD ip_fragment): a datagram larger than the outgoing interface's
# MTU, or one that is a chain of clusters (m.cont), leaves in fragments. A chain whose clusters
# each hold one fragment's worth of payload (what ip_newpacket builds for a large send, and what
# reassembly delivers: an echo request answered in place) is fragmented in place: the first
# cluster keeps its header, every following one gets a copy of it in its leading space, and each
# goes to the link as it is (no copy, no new cluster). Anything else (a single cluster over a
# smaller MTU, a chain cut differently) is copied into new clusters, all taken before the first
# is sent: the datagram goes whole or not at all. Offsets are multiples of 8, every fragment but
# the last has MF, the later fragments carry only the options marked "copied"; DF set: dropped
# (ips_cantfrag: udp_output and rip_output answer EMSGSIZE before it gets here).
#
# The IP ID (RFC 7739 5.3, "hash-based"): a table of 16-bit counters, random at boot, indexed by a
# keyed hash of (source, destination, protocol), plus a second keyed hash of the same as an
# offset. IDs for one destination follow each other (unique for 65536 datagrams, far beyond the
# reassembly lifetime at our rates), a peer learns nothing of our traffic to others, and nothing
# repeats across boots. The hashes are small multiplicative ones with 20-bit keys (no allocation,
# every value under 2**30), not cryptographic: they keep an observer from predicting, not a
# cryptanalyst.
from .compat import const, getrandbits
from . import opts
from . import mbuf
from .hdr import ip as iph
from .inet import in_nullhost, in_multicast, in_allones, in_copy
from .route import rtalloc, RTF_GATEWAY
from .if_ether import ether_output
from .bcopy import bcopy
from .stats import (stat_inc, ipstat, IPS_LOCALOUT, IPS_NOROUTE, IPS_ODROPPED, IPS_FRAGMENTED, IPS_OFRAGMENTS,
    IPS_CANTFRAG)

_IDS = const(32)  # counters in the IP ID table (a power of two)
_idtab = [0] * _IDS
_idkey = [0, 0]


def ip_id_init():
    """A new random ID table and keys: at import, i.e. at every boot (tests call it to reboot)."""
    for i in range(_IDS):
        _idtab[i] = getrandbits(16)
    _idkey[0] = getrandbits(20)
    _idkey[1] = getrandbits(20)


ip_id_init()


def ip_newid(b, o):
    """The ID for the datagram whose header is at b[o] (its addresses and protocol set)."""
    h = _idkey[0]
    g = _idkey[1]
    for i in range(o + iph.IP_SRC, o + iph.IP_DST + 4):
        x = b[i]
        h = ((h ^ x) * 0x193) & 0xFFFFF
        g = ((g ^ x) * 0x1B3) & 0xFFFFF
    x = b[o + iph.IP_P]
    h = ((h ^ x) * 0x193) & 0xFFFFF
    g = ((g ^ x) * 0x1B3) & 0xFFFFF
    i = (h ^ (h >> 11)) & (_IDS - 1)
    v = _idtab[i]
    _idtab[i] = (v + 1) & 0xFFFF
    return (v + (g ^ (g >> 9))) & 0xFFFF


def ip_output(ifp, m, now, ttl=opts.IP_DEFTTL):
    """m.off at the IP header; consumes m. True if the frame (every fragment) left now (False:
    held or dropped)."""
    b = m.buf
    o = m.off
    stat_inc(ipstat, IPS_LOCALOUT)
    dst = o + iph.IP_DST
    iph.set_total_len(b, o, m.len if m.cont is None else mbuf.m_pktlen(m))
    iph.set_ident(b, o, ip_newid(b, o))
    if ttl:
        iph.set_ttl(b, o, ttl)
    iph.fill_cksum(b, o)
    if ifp.ia.is_local(b, dst) or in_allones(b, dst) or in_multicast(b, dst):
        return _ip_send(ifp, m, b, dst, now)
    rt = rtalloc(b, dst)
    if rt is None:
        stat_inc(ipstat, IPS_NOROUTE)
        mbuf.m_free(m)
        return False
    if rt.flags & RTF_GATEWAY:
        return _ip_send(rt.ifp, m, rt.gateway, 0, now)
    return _ip_send(rt.ifp, m, b, dst, now)  # a connected route: the destination is on the link


def _ip_send(ifp, m, nh, nhoff, now):
    """To the link for next hop nh[nhoff:nhoff+4]: in one frame when it fits ifp's MTU."""
    if m.cont is None and m.len <= ifp.mtu:
        return ether_output(ifp, m, nh, nhoff, now)
    return ip_fragment(ifp, m, nh, nhoff, now)


# --- fragmentation ------------------------------------------------------------------------------
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
        stat_inc(ipstat, IPS_CANTFRAG)
        mbuf.m_free(m)
        return False
    fhl = _fraghdr(b, o, hl)
    if mtu - hl < 8 or mtu - fhl < 8:
        stat_inc(ipstat, IPS_ODROPPED)  # an MTU under 68 (RFC 791's minimum) fits no fragment
        mbuf.m_free(m)
        return False
    in_copy(_nh, 0, nh, nhoff)
    stat_inc(ipstat, IPS_FRAGMENTED)
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
    stat_inc(ipstat, IPS_OFRAGMENTS)
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
        stat_inc(ipstat, IPS_OFRAGMENTS)
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
            stat_inc(ipstat, IPS_ODROPPED)
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
        stat_inc(ipstat, IPS_OFRAGMENTS)
        if not ether_output(ifp, c, _nh, 0, now):
            ok = False
        c = n
    return ok


def ip_newpacket(ifp, laddr, proto, src, n, xhlen, faddr, foff):
    """A new packet for a transport's output: an IPv4 header from laddr (the interface's address
    when it is 0.0.0.0) to faddr[foff:foff+4], xhlen bytes left for the transport header, then n
    bytes of src. Built behind exactly MAX_LINKHDR bytes of room, so the finished frame starts at
    the cluster's first byte. When it does not fit ifp's MTU, a chain cut for fragmentation in
    place: the first cluster holds the headers and as much of src as fills a fragment, each next
    one a fragment's worth of payload behind room for its IP and link headers (m.cont). None when
    the pool cannot supply every cluster (the caller counts it)."""
    room = (ifp.mtu - iph.IP_HDR_LEN) & ~7  # payload bytes in a fragment but the last
    k = n
    if iph.IP_HDR_LEN + xhlen + n > ifp.mtu:
        k = room - xhlen
        if k <= 0 or mbuf.pool_free() < 1 + (n - k + room - 1) // room:
            return None
    m = mbuf.m_get(opts.MAX_LINKHDR)
    if m is None:
        return None
    b = m.buf
    o = m.off
    if in_nullhost(laddr, 0):
        laddr = ifp.ia.addr
    p = o + iph.IP_HDR_LEN + xhlen
    t = type(src)
    if k < n and (t is bytes or t is bytearray or t is memoryview):
        bcopy(src, 0, b, p, k)  # no memoryview slice: nothing allocated with the viper bcopy
    elif k:
        try:
            b[p:p + k] = src if len(src) == k else memoryview(src)[:k]
        except Exception:  # TypeError on CPython, NotImplementedError on MicroPython for a list
            mbuf.m_free(m)  # not a bytes-like object: the caller's mistake must not cost a cluster
            raise TypeError("a bytes-like object is required, not %r" % type(src).__name__)
    m.len = iph.IP_HDR_LEN + xhlen + k
    t = m
    while k < n:
        c = mbuf.m_get(opts.MAX_LINKHDR + iph.IP_HDR_LEN)
        if c is None:
            mbuf.m_free(m)  # with the clusters chained so far
            return None
        t.cont = c
        t = c
        j = n - k if n - k < room else room
        bcopy(src, k, c.buf, c.off, j)
        c.len = j
        k += j
    iph.emit(b, o, iph.IP_HDR_LEN, 0, m.len, 0, 0, 0, proto, laddr, 0, faddr, foff)
    return m
