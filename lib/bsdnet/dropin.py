# bsdnet.install(): make bsdnet the `socket` and `select` that third-party libraries import, and
# asyncio's open_connection/start_server (MicroPython's asyncio would wait on the runtime's own
# sockets; the webassembly VM's has none). MicroPython looks sys.modules up before its built-in
# modules, so a module object put there is what `import socket` finds from then on.
# asyncio: the firmware's own streams would run over our sockets too (its select.poll calls the
# socket's ioctl), but they would learn of new data only when the interface task's sleep ends and
# spin on ioctl meanwhile; bsdnet.streams wait on the flag the protocol sets. The VM's asyncio has
# no streams at all.
import sys
import asyncio  # before `select` is replaced: asyncio's core keeps the runtime's poll for its own waits
from .compat import MICROPYTHON
from .errno import ENETDOWN, EOPNOTSUPP
from . import route


async def open_connection(host, port, ssl=None):
    if ssl:
        raise OSError(EOPNOTSUPP, "bsdnet has no TLS: open_connection(ssl=...)")
    from . import streams  # loaded with the first use: a blocking-only application never carries it

    return await streams.open_connection(host, port)


async def start_server(cb, host, port, backlog=5, ssl=None):
    if ssl:
        raise OSError(EOPNOTSUPP, "bsdnet has no TLS: start_server(ssl=...)")
    from . import streams

    return await streams.start_server(cb, host, port, backlog)


def install():
    """Names installed into sys.modules. On CPython only usocket and uselect: the host's own
    tools (asyncio's event loop among them) need CPython's socket and select in the same process."""
    for ifp in route.ifnet:
        if ifp.ia.configured:
            break
    else:
        raise OSError(ENETDOWN, "bsdnet.install(): no interface is up with an address yet: "
                                "nic.active(True) and nic.ifconfig(...) first")
    from . import socket, select

    names = ("socket", "usocket", "select", "uselect") if MICROPYTHON else ("usocket", "uselect")
    for n in names:
        sys.modules[n] = socket if n.endswith("socket") else select
    if MICROPYTHON:
        asyncio.open_connection = open_connection
        asyncio.start_server = start_server
    return names
