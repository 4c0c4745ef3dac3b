# A web page from microdot (a third-party web framework) over bsdnet: bsdnet.install() gives
# microdot's asyncio.start_server the stack's; the interface task runs beside the server.
import asyncio
import bsdnet
from bsdnet import boardcfg, tcp_subr

tcp_subr.tcp_init()  # TCP's buffers first, while the heap is in one piece (a Pico finds no room for them later)

# The address comes from the board's /config.py, written by `make deploy BOARD=... PORT=... IP=...`
# (IP=dhcp: a lease, renewed while the interface is driven; or IP=192.168.1.50/24 GATEWAY=... DNS=...).
nic = boardcfg.up()
bsdnet.install()  # from here on asyncio.start_server and `import socket` are bsdnet's

from microdot import Microdot  # noqa: E402

app = Microdot()


@app.route("/")
async def index(request):
    page = "<h1>bsdnet</h1><p>Hello %s, this is %s.</p>" % (request.client_addr[0], nic.ifconfig()[0])
    return page, 200, {"Content-Type": "text/html"}


async def main():
    asyncio.create_task(nic.run())  # the interface task: frames in, timers
    await app.start_server(port=80)


asyncio.run(main())
