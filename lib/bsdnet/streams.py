# asyncio streams over bsdnet's TCP sockets, with MicroPython's asyncio surface:
#     server = await streams.start_server(cb, host, port)      # cb(reader, writer) per connection
#     reader, writer = await streams.open_connection(host, port)
# One Stream object is both reader and writer (as in MicroPython): read, readinto, readexactly,
# readline, write, drain, close, wait_closed, aclose, get_extra_info, plus awrite (write and drain in one,
# sending straight from the caller's buffer).
#
# Memory: a stream's receive buffer (rbufsize bytes) is made on the first buffered read (read,
# readline, a short readexactly) and reused; readinto and readexactly read straight into the
# caller's buffer. write() first offers the data to the socket's send buffer (a non-blocking send):
# only what does not fit is kept, as an immutable chunk (a bytes object is kept as it is, anything
# else is copied, so the caller may reuse its buffer), until drain() sends it. Nothing here runs per
# packet; the socket layer below owns the data path.
import asyncio
from .compat import const, aio_sleep_ms
from .bcopy import bcopy
from .errno import EAGAIN, EBADF
from . import socket
from .inet import inet_isdotted

_RBUFSIZE = const(512)  # receive buffer per stream: an HTTP header line, a few chargen lines
_LINGER_MS = const(10000)  # close() with data still buffered: how long it may take to send it
_ACCEPT_RETRY_MS = const(100)  # pause after an unexpected accept error (no busy loop)


async def wait_for_ms(aw, ms):
    """asyncio.wait_for_ms on MicroPython, asyncio.wait_for on CPython: aw, or TimeoutError after ms."""
    if hasattr(asyncio, "wait_for_ms"):
        return await asyncio.wait_for_ms(aw, ms)
    return await asyncio.wait_for(aw, ms / 1000)


class Stream:
    def __init__(self, s, rbufsize=_RBUFSIZE, peer=None):
        self.s = s
        self._peer = peer
        self._rsize = rbufsize
        self._rbuf = None  # bytearray(rbufsize), made on the first buffered read
        self._rmv = None
        self._rpos = 0  # unread bytes are _rbuf[_rpos:_rend]
        self._rend = 0
        self._eof = False
        self._wq = []  # chunks write() could not send yet, oldest first; the first from _woff on
        self._woff = 0
        self._sending = False  # a drain() or awrite() is sending: write() queues behind it
        self._sent = None  # Event for drain() callers waiting behind another sender
        self._closed = False
        self._closer = None  # the task that sends what was buffered at close(), then closes

    def get_extra_info(self, name):
        if name == "peername":
            if self._peer is None:
                self._peer = self.s.getpeername()
            return self._peer
        if name == "sockname":
            return self.s.getsockname()
        if name == "socket":
            return self.s
        return None

    # --- reading ------------------------------------------------------------------------
    async def _fill(self):
        """Receive into the free space behind the buffered bytes (the caller makes sure there is
        some). Returns the byte count, 0 at the end of the stream."""
        if self._eof:
            return 0
        if self._rbuf is None:
            self._rbuf = bytearray(self._rsize)
            self._rmv = memoryview(self._rbuf)
        e = self._rend
        if e == self._rpos:
            self._rpos = self._rend = e = 0
        n = await self.s.arecv_into(self._rmv[e:] if e else self._rbuf)
        if n == 0:
            self._eof = True
        self._rend = e + n
        return n

    def _take(self, n):
        if n <= 0:
            return b""
        p = self._rpos
        self._rpos = p + n
        return bytes(self._rmv[p:p + n])

    async def read(self, n=-1):
        """Up to n bytes (b"" at the end of the stream); n < 0: everything up to the end."""
        if n == 0:
            return b""
        if n < 0:
            parts = []
            while True:
                if self._rpos == self._rend and await self._fill() == 0:
                    return b"".join(parts)
                parts.append(self._take(self._rend - self._rpos))
        if self._rpos == self._rend and await self._fill() == 0:
            return b""
        a = self._rend - self._rpos
        return self._take(n if n < a else a)

    async def readinto(self, buf):
        """Read into buf (what is buffered first, else straight from the socket); 0 at the end."""
        a = self._rend - self._rpos
        if a:
            n = len(buf)
            if n > a:
                n = a
            bcopy(self._rbuf, self._rpos, buf, 0, n)
            self._rpos += n
            return n
        if self._eof or not len(buf):
            return 0
        n = await self.s.arecv_into(buf)
        if n == 0:
            self._eof = True
        return n

    async def readexactly(self, n):
        """Exactly n bytes; EOFError if the stream ends first (what was read is lost, as in MicroPython)."""
        a = self._rend - self._rpos
        if a >= n:
            return self._take(n)
        out = bytearray(n)
        if a:
            bcopy(self._rbuf, self._rpos, out, 0, a)
            self._rpos += a
        mv = memoryview(out)
        got = a
        while got < n:
            k = 0 if self._eof else await self.s.arecv_into(mv[got:])
            if k == 0:
                self._eof = True
                raise EOFError("stream ended after %d of %d bytes" % (got, n))
            got += k
        return bytes(out)

    async def readline(self, limit=0):
        """A line up to and including b"\\n"; at the end of the stream what is left (b"" if nothing).
        limit > 0 (an extension): at most limit bytes, so a line longer than that comes back in
        pieces without the b"\\n" (a caller that needs whole lines treats that as too long).
        A line longer than the buffer is collected in pieces and joined once, not concatenated."""
        parts = None
        got = 0
        while True:
            p = self._rpos
            e = self._rend
            if p < e:
                stop = e
                if limit > 0 and p + limit - got < stop:
                    stop = p + limit - got
                i = self._rbuf.find(b"\n", p, stop)
                if i >= 0 or (limit > 0 and got + stop - p >= limit):
                    chunk = self._take((i + 1 if i >= 0 else stop) - p)
                    if parts is None:
                        return chunk
                    parts.append(chunk)
                    return b"".join(parts)
                if e == self._rsize:  # the buffer is full and holds no end of line: set it aside
                    if parts is None:
                        parts = []
                    parts.append(self._take(e - p))
                    got += e - p
            if await self._fill() == 0:
                rest = self._take(self._rend - self._rpos)
                if parts is None:
                    return rest
                parts.append(rest)
                return b"".join(parts)

    # --- writing ------------------------------------------------------------------------
    def _trysend(self, buf):
        """Offer buf to the socket without waiting: the byte count it took (0 if none fit)."""
        s = self.s
        s.setblocking(False)
        try:
            return s.send(buf)
        except OSError as e:
            if e.args[0] == EAGAIN:
                return 0
            raise
        finally:
            s.setblocking(True)  # the a* calls wait; only this send must not

    def write(self, buf):
        """Send what fits now; keep the rest for drain(). Raises OSError if the connection cannot send."""
        if self._closed:
            raise OSError(EBADF, "stream is closed")
        n = 0
        if not self._wq and not self._sending:
            n = self._trysend(buf)
            if n >= len(buf):
                return
        if type(buf) is not bytes:  # the caller may reuse a bytearray or memoryview: keep a copy
            buf = bytes(memoryview(buf)[n:]) if n else bytes(buf)
            n = 0
        if not self._wq:
            self._woff = n  # a bytes object is kept whole, sent from n on
        self._wq.append(buf)

    async def _send_queue(self):
        q = self._wq
        s = self.s
        while q:
            c = q[0]
            off = self._woff
            mv = None
            while off < len(c):
                if off and mv is None:
                    mv = memoryview(c)
                off += await s.asend(mv[off:] if off else c)
                self._woff = off
            q.pop(0)
            self._woff = 0

    async def _wait_sender(self):
        while self._sending:
            ev = self._sent
            if ev is None:
                ev = self._sent = asyncio.Event()
            await ev.wait()

    def _done_sending(self):
        self._sending = False
        ev = self._sent
        if ev is not None:
            self._sent = None
            ev.set()

    async def drain(self):
        """Wait until everything written has gone into the socket's send buffer (waiting on its
        back-pressure). Always yields, so a write/drain loop cannot starve the other tasks."""
        if not self._wq and not self._sending:
            await asyncio.sleep(0)
            return
        await self._wait_sender()
        if not self._wq:
            return
        self._sending = True
        try:
            await self._send_queue()
        finally:
            self._done_sending()

    async def awrite(self, buf, off=0, sz=-1):
        """write(buf[off:off+sz]) and drain() in one (MicroPython's awrite), sending straight from
        buf: nothing is copied, and buf may be reused when this returns."""
        end = len(buf) if sz < 0 else off + sz
        if self._closed:
            raise OSError(EBADF, "stream is closed")
        await self._wait_sender()
        if self._wq:
            await self.drain()
        self._sending = True
        try:
            whole = off == 0 and end == len(buf)
            mv = None
            while off < end:
                if not whole and mv is None:
                    mv = memoryview(buf)
                off += await self.s.asend(buf if whole else mv[off:end])
                whole = False
        finally:
            self._done_sending()

    # --- closing ------------------------------------------------------------------------
    def close(self):
        """Close the connection (gracefully: the socket still delivers what it holds). Data that
        write() still buffers is sent first by a task, for at most _LINGER_MS; wait_closed() waits for it."""
        if self._closed:
            return
        self._closed = True
        if self._wq or self._sending:
            self._closer = asyncio.create_task(self._linger())
        else:
            self.s.close()

    async def _linger(self):
        try:
            await wait_for_ms(self.drain(), _LINGER_MS)
        except (OSError, asyncio.TimeoutError):
            pass  # the peer is gone or stopped reading: what is left is lost, as with SO_LINGER
        finally:
            self._wq = []
            self.s.close()

    async def wait_closed(self):
        self.close()
        t = self._closer
        if t is not None:
            await t

    async def aclose(self):
        """close() and wait_closed() in one (MicroPython's aclose)."""
        await self.wait_closed()

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        self.close()
        await self.wait_closed()


class Server:
    """What start_server() returns: accepts in one task and runs cb(reader, writer) as a task per
    connection. close() stops accepting (connections already made go on); usable as async with."""

    def __init__(self, s, cb, rbufsize=_RBUFSIZE):
        self.s = s
        self._cb = cb
        self._rbufsize = rbufsize
        self._closed = False
        self.task = asyncio.create_task(self._serve())

    async def _serve(self):
        s = self.s
        while not self._closed:
            try:
                c, addr = await s.aaccept()
            except OSError as e:
                if self._closed or e.args[0] == EBADF:
                    return
                await aio_sleep_ms(_ACCEPT_RETRY_MS)  # ECONNABORTED and the like: the next one
                continue
            asyncio.create_task(self._client(Stream(c, self._rbufsize, addr)))

    async def _client(self, st):
        try:
            await self._cb(st, st)
        except BaseException:
            # a handler that failed (or was cancelled) must not pin its connection; a handler that
            # returns normally closes its writer itself (it may have handed it on)
            st.close()
            raise

    def close(self):
        if not self._closed:
            self._closed = True
            self.task.cancel()
            self.s.close()

    async def wait_closed(self):
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        self.close()
        await self.wait_closed()


async def start_server(cb, host, port, backlog=5, rbufsize=_RBUFSIZE):
    """Listen on (host, port); cb(reader, writer) runs as a task for each connection accepted."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(backlog)
    except BaseException:
        s.close()
        raise
    return Server(s, cb, rbufsize)


async def open_connection(host, port, rbufsize=_RBUFSIZE):
    """Connect to (host, port); returns (reader, writer), the same Stream twice. A host that is
    not a dotted quad is resolved first (bsdnet.dns.aresolve). OSError(ECONNREFUSED, ETIMEDOUT,
    ...) when the connection cannot be made, or the name not resolved."""
    if not inet_isdotted(host):
        from . import dns

        host = await dns.aresolve(host)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        await s.aconnect((host, port))
    except BaseException:
        s.close()
        raise
    st = Stream(s, rbufsize, (host, port))
    return st, st
