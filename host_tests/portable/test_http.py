"""The firmware's TCP side over bsdnet.streams and test_streams' FakeSock: the HTTP server
(firmware/httpd.py: 200 status page and /stats JSON, HEAD, 404, 405, 400 with close, keep-alive
by version and Connection header, the idle timeout, 503 beyond MAX_CONNS) and the TCP echo, discard
and chargen services (firmware/services.py, their per-service limit, tcp_servers()).

In the MicroPython VM these need firmware/ at /firmware; tools/vmtest.py mounts lib, tools and the
portable tests only, so there they skip until it mounts firmware too."""
import asyncio
import json
import sys

import ptest
from bsdnet import streams
from test_streams import FakeNet, arun, settle, arecv_all

if ptest.MICROPYTHON:
    sys.path.append("/firmware")
else:
    import os

    _fw = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "firmware")
    if _fw not in sys.path:
        sys.path.insert(0, _fw)
try:
    import httpd
    import services
except ImportError:
    httpd = services = None  # type: ignore[assignment]


def _need_firmware():
    if httpd is None:
        ptest.skip("firmware/ is not on the path (the VM harness mounts lib, tools and the portable tests)")


async def _read_response(r):
    """(status, headers {lower-case name: value}) of one response's head; None at EOF."""
    line = await r.readline()
    if not line:
        return None
    assert line.startswith(b"HTTP/1.1 "), line
    code = int(line.split()[1])
    hdrs = {}
    while True:
        h = await r.readline()
        assert h.endswith(b"\r\n"), h
        if h == b"\r\n":
            break
        k, v = h.split(b":", 1)
        hdrs[k.strip().lower().decode()] = v.strip().decode()
    return code, hdrs


async def _response(r, head=False):
    x = await _read_response(r)
    if x is None:
        return None
    code, hdrs = x
    n = int(hdrs["content-length"])
    body = b"" if head else await r.readexactly(n)
    return code, hdrs, body


class Conn:
    """A client connection to httpd.handle running as a task on the other end of a fake pair."""

    def __init__(self, net):
        c, s = net.pair(80)
        self.sock = c
        self.r = streams.Stream(c)
        self.srv = streams.Stream(s, peer=s.faddr)
        self.task = asyncio.create_task(httpd.handle(self.srv, self.srv))

    async def send(self, data):
        self.r.write(data)
        await self.r.drain()

    async def done(self):
        self.r.close()
        await self.r.wait_closed()
        await self.task


def _http(fn):
    _need_firmware()

    async def main():
        net = FakeNet()
        await fn(net)
        await settle()
        assert net.all_closed(), "a connection was left open"

    arun(main())


def test_get_root_http10_closes():
    async def t(net):
        c = Conn(net)
        await c.send(b"GET / HTTP/1.0\r\nHost: board\r\nUser-Agent: test\r\n\r\n")
        code, h, body = await _response(c.r)
        assert code == 200 and h["content-type"].startswith("text/html")
        assert int(h["content-length"]) == len(body) and h["connection"] == "close"
        assert b"bsdnet at 10.0.0.2" in body and b"mbufs free" in body
        assert await c.r.read() == b""  # 1.0 without keep-alive: the server closed
        await c.done()

    _http(t)


def test_keep_alive_two_requests_then_close():
    async def t(net):
        c = Conn(net)
        n0 = httpd.stats["requests"]
        await c.send(b"GET /stats HTTP/1.1\r\nHost: board\r\n\r\nGET /nothing-here HTTP/1.1\r\n\r\n")
        code, h, body = await _response(c.r)
        assert code == 200 and h["content-type"] == "application/json" and h["connection"] == "keep-alive"
        d = json.loads(body.decode())
        for k in ("mem_alloc", "mem_free", "mbuf_free", "mbuf_total", "tcp_connections",
                  "ipstat", "icmpstat", "udpstat", "tcpstat"):
            assert k in d, k
        for k in ("ipstat", "icmpstat", "udpstat", "tcpstat"):
            assert type(d[k]) is dict, k
        assert "ips_total" in d["ipstat"] and "udps_ipackets" in d["udpstat"] and "icps_received" in d["icmpstat"]
        from bsdnet import mbuf

        assert d["mbuf_total"] == mbuf.pool_size() and d["mbuf_free"] <= d["mbuf_total"]
        if ptest.MICROPYTHON:
            assert d["mem_free"] > 0 and d["mem_alloc"] > 0
        code, h, body = await _response(c.r)  # the second request, same connection
        assert code == 404 and h["connection"] == "keep-alive" and body == b"404 Not Found\n"
        await c.send(b"GET /?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n")
        code, h, body = await _response(c.r)
        assert code == 200 and h["connection"] == "close"
        assert await c.r.read() == b""
        assert httpd.stats["requests"] == n0 + 3
        await c.done()

    _http(t)


def test_http10_keep_alive_and_head():
    async def t(net):
        c = Conn(net)
        await c.send(b"HEAD /stats HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
        code, h, body = await _response(c.r, head=True)
        assert code == 200 and h["connection"] == "keep-alive" and int(h["content-length"]) > 100
        await c.send(b"HEAD / HTTP/1.0\r\n\r\n")  # no body after a HEAD's head: this one comes next
        code, h, _ = await _response(c.r, head=True)
        assert code == 200 and h["connection"] == "close" and h["content-type"].startswith("text/html")
        assert await c.r.read() == b""
        await c.done()

    _http(t)


def test_405_keeps_the_connection():
    async def t(net):
        c = Conn(net)
        await c.send(b"POST /stats HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
                     b"DELETE / HTTP/1.1\r\n\r\nGET /stats HTTP/1.1\r\n\r\n")
        code, h, body = await _response(c.r)
        assert code == 405 and h["allow"] == "GET, HEAD" and h["connection"] == "keep-alive"
        code, h, body = await _response(c.r)
        assert code == 405
        code, h, body = await _response(c.r)  # the POST body was skipped: requests stay in step
        assert code == 200 and body.startswith(b"{")
        await c.done()

    _http(t)


def test_400_closes():
    for req in (b"GARBAGE\r\n\r\n",
                b"GET / HTTP/2.0\r\n\r\n",
                b"GET /" + b"a" * (httpd.MAX_LINE if httpd else 600) + b" HTTP/1.1\r\n\r\n",
                b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
                b"GET / HTTP/1.1\r\nContent-Length: lots\r\n\r\n",
                b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * ((httpd.MAX_HEADERS if httpd else 32) + 1) + b"\r\n"):
        async def t(net, req=req):
            c = Conn(net)
            bad = httpd.stats["bad"]
            await c.send(req)
            code, h, body = await _response(c.r)
            assert code == 400 and h["connection"] == "close", req
            assert await c.r.read() == b"", req
            assert httpd.stats["bad"] == bad + 1
            await c.done()

        _http(t)


def test_client_closing_between_requests():
    async def t(net):
        c = Conn(net)
        await c.send(b"\r\nGET / HTTP/1.1\r\n\r\n")  # an empty line before the request line is ignored
        code, _, _ = await _response(c.r)
        assert code == 200
        c.sock.shutdown(1)  # no more requests
        assert await c.r.read() == b""
        await c.done()

    _http(t)


def test_idle_connection_times_out():
    async def t(net):
        old = httpd.IDLE_MS
        httpd.IDLE_MS = 50
        try:
            n = httpd.stats["timeouts"]
            c = Conn(net)
            await c.send(b"GET / HTTP/1.1\r\n")  # a request head that never ends
            assert await c.r.read() == b""  # closed by the server after IDLE_MS
            assert httpd.stats["timeouts"] == n + 1
            await c.done()
        finally:
            httpd.IDLE_MS = old

    _http(t)


def test_503_beyond_max_conns():
    async def t(net):
        busy = httpd.stats["busy"]
        held = [Conn(net) for _ in range(httpd.MAX_CONNS)]
        await settle()
        extra = Conn(net)
        await extra.send(b"GET / HTTP/1.1\r\n\r\n")
        code, h, body = await _response(extra.r)
        assert code == 503 and h["connection"] == "close" and body == b"503 Service Unavailable\n"
        assert await extra.r.read() == b""
        assert httpd.stats["busy"] == busy + 1
        await extra.done()
        for c in held:  # the ones held still serve
            await c.send(b"GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n")
            code, _, _ = await _response(c.r)
            assert code == 200
            await c.done()
        assert httpd._active == 0

    _http(t)


# --- the TCP services ------------------------------------------------------------------------
def _service(name):
    return services.limited(name, {"echo": services.echo_stream, "discard": services.discard_stream,
                                   "chargen": services.chargen_stream}[name])


def test_tcp_echo_under_back_pressure():
    _need_firmware()

    async def main():
        net = FakeNet(chunk=100, space=300)
        c, s = net.pair(7)
        srv = streams.Stream(s)
        task = asyncio.create_task(_service("echo")(srv, srv))
        cl = streams.Stream(c)
        data = bytes(range(256)) * 8
        got = asyncio.create_task(arecv_all(c))
        await cl.awrite(data)
        c.shutdown(1)
        assert await got == data
        await task
        cl.close()
        await settle()
        assert net.all_closed() and services._tcp_active["echo"] == 0

    arun(main())


def test_tcp_discard():
    _need_firmware()

    async def main():
        net = FakeNet(chunk=64, space=128)
        c, s = net.pair(9)
        srv = streams.Stream(s)
        n = services.stats["tcp_discard"]
        task = asyncio.create_task(_service("discard")(srv, srv))
        await streams.Stream(c).awrite(b"z" * 3000)
        c.shutdown(1)
        await task
        assert await arecv_all(c) == b""  # nothing came back, then the server closed
        assert services.stats["tcp_discard"] == n + 1
        c.close()

    arun(main())


def test_tcp_chargen_pattern_continues_across_sends():
    _need_firmware()

    async def main():
        net = FakeNet(chunk=100, space=300)
        c, s = net.pair(19)
        srv = streams.Stream(s)
        task = asyncio.create_task(_service("chargen")(srv, srv))
        want = 74 * 30  # more lines than one send holds (7)
        got = bytearray()
        buf = bytearray(128)
        while len(got) < want:
            n = await c.arecv_into(buf)
            assert n > 0
            got.extend(buf[:n])
        ref = bytearray(want)
        services.chargen_fill(ref, want, 0)
        assert got[:want] == ref
        assert got[72:74] == b"\r\n" and got[74] == got[1] and got[74 * 7] == got[7]
        c.close()  # the client closes: the next send fails, the service ends
        await task
        await settle()
        assert net.all_closed() and services._tcp_active["chargen"] == 0

    arun(main())


def test_tcp_service_limit():
    _need_firmware()

    async def main():
        net = FakeNet()
        cb = _service("echo")
        busy = services.stats["tcp_busy"]
        conns = []
        for _ in range(services.TCP_PER_SERVICE + 1):
            c, s = net.pair(7)
            srv = streams.Stream(s)
            conns.append((c, asyncio.create_task(cb(srv, srv))))
        await settle()
        c, t = conns[-1]
        assert await arecv_all(c) == b"" and t.done()  # beyond the limit: closed at once
        assert services.stats["tcp_busy"] == busy + 1
        c.close()
        for c, t in conns[:-1]:
            await c.asend(b"still here")
            buf = bytearray(20)
            assert await c.arecv_into(buf) == 10
            c.close()
            await t
        await settle()
        assert net.all_closed() and services._tcp_active["echo"] == 0

    arun(main())


def test_tcp_servers_start_and_close():
    _need_firmware()

    async def main():
        net = FakeNet()
        real = streams.socket
        streams.socket = net
        try:
            servers = await services.tcp_servers()
            assert sorted(net.listeners) == [7, 9, 19, 80]
            r, w = await streams.open_connection("10.0.0.2", 80)
            w.write(b"GET /stats HTTP/1.0\r\n\r\n")
            await w.drain()
            code, h, body = await _response(r)
            assert code == 200 and "services" in json.loads(body.decode())
            r2, w2 = await streams.open_connection("10.0.0.2", 7)
            await w2.awrite(b"echo me\n")
            assert await r2.readline() == b"echo me\n"
            w.close()
            w2.close()
            for s in servers:
                s.close()
                await s.wait_closed()
            await settle()
            assert net.all_closed()
        finally:
            streams.socket = real

    arun(main())


def test_tcp_servers_without_tcp():
    """Before SOCK_STREAM exists, tcp_servers() starts nothing and main.serve() goes on with UDP."""
    _need_firmware()

    class NoTcp(FakeNet):
        def socket(self, af=2, type=1, proto=0):
            raise OSError(93, "SOCK_STREAM: TCP is not in this build yet")

    async def main():
        real = streams.socket
        streams.socket = NoTcp()
        try:
            assert await services.tcp_servers() == []
        finally:
            streams.socket = real

    arun(main())
