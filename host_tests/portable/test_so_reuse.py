# SO_REUSEADDR and SO_REUSEPORT as BSD's in_pcbbind_setup decides them: UDP (several sockets on a
# port only when every one allows it; a multicast address needs SO_REUSEADDR alone), TCP (past
# connections and TIME_WAIT with SO_REUSEADDR, listeners sharing a port with SO_REUSEPORT). Where
# several sockets share a port, unicast goes to one and broadcast/multicast to each
# (test_mcast_delivery).
import tcpfix  # first: TCP's rings reserved while the heap is in one piece (a Pico: see tcpfix)
from bsdnet import socket
import igmpfix as fx
from igmpfix import BOARD

G1 = "239.1.2.3"
_socks = fx.socks


def _setup():
    return fx.setup()


def _end():
    fx.end()


def _sock(addr=None, reuse=0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    _socks.append(s)
    s.setblocking(False)
    if reuse & 1:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse & 2:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if addr is not None:
        s.bind(addr)
    return s


# --- SO_REUSEADDR / SO_REUSEPORT --------------------------------------------------------------------
def _bind_err(addr, reuse=0):
    s = _sock(reuse=reuse)
    try:
        s.bind(addr)
    except OSError as e:
        s.close()
        _socks.remove(s)
        return e.args[0]
    return 0


def test_udp_bind_rules():
    nic, dev = _setup()
    _sock(("0.0.0.0", 8000))
    assert _bind_err(("0.0.0.0", 8000)) == socket.EADDRINUSE
    assert _bind_err(("0.0.0.0", 8000), reuse=1) == socket.EADDRINUSE  # BSD: not for the same address
    assert _bind_err(("0.0.0.0", 8000), reuse=2) == socket.EADDRINUSE  # a did not allow it
    assert _bind_err((BOARD, 8000)) == socket.EADDRINUSE  # overlaps the wildcard
    assert _bind_err((BOARD, 8000), reuse=1) == 0  # SO_REUSEADDR: a specific address beside it
    while len(_socks) > 0:
        _socks.pop().close()
    # all with SO_REUSEPORT: as many as want it
    _sock(("0.0.0.0", 8001), reuse=2)
    b = _sock(("0.0.0.0", 8001), reuse=2)
    assert b.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
    assert b.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) == 0
    assert _bind_err(("0.0.0.0", 8001)) == socket.EADDRINUSE
    assert _bind_err(("0.0.0.0", 8001), reuse=1) == socket.EADDRINUSE
    while len(_socks) > 0:
        _socks.pop().close()
    # a multicast address: SO_REUSEADDR is enough (it counts as SO_REUSEPORT there)
    _sock((G1, 8002), reuse=1)
    _sock((G1, 8002), reuse=1)
    assert _bind_err((G1, 8002)) == socket.EADDRINUSE
    assert _bind_err(("0.0.0.0", 8002), reuse=1) == 0
    while len(_socks) > 0:
        _socks.pop().close()
    # cleared again: the option is read when bind() comes
    s = _sock(reuse=2)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 0)
    s.bind(("0.0.0.0", 8003))
    assert _bind_err(("0.0.0.0", 8003), reuse=2) == socket.EADDRINUSE
    _end()


def test_tcp_reuseaddr_past_connections_and_reuseport_listeners():
    from tcpfix import World, ACK, FIN, add
    from bsdnet import tcp_subr

    with World() as w:
        c = w.passive()
        w.listener.close()
        # the connection holds the port against a plain bind, not against SO_REUSEADDR
        s = w.socket()
        e = tcpfix.raises_oserror(s.bind, ("0.0.0.0", w.lport))
        assert e == socket.EADDRINUSE
        c.close()
        f = w.recv()
        assert f.flags & FIN
        w.bseq = add(w.bseq, 1)
        w.send(ACK | FIN)
        w.pseq = add(w.pseq, 1)
        w.recv()
        assert tcp_subr.tcp_timewait() == 1
        e = tcpfix.raises_oserror(s.bind, ("0.0.0.0", w.lport))
        assert e == socket.EADDRINUSE  # TIME_WAIT holds it too
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", w.lport))
        s.listen(1)
        # two listeners on one port when both set SO_REUSEPORT
        a = w.socket()
        a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        a.bind(("0.0.0.0", 9100))
        a.listen(1)
        b = w.socket()
        b.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        assert b.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT) == 1
        b.bind(("0.0.0.0", 9100))
        b.listen(1)
        d = w.socket()
        assert tcpfix.raises_oserror(d.bind, ("0.0.0.0", 9100)) == socket.EADDRINUSE
        assert tcpfix.raises_oserror(d.bind, (G1, 9101)) == socket.EADDRNOTAVAIL  # a group: UDP only
