# Segment-level TCP test fixture in smoltcp's style: a peer (the host, 10.7.0.1) that builds
# segments with hdr.tcp.emit/fill_cksum and feeds them through the fake device at an explicit
# `now`; what the board sent is decoded and asserted segment by segment.
#
#   with World() as w:              # interface up, ARP seeded, ISS fixed, socket clock = w.now
#       c = w.passive()             # listen + SYN / SYN|ACK / ACK + accept: an ESTABLISHED socket
#       w.push(b"data")             # the peer sends data at its next sequence number
#       w.tick(TCP_DELACK_MS)       # time passes; timers run inside nic.poll(now)
#       s = w.recv()                # exactly one segment from the board, decoded
#       assert s.flags == ACK and s.ack == w.pseq
#       w.sanity(tp(c), state=TCPS_ESTABLISHED, snd_una=w.bseq, rcv_nxt=w.pseq)
#
# Sequence numbers on this side are plain ints mod 2**32 (big ints allocate in the VM: fine in a
# test, never inside a report_alloc measurement). World.__exit__ puts back iss_fixed, the socket
# clock and SEQ_REBASE whatever happened, and closes what the test left open.
from bsdnet import mbuf, tcp_subr, tcp_usrreq, tcp_seq, tcp_var
from bsdnet import socket as bsock
from bsdnet.stats import tcpstat
from bsdnet.tcp_var import TCP_STATES
from bsdnet.hdr import ether as eh, arp as ah, ip as iph, tcp as tcph
from bsdnet.inet import inet_aton
import netfix
import ptest
from netfix import HOST_MAC, BOARD_MAC, arp_frame

# TCP's memory reserved at once, as firmware/main.py does: on a Pico, after a few tests the heap
# has no 2 KiB block left for a ring
tcp_subr.tcp_init()

HOST = "10.7.0.1"
BOARD = "10.7.0.2"
PPORT = 49152  # the peer's port
LPORT = 80  # the board's listening port
ISS = 0x00012345  # the board's fixed ISS, unless a test says otherwise
IRS = 0x00ABCDE0  # the peer's ISN, unless a test says otherwise
M32 = 0xFFFFFFFF

FIN = tcph.TH_FIN
SYN = tcph.TH_SYN
RST = tcph.TH_RST
PSH = tcph.TH_PUSH
ACK = tcph.TH_ACK
URG = tcph.TH_URG

_REBASE0 = tcp_seq.SEQ_REBASE[0]


def add(a, n):
    """a + n mod 2**32 (sequence arithmetic on the test side)."""
    return (a + n) & M32


def sdiff(a, b):
    """a - b as a signed 32-bit difference."""
    d = (a - b) & M32
    return d - 0x100000000 if d >= 0x80000000 else d


def flagstr(f):
    out = ""
    for bit, ch in ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (ACK, "A"), (URG, "U")):
        if f & bit:
            out += ch
    return out or "."


def tcp_opts(mss=None, wscale=None, sackperm=False, ts=None):
    """Option bytes as a SYN carries them: MSS, NOP+WS, NOP NOP SACKOK, NOP NOP TS(val, ecr)."""
    o = bytearray()
    if mss is not None:
        o += bytes((2, 4, mss >> 8, mss & 0xFF))
    if wscale is not None:
        o += bytes((1, 3, 3, wscale))
    if sackperm:
        o += bytes((1, 1, 4, 2))
    if ts is not None:
        v, e = ts
        o += bytes((1, 1, 8, 10, (v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF,
                    (e >> 24) & 0xFF, (e >> 16) & 0xFF, (e >> 8) & 0xFF, e & 0xFF))
    while len(o) & 3:
        o.append(0)
    return bytes(o)


def tcp_frame(src, dst, sport, dport, seq, ack, flags, win=65535, payload=b"", options=b"", urp=0,
              dmac=BOARD_MAC, smac=HOST_MAC, bad_cksum=False):
    """A TCP segment in an Ethernet frame (seq, ack: ints mod 2**32)."""
    ol = len(options)
    n = 40 + ol + len(payload)
    b = bytearray(14 + n)
    eh.emit(b, 0, dmac, 0, smac, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, 20, 0, n, 11, 0, 64, iph.IPPROTO_TCP, inet_aton(src), 0, inet_aton(dst), 0)
    iph.fill_cksum(b, 14)
    tcph.emit(b, 34, sport, dport, (seq >> 16) & 0xFFFF, seq & 0xFFFF, (ack >> 16) & 0xFFFF, ack & 0xFFFF,
              20 + ol, flags, win, urp)
    b[54:54 + ol] = options
    b[54 + ol:] = payload
    tcph.fill_cksum(b, 34, 20 + ol + len(payload), b, 14 + iph.IP_SRC, b, 14 + iph.IP_DST)
    if bad_cksum:
        b[34 + tcph.TCP_SUM] ^= 0x5A
    if len(b) < 60:
        b.extend(bytes(60 - len(b)))
    return bytes(b)


class Seg:
    """A segment the board sent, decoded (and its IP and TCP checksums checked)."""

    def __init__(self, f):
        f = bytearray(f)
        assert f[0:6] == HOST_MAC and f[6:12] == BOARD_MAC, "frame not addressed to the peer"
        ihl = (f[14] & 0x0F) << 2
        tot = (f[16] << 8) | f[17]
        assert iph.check(f, 14, len(f) - 14) == 0, "bad IP header"
        assert f[14 + 9] == iph.IPPROTO_TCP
        th = 14 + ihl
        tl = tot - ihl
        assert tcph.check(f, th, tl, f, 14 + iph.IP_SRC, f, 14 + iph.IP_DST) == 0, "bad TCP checksum"
        self.src = bytes(f[26:30])
        self.dst = bytes(f[30:34])
        self.sport = tcph.sport(f, th)
        self.dport = tcph.dport(f, th)
        self.seq = (tcph.seq_hi(f, th) << 16) | tcph.seq_lo(f, th)
        self.ack = (tcph.ack_hi(f, th) << 16) | tcph.ack_lo(f, th)
        self.flags = tcph.flags(f, th)
        self.win = tcph.win(f, th)
        self.urp = tcph.urp(f, th)
        hl = tcph.hlen(f, th)
        self.optbytes = bytes(f[th + 20:th + hl])
        self.payload = bytes(f[th + hl:14 + tot])
        self.mss = self.wscale = self.ts = None
        self.sackperm = False
        o = self.optbytes
        i = 0
        while i < len(o):
            k = o[i]
            if k == 0:
                break
            if k == 1:
                i += 1
                continue
            ln = o[i + 1]
            assert ln >= 2 and i + ln <= len(o), "bad option length"
            if k == 2:
                self.mss = (o[i + 2] << 8) | o[i + 3]
            elif k == 3:
                self.wscale = o[i + 2]
            elif k == 4:
                self.sackperm = True
            elif k == 8:
                v = (o[i + 2] << 24) | (o[i + 3] << 16) | (o[i + 4] << 8) | o[i + 5]
                e = (o[i + 6] << 24) | (o[i + 7] << 16) | (o[i + 8] << 8) | o[i + 9]
                self.ts = (v, e)
            i += ln

    def __repr__(self):
        return "<Seg %d>%d %s seq=%d ack=%d win=%d len=%d mss=%r ws=%r ts=%r>" % (
            self.sport, self.dport, flagstr(self.flags), self.seq, self.ack, self.win, len(self.payload),
            self.mss, self.wscale, self.ts)


def tcp_frames(sent):
    """The TCP frames among what the device sent (ARP requests and replies left out)."""
    out = []
    for f in sent:
        if eh.ethertype(f, 0) == eh.ETHERTYPE_IP and f[14 + 9] == iph.IPPROTO_TCP:
            out.append(f)
    return out


def tp(sock):
    """The tcpcb of a socket."""
    return sock._tp


class World:
    """One board (interface on a FakeDev) and one peer; time is self.now (ms ticks)."""

    def __init__(self, iss=ISS, now=1000, pport=PPORT, lport=LPORT, dev=None):
        tcp_subr.iss_fixed[0] = ((iss >> 16) & 0xFFFF, iss & 0xFFFF)
        tcp_seq.SEQ_REBASE[0] = _REBASE0
        self._clock = tcp_usrreq.clock[0]
        tcp_usrreq.clock[0] = self.clock
        self.now = now
        self.nic, self.dev = netfix.make_if(dev=dev)
        # the peer's MAC: its ARP request makes the board's entry for it (reachable 20 min, then
        # refreshed by a request that recv() ignores)
        self.dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
        self.nic.poll(now)
        self.dev.sent.clear()
        self.pport = pport
        self.lport = lport
        self.pseq = IRS  # the peer's next sequence number
        self.bseq = ISS  # the board's next sequence number, as the peer acknowledges it
        self.pwin = 65535  # the window the peer advertises (the field: scaled by the test)
        self.ts = None  # the peer's TSval when timestamps are on (tsecr: the board's last TSval)
        self.ts_ecr = 0
        self.socks = []
        self.st0 = list(tcpstat)

    def clock(self):
        return self.now

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        ptest.cleanup()  # sockets closed, connections flushed, the interface gone
        tcp_subr.iss_fixed[0] = None
        tcp_usrreq.clock[0] = self._clock
        tcp_seq.SEQ_REBASE[0] = _REBASE0
        return False

    # --- counters and time -------------------------------------------------------------------
    def delta(self, idx):
        """How much tcpstat[idx] moved since the world was made (or since mark())."""
        return tcpstat[idx] - self.st0[idx]

    def mark(self):
        self.st0 = list(tcpstat)

    def tick(self, ms=0):
        """Let ms pass and poll (timers that are due run)."""
        self.now += ms
        self.nic.poll(self.now)

    def advance(self, max_ms):
        """Jump from timer deadline to deadline (tcp_var.tcp_next) until the board sends a TCP
        segment; returns the ms that passed, or None (now unchanged) if nothing went within max_ms."""
        start = self.now
        while True:
            d = tcp_var.tcp_next[0]
            if d < 0:
                return None
            dt = ((d - self.now + 0x20000000) & 0x3FFFFFFF) - 0x20000000
            if dt < 0:
                dt = 0
            if self.now + dt - start > max_ms:
                return None
            self.now += dt
            self.nic.poll(self.now)
            if tcp_frames(self.dev.sent):
                return self.now - start
            if dt == 0:
                self.now += 1  # a deadline that moved nothing: step past it

    # --- the peer's segments -----------------------------------------------------------------
    def frame(self, flags, payload=b"", seq=None, ack=None, win=None, options=None, urp=0, src=HOST,
              dst=BOARD, sport=None, dport=None, dmac=BOARD_MAC, bad_cksum=False):
        if seq is None:
            seq = self.pseq
        if ack is None:
            ack = self.bseq if flags & ACK else 0
        if win is None:
            win = self.pwin
        if options is None:
            options = b""
            if self.ts is not None:
                options = tcp_opts(ts=(self.ts, self.ts_ecr))
        return tcp_frame(src, dst, self.pport if sport is None else sport, self.lport if dport is None else dport,
                         seq, ack, flags, win, payload, options, urp, dmac=dmac, bad_cksum=bad_cksum)

    def send(self, flags, payload=b"", **kw):
        """Feed one segment from the peer at the current now (seq/ack default to the tracked ones)."""
        self.dev.rxq.append(self.frame(flags, payload, **kw))
        self.nic.poll(self.now)

    def push(self, data, flags=ACK | PSH):
        """The peer sends data at its next sequence number (which moves on)."""
        self.send(flags, data)
        self.pseq = add(self.pseq, len(data))

    # --- the board's segments ----------------------------------------------------------------
    def recv_all(self):
        out = [Seg(f) for f in tcp_frames(self.dev.sent)]
        del self.dev.sent[:]
        for s in out:
            if s.ts is not None:
                self.ts_ecr = s.ts[0]
        return out

    def recv(self):
        """Exactly one segment from the board."""
        segs = self.recv_all()
        assert len(segs) == 1, "expected one segment, got %r" % (segs,)
        return segs[0]

    def recv_nothing(self):
        segs = self.recv_all()
        assert not segs, "expected no segment, got %r" % (segs,)

    def recv_data(self, ack=True):
        """Every segment the board sent; their payloads in order (checked contiguous from bseq),
        acknowledged by one ACK from the peer when ack (bseq moves on)."""
        segs = self.recv_all()
        out = bytearray()
        for s in segs:
            assert s.seq == add(self.bseq, len(out)), "gap: %r at %d" % (s, add(self.bseq, len(out)))
            out += s.payload
        self.bseq = add(self.bseq, len(out))
        if ack and out:
            self.send(ACK)
        return bytes(out)

    def recv_stream(self, n, limit=1000):
        """Take n bytes from the board, acknowledging each batch (Nagle waits for those ACKs)."""
        out = bytearray()
        for _ in range(limit):
            if len(out) >= n:
                break
            d = self.recv_data()
            assert d, "the board stopped after %d of %d bytes" % (len(out), n)
            out += d
        return bytes(out)

    # --- sockets and states ------------------------------------------------------------------
    def socket(self):
        s = bsock.socket(bsock.AF_INET, bsock.SOCK_STREAM)
        s.setblocking(False)
        self.socks.append(s)
        return s

    def listen(self, port=None, backlog=2):
        s = self.socket()
        s.bind(("0.0.0.0", self.lport if port is None else port))
        s.listen(backlog)
        return s

    def syn(self, mss=1460, wscale=None, ts=None, sackperm=False, irs=IRS, win=None):
        """The peer's SYN to the listener (pseq = irs + 1 afterwards)."""
        if ts is not None:
            self.ts = ts
        self.send(SYN, seq=irs, win=win, options=tcp_opts(mss, wscale, sackperm,
                                                            None if ts is None else (ts, 0)))
        self.pseq = add(irs, 1)

    def passive(self, mss=1460, wscale=None, ts=None, irs=IRS, win=None, listener=None):
        """LISTEN, SYN, SYN|ACK, third ACK, accept(): the board's connection socket, ESTABLISHED."""
        ls = self.listen() if listener is None else listener
        self.listener = ls
        self.syn(mss, wscale, ts, irs=irs, win=win)
        sa = self.recv()
        assert sa.flags == SYN | ACK and sa.ack == self.pseq, sa
        self.bseq = add(sa.seq, 1)
        if ts is not None:
            self.ts += 1
        self.send(ACK)
        self.recv_nothing()
        c, addr = ls.accept()
        c.setblocking(False)
        self.socks.append(c)
        assert addr == (HOST, self.pport)
        return c

    def connect(self):
        """An active open from the board: the socket in SYN_SENT and its SYN (decoded)."""
        s = self.socket()
        e = raises_oserror(s.connect, (HOST, self.pport))
        assert e == bsock.EINPROGRESS, e
        syn = self.recv()
        assert syn.flags == SYN and syn.dport == self.pport, syn
        self.lport = syn.sport
        self.bseq = add(syn.seq, 1)
        return s, syn

    def active(self, mss=1460, wscale=None, ts=None, irs=IRS, win=None):
        """connect(), SYN, SYN|ACK from the peer, the board's ACK: an ESTABLISHED socket."""
        s, syn = self.connect()
        if ts is not None:
            self.ts = ts
        self.send(SYN | ACK, seq=irs, win=win,
                  options=tcp_opts(mss, wscale, False, None if ts is None else (ts, syn.ts[0])))
        self.pseq = add(irs, 1)
        a = self.recv()
        assert a.flags == ACK and a.seq == self.bseq and a.ack == self.pseq, a
        return s

    # --- checks --------------------------------------------------------------------------------
    def sanity(self, t, state=None, snd_una=None, snd_nxt=None, snd_max=None, rcv_nxt=None, snd_wnd=None):
        """Assert tcpcb fields; sequence numbers as wire numbers (ints mod 2**32)."""
        if state is not None:
            assert t.state == state, "state %s, expected %s" % (TCP_STATES[t.state], TCP_STATES[state])
        for name, want, got in (("snd_una", snd_una, snd_abs(t, t.snd_una)),
                                ("snd_nxt", snd_nxt, snd_abs(t, t.snd_nxt)),
                                ("snd_max", snd_max, snd_abs(t, t.snd_max)),
                                ("rcv_nxt", rcv_nxt, rcv_abs(t, t.rcv_nxt))):
            if want is not None:
                assert got == want & M32, "%s %d, expected %d" % (name, got, want & M32)
        if snd_wnd is not None:
            assert t.snd_wnd == snd_wnd, "snd_wnd %d, expected %d" % (t.snd_wnd, snd_wnd)


def snd_abs(t, off):
    return (((t.snd_base_hi << 16) | t.snd_base_lo) + off) & M32


def rcv_abs(t, off):
    return (((t.rcv_base_hi << 16) | t.rcv_base_lo) + off) & M32


def raises_oserror(fn, *args):
    """The errno of the OSError fn(*args) raised; fail if none."""
    try:
        fn(*args)
    except OSError as e:
        return e.args[0]
    raise AssertionError("OSError not raised")


def read_all(sock, n=0):
    """What a non-blocking socket has to read now (b"" when nothing), n bytes a recv (0: the
    receive ring's size)."""
    if n <= 0:
        n = tcp_subr.tcp_bufsz[1]
    out = bytearray()
    while True:
        try:
            d = sock.recv(n)
        except OSError as e:
            if e.args[0] == bsock.EAGAIN:
                break
            raise
        if not d:
            break
        out += d
    return bytes(out)


def pool_full():
    return mbuf.pool_free() == mbuf.pool_size()


def pattern(n, seed=0):
    """n bytes that make misplaced data visible."""
    b = bytearray(n)
    for i in range(n):
        b[i] = (i * 7 + seed + (i >> 8)) & 0xFF
    return bytes(b)


class SeqReplayDev(netfix.FakeDev):
    """A FakeDev that can also hand one preallocated TCP frame to recv_into `count` times, its
    sequence (field 38) or acknowledgment (field 42) number moved on by `step` each time and the
    checksum redone in place, and only count what the board sends while `quiet`: a device that
    allocates nothing itself, for report_alloc. The number is kept as 16-bit halves (small ints)."""

    def __init__(self):
        netfix.FakeDev.__init__(self)
        self.frame = None
        self.count = 0
        self.quiet = False
        self.nsent = 0

    def arm(self, frame, field, value, step):
        self.frame = bytearray(frame)
        self.flen = 14 + ((self.frame[16] << 8) | self.frame[17])
        self.tl = self.flen - 34
        self.field = field
        self.hi = (value >> 16) & 0xFFFF
        self.lo = value & 0xFFFF
        self.step = step

    def pending(self):
        return self.count > 0 or bool(self.rxq)

    def recv_into(self, buf):
        if self.count <= 0:
            return netfix.FakeDev.recv_into(self, buf)
        self.count -= 1
        f = self.frame
        o = self.field
        f[o] = self.hi >> 8
        f[o + 1] = self.hi & 0xFF
        f[o + 2] = self.lo >> 8
        f[o + 3] = self.lo & 0xFF
        tcph.fill_cksum(f, 34, self.tl, f, 26, f, 30)
        lo = self.lo + self.step
        self.hi = (self.hi + (lo >> 16)) & 0xFFFF
        self.lo = lo & 0xFFFF
        n = self.flen
        for i in range(n):
            buf[i] = f[i]
        return n

    def send(self, buf, n):
        if self.quiet:
            self.nsent += 1
            return True
        return netfix.FakeDev.send(self, buf, n)
