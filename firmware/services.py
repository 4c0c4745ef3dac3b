# The board's small services (RFC 862 echo, RFC 863 discard, RFC 864 chargen), over bsdnet's
# socket API as any application would use it: over UDP, and over TCP through bsdnet.streams.
#
# open_udp() binds the UDP sockets once (firmware/main.py's start()); udp_tasks() gives the
# coroutines that serve them, which main.serve() runs beside the interface task. Sockets outlive
# the tasks, so serve() can be stopped and started again (the host board does, to read counters).
# tcp_servers() starts the TCP listeners (echo, discard, chargen and HTTP, firmware/httpd.py) for
# one serve(), which closes them when it ends.
from bsdnet import opts, socket, streams
from bsdnet.errno import EPROTONOSUPPORT

ECHO_PORT = 7
DISCARD_PORT = 9
CHARGEN_PORT = 19
CHARGEN_MAX = 512  # RFC 864: a UDP answer holds 0 to 512 characters
_LINE = 72  # characters per chargen line, then CR LF
# Datagrams from these source ports are not answered: two such services (here and on another
# host) would otherwise bounce datagrams between them for ever (FreeBSD inetd's check_loop()).
_LOOP_PORTS = (0, 7, 9, 13, 19, 37)
HTTP_PORT = 80
# TCP connections each TCP service serves at once (the loop guard above is UDP's: a TCP peer has
# to complete a handshake first); a client beyond them is closed at once. As many as the stack has
# (the end-to-end test runs 8 echo clients at once); lower it to keep slots free for HTTP.
TCP_PER_SERVICE = opts.TCP_MAXCONN
_TCP_BUF = 512  # echo/discard read buffer per connection
_CHARGEN_LINES = 7  # chargen lines per send: 7 * 74 = 518 bytes, whole lines so the pattern continues

# UDP: datagrams answered, refused (loop guard), errors; tcp_*: connections served; tcp_busy:
# connections closed at once because their service was at TCP_PER_SERVICE
stats = {"echo": 0, "discard": 0, "chargen": 0, "refused": 0, "errors": 0,
         "tcp_echo": 0, "tcp_discard": 0, "tcp_chargen": 0, "tcp_busy": 0}
_tcp_active = {"echo": 0, "discard": 0, "chargen": 0}
_socks = {}  # type: dict


def open_udp(echo=ECHO_PORT, discard=DISCARD_PORT, chargen=CHARGEN_PORT):
    """Bind the UDP service sockets (idempotent). A port of 0 or None leaves that service off."""
    for name, port in (("echo", echo), ("discard", discard), ("chargen", chargen)):
        if port and name not in _socks:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", port))
            _socks[name] = s
    return _socks


def join_groups(groups):
    """The UDP echo socket joins each multicast group of `groups` (dotted quads; the board setting
    MCAST_GROUPS): a datagram to GROUP:7 is echoed to its sender like one to the board's address.
    Joining sends the IGMP reports; close_udp() leaves the groups again (IGMP leave)."""
    for g in groups:
        _socks["echo"].setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, socket.inet_aton(g) + bytes(4))


def close_udp():
    for s in _socks.values():
        s.close()
    _socks.clear()


def _refuse(addr):
    if addr[1] in _LOOP_PORTS:
        stats["refused"] += 1
        return True
    return False


# One datagram buffer for the UDP echo and chargen tasks, made when this module loads (a Pico's
# heap, once serving, may have no 1.5 KB block left: measured). Sharing it is safe: each task
# copies a datagram in and sends its answer with no await in between. It holds the largest
# datagram the stack takes (opts.UDP_SENDSPACE, 5912 bytes, reassembled from 4 fragments), so that
# echo answers whatever arrived whole; on a small heap (opts.TCP_SMALL_HEAP: a Pico, where the
# firmware boots with ~25 KB to spare) one frame's worth, 1472 bytes: a larger datagram is echoed
# cut to that, as recvfrom_into cuts any datagram to the buffer it is given.
UDP_ECHO_MAX = opts.UDP_SENDSPACE
try:
    from gc import mem_free, mem_alloc  # type: ignore[attr-defined]

    if mem_free() + mem_alloc() < opts.TCP_SMALL_HEAP:
        UDP_ECHO_MAX = 1472
except ImportError:  # CPython: no such figures, and memory enough
    pass
_udp_buf = bytearray(UDP_ECHO_MAX)
_udp_mv = memoryview(_udp_buf)


async def udp_echo(s):
    buf = _udp_buf
    mv = _udp_mv
    while True:
        n, addr = await s.arecvfrom_into(buf)
        if _refuse(addr):
            continue
        try:
            s.sendto(mv[:n], addr)
            stats["echo"] += 1
        except OSError:
            stats["errors"] += 1  # no route back, no buffer: the datagram is lost, as UDP may


async def udp_discard(s):
    buf = bytearray(16)
    while True:
        await s.arecv_into(buf)
        stats["discard"] += 1


def chargen_fill(buf, n, start):
    """The RFC 864 pattern: lines of 72 printable characters (95 of them, rotating one per line)
    ending in CR LF, the first line starting at character `start`. Fills n bytes of buf."""
    i = 0
    c = start
    while i < n:
        k = 0
        while k < _LINE and i < n:
            buf[i] = 32 + (c + k) % 95
            i += 1
            k += 1
        if i < n:
            buf[i] = 13
            i += 1
        if i < n:
            buf[i] = 10
            i += 1
        c = (c + 1) % 95
    return n


async def udp_chargen(s):
    buf = _udp_buf
    mv = _udp_mv
    line = 0
    while True:
        n, addr = await s.arecvfrom_into(buf)
        if _refuse(addr):
            continue
        # the answer's length: what the request asked in its first two bytes (big endian) when
        # it sent them, else a whole 512; its first line follows the previous answer's
        want = CHARGEN_MAX
        if n >= 2:
            want = min((buf[0] << 8) | buf[1], CHARGEN_MAX)
        chargen_fill(buf, want, line)
        line = (line + 1) % 95
        try:
            s.sendto(mv[:want], addr)
            stats["chargen"] += 1
        except OSError:
            stats["errors"] += 1


def udp_tasks():
    t = []
    if "echo" in _socks:
        t.append(udp_echo(_socks["echo"]))
    if "discard" in _socks:
        t.append(udp_discard(_socks["discard"]))
    if "chargen" in _socks:
        t.append(udp_chargen(_socks["chargen"]))
    return t


# --- TCP -------------------------------------------------------------------------------------
async def echo_stream(reader, writer):
    """RFC 862 over TCP: what the client sends comes back, until it closes."""
    buf = bytearray(_TCP_BUF)
    while True:
        n = await reader.readinto(buf)
        if n == 0:
            return
        await writer.awrite(buf, 0, n)  # straight from buf: no copy, and back-pressure waits here


async def discard_stream(reader, writer):
    """RFC 863 over TCP: read and throw away until the client closes."""
    buf = bytearray(_TCP_BUF)
    while await reader.readinto(buf):
        pass


async def chargen_stream(reader, writer):
    """RFC 864 over TCP: the line pattern, continuously, until the client closes (a send then fails
    with ECONNRESET or EPIPE, the normal end). Whole lines per send keep the rotation going across
    sends; what the client sends is ignored."""
    buf = bytearray(_CHARGEN_LINES * (_LINE + 2))
    line = 0
    try:
        while True:
            chargen_fill(buf, len(buf), line)
            line = (line + _CHARGEN_LINES) % 95
            await writer.awrite(buf)
    except OSError:
        pass


def limited(name, handler):
    """handler(reader, writer) as a start_server callback with at most TCP_PER_SERVICE connections
    at a time; counts them in stats["tcp_" + name] and always closes the connection."""
    key = "tcp_" + name

    async def cb(reader, writer):
        if _tcp_active[name] >= TCP_PER_SERVICE:
            stats["tcp_busy"] += 1
            writer.close()
            await writer.wait_closed()
            return
        _tcp_active[name] += 1
        stats[key] += 1
        try:
            await handler(reader, writer)
        except OSError:
            stats["errors"] += 1  # reset by the peer, or the stack could not send
        finally:
            _tcp_active[name] -= 1
            writer.close()
        await writer.wait_closed()

    return cb


async def tcp_servers(echo=ECHO_PORT, discard=DISCARD_PORT, chargen=CHARGEN_PORT, http=HTTP_PORT):
    """Start the TCP services (a port of 0 or None leaves one off); returns their streams.Server
    objects, which the caller close()s. A build without TCP gives an empty list; a port that cannot
    be opened is reported and left out, the others still start."""
    servers = []
    for name, port in (("echo", echo), ("discard", discard), ("chargen", chargen), ("http", http)):
        if not port:
            continue
        if name == "http":
            import httpd  # firmware/httpd.py

            cb = httpd.handle
        else:
            cb = limited(name, _HANDLERS[name])
        try:
            # backlog: a whole interface batch of handshakes may complete before the accept task runs
            servers.append(await streams.start_server(cb, "0.0.0.0", port, opts.TCP_MAXCONN))
        except OSError as e:
            if e.args[0] == EPROTONOSUPPORT:
                break  # no TCP in this build: UDP only
            print("services: TCP %s on port %d not started: %r" % (name, port, e))
    return servers


_HANDLERS = {"echo": echo_stream, "discard": discard_stream, "chargen": chargen_stream}
