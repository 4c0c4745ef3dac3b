# Test fixtures for the stack above the driver: a fake MAC-raw device with the driver contract,
# and frame builders (using the hdr modules) for ARP and ICMP echo.
from bsdnet.netif import Interface
from bsdnet.inet import inet_aton
from bsdnet import route
from bsdnet.hdr import ether as eh, arp as ah, ip as iph, icmp as ich, udp as udph

HOST_MAC = b"\x02\x00\x00\x00\x00\x01"
BOARD_MAC = b"\x02\x00\x00\x00\x00\x02"
BCAST = b"\xff\xff\xff\xff\xff\xff"


class FakeDev:
    """The driver contract (init, mac, link_up, link_status, recv_into, send, pending, counters) over two queues."""

    def __init__(self, mac=BOARD_MAC):
        self.mac = mac
        self.rxq = []
        self.sent = []
        self.link = True
        self.fail_send = False
        self.mcast = None  # what set_multicast() was last given

    def init(self):
        pass

    link_event = False

    def link_up(self):
        return self.link

    def link_status(self):
        return 7 if self.link else 0  # up, 100M, full duplex

    def pending(self):
        return bool(self.rxq)

    def recv_into(self, buf):
        if not self.rxq:
            return 0
        f = self.rxq.pop(0)
        buf[0:len(f)] = f
        return len(f)

    def send(self, buf, n):
        if self.fail_send:
            return False
        self.sent.append(bytes(buf[0:n]))
        return True

    def set_multicast(self, macs, n):
        """The driver contract's multicast filter: the list is kept for tests to look at."""
        self.mcast = [bytes(macs[6 * i:6 * i + 6]) for i in range(n)]

    def counters(self):
        return {"rx_queued": len(self.rxq), "sent": len(self.sent)}


class ReplayDev(FakeDev):
    """Hands the same preallocated frame to recv_into `count` times and only counts what is sent:
    a device that itself allocates nothing, to measure the stack's own heap use per packet."""

    def __init__(self, frame, mac=BOARD_MAC):
        FakeDev.__init__(self, mac)
        self.frame = bytearray(frame)
        self.count = 0
        self.nsent = 0
        self.last_len = 0

    def pending(self):
        return self.count > 0

    def recv_into(self, buf):
        if self.count <= 0:
            return 0
        self.count -= 1
        f = self.frame
        n = len(f)
        for i in range(n):
            buf[i] = f[i]
        return n

    def send(self, buf, n):
        self.nsent += 1
        self.last_len = n
        return True


def make_if(ip="10.7.0.2", mask="255.255.255.0", gw="10.7.0.1", dev=None):
    """An interface up on a FakeDev (or dev), the only one in the interface list (route.ifnet)."""
    for ifp in list(route.ifnet):  # interfaces of earlier tests are gone: sockets must not poll
        route.if_detach(ifp)  # or route through them (their routes go with them)
    if dev is None:
        dev = FakeDev()
    nic = Interface(dev)
    nic.active(True)
    nic.ifconfig((ip, mask, gw, "0.0.0.0"))
    dev.sent.clear()  # the gratuitous ARP
    return nic, dev


def arp_frame(op, sha, spa, tha, tpa, dst=BCAST):
    """An ARP frame as it comes off the wire: padded to the 60-byte Ethernet minimum."""
    b = bytearray(60)
    eh.emit(b, 0, dst, 0, sha, 0, eh.ETHERTYPE_ARP)
    ah.emit(b, 14, op, sha, 0, inet_aton(spa), 0, tha, 0, inet_aton(tpa), 0)
    return bytes(b)


def echo_frame(src, dst, ident=0x1234, seq=1, payload=b"abcdefgh", dmac=BOARD_MAC, smac=HOST_MAC, ttl=64,
               options=b""):
    hl = 20 + len(options)
    n = hl + 8 + len(payload)
    b = bytearray(14 + n)
    eh.emit(b, 0, dmac, 0, smac, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, hl, 0, n, 7, 0, ttl, iph.IPPROTO_ICMP, inet_aton(src), 0, inet_aton(dst), 0)
    b[14 + 20:14 + hl] = options
    iph.fill_cksum(b, 14)
    ic = 14 + hl
    ich.emit(b, ic, ich.ICMP_ECHO, 0, ident, seq)
    b[ic + 8:] = payload
    ich.fill_cksum(b, ic, 8 + len(payload))
    if len(b) < 60:
        b.extend(bytes(60 - len(b)))  # the sender's MAC pads to the Ethernet minimum
    return bytes(b)


def udp_frame(src, dst, sport, dport, payload=b"", dmac=BOARD_MAC, smac=HOST_MAC, cksum=True, ulen=None):
    """A UDP datagram in an Ethernet frame (checksum 0 = none when cksum is False; ulen overrides
    the UDP length field, to build bad ones)."""
    n = 28 + len(payload)
    b = bytearray(14 + n)
    eh.emit(b, 0, dmac, 0, smac, 0, eh.ETHERTYPE_IP)
    iph.emit(b, 14, 20, 0, n, 9, 0, 64, iph.IPPROTO_UDP, inet_aton(src), 0, inet_aton(dst), 0)
    iph.fill_cksum(b, 14)
    udph.emit(b, 34, sport, dport, 8 + len(payload))
    b[42:] = payload
    if cksum:
        udph.fill_cksum(b, 34, 8 + len(payload), b, 14 + iph.IP_SRC, b, 14 + iph.IP_DST)
    if ulen is not None:
        udph.set_ulen(b, 34, ulen)
    if len(b) < 60:
        b.extend(bytes(60 - len(b)))
    return bytes(b)
