# Socket details (issue #10 item 12): sendto's parsed destination keyed on the address's content,
# a tiny positive timeout is still a timeout, recv's byte counts checked as CPython checks them, and
# connect((host, 0)) on a UDP socket dissolving the association. Over the fake device of netfix.
from bsdnet import opts, mbuf, socket
from bsdnet.udp_usrreq import udbinfo
from bsdnet.hdr import arp as ah, icmp as ich, udp as udph
from bsdnet.inet import inet_aton
import netfix
import ptest
from netfix import HOST_MAC, arp_frame, udp_frame

HOST = "10.7.0.1"
HOST2 = "10.7.0.3"
HOST2_MAC = b"\x02\x00\x00\x00\x00\x03"
BOARD = "10.7.0.2"
_socks = []


def _if():
    """Interface up, HOST and HOST2 resolved (they asked for the board), no UDP socket left open."""
    while _socks:
        _socks.pop().close()
    for inp in udbinfo.pcbs:
        assert not inp.attached, "a UDP pcb leaked from an earlier test"
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST2_MAC, HOST2, b"\0" * 6, BOARD))
    nic.poll()
    dev.sent.clear()
    return nic, dev


def _sock(port=None, type=socket.SOCK_DGRAM, proto=0):
    s = socket.socket(socket.AF_INET, type, proto)
    _socks.append(s)
    if port is not None:
        s.bind(("0.0.0.0", port))
    return s


def _dst(f):
    """(host, port) a sent UDP frame goes to, and its source port."""
    return "%d.%d.%d.%d" % (f[30], f[31], f[32], f[33]), udph.dport(f, 34), udph.sport(f, 34)


# ---------------------------------------------------------------------------------------- sendto
def test_sendto_list_changed_in_place_is_honoured():
    nic, dev = _if()
    s = _sock(5000)
    addr = [HOST, 9]
    s.sendto(b"a", addr)
    assert _dst(dev.sent[-1]) == (HOST, 9, 5000)
    addr[1] = 10  # the same list object, another port
    s.sendto(b"b", addr)
    assert _dst(dev.sent[-1]) == (HOST, 10, 5000)
    addr[0] = HOST2  # and another host
    s.sendto(b"c", addr)
    assert _dst(dev.sent[-1]) == (HOST2, 10, 5000) and dev.sent[-1][0:6] == HOST2_MAC
    addr[0] = HOST
    addr[1] = 9
    s.sendto(b"d", addr)
    assert _dst(dev.sent[-1]) == (HOST, 9, 5000) and dev.sent[-1][0:6] == HOST_MAC
    assert len(dev.sent) == 4
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_sendto_tuples_are_parsed_by_content():
    nic, dev = _if()
    s = _sock(5000)
    a1 = (HOST, 9)
    s.sendto(b"a", a1)
    assert _dst(dev.sent[-1]) == (HOST, 9, 5000)
    s.sendto(b"b", ("10.7.0." + "1", 9))  # an equal tuple made anew, an equal but distinct string
    assert _dst(dev.sent[-1]) == (HOST, 9, 5000)
    s.sendto(b"c", (HOST2, 9))
    assert _dst(dev.sent[-1]) == (HOST2, 9, 5000)
    s.sendto(b"d", (HOST2, 11))
    assert _dst(dev.sent[-1]) == (HOST2, 11, 5000)
    s.sendto(b"e", a1)  # back to the first object: not mistaken for the last destination
    assert _dst(dev.sent[-1]) == (HOST, 9, 5000)
    # a parse that fails half way (10.8.0 written before "x" is refused) leaves no stale destination
    e = ptest.raises(OSError, s.sendto, b"f", ("10.8.0.x", 9))
    assert e.args[0] == socket.EINVAL
    s.sendto(b"g", a1)
    assert _dst(dev.sent[-1]) == (HOST, 9, 5000) and dev.sent[-1][0:6] == HOST_MAC
    # what is not a (str, int) pair is refused, also right after a good one with equal contents
    for bad in ((HOST, 9.0), (inet_aton(HOST), 9), (HOST, 9, 0), HOST):
        e = ptest.raises(OSError, s.sendto, b"h", bad)
        assert e.args[0] == socket.EINVAL, bad
        s.sendto(b"i", a1)
    assert ptest.raises(OSError, s.sendto, b"j", (HOST, 0)).args[0] == socket.EINVAL
    assert len(dev.sent) == 5 + 1 + 4
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_sendto_unchanged_address_allocates_nothing():
    """The parsed destination is reused, with no allocation, for the same tuple, for an equal tuple
    holding an equal but distinct host string, and for a list; only a changed address is parsed."""
    dev = netfix.ReplayDev(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
    nic, _ = netfix.make_if(dev=dev)
    while _socks:
        _socks.pop().close()
    dev.count = 1
    nic.poll()  # HOST asked for us: resolved
    s = _sock(5000)
    buf = bytearray(64)
    same = (HOST, 40000)
    host_copy = "".join([c for c in HOST])  # equal, not the same object
    assert host_copy == HOST
    equal = (host_copy, 40000)
    lst = [HOST, 40000]
    for addr in (same, equal, lst):
        n0 = dev.nsent

        def tx(addr=addr):
            s.sendto(buf, addr)

        tx()
        assert dev.nsent == n0 + 1 and dev.last_len == 14 + 28 + 64
        ptest.report_alloc("udp sendto, address %s" % ("the same tuple" if addr is same else
                                                       "an equal tuple" if addr is equal else "a list"),
                           tx, limit=0)

    def alternate():
        s.sendto(buf, same)
        s.sendto(buf, equal)

    ptest.report_alloc("udp sendto, two equal tuples in turn", alternate, limit=0)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


# ---------------------------------------------------------------------------------------- timeouts
def test_tiny_positive_timeout_is_a_timeout_not_nonblocking():
    _if()
    s = _sock(9)
    for t in (1e-9, 0.0001, 0.0009):
        s.settimeout(t)
        e = ptest.raises(OSError, s.recv, 1)
        assert e.args[0] == socket.ETIMEDOUT, (t, e.args)
        assert ptest.raises(OSError, s.recvfrom_into, bytearray(4)).args[0] == socket.ETIMEDOUT
    s.settimeout(0)
    assert ptest.raises(OSError, s.recv, 1).args[0] == socket.EAGAIN
    s.settimeout(0.0)
    assert ptest.raises(OSError, s.recv, 1).args[0] == socket.EAGAIN
    r = _sock(type=socket.SOCK_RAW, proto=1)
    r.settimeout(1e-6)
    assert ptest.raises(OSError, r.recv, 1).args[0] == socket.ETIMEDOUT


# ---------------------------------------------------------------------------------------- recv sizes
def test_recv_sizes_checked_as_cpython_does():
    nic, dev = _if()
    s = _sock(9)
    s.setblocking(False)
    dev.rxq.append(udp_frame(HOST, BOARD, 40000, 9, b"0123456789"))
    nic.poll()
    buf = bytearray(4)
    e = ptest.raises(ValueError, s.recv, -1)
    assert str(e) == "negative buffersize in recv"
    e = ptest.raises(ValueError, s.recvfrom, -1)
    assert str(e) == "negative buffersize in recvfrom"
    e = ptest.raises(ValueError, s.recv_into, buf, -1)
    assert str(e) == "negative buffersize in recv_into"
    e = ptest.raises(ValueError, s.recv_into, buf, 5)
    assert str(e) == "buffer too small for requested bytes"
    e = ptest.raises(ValueError, s.recvfrom_into, buf, -1)
    assert str(e) == "negative buffersize in recvfrom_into"
    e = ptest.raises(ValueError, s.recvfrom_into, buf, 5)
    assert str(e) == "nbytes is greater than the length of the buffer"
    # none of them took the datagram; the counts that are right still work
    assert s.recv_into(buf, 3) == 3 and buf[0:3] == b"012"

    def one():  # a datagram at a time: a tiny heap's queues hold 2 in all (opts.SB_MBUFS)
        dev.rxq.append(udp_frame(HOST, BOARD, 40000, 9, b"abcdefgh"))
        nic.poll()

    one()
    assert s.recv_into(buf, 0) == 4 and buf == b"abcd"  # 0: the whole buffer
    one()
    n, addr = s.recvfrom_into(buf, 4)
    assert n == 4 and addr == (HOST, 40000)
    one()
    assert s.recv(0) == b""  # as CPython: a datagram of which nothing is wanted is still taken
    assert ptest.raises(OSError, s.recv, 1).args[0] == socket.EAGAIN
    # the stream-style readinto keeps MicroPython's rule: at most len(buf), whatever nbytes says
    dev.rxq.append(udp_frame(HOST, BOARD, 40000, 9, b"wxyz0123"))
    nic.poll()
    assert s.readinto(buf, 100) == 4 and buf == b"wxyz"
    assert ptest.raises(ValueError, s.readinto, buf, -1)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_recv_sizes_checked_before_waiting():
    """A bad count is refused at once, even on a blocking socket with nothing queued."""
    _if()
    s = _sock(9)
    s.settimeout(5)
    buf = bytearray(4)
    for fn, args in ((s.recv, (-1,)), (s.recvfrom, (-1,)), (s.recv_into, (buf, 5)),
                     (s.recvfrom_into, (buf, -2))):
        ptest.raises(ValueError, fn, *args)


# ---------------------------------------------------------------------------------------- connect
def test_connect_port_zero_dissolves_the_association():
    nic, dev = _if()
    s = _sock()
    s.bind(("0.0.0.0", 5001))
    s.connect((HOST, 6000))
    assert s.getsockname() == (BOARD, 5001) and s.getpeername() == (HOST, 6000)
    s.setblocking(False)
    # connected: a datagram from another port is not ours (port unreachable goes back)
    dev.rxq.append(udp_frame(HOST, BOARD, 6001, 5001, b"stranger"))
    nic.poll()
    assert ptest.raises(OSError, s.recv, 20).args[0] == socket.EAGAIN
    assert ich.msg_type(dev.sent[-1], 34) == ich.ICMP_UNREACH
    assert ptest.raises(OSError, s.sendto, b"x", (HOST, 7)).args[0] == 106  # EISCONN
    s.connect((HOST, 0))
    assert ptest.raises(OSError, s.getpeername).args[0] == socket.ENOTCONN
    assert s.getsockname() == ("0.0.0.0", 5001)  # the wildcard again, the port kept
    assert ptest.raises(OSError, s.send, b"x").args[0] == 89  # EDESTADDRREQ
    # sendto reaches anyone, datagrams come from anyone again
    s.sendto(b"to one", (HOST, 7))
    assert _dst(dev.sent[-1]) == (HOST, 7, 5001)
    s.sendto(b"to another", (HOST2, 8))
    assert _dst(dev.sent[-1]) == (HOST2, 8, 5001)
    n = len(dev.sent)
    dev.rxq.append(udp_frame(HOST, BOARD, 6001, 5001, b"from 6001"))
    dev.rxq.append(udp_frame(HOST2, BOARD, 7000, 5001, b"from host2", smac=HOST2_MAC))
    nic.poll()
    assert len(dev.sent) == n  # no port unreachable this time
    assert s.recvfrom(20) == (b"from 6001", (HOST, 6001))
    assert s.recvfrom(20) == (b"from host2", (HOST2, 7000))
    # and it can be connected again
    s.connect((HOST2, 6002))
    assert s.getpeername() == (HOST2, 6002) and s.getsockname() == (BOARD, 5001)
    assert s.send(b"again") == 5 and _dst(dev.sent[-1]) == (HOST2, 6002, 5001)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_connect_port_zero_on_an_unconnected_socket():
    """Nothing to dissolve: no error, and no ephemeral port taken; any host (0.0.0.0 too)."""
    _if()
    s = _sock()
    s.connect(("0.0.0.0", 0))
    s.connect(("10.99.0.1", 0))  # no route needed: nothing is sent
    assert s.getsockname() == ("0.0.0.0", 0)
    b = _sock()
    b.bind((BOARD, 5003))
    b.connect((HOST, 0))
    assert b.getsockname() == ("0.0.0.0", 5003)
    assert ptest.raises(OSError, b.connect, ("0.0.0.0", 9)).args[0] == socket.EINVAL
    assert mbuf.pool_free() == opts.NMBCLUSTERS
