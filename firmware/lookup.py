# Name lookups on request, UDP port 5300: how a test (or a person with `nc -u`) checks the board's
# resolver and its TCP connect by name from outside. One request at a time, one datagram each way:
#   "A NAME"         -> "ok A.B.C.D", or "err " and the OSError (NXDOMAIN, timeout, no servers)
#   "T NAME PORT"    -> connects to NAME:PORT by name (streams.open_connection), sends
#                       "hello from bsdnet\n" and answers "ok " + the first line the peer sends back
#   "L"              -> "ok " + the DHCP lease as JSON (main.dhcp.lease(), with the dhcp and dns counters,
#                       the mbuf pool and the free heap where the runtime tells it), "err no DHCP" without one
# Off unless config.py says LOOKUP = True (main.start(..., lookup=True)): it resolves names and opens
# TCP connections for anyone on the LAN who asks. The host board turns it on with --ip dhcp.
from bsdnet import socket, streams, dns  # dns now, while the heap has room (start() runs this first)

PORT = 5300


async def _answer(words):
    if words[0] == "A" and len(words) == 2:
        return "ok " + await dns.aresolve(words[1])
    if words[0] == "T" and len(words) == 3:
        rd, wr = await streams.open_connection(words[1], int(words[2]), 64)  # a line: no 512-byte buffer
        try:
            wr.write(b"hello from bsdnet\n")
            await wr.drain()
            return "ok " + (await rd.readline()).decode().strip()
        finally:
            wr.close()
    if words[0] == "L":
        import json
        import main

        if main.dhcp is None:
            return "err no DHCP"
        from bsdnet import stats, mbuf

        d = main.dhcp.lease()
        for k in ("dhcp", "dns"):  # small tables: the counters without a whole netif.stats() on a Pico
            a, names, p = stats._table(k)
            d[k + "stat"] = stats.stat_dict(a, names, p)
        d["mbuf_free"] = mbuf.pool_free()
        d["mbuf_size"] = mbuf.pool_size()
        try:
            import gc

            gc.collect()
            d["mem_free"] = gc.mem_free()  # type: ignore[attr-defined]
        except AttributeError:  # CPython
            pass
        return "ok " + json.dumps(d)
    return "err unknown request (A NAME | T NAME PORT | L)"


async def serve(s, buf):
    while True:
        n, addr = await s.arecvfrom_into(buf)
        try:
            r = await _answer(bytes(buf[:n]).decode().split() or ["?"])
        except Exception as e:  # noqa: BLE001 - the answer says what failed
            r = "err %r" % (e,)
        try:
            s.sendto(r.encode(), addr)
        except OSError:
            pass


def open_socket():
    """The service's socket and buffer (serve()'s arguments), made once by main.start()."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", PORT))
    return s, bytearray(300)
