# An asyncio TCP client: connect to a server, send lines, print the answers; the interface task
# (nic.run()) runs beside it and keeps the board answering (ARP, ping) once the client is done.
# After bsdnet.install(), asyncio.open_connection is bsdnet's (bsdnet.streams.open_connection
# is the same call without install()).
import asyncio
import board  # type: ignore[import-not-found]  # boards/<name>.py deployed as board.py: chip, pins, addresses
import bsdnet
from bsdnet import tcp_subr

tcp_subr.tcp_init()  # TCP's buffers first, while the heap is in one piece (a Pico finds no room for them later)

SERVER = ("10.7.0.1", 5000)  # edit: the TCP server to talk to

nic = board.interface()
nic.active(True)
# address, netmask, gateway, DNS: board.py's, or your own ("192.168.1.50", "255.255.255.0", "192.168.1.1", "8.8.8.8")
nic.ifconfig((board.IP, board.NETMASK, board.GATEWAY, board.DNS))
bsdnet.install()


async def client():
    reader, writer = await asyncio.open_connection(*SERVER)
    for i in range(3):
        writer.write(("hello %d from bsdnet\n" % i).encode())
        await writer.drain()
        line = await reader.readline()
        print("server says:", line.decode().strip())
    writer.close()
    await writer.wait_closed()
    print("tcp client done")


async def main():
    asyncio.create_task(client())
    await nic.run()


asyncio.run(main())
