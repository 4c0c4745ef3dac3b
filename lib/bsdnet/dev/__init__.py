# MAC-raw chip drivers (one module per chip) and what they share.
#
# The driver contract (what netif.Interface calls; DESIGN.md 5):
#   init()                    reset, check the version register, configure; OSError(ENODEV) naming the
#                             chip and what was read when it is absent
#   mac                       6 bytes; link_up() -> bool
#   link_status() -> int      the PHY as bits: LINK_UP 1, LINK_100M 2, LINK_FULL 4 (W5500 PHYCFGR bits
#                             2..0), LINK_FLAPPED 8 (the link went down and up again since the last call:
#                             the ENC28J60's latching PHSTAT1.LLSTAT). A few SPI transactions: netif polls it
#                             about once a second (if_link), never per frame
#   link_event                True once the chip signalled a link change (the ENC28J60's LINKIF): netif
#                             looks at link_status() at once instead of at its next poll; link_status()
#                             clears it. The W5500 has no such interrupt in MACRAW (W5500.md §10): False
#   recv_into(buf) -> n       one frame (no FCS) into buf[0:n]; 0 when none waits (a negative n: a frame
#                             was consumed and dropped by the driver, counted)
#   pending() -> bool         a frame may wait (the interrupt pin, or one register read)
#   send(buf, n) -> bool      transmit buf[0:n]; False (counted in tx_errors) when it could not
#   set_multicast(macs, n)    the link-level multicast groups to receive: n MACs of 6 bytes back to back
#                             in macs (01:00:5e:00:00:01, all-hosts, always among them). Called after
#                             init() and on every join and leave (if_ether.EtherMulti). The chip may
#                             pass more (a hash filter; MACRAW passes all): ether_input keeps exactly
#                             these. Before the first call every multicast frame passes.
#   counters() -> dict        COUNTERS below, then the chip's own


def default_mac(tag):
    """A locally administered unicast MAC: 02, then the last 5 bytes of machine.unique_id().
    Without a usable id (the host, or an emulator whose id reads all zeros) it is 02 + the chip's
    2-byte tag + 3 random bytes, so two boards on one wire still differ."""
    m = bytearray(b"\x02\x00\x00\x00\x00\x01")
    m[1] = tag[0]
    m[2] = tag[1]
    uid = None
    try:
        import machine

        uid = machine.unique_id()
    except Exception:  # noqa: BLE001 - no machine module (host) or no unique_id on this port
        pass
    if uid and any(uid):
        k = len(uid)
        for i in range(5):
            if k - 5 + i >= 0:
                m[1 + i] = uid[k - 5 + i]
    else:
        from ..compat import getrandbits

        for i in range(3, 6):
            m[i] = getrandbits(8)
    return bytes(m)


# the counters every driver keeps (int attributes), as the driver contract names them
COUNTERS = ("rx_frames", "rx_bytes", "tx_frames", "tx_bytes", "rx_dropped", "rx_errors", "tx_errors",
            "overflows", "spi_xfers")


def counters_init(drv, extra=()):
    """Set the common counters and the chip's own (extra names) to 0."""
    for k in COUNTERS:
        setattr(drv, k, 0)
    for k in extra:
        setattr(drv, k, 0)


def counters_of(drv, extra=()):
    """drv's counters as a dict: the common ones, then the chip's own (extra names)."""
    d = {}
    for k in COUNTERS:
        d[k] = getattr(drv, k)
    for k in extra:
        d[k] = getattr(drv, k)
    return d


class Window:
    """buf[0:n] as something machine.SPI reads into or writes from (it has no length argument):
    buf itself when n is its whole length, else a memoryview slice that is kept and handed out
    again while buf and n repeat, so that a driver's per-frame path allocates nothing."""

    __slots__ = ("buf", "mv", "n", "view")

    def __init__(self):
        self.buf = None
        self.mv = None
        self.n = -1
        self.view = None

    def get(self, buf, n):
        if n == len(buf):
            return buf
        if buf is not self.buf:
            self.buf = buf
            self.mv = buf if isinstance(buf, memoryview) else memoryview(buf)
            self.n = -1
        if n != self.n:
            self.n = n
            self.view = self.mv[0:n]
        return self.view
