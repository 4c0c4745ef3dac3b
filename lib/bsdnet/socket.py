# The socket API (BSD kern/uipc_socket.c over the pr_usrreqs of each protocol), with the surface
# of MicroPython's socket module: socket(), bind, connect, send, sendto, recv, recv_into,
# recvfrom, recvfrom_into, settimeout, setblocking, setsockopt, getsockname, close, plus
# awaitable arecv_into / arecvfrom / arecvfrom_into for asyncio tasks. Errors are
# OSError(errno, message).
#
# UDP (SOCK_DGRAM) and raw IP (SOCK_RAW, e.g. ICMP for ping); SOCK_STREAM comes with the TCP
# issue. so_rcv is a queue of the mbufs the datagrams arrived in (linked through m.next, at most
# opts.UDP_RCVQ): nothing is copied until the application reads. Blocking calls drive the
# interfaces themselves (poll) until they are satisfied or time out, so a plain loop without
# asyncio works; under asyncio, the interface's run() task delivers and the a* methods wait on the
# socket's flag.
from .compat import const, ticks_ms, ticks_diff, sleep_ms, Flag, wait_flag_ms
from . import opts
from . import mbuf
from . import route
from .bcopy import bcopy
from .inet import inet_aton, inet_ntoa, in_eq, in_copy, in_nullhost
from .in_pcb import in_pcballoc, in_pcbbind, in_pcbconnect, in_pcbdisconnect, in_pcbdetach
from . import udp_usrreq
from .udp_usrreq import udbinfo, udp_output, udp_fromport, FROM_ADDR
from .raw_ip import ripcbinfo, rip_output
# the errno names a socket user compares with (socket.EAGAIN, ...), as MicroPython numbers them
from .errno import (EBADF, EAGAIN, EACCES, EINVAL, EDESTADDRREQ, EMSGSIZE, ENOPROTOOPT,  # noqa: F401
                    EPROTONOSUPPORT, EAFNOSUPPORT, ENETDOWN, EISCONN, ENOTCONN, ETIMEDOUT, EHOSTUNREACH,
                    ECONNREFUSED, EADDRINUSE, EADDRNOTAVAIL, ENOBUFS)

AF_INET = const(2)
SOCK_STREAM = const(1)
SOCK_DGRAM = const(2)
SOCK_RAW = const(3)
IPPROTO_IP = const(0)
IPPROTO_TCP = const(6)
IPPROTO_UDP = const(17)
SOL_SOCKET = const(1)
SO_REUSEADDR = const(2)
SO_BROADCAST = const(6)

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
            raise OSError(EINVAL, "not a dotted-quad IPv4 address: %r (no DNS yet)" % (host,))
    return port


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    """Dotted quads only (DNS comes with the real-boards issue)."""
    a = bytearray(4)
    _sockaddr((host, port), a)
    return [(AF_INET, type or SOCK_STREAM, proto, "", (inet_ntoa(a), port))]


def _is_ours(addr):
    for ifp in route.ifnet:
        if ifp.ia.is_ours(addr, 0):
            return True
    return False


class socket:
    def __init__(self, af=AF_INET, type=SOCK_STREAM, proto=0):
        if af != AF_INET:
            raise OSError(EAFNOSUPPORT, "only AF_INET")
        if type == SOCK_STREAM:
            raise OSError(EPROTONOSUPPORT, "SOCK_STREAM: TCP is not in this build yet (UDP and raw IP only)")
        self._raw = type == SOCK_RAW
        if self._raw:
            if not isinstance(proto, int) or not 0 < proto < 255:
                raise OSError(EPROTONOSUPPORT, "SOCK_RAW needs an IP protocol 1-254 (1 for ICMP), not %r" % (proto,))
            self._inp = in_pcballoc(ripcbinfo, self, proto)  # rip_attach()
        elif type == SOCK_DGRAM and proto in (0, IPPROTO_UDP):
            self._inp = in_pcballoc(udbinfo, self)  # udp_attach(); OSError(ENOBUFS) when all are taken
        else:
            raise OSError(EPROTONOSUPPORT, "socket type %r, protocol %r" % (type, proto))
        self.type = type
        self._rq = None  # so_rcv: head and tail of the datagram queue
        self._rq_tail = None
        self._rq_n = 0
        self._flag = Flag()
        self._timeout = -1  # ms: -1 blocks for ever, 0 never blocks
        self._bcast = False
        self._to = bytearray(4)  # the destination of the last sendto(), parsed once per address object
        self._to_key = None
        self._to_port = 0
        self._from = None  # (host, port) of the last sender, reused while the sender stays the same
        self._from_a = bytearray(4)
        self._from_p = 0
        self._error = 0  # so_error: an asynchronous error (ICMP) for the next call to report

    # --- called by udp_input ------------------------------------------------------------
    def sbappendaddr(self, m):
        """Queue a datagram (udp_input left the sender's address in front of it). False if full."""
        if self._rq_n >= opts.UDP_RCVQ or self._inp is None:
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

    # --- helpers ------------------------------------------------------------------------
    def _pcb(self):
        inp = self._inp
        if inp is None:
            raise OSError(EBADF, "socket is closed")
        return inp

    def _connected(self, inp):
        return not in_nullhost(inp.faddr, 0) if self._raw else inp.fport != 0

    def _soerror(self):
        e = self._error
        if e:
            self._error = 0
            raise OSError(e, "the peer's host answered an earlier datagram with an ICMP error")

    def _dequeue(self):
        m = self._rq
        self._rq = m.next
        if self._rq is None:
            self._rq_tail = None
        self._rq_n -= 1
        m.next = None
        return m

    def _wait(self):
        """Block (driving the interfaces) until a datagram is queued, or raise."""
        self._pcb()
        if self._rq is not None:
            return
        self._soerror()
        t = self._timeout
        if t == 0:
            raise OSError(EAGAIN, "no datagram waiting (non-blocking socket)")
        start = ticks_ms()
        while self._rq is None:
            if self._inp is None:
                raise OSError(EBADF, "socket closed while waiting")
            self._soerror()
            if not route.ifnet:
                raise OSError(ENETDOWN, "no interface is up to receive on")
            now = ticks_ms()
            if t > 0 and ticks_diff(now, start) >= t:
                raise OSError(ETIMEDOUT, "no datagram in %d ms" % t)
            busy = 0
            for ifp in route.ifnet:
                busy += ifp.poll(now)
            if self._rq is None and not busy:
                sleep_ms(1)

    async def _await(self):
        self._pcb()
        t = self._timeout
        start = ticks_ms()
        while self._rq is None:
            if self._inp is None:
                raise OSError(EBADF, "socket closed while waiting")
            self._soerror()
            if t < 0:
                await self._flag.wait()
            else:
                left = t - ticks_diff(ticks_ms(), start)
                if left <= 0:
                    raise OSError(ETIMEDOUT if t else EAGAIN, "no datagram in %d ms" % t)
                await wait_flag_ms(self._flag, left)

    def _copyout(self, m, buf, nbytes):
        """Copy the datagram into buf (the rest of a longer datagram is discarded, as UDP does).
        Returns the byte count; the caller frees m."""
        n = m.len
        if nbytes <= 0 or nbytes > len(buf):
            nbytes = len(buf)
        if n > nbytes:
            n = nbytes
        if n:
            # a read-only buffer (bytes, a memoryview of one) refuses this store; the viper copy
            # would not look, and write into an immutable object (in flash, when frozen)
            buf[0] = buf[0]
            bcopy(m.buf, m.off, buf, 0, n)
        return n

    def _fromaddr(self, m):
        b = m.buf
        a = m.off - FROM_ADDR
        p = udp_fromport(m)
        if self._from is None or p != self._from_p or not in_eq(b, a, self._from_a, 0):
            in_copy(self._from_a, 0, b, a)
            self._from_p = p
            self._from = (inet_ntoa(b, a), p)
        return self._from

    # --- receive ------------------------------------------------------------------------
    def recv_into(self, buf, nbytes=0):
        self._wait()
        m = self._dequeue()
        try:  # a buffer that cannot be written (bytes, say) raises: the datagram's cluster still goes back
            return self._copyout(m, buf, nbytes)
        finally:
            mbuf.m_free(m)

    def recvfrom_into(self, buf, nbytes=0):
        self._wait()
        m = self._dequeue()
        try:
            return self._copyout(m, buf, nbytes), self._fromaddr(m)
        finally:
            mbuf.m_free(m)

    def recv(self, bufsize):
        self._wait()
        return self._recv_bytes(bufsize)[0]

    def recvfrom(self, bufsize):
        self._wait()
        return self._recv_bytes(bufsize)

    def _recv_bytes(self, bufsize):
        m = self._dequeue()
        n = m.len if m.len < bufsize else bufsize
        data = bytes(m.buf[m.off:m.off + n])
        a = self._fromaddr(m)
        mbuf.m_free(m)
        return data, a

    async def arecv_into(self, buf, nbytes=0):
        await self._await()
        return self.recv_into(buf, nbytes)

    async def arecvfrom_into(self, buf, nbytes=0):
        await self._await()
        return self.recvfrom_into(buf, nbytes)

    async def arecvfrom(self, bufsize):
        await self._await()
        return self._recv_bytes(bufsize)

    # --- send ---------------------------------------------------------------------------
    def sendto(self, data, addr):
        inp = self._pcb()
        if self._connected(inp):
            raise OSError(EISCONN, "socket is connected: use send()")
        if addr is not self._to_key:
            self._to_port = _sockaddr(addr, self._to)
            self._to_key = addr
        if self._to_port == 0 and not self._raw:
            raise OSError(EINVAL, "cannot send to port 0")
        return self._send(inp, data, self._to, self._to_port)

    def send(self, data):
        inp = self._pcb()
        if not self._connected(inp):
            raise OSError(EDESTADDRREQ if self.type != SOCK_STREAM else ENOTCONN, "socket is not connected")
        return self._send(inp, data, inp.faddr, inp.fport)

    write = send

    def _send(self, inp, data, fa, fport):
        self._soerror()
        n = len(data)
        ifp = route.rtalloc_ifp(fa, 0)
        if ifp is None:
            udp_usrreq.udpstat["udps_noroute"] += 1
            raise OSError(EHOSTUNREACH if route.ifnet else ENETDOWN, "no route to %s" % inet_ntoa(fa))
        if not self._bcast and ifp.ia.is_broadcast(fa, 0):
            raise OSError(EACCES, "sending to a broadcast address needs SO_BROADCAST")
        if self._raw:
            err = rip_output(ifp, inp, data, n, fa, 0, ticks_ms())
        else:
            if inp.lport == 0:
                in_pcbbind(inp, _ANY, 0, _is_ours)
            err = udp_output(ifp, inp, data, n, fa, 0, fport, ticks_ms())
        if err:
            raise OSError(err, "datagram of %d bytes not sent" % n)
        return n

    # --- association --------------------------------------------------------------------
    def bind(self, addr):
        inp = self._pcb()
        a = bytearray(4)
        port = _sockaddr(addr, a)
        if self._raw:  # rip_bind: an address only (the port means nothing to raw IP)
            if not in_nullhost(a, 0) and not _is_ours(a):
                raise OSError(EADDRNOTAVAIL, "%s is not an address of this host" % inet_ntoa(a))
            in_copy(inp.laddr, 0, a, 0)
            return
        in_pcbbind(inp, a, port, _is_ours)

    def connect(self, addr):
        """UDP connect: fix the peer (send() goes there, only its datagrams are received)."""
        inp = self._pcb()
        a = bytearray(4)
        port = _sockaddr(addr, a)
        if in_nullhost(a, 0):
            raise OSError(EINVAL, "cannot connect to 0.0.0.0")
        ifp = route.rtalloc_ifp(a, 0)
        if ifp is None:
            raise OSError(EHOSTUNREACH if route.ifnet else ENETDOWN, "no route to %s" % inet_ntoa(a))
        if self._raw:  # rip_connect: the peer's address only
            in_copy(inp.faddr, 0, a, 0)
            self._error = 0
            return
        if inp.lport == 0:
            in_pcbbind(inp, _ANY, 0, _is_ours)
        if port == 0:
            in_pcbdisconnect(inp)  # connect to port 0 dissolves the association, as in BSD
        else:
            if in_nullhost(inp.laddr, 0):
                in_copy(inp.laddr, 0, ifp.ia.addr, 0)  # in_pcbconnect: the source address is fixed now
            in_pcbconnect(inp, a, port)
        self._error = 0

    def getsockname(self):
        inp = self._pcb()
        return (inet_ntoa(inp.laddr), inp.lport)

    def getpeername(self):
        inp = self._pcb()
        if not self._connected(inp):
            raise OSError(ENOTCONN, "socket is not connected")
        return (inet_ntoa(inp.faddr), inp.fport)

    # --- options ------------------------------------------------------------------------
    def settimeout(self, value):
        if value is None:
            self._timeout = -1
        elif value < 0:
            raise OSError(EINVAL, "timeout must be None or >= 0, not %r" % (value,))
        else:
            self._timeout = int(value * 1000)

    def setblocking(self, flag):
        self._timeout = -1 if flag else 0

    def setsockopt(self, level, opt, value):
        if level == SOL_SOCKET and opt == SO_BROADCAST:
            self._bcast = bool(value)
        elif level == SOL_SOCKET and opt == SO_REUSEADDR:
            pass  # UDP rebinds are not restricted by TIME_WAIT; accepted for portability
        else:
            raise OSError(ENOPROTOOPT, "socket option level %r, option %r not supported" % (level, opt))

    # --- teardown -----------------------------------------------------------------------
    def close(self):
        inp = self._inp
        if inp is None:
            return
        self._inp = None
        m = self._rq
        self._rq = self._rq_tail = None
        self._rq_n = 0
        mbuf.m_freem(m)
        in_pcbdetach(inp)
        self._flag.set()  # wake an a* waiter so it sees the close

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
