# The board's small services (RFC 862 echo, RFC 863 discard, RFC 864 chargen), over bsdnet's
# socket API as any application would use it. UDP now; the TCP ones come with the TCP issue.
#
# open_udp() binds the sockets once (firmware/main.py's start()); udp_tasks() gives the
# coroutines that serve them, which main.serve() runs beside the interface task. Sockets outlive
# the tasks, so serve() can be stopped and started again (the host board does, to read counters).
from bsdnet import socket

ECHO_PORT = 7
DISCARD_PORT = 9
CHARGEN_PORT = 19
CHARGEN_MAX = 512  # RFC 864: a UDP answer holds 0 to 512 characters
_LINE = 72  # characters per chargen line, then CR LF
# Datagrams from these source ports are not answered: two such services (here and on another
# host) would otherwise bounce datagrams between them for ever (FreeBSD inetd's check_loop()).
_LOOP_PORTS = (0, 7, 9, 13, 19, 37)

stats = {"echo": 0, "discard": 0, "chargen": 0, "refused": 0, "errors": 0}
_socks = {}  # type: dict


def open_udp(echo=ECHO_PORT, discard=DISCARD_PORT, chargen=CHARGEN_PORT):
    """Bind the UDP service sockets (idempotent). A port of 0 or None leaves that service off."""
    for name, port in (("echo", echo), ("discard", discard), ("chargen", chargen)):
        if port and name not in _socks:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(("0.0.0.0", port))
            _socks[name] = s
    return _socks


def close_udp():
    for s in _socks.values():
        s.close()
    _socks.clear()


def _refuse(addr):
    if addr[1] in _LOOP_PORTS:
        stats["refused"] += 1
        return True
    return False


async def udp_echo(s):
    buf = bytearray(1472)
    mv = memoryview(buf)
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
    buf = bytearray(CHARGEN_MAX)
    mv = memoryview(buf)
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
