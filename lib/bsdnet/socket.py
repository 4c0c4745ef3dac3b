# The socket API (BSD kern/uipc_socket.c over the pr_usrreqs of each protocol), with the surface
# of MicroPython's socket module: socket(), bind, listen, accept, connect, send, sendall, sendto,
# recv, recv_into, recvfrom, recvfrom_into, read, readinto, readline, write, makefile,
# setsockopt, getsockopt, settimeout, setblocking, shutdown, getsockname, getpeername, close;
# awaitable aaccept / aconnect / asend / arecv_into / arecvfrom / arecvfrom_into for asyncio
# tasks; and ioctl(MP_STREAM_POLL) so that MicroPython's select.poll can watch a socket. Errors
# are OSError(errno, message).
#
# Each call goes to the protocol's usrreqs object (self._pr): TCP's (tcp_usrreq, loaded with the
# first SOCK_STREAM socket) for SOCK_STREAM, _dgram_usrreqs here for UDP and raw IP. The socket
# itself only waits: blocking calls drive the interfaces (poll) until the protocol says the call
# can complete or the timeout passes, so a plain loop without asyncio works; under asyncio the
# interface's run() task does the input and the a* methods wait on the socket's flag, which the
# protocol sets (_wake).
#
# Datagrams: so_rcv is a queue of the mbufs they arrived in (linked through m.next, at most
# opts.UDP_RCVQ): nothing is copied until the application reads.
from .compat import const, ticks_ms, ticks_diff, sleep_ms, Flag, wait_flag_ms, IOBase
from . import opts
from . import mbuf
from . import route
from .bcopy import bcopy
from .inet import inet_aton, inet_isdotted, inet_ntoa, in_eq, in_copy, in_nullhost, in_badsenddst
from .in_pcb import in_pcballoc, in_pcbbind, in_pcbconnect, in_pcbdisconnect, in_pcbdetach, INP_DONTFRAG
from .udp_usrreq import udbinfo, udp_output, udp_fromport, FROM_ADDR
from .raw_ip import ripcbinfo, rip_output
from .stats import stat_inc, udpstat, mbstat
from .in_proto import pr_usrreqs
# the errno names a socket user compares with (socket.EAGAIN, ...), as MicroPython numbers them
from .errno import (EBADF, EAGAIN, EACCES, EINVAL, EDESTADDRREQ, EMSGSIZE, ENOPROTOOPT,  # noqa: F401
                    EPROTONOSUPPORT, EAFNOSUPPORT, ENETDOWN, EISCONN, ENOTCONN, ETIMEDOUT, EHOSTUNREACH,
                    ECONNREFUSED, EADDRINUSE, EADDRNOTAVAIL, ENOBUFS, EINPROGRESS, EALREADY, ECONNRESET,
                    ECONNABORTED, EPIPE, EOPNOTSUPP)
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_MBS_QUOTADROPS = const(4)
_UDPS_FULLSOCK = const(7)
_UDPS_NOROUTE = const(12)

AF_INET = const(2)
SOCK_STREAM = const(1)
SOCK_DGRAM = const(2)
SOCK_RAW = const(3)
IPPROTO_IP = const(0)
IP_DONTFRAG = const(67)  # FreeBSD's: UDP and raw datagrams go with DF, EMSGSIZE when over the MTU
IPPROTO_TCP = const(6)
IPPROTO_UDP = const(17)
IP_HDRINCL = const(3)  # SOCK_RAW, level IPPROTO_IP: what the socket writes starts with the IP header
SOL_SOCKET = const(1)
SO_REUSEADDR = const(2)
SO_ERROR = const(4)
SO_BROADCAST = const(6)
SO_KEEPALIVE = const(9)
SO_LINGER = const(13)
SO_REUSEPORT = const(15)
# IPPROTO_IP multicast options, numbered as Linux (and so CPython's socket module) numbers them;
# the values that MicroPython's lwIP-based socket exports differ, the names do not (in_mcast.py)
IP_MULTICAST_IF = const(32)
IP_MULTICAST_TTL = const(33)
IP_MULTICAST_LOOP = const(34)
IP_ADD_MEMBERSHIP = const(35)
IP_DROP_MEMBERSHIP = const(36)
INADDR_ANY = const(0)  # for struct.pack("4sl", inet_aton(group), INADDR_ANY), as CPython users write
TCP_NODELAY = const(1)
TCP_KEEPIDLE = const(4)
TCP_KEEPINTVL = const(5)
TCP_KEEPCNT = const(6)
SHUT_RD = const(0)
SHUT_WR = const(1)
SHUT_RDWR = const(2)
# MicroPython's stream ioctl for select.poll (py/stream.h) and its event bits
MP_STREAM_POLL = const(3)
POLLIN = const(0x0001)
POLLOUT = const(0x0004)
POLLERR = const(0x0008)
POLLHUP = const(0x0010)

_ANY = bytes(4)


def _sockaddr(addr, buf):
    """(host, port) -> port, with the host's 4 bytes written into buf. '' means INADDR_ANY."""
    if not isinstance(addr, (tuple, list)) or len(addr) != 2:
        raise OSError(EINVAL, "address must be a (host, port) tuple, not %r" % (addr,))
    host, port = addr
    if not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        raise OSError(EINVAL, "port must be an int 0-65535, not %r" % (port,))
    if host == "" or host == "0.0.0.0":
        for i in range(4):
            buf[i] = 0
    else:
        try:
            inet_aton(host, buf)
        except ValueError:
            raise OSError(EINVAL, "not a dotted-quad IPv4 address: %r (names: getaddrinfo)" % (host,))
    return port


def _nbytes(buf, nbytes, what):
    """The byte count of recv_into(buf, nbytes) and recvfrom_into: 0 means len(buf); a negative
    count or one beyond the buffer is the caller's error (ValueError, with CPython's words)."""
    n = len(buf)
    if nbytes < 0:
        raise ValueError("negative buffersize in " + what)
    if nbytes > n:
        raise ValueError("buffer too small for requested bytes" if what == "recv_into"
                         else "nbytes is greater than the length of the buffer")
    return nbytes if nbytes else n


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    """[(AF_INET, type, proto, "", (address, port))]. A name that is not a dotted quad is resolved
    by bsdnet.dns (blocking; loaded with the first name: a dotted quad never loads it)."""
    a = bytearray(4)
    if host and host != "0.0.0.0" and not inet_isdotted(host):
        from . import dns

        host = dns.resolve(host)
    _sockaddr((host, port), a)
    return [(AF_INET, type or SOCK_STREAM, proto, "", (inet_ntoa(a), port))]


def drive(now):
    """One round of a blocking wait: poll every interface; the frames read (0: the caller may
    sleep a little). ENETDOWN when no interface is up: nothing could ever arrive."""
    if not route.ifnet:
        raise OSError(ENETDOWN, "no interface is up")
    busy = 0
    for ifp in route.ifnet:
        busy += ifp.poll(now)
    return busy


def _is_ours(addr):
    for ifp in route.ifnet:
        if ifp.ia.is_ours(addr, 0):
            return True
    return False


def _bytes_like(data):
    t = type(data)
    if t is bytes or t is bytearray or t is memoryview:
        return len(data)  # no memoryview made for the common types (16 B of heap per call)
    try:
        return len(memoryview(data))
    except TypeError:
        raise TypeError("a bytes-like object is required, not %r" % type(data).__name__)


class socket(IOBase):
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0, fileno=None):
        """fileno: for SOCK_STREAM, a connection taken off a listener (accept() passes it),
        as CPython's fileno wraps an existing descriptor."""
        if af != AF_INET:
            raise OSError(EAFNOSUPPORT, "only AF_INET")
        pr = pr_usrreqs(type)
        if pr is None:
            raise OSError(EPROTONOSUPPORT, "socket type %r (SOCK_STREAM, SOCK_DGRAM or SOCK_RAW)" % (type,))
        self.type = type
        self._pr = pr
        self._inp = None
        self._tp = None
        self._flag = Flag()
        self._timeout = -1  # ms: -1 blocks for ever, 0 never blocks
        self._reuse = 0  # bits: SO_REUSEADDR 1, SO_REUSEPORT 2 (in_pcbbind's reuse)
        self._error = 0  # datagram so_error: an asynchronous error (ICMP) for the next call to report
        if fileno is not None:
            pr.adopt(self, fileno)
        else:
            pr.attach(self, proto)

    # --- called by the protocols ------------------------------------------------------------
    def _wake(self):
        self._flag.set()

    def sbappendaddr(self, m):
        """Queue a datagram (udp_input/rip_input left the sender's address in front of it).
        False if this socket's queue is full (opts.UDP_RCVQ). All datagram queues together hold
        at most opts.SB_MBUFS clusters (the pool rule): past that, the oldest datagram of the
        longest queue makes room (counted), so a socket nobody reads cannot starve the others."""
        if self._rq_n >= opts.UDP_RCVQ or self._inp is None:
            return False
        while not mbuf.m_hold(m, mbuf.HOLD_SOCK, 0):
            if not _sb_drop_oldest():
                return False
        m.next = None
        if self._rq is None:
            self._rq = m
        else:
            self._rq_tail.next = m
        self._rq_tail = m
        self._rq_n += 1
        self._flag.set()
        return True

    def sonotify(self, err):
        """ctlinput: an ICMP error about our association (ECONNREFUSED for port unreachable, ...);
        the next receive or send raises it, once."""
        self._error = err
        self._flag.set()

    # --- waiting ------------------------------------------------------------------------------
    def _block(self, ready, what):
        """Drive the interfaces until ready(self) is true (it may raise the call's error), or
        raise ETIMEDOUT after the timeout (EAGAIN for a non-blocking socket)."""
        if ready(self):
            return
        t = self._timeout
        if t == 0:
            raise OSError(EAGAIN, "%s would block (non-blocking socket)" % what)
        start = ticks_ms()
        while not ready(self):
            now = ticks_ms()
            if t > 0 and ticks_diff(now, start) >= t:
                raise OSError(ETIMEDOUT, "%s: timed out after %d ms" % (what, t))
            if not drive(now) and not ready(self):
                sleep_ms(1)

    async def _await(self, ready, what):
        t = self._timeout
        start = ticks_ms()
        while not ready(self):
            if t < 0:
                await self._flag.wait()
            else:
                left = t - ticks_diff(ticks_ms(), start)
                if left <= 0:
                    raise OSError(ETIMEDOUT if t else EAGAIN, "%s: timed out after %d ms" % (what, t))
                await wait_flag_ms(self._flag, left)

    # --- association ----------------------------------------------------------------------------
    def bind(self, addr):
        a = bytearray(4)
        port = _sockaddr(addr, a)
        self._pr.bind(self, addr, a, port, _is_ours)

    def listen(self, backlog=2):
        self._pr.listen(self, backlog, _is_ours)

    def accept(self):
        """(new socket, (host, port)) of the next connection; waits like recv."""
        self._block(_accept_ready, "accept")
        return self._accepted()

    async def aaccept(self):
        await self._await(_accept_ready, "accept")
        return self._accepted()

    def _accepted(self):
        tp = self._pr.accept(self)
        s = socket(AF_INET, self.type, 0, tp)
        s._timeout = self._timeout if self._timeout != 0 else -1
        return s, (inet_ntoa(tp.inp.faddr), tp.inp.fport)

    def connect(self, addr):
        a = bytearray(4)
        port = _sockaddr(addr, a)
        self._pr.connect(self, a, port, _is_ours)
        if self.type != SOCK_STREAM:
            return
        if self._timeout == 0:
            if self._pr.connected(self):
                return
            raise OSError(EINPROGRESS, "connection in progress (non-blocking socket)")
        try:
            self._block(_connect_ready, "connect")
        except OSError as e:
            if e.args[0] == ETIMEDOUT:
                self._pr.abort(self, ETIMEDOUT)
            raise

    async def aconnect(self, addr):
        a = bytearray(4)
        port = _sockaddr(addr, a)
        self._pr.connect(self, a, port, _is_ours)
        if self.type != SOCK_STREAM:
            return
        try:
            await self._await(_connect_ready, "connect")
        except OSError as e:
            if e.args[0] == ETIMEDOUT:
                self._pr.abort(self, ETIMEDOUT)
            raise

    def getsockname(self):
        inp = self._pcb()
        return (inet_ntoa(inp.laddr), inp.lport)

    def getpeername(self):
        inp = self._pr.peer(self)
        return (inet_ntoa(inp.faddr), inp.fport)

    def _pcb(self):
        inp = self._inp
        if inp is None:
            raise OSError(EBADF, "socket is closed")
        return inp

    # --- send -----------------------------------------------------------------------------------
    def send(self, data):
        """Bytes sent (TCP: accepted into the send buffer, at least 1 unless non-blocking)."""
        n = _bytes_like(data)
        return self._pr.send_some(self, data, n)

    def sendall(self, data):
        n = _bytes_like(data)
        self._pr.send_all(self, data, n)

    def write(self, data, n=-1):
        """As MicroPython's stream write(buf[, max_len]): everything (the first n bytes) on a
        blocking socket, what fits otherwise (None when nothing does)."""
        k = _bytes_like(data)
        if n < 0 or n > k:
            n = k
        elif n < k:
            data = memoryview(data)[:n]
        if self._timeout == 0 or self.type != SOCK_STREAM:
            try:
                return self._pr.send_some(self, data, n)
            except OSError as e:
                if e.args[0] == EAGAIN:
                    return None
                raise
        self._pr.send_all(self, data, n)
        return n

    def sendto(self, data, addr):
        return self._pr.sendto(self, data, addr)

    async def asend(self, data):
        """Wait for room, then send what fits; returns the count (back-pressure)."""
        n = _bytes_like(data)
        while True:
            await self._await(_write_ready, "send")
            k = self._pr.sosend(self, data, 0, n)
            if k:
                return k

    # --- receive --------------------------------------------------------------------------------
    def recv_into(self, buf, nbytes=0):
        return self._pr.recv_into(self, buf, _nbytes(buf, nbytes, "recv_into"))

    def recvfrom_into(self, buf, nbytes=0):
        return self._pr.recvfrom_into(self, buf, _nbytes(buf, nbytes, "recvfrom_into"))

    def recv(self, bufsize):
        if bufsize < 0:
            raise ValueError("negative buffersize in recv")
        return self._pr.recv(self, bufsize)

    def recvfrom(self, bufsize):
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        return self._pr.recvfrom(self, bufsize)

    def readinto(self, buf, nbytes=0):
        """As MicroPython's stream readinto: at most len(buf) bytes whatever nbytes says, None
        when a non-blocking socket has nothing."""
        if nbytes > len(buf):
            nbytes = len(buf)
        try:
            return self.recv_into(buf, nbytes)
        except OSError as e:
            if e.args[0] == EAGAIN:
                return None
            raise

    def read(self, size=-1):
        """size bytes (fewer at the end of the stream); all until the end when size < 0."""
        if size is None or size < 0:
            out = bytearray()
            while True:
                d = self.recv(512)
                if not d:
                    return bytes(out)
                out.extend(d)
        out = bytearray()
        while len(out) < size:
            try:
                d = self.recv(size - len(out))
            except OSError as e:
                if e.args[0] == EAGAIN and out:
                    break
                if e.args[0] == EAGAIN:
                    return None
                raise
            if not d:
                break
            out.extend(d)
        return bytes(out)

    def readline(self, limit=-1):
        """A line with its b"\\n" (or what was left at the end of the stream). Non-blocking, as
        MicroPython's stream readline: what has arrived of the line, None if nothing has."""
        out = bytearray()
        b1 = bytearray(1)
        while limit < 0 or len(out) < limit:
            try:
                if not self.recv_into(b1, 1):
                    break
            except OSError as e:
                if e.args[0] != EAGAIN:
                    raise
                if not out:
                    return None
                break
            out.append(b1[0])
            if b1[0] == 10:
                break
        return bytes(out)

    def makefile(self, mode="rb", buffering=0):
        return self  # as MicroPython's socket: the socket is its own stream

    async def arecv_into(self, buf, nbytes=0):
        _nbytes(buf, nbytes, "recv_into")  # a bad count is refused before the wait, as recv_into does
        await self._await(_read_ready, "recv")
        return self.recv_into(buf, nbytes)

    async def arecvfrom_into(self, buf, nbytes=0):
        _nbytes(buf, nbytes, "recvfrom_into")
        await self._await(_read_ready, "recvfrom")
        return self.recvfrom_into(buf, nbytes)

    async def arecvfrom(self, bufsize):
        if bufsize < 0:
            raise ValueError("negative buffersize in recvfrom")
        await self._await(_read_ready, "recvfrom")
        return self.recvfrom(bufsize)

    # --- readiness (select.poll on a board) ---------------------------------------------------------
    def ioctl(self, req, arg):
        if req != MP_STREAM_POLL:
            return -EINVAL  # what a stream's ioctl answers for a request it does not know
        return self.poll(arg)

    def poll(self, mask=POLLIN | POLLOUT):
        """The events of mask that are ready now (POLLERR and POLLHUP always reported)."""
        pr = self._pr
        r = 0
        if self._inp is None and self._tp is None:
            return POLLHUP | POLLERR
        if mask & POLLIN and pr.readable(self):
            r |= POLLIN
        if mask & POLLOUT and pr.writable(self):
            r |= POLLOUT
        if pr.hangup(self):
            r |= POLLHUP
        return r

    # --- options ----------------------------------------------------------------------------------
    def settimeout(self, value):
        if value is None:
            self._timeout = -1
        elif value < 0:
            raise OSError(EINVAL, "timeout must be None or >= 0, not %r" % (value,))
        else:
            # whole ms; a positive timeout below 1 ms is 1 ms: it still waits and ends in ETIMEDOUT,
            # only 0 makes the socket non-blocking (EAGAIN)
            t = int(value * 1000)
            self._timeout = t if t or not value else 1

    def setblocking(self, flag):
        self._timeout = -1 if flag else 0

    def setsockopt(self, level, opt, value):
        self._pr.setsockopt(self, level, opt, value)

    def getsockopt(self, level, opt, buflen=0):
        return self._pr.getsockopt(self, level, opt)

    # --- teardown ---------------------------------------------------------------------------------
    def shutdown(self, how):
        if how not in (SHUT_RD, SHUT_WR, SHUT_RDWR):
            raise OSError(EINVAL, "shutdown how must be SHUT_RD, SHUT_WR or SHUT_RDWR")
        self._pr.shutdown(self, how)

    def close(self):
        self._pr.close(self)
        self._flag.set()  # wake an a* waiter so it sees the close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# readiness predicates for _block/_await: module functions, so no bound method is made per wait
def _read_ready(so):
    return so._pr.readable(so)


def _write_ready(so):
    return so._pr.writable(so)


def _accept_ready(so):
    tp = so._tp
    if tp is None:
        raise OSError(EBADF, "socket is closed")
    return tp.state != 1 or so._pr.readable(so)  # not listening: accept() says EINVAL at once


def _connect_ready(so):
    return so._pr.connected(so) is not None


_stream_calls = [None]


def _sb_drop_oldest():
    """The socket-queue quota is full: drop the head (oldest) datagram of the longest queue.
    False when no queue holds anything (the datagram alone is larger than the quota)."""
    best = None
    for info in (udbinfo, ripcbinfo):
        for inp in info.pcbs:
            so = inp.so
            if inp.attached and so is not None and so._rq is not None and (best is None or so._rq_n > best._rq_n):
                best = so
    if best is None:
        return False
    m = _dgram_usrreqs._dequeue(best)
    mbuf.m_free(m)
    stat_inc(mbstat, _MBS_QUOTADROPS)
    stat_inc(udpstat, _UDPS_FULLSOCK)
    return True


def _stream_usrreqs():
    """TCP's usrreqs, loaded with the first SOCK_STREAM socket (a board that never opens one
    does not carry TCP's code), with the blocking shapes of send and receive the socket calls."""
    if _stream_calls[0] is not None:
        return _stream_calls[0]
    from .tcp_usrreq import TcpUsrreqs

    class _StreamCalls(TcpUsrreqs):
        """TCP's usrreqs with the blocking shapes of send and receive that the socket calls."""

        def send_some(self, so, data, n):
            if n == 0:
                return 0
            so._block(_write_ready, "send")
            k = self.sosend(so, data, 0, n)
            if k == 0:
                raise OSError(EAGAIN, "send would block (non-blocking socket)")
            return k

        def send_all(self, so, data, n):
            off = 0
            while off < n:
                so._block(_write_ready, "sendall")
                off += self.sosend(so, data, off, n - off)

        def recv_into(self, so, buf, nbytes):
            while True:
                so._block(_read_ready, "recv")
                n = self.soreceive(so, buf, nbytes)
                if n is not None:
                    return n

        def recv(self, so, bufsize):
            if bufsize <= 0:
                return b""
            b = bytearray(bufsize if bufsize < opts.TCP_RCVBUF else opts.TCP_RCVBUF)
            n = self.recv_into(so, b, len(b))
            return bytes(b) if n == len(b) else bytes(memoryview(b)[:n])

        def recvfrom_into(self, so, buf, nbytes):
            n = self.recv_into(so, buf, nbytes)
            return n, so.getpeername()

        def recvfrom(self, so, bufsize):
            return self.recv(so, bufsize), so.getpeername()

        def sendto(self, so, data, addr):
            raise OSError(EISCONN if so._tp is not None and so._tp.state >= 4 else ENOTCONN,
                          "sendto() on a TCP socket: use send()")

    pr = _stream_calls[0] = _StreamCalls()
    return pr


def _sendto_addr(so, addr):
    """Parse sendto's (host, port) into so._to/so._to_port, unless it holds the host string and port
    parsed last time: compared by value, not by the address object's identity (a list changed in
    place, or an equal tuple made anew, are seen as what they hold). No allocation when unchanged."""
    t = type(addr)
    if (t is tuple or t is list) and len(addr) == 2:
        h = addr[0]
        p = addr[1]
        if type(p) is int and p == so._to_port and type(h) is str and h == so._to_host:
            return
    so._to_host = None  # a parse that raises half way leaves no stale key behind
    so._to_port = _sockaddr(addr, so._to)
    so._to_host = addr[0]  # a str: _sockaddr accepts nothing else, and a str cannot change


class _DgramUsrreqs:
    """pr_usrreqs for UDP (udp_usrreq) and raw IP (raw_ip): their socket buffer is the datagram
    queue kept on the socket; so._raw tells the two apart where their rules differ."""

    def attach(self, so, proto):
        so._raw = so.type == SOCK_RAW
        if so._raw:
            if not isinstance(proto, int) or not 0 < proto < 255:
                raise OSError(EPROTONOSUPPORT, "SOCK_RAW needs an IP protocol 1-254 (1 for ICMP), not %r" % (proto,))
            so._inp = in_pcballoc(ripcbinfo, so, proto)  # rip_attach()
            n = 0
            for inp in ripcbinfo.pcbs:
                n += inp.attached
            if n > 1:
                from . import in_mcast  # noqa: F401  several raw sockets: a datagram to each (rip_input_multi)
        elif proto in (0, IPPROTO_UDP):
            so._inp = in_pcballoc(udbinfo, so)  # udp_attach(); OSError(ENOBUFS) when all are taken
        else:
            raise OSError(EPROTONOSUPPORT, "SOCK_DGRAM is UDP (protocol 0 or 17), not %r" % (proto,))
        so._rq = None  # so_rcv: head and tail of the datagram queue
        so._rq_tail = None
        so._rq_n = 0
        so._bcast = False
        so._imo = None  # BSD's inp_moptions: in_mcast.IpMoptions once a multicast option is set
        so._hdrincl = False  # IP_HDRINCL (raw sockets)
        so._to = bytearray(4)  # the destination of the last sendto(), parsed from ...
        so._to_host = None  # ... this host string (compared by value: a list changed in place is seen)
        so._to_port = 0
        so._from = None  # (host, port) of the last sender, reused while the sender stays the same
        so._from_a = bytearray(4)
        so._from_p = 0

    def adopt(self, so, pcb):
        raise OSError(EINVAL, "fileno is for SOCK_STREAM connections")

    def _connected(self, so, inp):
        return not in_nullhost(inp.faddr, 0) if so._raw else inp.fport != 0

    def _soerror(self, so):
        e = so._error
        if e:
            so._error = 0
            raise OSError(e, "the peer's host answered an earlier datagram with an ICMP error")

    def readable(self, so):
        if so._inp is None:
            raise OSError(EBADF, "socket closed while waiting")
        if so._rq is not None:
            return True
        self._soerror(so)
        return False

    def writable(self, so):
        return True

    def hangup(self, so):
        return so._inp is None

    def connected(self, so):
        return True

    def abort(self, so, err):
        pass

    def _dequeue(self, so):
        m = so._rq
        so._rq = m.next
        if so._rq is None:
            so._rq_tail = None
        so._rq_n -= 1
        m.next = None
        return m

    def _copyout(self, m, buf, nbytes):
        """Copy the datagram into buf (the rest of a longer datagram is discarded, as UDP does).
        Returns the byte count; the caller frees m. A reassembled datagram is a chain of clusters
        (m.cont): copied across it."""
        n = m.len if m.cont is None else mbuf.m_pktlen(m)
        if n > nbytes:
            n = nbytes
        if n:
            # a read-only buffer (bytes, a memoryview of one) refuses this store; the viper copy
            # would not look, and write into an immutable object (in flash, when frozen)
            buf[0] = buf[0]
            if m.cont is None:
                bcopy(m.buf, m.off, buf, 0, n)
            else:
                mbuf.m_copydata(m, 0, n, buf, 0)
        return n

    def _fromaddr(self, so, m):
        b = m.buf
        a = m.off - FROM_ADDR
        p = udp_fromport(m)
        if so._from is None or p != so._from_p or not in_eq(b, a, so._from_a, 0):
            in_copy(so._from_a, 0, b, a)
            so._from_p = p
            so._from = (inet_ntoa(b, a), p)
        return so._from

    def _wait(self, so):
        if so._inp is None:
            raise OSError(EBADF, "socket is closed")
        so._block(_read_ready, "recv")

    def recv_into(self, so, buf, nbytes):
        self._wait(so)
        m = self._dequeue(so)
        try:  # a buffer that cannot be written (bytes, say) raises: the datagram's cluster still goes back
            return self._copyout(m, buf, nbytes)
        finally:
            mbuf.m_free(m)

    def recvfrom_into(self, so, buf, nbytes):
        self._wait(so)
        m = self._dequeue(so)
        try:
            return self._copyout(m, buf, nbytes), self._fromaddr(so, m)
        finally:
            mbuf.m_free(m)

    def recv(self, so, bufsize):
        self._wait(so)
        return self._recv_bytes(so, bufsize)[0]

    def recvfrom(self, so, bufsize):
        self._wait(so)
        return self._recv_bytes(so, bufsize)

    def _recv_bytes(self, so, bufsize):
        m = self._dequeue(so)
        if m.cont is None:
            n = m.len if m.len < bufsize else bufsize
            data = bytes(m.buf[m.off:m.off + n])
        else:  # a reassembled datagram: a chain of clusters
            d = bytearray(min(mbuf.m_pktlen(m), bufsize))
            self._copyout(m, d, len(d))
            data = bytes(d)
        a = self._fromaddr(so, m)
        mbuf.m_free(m)
        return data, a

    def sendto(self, so, data, addr):
        inp = so._pcb()
        if self._connected(so, inp):
            raise OSError(EISCONN, "socket is connected: use send()")
        _sendto_addr(so, addr)
        if so._to_port == 0 and not so._raw:
            raise OSError(EINVAL, "cannot send to port 0")
        return self._send(so, inp, data, so._to, so._to_port)

    def send_some(self, so, data, n):
        inp = so._pcb()
        if not self._connected(so, inp):
            raise OSError(EDESTADDRREQ, "socket is not connected")
        return self._send(so, inp, data, inp.faddr, inp.fport)

    def send_all(self, so, data, n):
        self.send_some(so, data, n)

    def sosend(self, so, data, off, n):
        return self.send_some(so, data if off == 0 else memoryview(data)[off:], n)

    def _send(self, so, inp, data, fa, fport):
        self._soerror(so)
        n = len(data)
        if in_badsenddst(fa, 0):
            raise OSError(EADDRNOTAVAIL, "cannot send to %s" % inet_ntoa(fa))
        ifp = route.rtalloc_ifp(fa, 0)
        if fa[0] & 0xF0 == 0xE0 and so._imo is not None and so._imo.ifp is not None:
            ifp = so._imo.ifp if so._imo.ifp.up else None  # IP_MULTICAST_IF
        if ifp is None:
            stat_inc(udpstat, _UDPS_NOROUTE)
            raise OSError(EHOSTUNREACH if route.ifnet else ENETDOWN, "no route to %s" % inet_ntoa(fa))
        if not so._bcast and ifp.ia.is_broadcast(fa, 0):
            raise OSError(EACCES, "sending to a broadcast address needs SO_BROADCAST")
        if not ifp.link:
            raise OSError(ENETDOWN, "link is down: datagram of %d bytes not sent" % n)
        if so._raw:
            err = rip_output(ifp, inp, data, n, fa, 0, ticks_ms(), so._hdrincl)
        else:
            if inp.lport == 0:
                in_pcbbind(inp, _ANY, 0, _is_ours)
            err = udp_output(ifp, inp, data, n, fa, 0, fport, ticks_ms())
        if err:
            raise OSError(err, "datagram of %d bytes not sent" % n)
        return n

    def bind(self, so, addr, a, port, is_ours):
        inp = so._pcb()
        if so._raw:  # rip_bind: an address only (the port means nothing to raw IP)
            if not in_nullhost(a, 0) and not is_ours(a):
                raise OSError(EADDRNOTAVAIL, "%s is not an address of this host" % inet_ntoa(a))
            in_copy(inp.laddr, 0, a, 0)
            return
        in_pcbbind(inp, a, port, is_ours, so._reuse)

    def listen(self, so, backlog, is_ours):
        raise OSError(EOPNOTSUPP, "listen() is for SOCK_STREAM sockets")

    def accept(self, so):
        raise OSError(EOPNOTSUPP, "accept() is for SOCK_STREAM sockets")

    def connect(self, so, a, port, is_ours):
        """UDP connect: fix the peer (send() goes there, only its datagrams are received).
        connect((host, 0)) dissolves the association instead, as BSD's connect with AF_UNSPEC
        (udp_disconnect): the peer is forgotten and the local address is the wildcard again, the
        port stays; sendto() to anyone works and datagrams from anyone are received again."""
        inp = so._pcb()
        if port == 0 and not so._raw:
            in_pcbdisconnect(inp)
            for i in range(4):
                inp.laddr[i] = 0
            so._error = 0
            return
        if in_nullhost(a, 0):
            raise OSError(EINVAL, "cannot connect to 0.0.0.0")
        ifp = route.rtalloc_ifp(a, 0)
        if ifp is None:
            raise OSError(EHOSTUNREACH if route.ifnet else ENETDOWN, "no route to %s" % inet_ntoa(a))
        if so._raw:  # rip_connect: the peer's address only
            in_copy(inp.faddr, 0, a, 0)
            so._error = 0
            return
        if inp.lport == 0:
            in_pcbbind(inp, _ANY, 0, is_ours)
        if in_nullhost(inp.laddr, 0):
            in_copy(inp.laddr, 0, ifp.ia.addr, 0)  # in_pcbconnect: the source address is fixed now
        in_pcbconnect(inp, a, port)
        so._error = 0

    def peer(self, so):
        inp = so._pcb()
        if not self._connected(so, inp):
            raise OSError(ENOTCONN, "socket is not connected")
        return inp

    def setsockopt(self, so, level, opt, value):
        if level == SOL_SOCKET and opt == SO_BROADCAST:
            so._bcast = bool(value)
        elif level == IPPROTO_IP and opt == IP_HDRINCL and so._raw:
            so._hdrincl = bool(value)
        elif level == IPPROTO_IP and opt == IP_DONTFRAG:
            inp = so._pcb()
            inp.flags = (inp.flags | INP_DONTFRAG) if value else (inp.flags & ~INP_DONTFRAG)
        else:
            # SO_REUSEADDR, SO_REUSEPORT and the multicast options: in_mcast, loaded by the first of
            # them (a board that sets none carries none of it)
            from . import in_mcast

            in_mcast.dg_setsockopt(so, level, opt, value)

    def getsockopt(self, so, level, opt):
        if level == SOL_SOCKET and opt == SO_BROADCAST:
            return 1 if so._bcast else 0
        if level == IPPROTO_IP and opt == IP_HDRINCL and so._raw:
            return 1 if so._hdrincl else 0
        if level == IPPROTO_IP and opt == IP_DONTFRAG:
            return 1 if so._pcb().flags & INP_DONTFRAG else 0
        if level == SOL_SOCKET and opt == SO_ERROR:
            e = so._error
            so._error = 0
            return e
        from . import in_mcast

        return in_mcast.dg_getsockopt(so, level, opt)

    def shutdown(self, so, how):
        so._pcb()
        raise OSError(EOPNOTSUPP, "shutdown() is for SOCK_STREAM sockets")

    def close(self, so):
        inp = so._inp
        if inp is None:
            return
        so._inp = None
        m = so._rq
        so._rq = so._rq_tail = None
        so._rq_n = 0
        mbuf.m_freem(m)
        if so._imo is not None:
            from . import in_mcast

            in_mcast.inp_freemoptions(so)  # the last socket in a group leaves it
        in_pcbdetach(inp)


_dgram_usrreqs = _DgramUsrreqs()

