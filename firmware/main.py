# The board's application: bring the interface up and serve.
#
# On a board, main.py runs at boot: main() builds the interface from the `board` module
# (boards/<name>.py deployed as board.py: SPI bus, pins, chip, addresses) and serves for ever.
# The host board (tools/hostboard.py) calls start() and serve() itself with an emulated chip.
import asyncio


def start(nic, ip, mask, gateway="0.0.0.0", dns="0.0.0.0"):
    """Bring nic up with a static address. Services (echo, discard, chargen, http) are added here
    as the UDP and TCP issues land."""
    nic.active(True)
    nic.ifconfig((ip, mask, gateway, dns))
    return nic


async def serve(nic):
    await nic.run()


def main():
    import board  # type: ignore[import-not-found]  # boards/<name>.py, deployed as board.py

    nic = board.interface()
    start(nic, board.IP, board.NETMASK, getattr(board, "GATEWAY", "0.0.0.0"), getattr(board, "DNS", "0.0.0.0"))
    print("bsdnet up: %s mac %s" % (nic.ifconfig()[0], ":".join("%02x" % b for b in nic.config("mac"))))
    asyncio.run(serve(nic))


if __name__ == "__main__":
    main()
