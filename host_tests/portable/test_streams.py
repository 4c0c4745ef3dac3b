"""bsdnet.streams over FakeSock, an in-memory TCP socket with the contract bsdnet.socket gives
SOCK_STREAM (aaccept, aconnect, arecv_into, asend with back-pressure, non-blocking send, close,
shutdown, reset): readline, readexactly and EOF, reads across buffer refills, write/drain and awrite
under back-pressure, close() sending what is buffered, resets, start_server/open_connection.

FakeNet and arun are used by test_http.py too."""
import asyncio

import ptest
from bsdnet import streams
from bsdnet.errno import EAGAIN, EBADF, ECONNREFUSED, ECONNRESET, ENOTCONN, EPIPE, EADDRINUSE


# --- the fake ------------------------------------------------------------------------------
class FakeNet:
    """Stands in for the bsdnet.socket module (streams.socket = FakeNet()): listeners by port.
    chunk: the most bytes one send/asend takes (0: no limit); space: the bytes a receiver holds
    before its sender has to wait (back-pressure)."""

    AF_INET = 2
    SOCK_STREAM = 1
    SOL_SOCKET = 1
    SO_REUSEADDR = 2
    IPPROTO_TCP = 6
    TCP_NODELAY = 1
    SHUT_WR = 1

    def __init__(self, chunk=0, space=4096):
        self.chunk = chunk
        self.space = space
        self.listeners = {}
        self.socks = []
        self._port = 40000

    def socket(self, af=2, type=1, proto=0):
        return FakeSock(self)

    def pair(self, port=80):
        """(client, server): a connection as if the server side had been accepted."""
        c = FakeSock(self)
        return c, c._connect(("10.0.0.2", port))

    def all_closed(self):
        return all(s.closed for s in self.socks)


class FakeSock:
    def __init__(self, net):
        self.net = net
        net.socks.append(self)
        self.rx = bytearray()
        self.rx_eof = False  # the peer closed or shut down its sending side
        self.peer = None
        self.closed = False
        self.wr_shut = False
        self.reset = False  # the peer reset the connection
        self.blocking = True
        self.pending = []  # a listener's connections not accepted yet
        self.listening = False
        self.laddr = ("10.0.0.2", 0)
        self.faddr = None
        self.sends = []  # bytes taken by each send/asend
        self._ev = None

    # waiting: one Event shared by whoever waits on this socket, replaced after each wake-up
    def _wake(self):
        ev = self._ev
        if ev is not None:
            self._ev = None
            ev.set()

    async def _sleep(self):
        if self._ev is None:
            self._ev = asyncio.Event()
        await self._ev.wait()

    # --- association ---
    def setsockopt(self, level, opt, value):
        pass

    def setblocking(self, flag):
        self.blocking = bool(flag)

    def bind(self, addr):
        self.laddr = ("10.0.0.2" if addr[0] in ("", "0.0.0.0") else addr[0], addr[1])

    def listen(self, backlog=5):
        port = self.laddr[1]
        old = self.net.listeners.get(port)
        if old is not None and not old.closed:
            raise OSError(EADDRINUSE, "port in use")
        self.net.listeners[port] = self
        self.listening = True

    def _connect(self, addr):
        lst = self.net.listeners.get(addr[1])
        self.net._port += 1
        self.laddr = ("10.0.0.1", self.net._port)
        self.faddr = addr
        srv = FakeSock(self.net)
        srv.laddr = addr
        srv.faddr = self.laddr
        srv.peer = self
        self.peer = srv
        if lst is not None:
            lst.pending.append(srv)
            lst._wake()
        return srv

    async def aconnect(self, addr):
        lst = self.net.listeners.get(addr[1])
        if lst is None or lst.closed:
            raise OSError(ECONNREFUSED, "connection refused")
        self._connect(addr)
        await asyncio.sleep(0)

    async def aaccept(self):
        while not self.pending:
            if self.closed:
                raise OSError(EBADF, "listener closed")
            await self._sleep()
        c = self.pending.pop(0)
        return c, c.faddr

    def getpeername(self):
        if self.faddr is None:
            raise OSError(ENOTCONN, "not connected")
        return self.faddr

    def getsockname(self):
        return self.laddr

    # --- data ---
    def _can_send(self):
        if self.closed:
            raise OSError(EBADF, "socket is closed")
        if self.reset:
            raise OSError(ECONNRESET, "connection reset")
        if self.wr_shut:
            raise OSError(EPIPE, "shut down for writing")
        if self.peer is None:
            raise OSError(ENOTCONN, "not connected")
        if self.peer.closed:
            raise OSError(ECONNRESET, "the peer closed: its RST")

    def _room(self, want):
        n = self.net.space - len(self.peer.rx)
        if want < n:
            n = want
        if self.net.chunk and n > self.net.chunk:
            n = self.net.chunk
        return n if n > 0 else 0

    def _put(self, data, n):
        self.peer.rx.extend(bytes(memoryview(data)[:n]))
        self.sends.append(n)
        self.peer._wake()
        return n

    def send(self, data):
        self._can_send()
        n = self._room(len(data))
        if not n:
            if self.blocking:
                raise AssertionError("blocking send on a full socket: it would hang the event loop")
            raise OSError(EAGAIN, "send buffer full")
        return self._put(data, n)

    async def asend(self, data):
        while True:
            self._can_send()
            n = self._room(len(data))
            if n:
                return self._put(data, n)
            await self._sleep()  # the peer's reads wake it

    async def arecv_into(self, buf, nbytes=0):
        while not self.rx:
            if self.closed:
                raise OSError(EBADF, "socket is closed")
            if self.reset:
                raise OSError(ECONNRESET, "connection reset")
            if self.rx_eof:
                return 0
            await self._sleep()
        if self.closed:
            raise OSError(EBADF, "socket is closed")
        n = len(buf)
        if 0 < nbytes < n:
            n = nbytes
        if n > len(self.rx):
            n = len(self.rx)
        buf[0:n] = self.rx[0:n]
        self.rx = self.rx[n:]  # (MicroPython's bytearray has no slice deletion)
        if self.peer is not None:
            self.peer._wake()  # room for the sender
        return n

    # --- teardown ---
    def shutdown(self, how):
        self.wr_shut = True
        if self.peer is not None:
            self.peer.rx_eof = True
            self.peer._wake()

    def close(self):
        if self.closed:
            return
        self.closed = True
        if self.peer is not None:
            self.peer.rx_eof = True
            self.peer._wake()
        for c in self.pending:  # not accepted: reset
            c.close()
        self._wake()

    def abort(self):
        """The test's RST: the peer's next call raises ECONNRESET."""
        self.closed = True
        if self.peer is not None:
            self.peer.reset = True
            self.peer._wake()
        self._wake()


# --- running coroutines --------------------------------------------------------------------
def arun(coro, timeout_ms=10000):
    """asyncio.run(coro), also in the MicroPython VM: its asyncio (the webassembly port's) is
    scheduled by JavaScript timers, which never fire while the harness runs a module synchronously,
    so its scheduler is stepped here by hand."""
    if hasattr(asyncio, "run"):
        return asyncio.run(coro)
    import time
    from asyncio import core  # type: ignore[attr-defined]

    box = []

    async def main():
        try:
            box.append((True, await coro))
        except Exception as e:  # noqa: BLE001 - handed to the caller
            box.append((False, e))

    asyncio.create_task(main())
    t0 = time.ticks_ms()  # type: ignore[attr-defined]
    while True:
        core._run_iter()
        if box:
            break
        if time.ticks_diff(time.ticks_ms(), t0) > timeout_ms:  # type: ignore[attr-defined]
            raise AssertionError("coroutine still running after %d ms" % timeout_ms)
        time.sleep_ms(1)  # type: ignore[attr-defined]
    ok, v = box[0]
    if not ok:
        raise v
    return v


async def settle(n=20):
    for _ in range(n):
        await asyncio.sleep(0)


async def arecv_all(sock, limit=1 << 20):
    """What the fake socket receives until EOF."""
    out = bytearray()
    buf = bytearray(256)
    while len(out) < limit:
        n = await sock.arecv_into(buf)
        if n == 0:
            break
        out.extend(buf[:n])
    return bytes(out)


async def feed(sock, pieces):
    """Send pieces one by one, letting the reader run between them, then shut down (FIN)."""
    for p in pieces:
        await sock.asend(p)
        await settle(3)
    sock.shutdown(1)


def _quiet_loop():
    # a handler that raises is the point of one test: keep its "exception never retrieved" quiet
    asyncio.get_event_loop().set_exception_handler(lambda loop, ctx: None)


# --- tests ---------------------------------------------------------------------------------
def test_readline_across_refills_and_eof():
    async def main():
        net = FakeNet()
        c, s = net.pair()
        st = streams.Stream(s, rbufsize=16)
        long = b"x" * 50 + b"\n"
        t = asyncio.create_task(feed(c, [b"GET / HT", b"TP/1.1\r\nHo", b"st: a\r\n", long, b"tail"]))
        assert await st.readline() == b"GET / HTTP/1.1\r\n"
        assert await st.readline() == b"Host: a\r\n"
        assert await st.readline() == long  # longer than the 16-byte buffer: pieces joined once
        assert await st.readline() == b"tail"  # the stream ended without a newline
        assert await st.readline() == b""
        assert await st.read() == b""
        await t
        st.close()
        await st.wait_closed()
        assert s.closed

    arun(main())


def test_readline_limit():
    async def main():
        net = FakeNet()
        c, s = net.pair()
        st = streams.Stream(s, rbufsize=8)
        t = asyncio.create_task(feed(c, [b"abcdefghijklmnopqrstuvwxyz\nshort\n"]))
        assert await st.readline(10) == b"abcdefghij"  # no newline: the caller sees it was too long
        assert await st.readline(100) == b"klmnopqrstuvwxyz\n"
        assert await st.readline(6) == b"short\n"  # exactly the limit, newline included
        assert await st.readline(6) == b""
        await t
        st.close()

    arun(main())


def test_readexactly_and_eof_error():
    async def main():
        net = FakeNet()
        c, s = net.pair()
        st = streams.Stream(s, rbufsize=16)
        t = asyncio.create_task(feed(c, [b"12", b"345\n6789", b"abcdefghij", b"xyz"]))
        assert await st.readline() == b"12345\n"
        assert await st.readexactly(3) == b"678"  # from the buffer
        assert await st.readexactly(11) == b"9abcdefghij"  # the buffer's rest, then straight from the socket
        assert await st.readexactly(0) == b""
        e = None
        try:
            await st.readexactly(5)
        except EOFError as x:
            e = x
        assert e is not None, "readexactly past the end must raise EOFError"
        assert await st.read(5) == b""
        await t
        st.close()

    arun(main())


def test_read_and_readinto():
    async def main():
        net = FakeNet()
        c, s = net.pair()
        st = streams.Stream(s, rbufsize=16)
        t = asyncio.create_task(feed(c, [b"hello\nworld", b"0123456789" * 5]))
        assert await st.readline() == b"hello\n"
        buf = bytearray(3)
        assert await st.readinto(buf) == 3 and buf == b"wor"
        assert await st.read(100) == b"ld"  # what is buffered first, never more than asked
        assert await st.read(4) == b"0123"
        assert await st.read() == b"456789" + b"0123456789" * 4  # to the end
        assert await st.readinto(buf) == 0
        await t
        st.close()

    arun(main())


def test_readinto_goes_straight_to_the_socket():
    async def main():
        net = FakeNet()
        c, s = net.pair()
        st = streams.Stream(s)
        await c.asend(b"abc")
        buf = bytearray(10)
        assert await st.readinto(buf) == 3 and buf[:3] == b"abc"
        assert st._rbuf is None  # no receive buffer made for a stream read only with readinto
        st.close()
        c.close()

    arun(main())


def test_write_drain_back_pressure():
    async def main():
        net = FakeNet(chunk=7, space=20)
        c, s = net.pair()
        st = streams.Stream(s)
        data = bytes(range(256)) * 4
        got = asyncio.create_task(arecv_all(c))
        buf = bytearray(b"mutable!")
        st.write(data)  # 7 bytes go at once, the rest waits in the stream
        assert s.sends == [7]
        st.write(buf)
        buf[0:8] = b"XXXXXXXX"  # the stream kept a copy: the caller may reuse its buffer
        await st.drain()
        assert not st._wq
        assert max(s.sends) <= 7 and sum(s.sends) == len(data) + 8
        st.write(b"end")
        await st.drain()
        await st.drain()  # nothing buffered: returns (after yielding)
        st.close()
        await st.wait_closed()
        assert await got == data + b"mutable!end"

    arun(main())


def test_awrite_sends_in_order_without_copying():
    async def main():
        net = FakeNet(chunk=5, space=12)
        c, s = net.pair()
        st = streams.Stream(s)
        got = asyncio.create_task(arecv_all(c))
        buf = bytearray(b"0123456789abcdef")
        await st.awrite(buf)
        await st.awrite(buf, 10, 6)
        await st.awrite(memoryview(buf), 2, 3)
        buf[0:1] = b"Z"  # after awrite returns, buf is the caller's again
        st.close()
        await st.wait_closed()
        assert await got == b"0123456789abcdef" + b"abcdef" + b"234"

    arun(main())


def test_writes_from_two_tasks_keep_their_order():
    async def main():
        net = FakeNet(chunk=3, space=6)
        c, s = net.pair()
        st = streams.Stream(s)
        got = asyncio.create_task(arecv_all(c))

        async def one(tag):
            for i in range(5):
                st.write((tag + str(i) + ";").encode())
                await st.drain()

        await asyncio.gather(one("a"), one("b"))
        st.close()
        await st.wait_closed()
        out = (await got).decode()
        parts = [p for p in out.split(";") if p]
        assert sorted(parts) == sorted(["a%d" % i for i in range(5)] + ["b%d" % i for i in range(5)]), out
        assert [p for p in parts if p[0] == "a"] == ["a%d" % i for i in range(5)]

    arun(main())


def test_close_sends_what_is_buffered():
    async def main():
        net = FakeNet(chunk=4, space=8)
        c, s = net.pair()
        st = streams.Stream(s)
        st.write(b"x" * 100)
        st.close()  # returns at once; a task sends the rest, then closes the socket
        assert not s.closed
        got = await arecv_all(c)
        await st.wait_closed()
        assert got == b"x" * 100 and s.closed
        assert ptest.raises(OSError, st.write, b"more").args[0] == EBADF

    arun(main())


def test_reset_raises_econnreset():
    async def main():
        net = FakeNet(chunk=4, space=8)
        c, s = net.pair()
        st = streams.Stream(s)
        st.write(b"y" * 50)
        c.abort()
        e = None
        try:
            await st.drain()
        except OSError as x:
            e = x
        assert e is not None and e.args[0] == ECONNRESET
        e = None
        try:
            await st.readline()
        except OSError as x:
            e = x
        assert e is not None and e.args[0] == ECONNRESET
        st.close()
        await st.wait_closed()  # the linger task gives up at once: the connection is gone
        assert s.closed

    arun(main())


def test_start_server_and_open_connection():
    async def main():
        net = FakeNet(chunk=64, space=256)
        real = streams.socket
        streams.socket = net
        try:
            seen = []

            async def echo_lines(r, w):
                seen.append((w.get_extra_info("peername"), w.get_extra_info("sockname")))
                while True:
                    line = await r.readline()
                    if not line:
                        break
                    w.write(line.upper())
                    await w.drain()
                w.close()
                await w.wait_closed()

            server = await streams.start_server(echo_lines, "0.0.0.0", 7)
            async with server:
                for k in range(2):  # two connections, one after the other
                    r, w = await streams.open_connection("10.0.0.2", 7)
                    assert w.get_extra_info("peername") == ("10.0.0.2", 7)
                    w.write(("hello %d\n" % k).encode())
                    w.write(b"x" * 600 + b"\n")  # more than the fake's buffer: back-pressure both ways
                    await w.drain()
                    assert await r.readline() == ("HELLO %d\n" % k).encode()
                    assert await r.readexactly(601) == b"X" * 600 + b"\n"
                    w.close()
                    await w.wait_closed()
                await settle()
            assert len(seen) == 2 and seen[0][1] == ("10.0.0.2", 7) and seen[0][0][0] == "10.0.0.1"
            # closed: the port refuses, and the listener's socket is closed
            e = None
            try:
                await streams.open_connection("10.0.0.2", 7)
            except OSError as x:
                e = x
            assert e is not None and e.args[0] == ECONNREFUSED
            await settle()
            assert net.all_closed(), [s for s in net.socks if not s.closed]
        finally:
            streams.socket = real

    arun(main())


def test_failed_handler_closes_its_connection():
    async def main():
        _quiet_loop()
        net = FakeNet()
        real = streams.socket
        streams.socket = net
        try:
            async def broken(r, w):
                await r.readline()
                raise ValueError("handler bug")

            server = await streams.start_server(broken, "0.0.0.0", 9)
            r, w = await streams.open_connection("10.0.0.2", 9)
            w.write(b"boom\n")
            await w.drain()
            assert await r.read() == b""  # the server side was closed: EOF
            w.close()
            server.close()
            await server.wait_closed()
            await settle()
            assert net.all_closed()
        finally:
            streams.socket = real

    arun(main())


def test_start_server_port_in_use():
    async def main():
        net = FakeNet()
        real = streams.socket
        streams.socket = net
        try:
            async def cb(r, w):
                w.close()

            a = await streams.start_server(cb, "0.0.0.0", 19)
            e = None
            try:
                await streams.start_server(cb, "0.0.0.0", 19)
            except OSError as x:
                e = x
            assert e is not None and e.args[0] == EADDRINUSE
            a.close()
            await a.wait_closed()
            assert net.all_closed()  # the failed listener's socket was closed too
        finally:
            streams.socket = real

    arun(main())


def test_wait_for_ms_times_out():
    async def main():
        ev = asyncio.Event()
        e = None
        try:
            await streams.wait_for_ms(ev.wait(), 20)
        except asyncio.TimeoutError as x:
            e = x
        assert e is not None
        assert await streams.wait_for_ms(settle(1), 1000) is None

    arun(main())
