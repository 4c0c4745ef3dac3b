# The board's application: bring the interface up and serve.
#
# On a board, main.py runs at boot: main() reads /config.py (BOARD: which boards/<name>.py, the
# hardware; IP "dhcp" or "A.B.C.D/N", GATEWAY, DNS, HOSTNAME, MAC, MCAST_GROUPS), or an older
# /board.py with the addresses in it, brings the interface up, prints the boot line and serves for
# ever. The host board (tools/hostboard.py) calls start() and serve() itself with an emulated chip.
import asyncio

# While the firmware loads, a collection after every 4 KB allocated (MicroPython collects only when
# an allocation fails otherwise). Loading .mpy files leaves garbage between the blocks that stay;
# left until the heap is full, it ends up as holes all over it, and the large blocks that come
# later (a 2 KiB ring, the 1472-byte echo buffer, MicroPython's next qstr pool: 1280 entries, ~9 KB
# at once) find no place. Collected as it goes, the next module fills the holes. Measured on the
# emulated Pico, serving: the largest free block 14 KB -> 42 KB of 43 KB free, and a DHCP boot
# that failed "allocating 1280 bytes" comes up. Back to collecting on need once serve() has its
# listeners: a collection is a pause, and under a flood of frames it cost echoes (measured).


def _load_gc(on):
    try:
        from gc import threshold  # type: ignore[attr-defined]
    except ImportError:  # CPython
        return
    threshold(4096 if on else -1)


_load_gc(True)
from bsdnet import tcp_subr  # noqa: E402 - after the threshold: the stack loads with it

# TCP's first connections (tcpcbs and rings) are reserved at once, while the heap is in one piece:
# on a Pico, once the rest of the stack and the services are loaded from .mpy files, no block of
# 2 KiB is left for a ring (measured). A board that never imports this firmware pays nothing.


def _tcp_reserve():
    """How many TCP connections tcp_init() reserves at boot on a small heap (a Pico): 3 instead of
    opts.TCP_PREALLOC's 4 (the rest on first need), 2 on a board that takes a lease (config.py IP
    "dhcp"): the DHCP client takes 8 KB, which 4 reserved connections and every service leave no
    room for. With 4 a Pico kept 24 KB free while serving, too little for the HTTP status page
    under a flood of frames (MemoryError, measured on the emulated Pico); each connection not
    reserved gives back its two 2 KiB rings and tcpcb. A tiny heap (opts.TINY: an ESP32 without
    PSRAM, ~190 KB in all, 166 KB when this runs) reserves 1."""
    try:
        from gc import mem_free, mem_alloc  # type: ignore[attr-defined]
    except ImportError:  # CPython: memory enough
        return
    from bsdnet import opts

    heap = mem_free() + mem_alloc()
    if heap >= opts.TCP_SMALL_HEAP:
        return
    try:
        import config  # type: ignore[import-not-found]  # /config.py
        dhcp = getattr(config, "IP", None) == "dhcp"
    except ImportError:
        dhcp = False
    opts.TCP_PREALLOC = 1 if opts.TINY else 2 if dhcp else 3  # type: ignore[misc]


_tcp_reserve()
tcp_subr.tcp_init()

# services (and through them streams, HTTP and the socket layer) are imported by start(), after
# the interface has loaded the chip driver: on a Pico the driver's import could not find room
# once the rest was in (measured: MemoryError allocating 1280 bytes with 59 KB free in pieces)


dhcp = None  # the DHCP client (bsdnet.dhcp.DhcpClient) of a board started with ip "dhcp"
_lookup = []  # type: list  # the lookup service's socket and buffer (firmware/lookup.py), with a lease


def start(nic, ip, mask=None, gateway="0.0.0.0", dns="0.0.0.0", groups=(), hostname=None, lookup=False):
    """Bring nic up and bind the services' UDP sockets (echo 7, discard 9, chargen 19); the echo
    socket joins the multicast groups given (the board's MCAST_GROUPS). ip is a dotted quad (with
    mask, gateway, dns), or "dhcp": the address comes from a lease that serve() takes (main.dhcp is
    the client; hostname goes in its requests). lookup: the name-lookup service on UDP 5300
    (firmware/lookup.py; config.py LOOKUP = True), a diagnostic that resolves names and opens TCP
    connections for whoever asks: off unless asked for. The TCP listeners (echo, discard, chargen, HTTP 80)
    are opened by serve()."""
    nic.active(True)
    if ip == "dhcp":
        _dhcp_client(nic, hostname)
    else:
        nic.ifconfig((ip, mask, gateway, dns))
    return _services(nic, groups, lookup)


def _services(nic, groups, lookup):
    """The services' UDP sockets (and the lookup service's), the echo socket in the groups."""
    import services

    services.open_udp()
    if lookup and not _lookup:
        # the resolver with it, now: on a Pico, loaded at the first lookup while serving, its code
        # found no room (measured)
        import lookup

        _lookup.extend(lookup.open_socket())
    services.join_groups(groups)
    return nic


async def serve(nic):
    """The interface task and the services beside it, until nic.stop(). The TCP listeners live for
    this call (connections already accepted go on); a build without TCP serves UDP only."""
    import services

    tasks = [asyncio.create_task(c) for c in services.udp_tasks()]
    if dhcp is not None:
        tasks.append(dhcp.start())  # a client cancelled by the last serve() goes on where it was
    if _lookup:
        import lookup

        tasks.append(asyncio.create_task(lookup.serve(*_lookup)))
    servers = []
    try:
        servers = await services.tcp_servers()
        _load_gc(False)
        await nic.run()
    finally:
        for t in tasks:
            t.cancel()
        for s in servers:
            s.close()


def _dhcp_client(nic, hostname):
    """The DHCP client (bsdnet.dhcp, loaded only here), made once."""
    global dhcp
    if dhcp is None:
        from bsdnet.dhcp import DhcpClient

        dhcp = DhcpClient(nic, hostname=hostname)
    nic.dhcp = dhcp


def boot_line(nic, board, chip, how):
    """'bsdnet 0.6.0 on pico_w5500 (W5500): 10.7.0.2/24 static, link up 100M full, mac 02:..'."""
    from bsdnet import __version__, boardcfg

    return "bsdnet %s on %s (%s): %s/%d %s, link %s, mac %s" % (
        __version__, board, chip.upper(), nic.ifconfig()[0], boardcfg.mask_len(nic.ia.mask), how,
        nic.status("link"), ":".join("%02x" % b for b in nic.config("mac")))


def setup():
    """The interface from the board's config.py (or older board.py), up with its address
    (boardcfg.configure, as user code's boardcfg.up(); a lease is taken by serve()) and the
    services' UDP sockets; prints the boot line. Returns the interface."""
    global dhcp
    from bsdnet import boardcfg

    nic, how, name, hw, cfg = boardcfg.configure(dhcp_task=True)
    dhcp = nic.dhcp
    _services(nic, getattr(cfg, "MCAST_GROUPS", ()), getattr(cfg, "LOOKUP", False))
    print(boot_line(nic, name, hw.CHIP, how))
    _unload("bsdnet.boardcfg")
    return nic


def _unload(name):
    """Boot-only code out of the heap for the board's life (boardcfg: 1.6 KB back on the emulated
    Pico; its strings stay interned): nothing keeps its functions once the interface is built, and
    a later import loads it again."""
    import sys

    pkg, _, attr = name.rpartition(".")
    sys.modules.pop(name, None)
    try:
        delattr(sys.modules[pkg], attr)
    except (AttributeError, KeyError):
        pass


def main():
    try:
        asyncio.run(serve(setup()))
    finally:  # stopped (Ctrl-C from a REPL or a test harness) before serve() got to it
        _load_gc(False)


if __name__ == "__main__":
    main()
