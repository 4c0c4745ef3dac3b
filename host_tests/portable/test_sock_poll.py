# Readiness: socket.poll(mask) everywhere, and MicroPython's own select.poll on a board (the socket
# is an io.IOBase there and answers ioctl(MP_STREAM_POLL)).
import ptest
import netfix
from bsdnet import socket


def _select_poll():
    try:
        import select
        import io
    except ImportError:
        return None
    if not ptest.MICROPYTHON or not hasattr(io, "IOBase") or not hasattr(select, "poll"):
        return None
    return select


def test_poll_mask_udp_and_listener():
    nic, dev = netfix.make_if()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 5000))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("0.0.0.0", 8080))
    ls.listen(2)
    assert u.poll(socket.POLLIN | socket.POLLOUT) == socket.POLLOUT
    assert ls.poll(socket.POLLIN) == 0  # no connection waiting
    dev.rxq.append(netfix.udp_frame("10.7.0.1", "10.7.0.2", 6000, 5000, b"hi"))
    nic.poll(1000)
    assert u.poll(socket.POLLIN) == socket.POLLIN
    u.close()
    ls.close()
    assert u.poll(socket.POLLIN) & socket.POLLHUP


def test_select_poll_on_micropython():
    select = _select_poll()
    if select is None:
        ptest.skip("select.poll over Python objects: MicroPython with io.IOBase only")
    nic, dev = netfix.make_if()
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("0.0.0.0", 5000))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.bind(("0.0.0.0", 8080))
    ls.listen(2)
    p = select.poll()
    p.register(ls, select.POLLIN)
    p.register(u, select.POLLIN)
    assert p.poll(0) == []
    dev.rxq.append(netfix.udp_frame("10.7.0.1", "10.7.0.2", 6000, 5000, b"hi"))
    nic.poll(1000)
    r = p.poll(0)
    assert len(r) == 1 and r[0][0] is u and r[0][1] & select.POLLIN, r
    assert u.recv(10) == b"hi"
    u.close()
    ls.close()
