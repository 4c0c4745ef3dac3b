# The board's application: bring the interface up and serve.
#
# On a board, main.py runs at boot: main() builds the interface from the `board` module
# (boards/<name>.py deployed as board.py: SPI bus, pins, chip, addresses) and serves for ever.
# The host board (tools/hostboard.py) calls start() and serve() itself with an emulated chip.
import asyncio
from bsdnet import tcp_subr

# TCP's first connections (tcpcbs and rings) are reserved at once, while the heap is in one piece:
# on a Pico, once the rest of the stack and the services are loaded from .mpy files, no block of
# 2 KiB is left for a ring (measured). A board that never imports this firmware pays nothing.
tcp_subr.tcp_init()

# services (and through them streams, HTTP and the socket layer) are imported by start(), after
# board.interface() has loaded the chip driver: on a Pico the driver's import could not find room
# once the rest was in (measured: MemoryError allocating 1280 bytes with 59 KB free in pieces)


dhcp = None  # the DHCP client (bsdnet.dhcp.DhcpClient) of a board started with ip "dhcp"
_lookup = []  # type: list  # the lookup service's socket and buffer (firmware/lookup.py), on a board with a resolver


def start(nic, ip, mask=None, gateway="0.0.0.0", dns="0.0.0.0", groups=(), hostname=None):
    """Bring nic up and bind the services' UDP sockets (echo 7, discard 9, chargen 19); the echo
    socket joins the multicast groups given (the board's MCAST_GROUPS). ip is a dotted quad (with
    mask, gateway, dns), or "dhcp": the address comes from a lease that serve() takes (main.dhcp is
    the client; hostname goes in its requests). The TCP listeners (echo, discard, chargen, HTTP 80)
    are opened by serve()."""
    nic.active(True)
    if ip == "dhcp":
        _dhcp_client(nic, hostname)
    else:
        nic.ifconfig((ip, mask, gateway, dns))
    import services

    services.open_udp()
    if (ip == "dhcp" or dns != "0.0.0.0") and not _lookup:
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


def main():
    import board  # type: ignore[import-not-found]  # boards/<name>.py, deployed as board.py

    nic = board.interface()
    start(nic, board.IP, board.NETMASK, getattr(board, "GATEWAY", "0.0.0.0"), getattr(board, "DNS", "0.0.0.0"),
          getattr(board, "MCAST_GROUPS", ()))
    print("bsdnet up: %s mac %s" % (nic.ifconfig()[0], ":".join("%02x" % b for b in nic.config("mac"))))
    asyncio.run(serve(nic))


if __name__ == "__main__":
    main()
