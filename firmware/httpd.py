# The board's HTTP server (HTTP/1.0 and 1.1, RFC 9112) on port 80, over bsdnet.streams:
#   GET /       a small HTML status page (address, uptime, a counters summary)
#   GET /stats  every counter as JSON: memory, the mbuf pool, TCP connections, ipstat, icmpstat,
#               udpstat, tcpstat (nested objects), this server's and the services' own counts
# HEAD for both; 404 for other paths, 405 (Allow: GET, HEAD) for other methods, 400 and close for a
# malformed request or a line longer than MAX_LINE. HTTP/1.1 connections persist unless the client
# sends Connection: close; HTTP/1.0 ones close unless it sends Connection: keep-alive. A connection
# with no complete request within IDLE_MS is closed, so an idle (or slow) client cannot pin one of
# the stack's few connections; beyond MAX_CONNS at once a client gets 503 and close.
#
# Named httpd, not http: on CPython (the host board, the host tests) firmware/ is on sys.path and a
# module named http would shadow, or be shadowed by, the standard library's http package.
import asyncio
import gc
import json
import time
from bsdnet import streams

MAX_CONNS = 2  # HTTP connections served at once (the stack has opts.TCP_MAXCONN in all)
IDLE_MS = 10000  # for a whole request head, and for a response to drain
BUSY_MS = 2000  # a client turned away: how long its request may take to arrive before the 503
MAX_LINE = 512  # request line or header line, CR LF included
MAX_HEADERS = 32
MAX_BODY = 1024  # a request body (read and discarded: GET and HEAD take none); larger is 400

_REASON = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           503: "Service Unavailable"}
stats = {"requests": 0, "bad": 0, "busy": 0, "timeouts": 0, "errors": 0}
_active = 0
_t0 = int(time.time())


class _Table:
    """A snapshot of one counter table: a copy of its values (a list of small ints, one block of
    4 bytes a counter) with the names it is reported under. json_pieces renders it as an object;
    no dict of 70 entries is made on a board's heap."""

    def __init__(self, a, names, prefix):
        self.values = list(a)
        self.names = names
        self.prefix = prefix


def _counter_tables():
    """The protocol counters by table ("ipstat", "icmpstat", ...), from bsdnet.stats: reading them
    loads no protocol module."""
    from bsdnet import stats as bstats

    d = {}
    for key, a, names, prefix in bstats.TABLES:
        d[key + "stat"] = _Table(a, names, prefix)
    return d


def tcp_connections():
    """Connections the stack holds (0 in a build without TCP)."""
    try:
        from bsdnet.tcp_subr import tcp_connections as n
    except ImportError:
        return 0
    return n() if callable(n) else n


def stats_doc():
    """Everything GET /stats reports, as a dict of copies: the counters go on moving while the
    response is sent, and its Content-Length was counted from this snapshot."""
    from bsdnet import mbuf

    mem_alloc = getattr(gc, "mem_alloc", None)  # MicroPython only
    mem_free = getattr(gc, "mem_free", None)
    d = {
        "uptime_s": int(time.time()) - _t0,
        "mem_alloc": mem_alloc() if mem_alloc else None,
        "mem_free": mem_free() if mem_free else None,
        "mbuf_free": mbuf.pool_free(),
        "mbuf_total": mbuf.pool_size(),
        "tcp_connections": tcp_connections(),
        "http": dict(stats),
    }
    c = _counter_tables()
    for k in c:
        d[k] = c[k]
    try:
        import services  # firmware/services.py

        d["services"] = dict(services.stats)
    except ImportError:
        pass
    return d


def status_page(addr):
    from bsdnet.stats import stat

    d = stats_doc()
    mem = "%s bytes free, %s used" % (d["mem_free"], d["mem_alloc"]) if d["mem_free"] is not None else "n/a"
    rows = (
        ("address", addr),
        ("uptime", "%d s" % d["uptime_s"]),
        ("memory", mem),
        ("mbufs free", "%d of %d" % (d["mbuf_free"], d["mbuf_total"])),
        ("TCP connections", "%d open, %d accepted, %d made" % (
            d["tcp_connections"], stat("tcp", "accepts"), stat("tcp", "connects"))),
        ("IP packets", "%d in, %d out" % (stat("ip", "ips_total"), stat("ip", "ips_localout"))),
        ("ICMP", "%d received, %d echo requests" % (stat("icmp", "icps_received"), stat("icmp", "icps_echo"))),
        ("UDP datagrams", "%d in, %d out" % (stat("udp", "udps_ipackets"), stat("udp", "udps_opackets"))),
        ("HTTP requests", "%d" % stats["requests"]),
    )
    body = "".join("<tr><th>%s</th><td>%s</td></tr>\n" % r for r in rows)
    return ("<!DOCTYPE html>\n<html><head><title>bsdnet %s</title></head><body>\n<h1>bsdnet at %s</h1>\n"
            "<table>\n%s</table>\n<p><a href=\"/stats\">all counters (JSON)</a></p>\n</body></html>\n"
            % (addr, addr, body)).encode()


def _response(code, body, ctype, keep, head_only, extra=""):
    """bytes; or, for a body given as a dict (/stats, sent as JSON), [head, dict]: the JSON text is
    produced piece by piece as it is sent (_send), a board's heap may not have one block for the
    whole document, nor for a list of its pieces (the emulated Pico had neither)."""
    pieces = type(body) is dict
    n = 0
    if pieces:
        for p in json_pieces(body):
            n += len(p)
    else:
        n = len(body)
    h = ("HTTP/1.1 %d %s\r\nServer: bsdnet\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
         "Connection: %s\r\n%s\r\n" % (code, _REASON[code], ctype, n, "keep-alive" if keep else "close",
                                        extra)).encode()
    if pieces:
        return [h] if head_only else [h, body]
    # one write for head and body: two small segments would meet Nagle and the client's delayed ACK
    return h if head_only or not body else h + body


def json_pieces(d):
    """The JSON text of dict d as short str pieces (a generator): one per key, nested dicts
    opened up (ASCII only: the counters and names here are). No piece needs a large block of heap."""
    if not d:
        yield "{}"
        return
    if type(d) is _Table:
        from bsdnet.stats import stat_names

        sep = "{"
        i = 0
        for name in stat_names(d.names):
            yield sep + json.dumps(d.prefix + name) + ": " + json.dumps(d.values[i])
            sep = ", "
            i += 1
        yield "}" if sep == ", " else "{}"
        return
    sep = "{"
    for k in d:
        v = d[k]
        if type(v) is dict or type(v) is _Table:
            yield sep + json.dumps(k) + ": "
            for p in json_pieces(v):
                yield p
        else:
            yield sep + json.dumps(k) + ": " + json.dumps(v)
        sep = ", "
    yield "}"


def _error(code, keep, head_only=False, extra=""):
    return _response(code, ("%d %s\n" % (code, _REASON[code])).encode(), "text/plain", keep, head_only, extra)


async def read_head(reader):
    """Read one request head: (method, target, keep_alive), None if the client closed before a
    request began, or 400 if the request is malformed (bad line, too long, too many headers)."""
    line = await reader.readline(MAX_LINE)
    if line == b"\r\n" or line == b"\n":  # RFC 9112 2.2: ignore an empty line before the request line
        line = await reader.readline(MAX_LINE)
    if not line:
        return None
    if line[-1] != 10:
        return 400  # longer than MAX_LINE, or the stream ended in the middle
    parts = line.split()
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        return 400
    method, target, version = parts
    keep = version != b"HTTP/1.0"  # RFC 9112 9.3: 1.1 persists by default, 1.0 only when asked
    length = 0
    for _ in range(MAX_HEADERS + 1):
        h = await reader.readline(MAX_LINE)
        if not h or h[-1] != 10:
            return 400
        if h == b"\r\n" or h == b"\n":
            break
        i = h.find(b":")
        if i <= 0:
            return 400
        name = h[:i].strip().lower()
        if name == b"connection":
            for tok in h[i + 1:].lower().split(b","):
                tok = tok.strip()
                if tok == b"close":
                    keep = False
                elif tok == b"keep-alive" and version == b"HTTP/1.0":
                    keep = True
        elif name == b"content-length":
            try:
                length = int(h[i + 1:].strip())
            except ValueError:
                return 400
            if length < 0 or length > MAX_BODY:
                return 400
        elif name == b"transfer-encoding":
            return 400  # a chunked body: not for a GET-only server
    else:
        return 400  # more than MAX_HEADERS header lines
    if length:
        await reader.readexactly(length)  # a body nobody asked for: skip it, the next request follows
    return method, target, keep


def respond(method, target, keep, addr):
    """The response (head and body, bytes) to a parsed request."""
    head_only = method == b"HEAD"
    if method != b"GET" and not head_only:
        return _error(405, keep, extra="Allow: GET, HEAD\r\n")
    path = target
    if path.startswith(b"http://"):  # absolute form (RFC 9112 3.2.2): the path after the authority
        i = path.find(b"/", 7)
        path = path[i:] if i >= 0 else b"/"
    i = path.find(b"?")
    if i >= 0:
        path = path[:i]
    if path == b"/":
        return _response(200, status_page(addr), "text/html; charset=utf-8", keep, head_only)
    if path == b"/stats":
        return _response(200, stats_doc(), "application/json", keep, head_only)
    return _error(404, keep, head_only)


_CHUNK = 512


async def _send(writer, data):
    if type(data) is list:
        writer.write(data[0])  # the head
        if len(data) > 1:
            # the pieces gathered in one buffer of _CHUNK bytes, written and drained each time it
            # fills: few segments, and the heap sees no block growing piece by piece (the stream
            # copies what the socket does not take at once: drained chunk by chunk, that copy
            # stays one chunk; unbounded, the 3.8 KB /stats document piled up there and a Pico's
            # heap had no 3 KB block for it: measured)
            c = bytearray(_CHUNK)
            mv = memoryview(c)
            n = 0
            for p in json_pieces(data[1]):  # the same pieces _response counted, made again here
                p = p.encode()
                i = 0
                while i < len(p):
                    k = min(len(p) - i, _CHUNK - n)
                    c[n:n + k] = p if k == len(p) else p[i:i + k]
                    n += k
                    i += k
                    if n == _CHUNK:
                        writer.write(c)
                        await streams.wait_for_ms(writer.drain(), IDLE_MS)
                        n = 0
            if n:
                writer.write(mv[:n])
    else:
        writer.write(data)
    await streams.wait_for_ms(writer.drain(), IDLE_MS)


async def handle(reader, writer):
    """The streams.start_server callback: serve requests on one connection until it closes."""
    global _active
    if _active >= MAX_CONNS:
        stats["busy"] += 1
        try:
            # read the request first: closing with it unread would reset the connection, and the
            # client could lose the 503 with it
            await streams.wait_for_ms(read_head(reader), BUSY_MS)
            await _send(writer, _error(503, False, extra="Retry-After: 1\r\n"))
        except Exception:  # noqa: BLE001 - timeout, reset, EOF: the client is turned away either way
            pass
        writer.close()
        await writer.wait_closed()
        return
    _active += 1
    try:
        addr = writer.get_extra_info("sockname")[0]
        while True:
            try:
                req = await streams.wait_for_ms(read_head(reader), IDLE_MS)
            except EOFError:
                break  # the body ended early: the client is gone
            if req is None:
                break
            if type(req) is int:
                stats["bad"] += 1
                await _send(writer, _error(req, False))
                break
            stats["requests"] += 1
            method, target, keep = req
            await _send(writer, respond(method, target, keep, addr))
            if not keep:
                break
    except asyncio.TimeoutError:  # before OSError: on CPython it is the builtin TimeoutError, an OSError
        stats["timeouts"] += 1
    except OSError:
        stats["errors"] += 1  # reset by the client, or the stack could not send
    finally:
        _active -= 1
        writer.close()
    await writer.wait_closed()
