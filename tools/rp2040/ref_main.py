# main.py for the REFERENCE firmware (micropython-v1.28.0-W5500_EVB_PICO.uf2): MicroPython's own
# network.WIZNET5K driver (W5500 in MACRAW mode, lwIP in C) serving, through its socket module, at
# the same time:
#   UDP echo (7), discard (9), chargen (19: each datagram is answered with one 74-byte line of the
#       RFC 864 pattern, the next line for the next datagram),
#   TCP echo (7), discard (9), chargen (19: streams the RFC 864 pattern from its first line until
#       the peer closes or resets),
# to measure our stack against on the same emulated board and the same chip model
# (tools/rp2040/bench_ref.py).
#
#   .venv/bin/python tools/rp2040/run.py --uf2 ../shared/rp2040/micropython-v1.28.0-W5500_EVB_PICO.uf2 \
#       --chip w5500 --board "" --extra tools/rp2040/ref_main.py:/main.py --serve ...
# or from Python: run.Board(chip="w5500", uf2=run.UF2_W5500, board="", serve=True, bridge="w5500",
#                           extras=["tools/rp2040/ref_main.py:/main.py"]), then send frames with
# send_frame() / read them with recv_frame() (or relay them to a TAP).
# Prints "ref heap at boot: N" (gc.mem_free() before the network is touched), "ref up: IP MAC" once
# the interface is up, then "ref mem_free: N" (gc.mem_free() after a collect, with all six
# services bound and listening), then serves for ever: one loop over non-blocking sockets and
# select.poll. A connection that fails (reset, error) is closed and the others go on.
#
# lwIP's socket layer here loses a FIN that arrives before accept(): such a connection never reads
# EOF and would hold one of lwIP's few TCP PCBs for ever. So a connection that has sent nothing
# for IDLE_MS after accept (echo, discard; chargen finds out by its writes failing) is closed.
#
# Wiring as the W5500-EVB-Pico and the emulated board (tools/rp2040/board.mjs DEFAULT_PINS): SPI0
# GP18/19/16, CS GP17, RST GP20, INTn GP21. INTn is passed explicitly: without it the driver only
# polls the chip from lwIP's 64 ms timer. The SPI rate asked is the same as boards/pico_w5500.py's.
# Addresses as boards/pico_w5500.py: 10.7.0.2/24.
import gc
import machine
import network
import select
import socket
import time
from machine import Pin

IP = "10.7.0.2"
NETMASK = "255.255.255.0"
GATEWAY = "10.7.0.1"
BAUDRATE = 20_000_000
ECHO, DISCARD, CHARGEN = 7, 9, 19
IDLE_MS = 3000
LINE = 74  # 72 characters and CR LF
PERIOD = 95 * LINE  # the pattern repeats after 95 lines
CHUNK = 2048  # bytes offered to a chargen connection per write
POLLIN, POLLOUT = select.POLLIN, select.POLLOUT
BAD = select.POLLHUP | select.POLLERR


def pattern():
    """RFC 864: line k is the 72 printable characters from (k mod 95), then CR LF; one period plus
    CHUNK bytes, so that any offset below PERIOD has CHUNK contiguous bytes after it."""
    p = bytearray(PERIOD + CHUNK)
    i = 0
    for k in range(95):
        for j in range(72):
            p[i] = 32 + (k + j) % 95
            i += 1
        p[i] = 13
        p[i + 1] = 10
        i += 2
    p[PERIOD:] = p[:CHUNK]
    return p


class Conn:
    def __init__(self, s, port, now):
        self.s = s
        self.port = port
        self.t = now  # accept time; None once the peer sent something
        self.off = 0  # chargen: offset in the pattern
        self.buf = bytearray(1024) if port == ECHO else None  # echo: bytes not sent back yet
        self.n = 0  # echo: how many of them
        self.sent = 0  # echo: how many of them went out already


def main():
    gc.collect()
    print("ref heap at boot: %d" % gc.mem_free())
    spi = machine.SPI(0, BAUDRATE, sck=Pin(18), mosi=Pin(19), miso=Pin(16))
    nic = network.WIZNET5K(spi, Pin(17), Pin(20), Pin(21))
    nic.active(True)
    nic.ifconfig((IP, NETMASK, GATEWAY, "0.0.0.0"))
    t = time.ticks_ms()
    while not nic.isconnected() and time.ticks_diff(time.ticks_ms(), t) < 5000:
        time.sleep_ms(50)
    mac = nic.config("mac")
    print("ref up: %s %s" % (nic.ifconfig()[0], ":".join("%02x" % b for b in mac)))
    pat = memoryview(pattern())
    buf = bytearray(1472)
    poll = select.poll()
    udp = {}
    listen = {}
    conns = {}
    for port in (ECHO, DISCARD, CHARGEN):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(socket.AF_INET, kind)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", port))
            if kind == socket.SOCK_STREAM:
                s.listen(2)
                listen[s] = port
            else:
                udp[s] = [port, 0]
            s.setblocking(False)
            poll.register(s, POLLIN)
    gc.collect()
    print("ref mem_free: %d" % gc.mem_free())

    def close(c):
        conns.pop(c.s, None)
        try:
            poll.unregister(c.s)
        except (OSError, KeyError, ValueError):
            pass
        try:
            c.s.close()
        except OSError:
            pass

    def want(c):
        # echo: wait for room to send back what is pending, else for data; chargen: both
        if c.port == CHARGEN or (c.port == ECHO and c.sent < c.n):
            ev = POLLIN | POLLOUT if c.port == CHARGEN else POLLOUT
        else:
            ev = POLLIN
        poll.modify(c.s, ev)

    def on_conn(c, ev):
        if ev & POLLIN and not (c.port == ECHO and c.sent < c.n):
            n = c.s.readinto(c.buf if c.port == ECHO else buf)
            if n is not None:
                if n == 0:  # the peer closed
                    close(c)
                    return
                c.t = None
                if c.port == ECHO:
                    c.n = n
                    c.sent = 0
        if c.port == ECHO and c.sent < c.n:
            w = c.s.write(memoryview(c.buf)[c.sent:c.n])
            if w:
                c.sent += w
            if c.sent >= c.n:
                c.n = c.sent = 0
        elif c.port == CHARGEN and ev & POLLOUT:
            w = c.s.write(pat[c.off:c.off + CHUNK])
            if w:
                c.off = (c.off + w) % PERIOD
        elif ev & BAD:
            close(c)
            return
        want(c)

    while True:
        for s, ev in poll.poll(500):
            try:
                if s in conns:
                    c = conns[s]
                    try:
                        on_conn(c, ev)
                    except OSError:  # reset, aborted: this connection only
                        close(c)
                elif s in listen:
                    try:
                        cs, _ = s.accept()
                    except OSError:
                        continue
                    cs.setblocking(False)
                    c = Conn(cs, listen[s], time.ticks_ms())
                    conns[cs] = c
                    poll.register(cs, POLLIN)
                    want(c)
                else:
                    u = udp[s]
                    try:
                        data, addr = s.recvfrom(1472)
                    except OSError:
                        continue
                    if u[0] == ECHO:
                        s.sendto(data, addr)
                    elif u[0] == CHARGEN:
                        k = u[1] * LINE
                        s.sendto(pat[k:k + LINE], addr)
                        u[1] = (u[1] + 1) % 95
            except Exception as e:  # never let one socket end the server
                print("ref error: %r" % e)
        if conns:
            now = time.ticks_ms()
            for c in list(conns.values()):
                if c.t is not None and c.port != CHARGEN and time.ticks_diff(now, c.t) > IDLE_MS:
                    close(c)


main()
