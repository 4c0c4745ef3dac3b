# The board's application: bring the interface up and serve.
#
# On a board, main.py runs at boot: main() builds the interface from the `board` module
# (boards/<name>.py deployed as board.py: SPI bus, pins, chip, addresses) and serves for ever.
# The host board (tools/hostboard.py) calls start() and serve() itself with an emulated chip.
import asyncio
import services


def start(nic, ip, mask, gateway="0.0.0.0", dns="0.0.0.0"):
    """Bring nic up with a static address and bind the services' sockets (UDP echo 7, discard 9,
    chargen 19; the TCP services and HTTP /stats come with the TCP issue)."""
    nic.active(True)
    nic.ifconfig((ip, mask, gateway, dns))
    services.open_udp()
    return nic


async def serve(nic):
    """The interface task and the services beside it, until nic.stop()."""
    tasks = [asyncio.create_task(c) for c in services.udp_tasks()]
    try:
        await nic.run()
    finally:
        for t in tasks:
            t.cancel()


def main():
    import board  # type: ignore[import-not-found]  # boards/<name>.py, deployed as board.py

    nic = board.interface()
    start(nic, board.IP, board.NETMASK, getattr(board, "GATEWAY", "0.0.0.0"), getattr(board, "DNS", "0.0.0.0"))
    print("bsdnet up: %s mac %s" % (nic.ifconfig()[0], ":".join("%02x" % b for b in nic.config("mac"))))
    asyncio.run(serve(nic))


if __name__ == "__main__":
    main()
