# bsdnet.install(): the stack as the `socket`/`select` that libraries import, and asyncio's
# open_connection/start_server on MicroPython; bsdnet.select waits by driving the interfaces; the
# stream calls MicroPython libraries use (write(buf, n), readline on a non-blocking socket).
import sys

import ptest
import netfix
import tcpfix
from bsdnet import socket, route
from bsdnet.errno import ENETDOWN, EINVAL, EOPNOTSUPP, ENOPROTOOPT

_NAMES = ("socket", "usocket", "select", "uselect")


def _saved():
    return dict((n, sys.modules.get(n)) for n in _NAMES)


def _restore(saved):
    """pytest runs every module in one process: what install() put in sys.modules goes again."""
    for n, m in saved.items():
        if m is None:
            sys.modules.pop(n, None)
        else:
            sys.modules[n] = m
    if ptest.MICROPYTHON:
        import asyncio
        from bsdnet import dropin

        for a in ("open_connection", "start_server"):
            if getattr(asyncio, a, None) in (dropin.open_connection, dropin.start_server):
                delattr(asyncio, a)


def _gc():
    if not ptest.MICROPYTHON:
        return None
    import gc

    gc.collect()
    return gc


def test_install_needs_an_interface_with_an_address():
    for ifp in list(route.ifnet):
        route.if_detach(ifp)
    import bsdnet

    e = ptest.raises(OSError, bsdnet.install)
    assert e.args[0] == ENETDOWN and "ifconfig" in e.args[1], e.args


def test_install_puts_the_stack_in_sys_modules():
    import bsdnet

    netfix.make_if()
    saved = _saved()
    try:
        for m in ("dropin", "select"):  # loaded afresh: their cost is the figure
            sys.modules.pop("bsdnet." + m, None)
            if m in bsdnet.__dict__:
                delattr(bsdnet, m)
        gc = _gc()
        a = gc.mem_alloc() if gc else 0
        names = bsdnet.install()
        if gc:  # what install() keeps: dropin and bsdnet.select (streams only with asyncio's first use)
            gc.collect()
            print("heap install(): %d B" % (gc.mem_alloc() - a))
        from bsdnet import select as bselect
        import usocket  # type: ignore[import-not-found]
        import uselect  # type: ignore[import-not-found]

        assert usocket is socket and uselect is bselect
        if ptest.MICROPYTHON:
            assert names == _NAMES, names
            import socket as s2
            import select as sel2
            import asyncio
            from bsdnet import dropin

            assert s2 is socket and sel2 is bselect
            assert asyncio.open_connection is dropin.open_connection
            assert asyncio.start_server is dropin.start_server
        else:
            # the host's own socket and asyncio stay CPython's (they run in the same process)
            assert names == ("usocket", "uselect"), names
            import socket as s2

            assert s2 is not socket
        ai = usocket.getaddrinfo("10.7.0.1", 1883)
        assert ai[0][-1] == ("10.7.0.1", 1883) and len(ai[0]) == 5, ai
        s = usocket.socket()  # socket.socket(af, type, proto) defaults, as libraries call it
        try:
            # an option the stack does not have: a clear error, not silence
            e = ptest.raises(OSError, s.setsockopt, usocket.SOL_SOCKET, 8, 4096)  # SO_RCVBUF
            assert e.args[0] == ENOPROTOOPT and "not supported" in e.args[1], e.args
        finally:
            s.close()
    finally:
        _restore(saved)


def test_tls_asked_of_the_asyncio_calls_is_refused():
    from bsdnet import dropin

    e = ptest.raises(OSError, _run_until_it_waits, dropin.open_connection("10.7.0.1", 443, ssl=True))
    assert e.args[0] == EOPNOTSUPP, e.args


def _run_until_it_waits(coro):
    """Run a coroutine that raises before its first wait (no event loop needed)."""
    try:
        coro.send(None)
    except StopIteration:
        pass


def test_select_poll_drives_the_interface():
    from bsdnet import select

    nic, dev = netfix.make_if()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 5000))
    p = select.poll()
    p.register(u, select.POLLIN)
    assert p.poll(0) == []
    # the datagram waits in the chip: only a poll of the interface brings it in, which poll() does
    dev.rxq.append(netfix.udp_frame("10.7.0.1", "10.7.0.2", 6000, 5000, b"hi"))
    r = p.poll(1000)
    assert len(r) == 1 and r[0][0] is u and r[0][1] & select.POLLIN, r
    assert u.recv(10) == b"hi"
    dev.rxq.append(netfix.udp_frame("10.7.0.1", "10.7.0.2", 6000, 5000, b"again"))
    rl, wl, xl = select.select([u], [], [], 1.0)
    assert rl == [u] and wl == [] and xl == [], (rl, wl, xl)
    assert u.recv(10) == b"again"
    assert select.select([u], [], [], 0) == ([], [], [])
    p.unregister(u)
    assert p.poll(0) == []
    u.close()


def test_select_refuses_what_is_not_a_bsdnet_socket():
    from bsdnet import select

    netfix.make_if()
    e = ptest.raises(OSError, select.poll().register, sys.stdin, select.POLLIN)
    assert e.args[0] == EINVAL and "bsdnet sockets only" in e.args[1], e.args
    e = ptest.raises(OSError, select.select, [sys.stdin], [], [], 0)
    assert e.args[0] == EINVAL, e.args


def test_write_n_bytes_and_nonblocking_readline():
    with tcpfix.World() as w:
        c = w.passive()
        assert c.write(b"\x10\x00\x00\x00junk", 4) == 4  # umqtt: sock.write(premsg, i + 2)
        assert w.recv_data() == b"\x10\x00\x00\x00"
        assert c.readline() is None  # nothing yet: None, as MicroPython's non-blocking readline
        w.push(b"GET / HT")
        assert c.readline() == b"GET / HT"  # what has arrived of the line
        w.push(b"TP/1.0\r\nHost")
        assert c.readline() == b"TP/1.0\r\n"
        assert c.readline() == b"Host"
