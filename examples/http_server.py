# A web page from microdot (a third-party web framework) over bsdnet: bsdnet.install() gives
# microdot's asyncio.start_server the stack's; the interface task runs beside the server.
import asyncio
import board  # type: ignore[import-not-found]  # boards/<name>.py deployed as board.py: chip, pins, addresses
import bsdnet
from bsdnet import tcp_subr

tcp_subr.tcp_init()  # TCP's buffers first, while the heap is in one piece (a Pico finds no room for them later)

nic = board.interface()
nic.active(True)
# address, netmask, gateway, DNS: board.py's, or your own ("192.168.1.50", "255.255.255.0", "192.168.1.1", "8.8.8.8")
nic.ifconfig((board.IP, board.NETMASK, board.GATEWAY, board.DNS))
bsdnet.install()  # from here on asyncio.start_server and `import socket` are bsdnet's

from microdot import Microdot  # noqa: E402

app = Microdot()


@app.route("/")
async def index(request):
    page = "<h1>bsdnet</h1><p>Hello %s, this is %s.</p>" % (request.client_addr[0], board.IP)
    return page, 200, {"Content-Type": "text/html"}


async def main():
    asyncio.create_task(nic.run())  # the interface task: frames in, timers
    await app.start_server(port=80)


asyncio.run(main())
