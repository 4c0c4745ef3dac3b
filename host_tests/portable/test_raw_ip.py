# Raw IP sockets (raw_ip.py): ping from the board with SOCK_RAW/ICMP, what a raw socket reads (from
# the IP header on), protocol unreachable for protocols no one claims, and the socket rules.
from bsdnet import opts, mbuf, socket
from bsdnet.raw_ip import ripcbinfo
from bsdnet.stats import stat
from bsdnet.in_cksum import in_cksum
from bsdnet.inet import inet_aton
from bsdnet.hdr import ether as eh, arp as ah, ip as iph, icmp as ich
import netfix
import ptest
from netfix import HOST_MAC, BOARD_MAC, arp_frame

HOST = "10.7.0.1"
BOARD = "10.7.0.2"


def _if():
    nic, dev = netfix.make_if()
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, HOST, b"\0" * 6, BOARD))
    nic.poll()
    dev.sent.clear()
    return nic, dev


def _ip_frame(proto, payload, src=HOST, dst=BOARD):
    n = 20 + len(payload)
    b = bytearray(14 + n)
    eh.emit(b, 0, BOARD_MAC, 0, HOST_MAC, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, 20, 0, n, 5, 0, 64, proto, inet_aton(src), 0, inet_aton(dst), 0)
    iph.fill_cksum(b, 14)
    b[34:] = payload
    if len(b) < 60:
        b.extend(bytes(60 - len(b)))
    return bytes(b)


def _echo(type, ident, seq, data):
    b = bytearray(8 + len(data))
    ich.emit(b, 0, type, 0, ident, seq)
    b[8:] = data
    ich.fill_cksum(b, 0, len(b))
    return bytes(b)


def test_ping_from_the_board():
    nic, dev = _if()
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)
    try:
        s.setblocking(False)
        req = _echo(ich.ICMP_ECHO, 0x4242, 7, b"board pings")
        assert s.sendto(req, (HOST, 0)) == len(req)
        f = dev.sent[-1]
        assert f[0:6] == HOST_MAC and iph.check(f, 14, len(f) - 14) == 0
        assert iph.proto(f, 14) == iph.IPPROTO_ICMP and f[26:30] == bytes(inet_aton(BOARD))
        assert f[34:34 + len(req)] == req
        # the host's echo reply: the raw socket reads it from the IP header on, with the sender
        rep = _echo(ich.ICMP_ECHOREPLY, 0x4242, 7, b"board pings")
        dev.rxq.append(_ip_frame(iph.IPPROTO_ICMP, rep))
        nic.poll()
        data, addr = s.recvfrom(200)
        assert addr == (HOST, 0)
        assert iph.hlen(data, 0) == 20 and data[20:20 + len(rep)] == rep
        assert in_cksum(data, 20, len(rep)) == 0
        # echo requests to the board are still answered by the stack, not handed to the socket
        dev.sent.clear()
        dev.rxq.append(_ip_frame(iph.IPPROTO_ICMP, _echo(ich.ICMP_ECHO, 1, 1, b"x")))
        nic.poll()
        assert len(dev.sent) == 1 and ich.msg_type(dev.sent[0], 34) == ich.ICMP_ECHOREPLY
        assert ptest.raises(OSError, s.recv, 10).args[0] == socket.EAGAIN
    finally:
        s.close()
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_unclaimed_protocol_gets_protocol_unreachable_unless_a_raw_socket_takes_it():
    nic, dev = _if()
    n0 = stat("ip", "ips_noproto")
    req = _ip_frame(253, b"experimental")
    dev.rxq.append(req)
    nic.poll()
    assert stat("ip", "ips_noproto") == n0 + 1
    assert len(dev.sent) == 1
    f = dev.sent[0]
    assert ich.msg_type(f, 34) == ich.ICMP_UNREACH and ich.msg_code(f, 34) == ich.ICMP_UNREACH_PROTOCOL
    assert f[42:42 + 20] == req[14:34]  # the offending header is quoted
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
    try:
        s.setblocking(False)
        dev.sent.clear()
        dev.rxq.append(req)
        nic.poll()
        assert dev.sent == []
        data = s.recv(100)
        assert data[9] == 253 and data[20:32] == b"experimental"
        d0 = stat("raw", "rips_delivered")
        # a connected raw socket only hears its peer: the host's datagram is unclaimed again
        s.connect(("10.7.0.9", 0))
        dev.rxq.append(req)
        nic.poll()
        assert stat("raw", "rips_delivered") == d0 and ich.msg_type(dev.sent[-1], 34) == ich.ICMP_UNREACH
        assert ptest.raises(OSError, s.recv, 100).args[0] == socket.EAGAIN
        s.connect((HOST, 0))
        assert s.send(b"to the peer") == 11
        assert dev.sent[-1][30:34] == bytes(inet_aton(HOST)) and dev.sent[-1][23] == 253
    finally:
        s.close()
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_raw_socket_rules():
    _if()
    for bad in (0, 255, 300, "1"):
        assert ptest.raises(OSError, socket.socket, socket.AF_INET, socket.SOCK_RAW, bad).args[0] == 93
    socks = [socket.socket(socket.AF_INET, socket.SOCK_RAW, 1) for _ in range(opts.RAW_SOCKETS)]
    try:
        assert ptest.raises(OSError, socket.socket, socket.AF_INET, socket.SOCK_RAW, 1).args[0] == 105
        s = socks[0]
        assert ptest.raises(OSError, s.bind, ("10.9.9.9", 0)).args[0] == 99
        s.bind((BOARD, 0))
        assert s.getsockname() == (BOARD, 0)
        assert ptest.raises(OSError, s.send, b"x").args[0] == 89  # not connected
        # over MTU - 20 goes in fragments (test_ip_frag.py), up to what we could reassemble
        assert ptest.raises(OSError, s.sendto, bytes(opts.IP_MAXREASS + 1), (HOST, 0)).args[0] == 90
    finally:
        for x in socks:
            x.close()
    assert not any(p.attached for p in ripcbinfo.pcbs)
