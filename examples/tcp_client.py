# An asyncio TCP client: connect to a server, send lines, print the answers; the interface task
# (nic.run()) runs beside it and keeps the board answering (ARP, ping) once the client is done.
# After bsdnet.install(), asyncio.open_connection is bsdnet's (bsdnet.streams.open_connection
# is the same call without install()).
import asyncio
import bsdnet
from bsdnet import boardcfg, tcp_subr

tcp_subr.tcp_init()  # TCP's buffers first, while the heap is in one piece (a Pico finds no room for them later)

SERVER = ("10.7.0.1", 5000)  # edit: the TCP server to talk to

# The address comes from the board's /config.py, written by `make deploy BOARD=... PORT=... IP=...`
# (IP=dhcp: a lease, renewed while the interface is driven; or IP=192.168.1.50/24 GATEWAY=... DNS=...).
nic = boardcfg.up()
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
