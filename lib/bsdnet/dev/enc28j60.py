# Microchip ENC28J60 raw-Ethernet driver: the host runs Ethernet/ARP/IP, the chip moves frames.
# Facts: shared/chips/ENC28J60.md -- "§n" below are its sections, "errata n" the items of its §11.
#
# Buffer layout: RX FIFO 0000-19FF (errata 5: it must start at 0000), TX 1A00-1FFF: control byte +
# 1514-byte frame + 7-byte status vector = 1522 bytes (§5, as Linux).
#
# SPI budget (chip-select transactions; every ENC28J60 instruction is one;
# host_tests/portable/test_enc28j60.py measures them):
#   receive  3 per frame, fewer in bursts:
#     [EPKTCNT]        skipped while an earlier read said more frames wait (the count is kept)
#     [RBM ...]        header, frame, FCS and pad in ONE transaction: chip select stays low while the
#                      6-byte header is parsed, then the frame and its tail are clocked out. ERDPT then
#                      sits on the next packet (the chip wraps it at ERXND, §5), so it is never written
#                      in steady state
#     [PKTDEC]
#     ERXRDPT (bank 0, two writes: latched L then H, always odd: errata 14) is written only once
#     _RX_RELEASE bytes have been consumed: +4 transactions (with both bank switches) every ~1.5 KB.
#   send     6 per frame when the length repeats (7 when ETXNDL changes, +1 for each high byte):
#     [bank 0] [EIR &= ~(TXIF|TXERIF)] [EWRPTL] [WBM 00 + frame] ([ETXNDL]) [ECON1 |= TXRTS|bank 1]
#     [EIR] polled until TXIF|TXERIF. The TXRTS instruction also switches back to bank 1, where
#     EPKTCNT lives. EWRPT and ETXND are cached: only bytes that change are written.
# The home bank is 1 (EPKTCNT): idle polls are one transaction. Measured (test_spi_transactions_per_frame):
# 100-byte frames one at a time 3.2 mean (3 plus the release), 8 queued frames 17 in all, 1514-byte
# frames 5.0 mean (the release comes every second frame), an idle poll 1, a send 6 (7 when the length
# changes), an echo (receive + send) 9.3. Holding chip select low across the header parse is the part
# to confirm first on silicon (SPI is static, RBM is buffer memory, not a MAC/MII register: errata 1
# does not apply).
#
# Heap (MicroPython VM and the emulated RP2040, report_alloc): 0 bytes per received frame while the
# caller's buffer and the frame length repeat, else one memoryview slice (16 bytes) -- machine.SPI has
# no length argument; 0 per sent frame when len(buf) == n (netif passes such a slice), else one slice;
# 0 per idle poll.
#
# Errata: 2 (wait 2 ms after SRC, CLKRDY only as a bounded check), 5 (RX at 0000), 6 (decide by
# EPKTCNT, not PKTIF), 9 (PHCON2.HDLDIS in half duplex), 12 (TXRST pulse after every abort or
# timeout, before the next TXRTS: the erratum allows this conditional form instead of a pulse before
# every frame, which would cost 2 transactions per frame), 13/15 (late collision read from TSV bit
# 29, up to 16 retransmissions), 14 (ERXRDPT odd), 19 (clear PWRSV before SRC).
import errno

from bsdnet.compat import const, ticks_ms, ticks_diff, sleep_ms, sleep_us
from . import default_mac, counters_init, counters_of, Window

_EXTRA = ("rx_resets", "tx_retries")  # this chip's counters beyond the common ones
# Counters wrap below 2**29: a small int on a 32-bit port is < 2**30, and the sum before the mask
# (count + 1, bytes + 1514) must stay one too, so that an increment never allocates, however long
# the board runs or however fast a hostile LAN makes it count (DESIGN.md: counters that never allocate).
_WRAP = const(0x1FFFFFFF)

# instructions (§1)
_RCR = const(0x00)
_RBM = const(0x3A)
_WCR = const(0x40)
_WBM = const(0x7A)
_BFS = const(0x80)
_BFC = const(0xA0)
_SRC = const(0xFF)

# registers: bits 0-4 address, 5-6 bank, 7 = MAC/MII (dummy byte on read). Common: 1B-1F (§2, §3)
_MII = const(0x80)
_ERDPTL = const(0x00)
_ERDPTH = const(0x01)
_EWRPTL = const(0x02)
_EWRPTH = const(0x03)
_ETXSTL = const(0x04)
_ETXSTH = const(0x05)
_ETXNDL = const(0x06)
_ETXNDH = const(0x07)
_ERXSTL = const(0x08)
_ERXSTH = const(0x09)
_ERXNDL = const(0x0A)
_ERXNDH = const(0x0B)
_ERXRDPTL = const(0x0C)
_ERXRDPTH = const(0x0D)
_EIE = const(0x1B)
_EIR = const(0x1C)
_ESTAT = const(0x1D)
_ECON2 = const(0x1E)
_ECON1 = const(0x1F)
_EHT0 = const(0x20)  # EHT0..7: the 64-bit hash table, bank 1 (§10)
_ERXFCON = const(0x38)
_EPKTCNT = const(0x39)
_MACON1 = const(0xC0)
_MACON3 = const(0xC2)
_MACON4 = const(0xC3)
_MABBIPG = const(0xC4)
_MAIPGL = const(0xC6)
_MAIPGH = const(0xC7)
_MAMXFLL = const(0xCA)
_MAMXFLH = const(0xCB)
_MICMD = const(0xD2)
_MIREGADR = const(0xD4)
_MIWRL = const(0xD6)
_MIWRH = const(0xD7)
_MIRDL = const(0xD8)
_MIRDH = const(0xD9)
_MAADR5 = const(0xE0)
_MAADR6 = const(0xE1)
_MAADR3 = const(0xE2)
_MAADR4 = const(0xE3)
_MAADR1 = const(0xE4)
_MAADR2 = const(0xE5)
_MISTAT = const(0xEA)
_EREVID = const(0x72)

# PHY registers (§4)
_PHCON1 = const(0x00)
_PHCON2 = const(0x10)
_PHSTAT1 = const(0x01)
_PHSTAT2 = const(0x11)
_PHIE = const(0x12)
_PHIR = const(0x13)
_PHLCON = const(0x14)

# bits
_EIE_INTIE = const(0x80)
_EIE_PKTIE = const(0x40)
_EIE_LINKIE = const(0x10)
_EIE_RXERIE = const(0x01)
_EIR_LINKIF = const(0x10)
_EIR_TXIF = const(0x08)
_EIR_TXERIF = const(0x02)
_EIR_RXERIF = const(0x01)
_ESTAT_CLKRDY = const(0x01)
_ECON1_TXRST = const(0x80)
_ECON1_RXRST = const(0x40)
_ECON1_TXRTS = const(0x08)
_ECON1_RXEN = const(0x04)
_ECON2_AUTOINC = const(0x80)
_ECON2_PKTDEC = const(0x40)
_ECON2_PWRSV = const(0x20)
_MISTAT_BUSY = const(0x01)
_MICMD_MIIRD = const(0x01)
_LSTAT_HI = const(0x04)  # PHSTAT2.LSTAT (bit 10) in MIRDH
_DPXSTAT_HI = const(0x02)  # PHSTAT2.DPXSTAT (bit 9) in MIRDH
_LLSTAT_LO = const(0x04)  # PHSTAT1.LLSTAT (bit 2) in MIRDL: latches low until read

# layout (§5)
_RX_START = const(0x0000)
_RX_END = const(0x19FF)  # odd: ERXRDPT = ERXND is a legal initial value (errata 14)
_RX_SIZE = const(0x1A00)
_TX_START = const(0x1A00)
_MAX_FRAME = const(1514)
_MAMXFL = const(1518)
_RX_RELEASE = const(1536)  # consumed bytes before ERXRDPT is moved (4 transactions)

_FCON_MCAST = const(0xA3)  # ERXFCON: UCEN | CRCEN | MCEN | BCEN
_FCON_HASH = const(0xA5)  # ERXFCON: UCEN | CRCEN | HTEN | BCEN
_RSV_OK = const(0x80)  # RSV bit 23, in the status byte 4 of the header
_TSV_LATECOL = const(0x20)  # TSV bit 29, byte 3 (errata 13/15)
_TX_RETRIES = const(16)
_TX_TIMEOUT_MS = const(30)  # a 1518-byte frame takes 1.2 ms at 10 Mb/s; 16 half-duplex backoffs fit
_MII_TIMEOUT_MS = const(10)
_MII_MIN_POLLS = const(8)
_CLKRDY_TIMEOUT_MS = const(20)
_EIR_CHECK_MS = const(200)  # idle polls look at EIR.RXERIF at least this often (no INT pin)
_RX_SKIP_MAX = const(8)  # bad frames skipped inside one recv_into call




class ENC28J60:
    def __init__(self, spi, cs, rst=None, intr=None, mac=None, full_duplex=False):
        self._spi = spi
        self._cs = cs
        self._rst = rst
        self.intr = intr  # netif looks for .intr to wait on INT edges
        self.full_duplex = bool(full_duplex)
        if mac is None:
            mac = default_mac(b"\xec\x28")
        if len(mac) != 6 or mac[0] & 1:
            raise ValueError("ENC28J60: mac must be 6 bytes, unicast")
        self.mac = bytes(mac)
        cs.init(cs.OUT, value=1)
        if rst is not None:
            rst.init(rst.OUT, value=1)
        if intr is not None:
            intr.init(intr.IN, intr.PULL_UP)
        # every buffer the data path uses is made here, once
        self._c1 = bytearray(1)
        self._c2 = bytearray(2)
        self._r2 = bytearray(2)
        self._c3 = bytearray(3)
        self._r3 = bytearray(3)
        self._rbm = bytearray((_RBM,))
        self._wbm = bytearray((_WBM, 0x00))  # WBM + per-packet control byte 00: MACON3 rules (§8)
        self._hdr = bytearray(6)  # next pointer, RSV (§6)
        self._tail4 = bytearray(4)  # FCS
        self._tail5 = bytearray(5)  # FCS + pad byte (odd count)
        self._rxw = Window()  # the caller's buffer cut to the frame's length (machine.SPI has no length)
        self._txw = Window()
        self.revid = 0
        # multicast: every group passes (MCEN) until set_multicast() gives the list; then the hash
        # table (HTEN), kept here to program again after a reset
        self._eht = bytearray(8)
        self._hashed = False
        counters_init(self, _EXTRA)
        self._state_reset()

    def _state_reset(self):
        self._bank = 0
        self._next = _RX_START  # NextPacketPtr: ERDPT is kept here between frames
        self._freed = _RX_START  # ERXRDPT + 1: where the space given back to the chip ends
        self._pktcnt = 0  # frames known to wait (EPKTCNT read, less those taken since)
        self._rdpt_dirty = False  # ERDPT moved away from _next (TSV read, dropped frame)
        self._ewrpt = _TX_START
        self._etxnd = _TX_START
        self._backlog = False  # EPKTCNT > 1 seen: check EIR.RXERIF when the FIFO runs empty
        self._eir_t = ticks_ms()
        self._link = False
        self._lstat = 0  # the last link_status() bits
        self.link_event = False

    # ------------------------------------------------------------------ SPI primitives
    def _op(self, b0, b1):
        """A 2-byte instruction: WCR, BFS, BFC."""
        c = self._c2
        c[0] = b0
        c[1] = b1
        cs = self._cs
        cs.value(0)
        self._spi.write(c)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP

    def _setbank(self, reg):
        if (reg & 0x1F) >= 0x1B:
            return
        b = (reg >> 5) & 3
        cur = self._bank
        if b != cur:
            clr = cur & ~b
            if clr:
                self._op(_BFC | _ECON1, clr)
            st = b & ~cur
            if st:
                self._op(_BFS | _ECON1, st)
            self._bank = b

    def _rcr(self, reg):
        self._setbank(reg)
        cs = self._cs
        if reg & _MII:
            c = self._c3
            r = self._r3
            c[0] = _RCR | (reg & 0x1F)
            cs.value(0)
            self._spi.write_readinto(c, r)
            cs.value(1)
            self.spi_xfers = (self.spi_xfers + 1) & _WRAP
            return r[2]  # MAC/MII: a dummy byte comes first (§1)
        c = self._c2
        r = self._r2
        c[0] = _RCR | (reg & 0x1F)
        c[1] = 0
        cs.value(0)
        self._spi.write_readinto(c, r)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        return r[1]

    def _wcr(self, reg, v):
        self._setbank(reg)
        self._op(_WCR | (reg & 0x1F), v)

    def _bfs(self, reg, mask):
        self._setbank(reg)
        self._op(_BFS | (reg & 0x1F), mask)

    def _bfc(self, reg, mask):
        self._setbank(reg)
        self._op(_BFC | (reg & 0x1F), mask)

    def _w16(self, lo, v):
        self._wcr(lo, v & 0xFF)
        self._wcr(lo + 1, v >> 8)

    # ------------------------------------------------------------------ PHY (§4)
    def _mii_wait(self):
        sleep_us(11)  # >= 10.24 us
        t0 = ticks_ms()
        polls = 0
        while self._rcr(_MISTAT) & _MISTAT_BUSY:
            polls += 1
            # give up on time only after a few polls: a GC pause or a slow host must not fail a
            # PHY that is merely still busy on the first look
            if polls >= _MII_MIN_POLLS and ticks_diff(ticks_ms(), t0) > _MII_TIMEOUT_MS:
                return False
            sleep_us(10)
        return True

    def _phy_read_hi(self, preg):
        """MII read; returns MIRDH only, or -1."""
        return self._phy_read(preg, _MIRDH)

    def _phy_read(self, preg, half):
        """MII read of PHY register preg; returns one byte of it (half: _MIRDL or _MIRDH), or -1."""
        self._wcr(_MIREGADR, preg)
        self._wcr(_MICMD, _MICMD_MIIRD)
        ok = self._mii_wait()
        self._wcr(_MICMD, 0)
        if not ok:
            return -1
        return self._rcr(half)

    def _phy_write(self, preg, v):
        self._wcr(_MIREGADR, preg)
        self._wcr(_MIWRL, v & 0xFF)
        self._wcr(_MIWRH, v >> 8)  # this write starts the operation
        if not self._mii_wait():
            raise OSError(errno.ETIMEDOUT, "ENC28J60: MISTAT.BUSY stuck after writing PHY register 0x%02x" % preg)

    # ------------------------------------------------------------------ init (§9)
    def init(self):
        self._state_reset()
        rst = self._rst
        if rst is not None:
            rst.value(0)
            sleep_us(10)  # >= 400 ns
            rst.value(1)
            sleep_ms(2)
        # errata 19: SRC is ignored in power-save mode
        self._op(_BFC | _ECON2, _ECON2_PWRSV)
        sleep_us(300)
        c = self._c1
        c[0] = _SRC
        cs = self._cs
        cs.value(0)
        self._spi.write(c)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        sleep_ms(2)  # errata 2: CLKRDY comes too early; >= 1 ms (Linux waits 2)
        self._bank = 0  # ECON1 = 00 after reset
        clkrdy = False
        t0 = ticks_ms()
        while True:
            if self._rcr(_ESTAT) & _ESTAT_CLKRDY:
                clkrdy = True
                break
            if ticks_diff(ticks_ms(), t0) > _CLKRDY_TIMEOUT_MS:
                break
            sleep_ms(1)
        self._wcr(_ECON1, 0x00)  # bank 0, RX off
        self._bank = 0
        self._wcr(_ECON2, _ECON2_AUTOINC)
        # buffers (errata 5: RX at 0000; errata 14: ERXRDPT odd)
        self._w16(_ERXSTL, _RX_START)
        self._w16(_ERXNDL, _RX_END)
        self._w16(_ERXRDPTL, _RX_END)
        self._w16(_ERDPTL, _RX_START)
        self._w16(_ETXSTL, _TX_START)
        self._w16(_ETXNDL, _TX_START)
        self._w16(_EWRPTL, _TX_START)
        rev = self._rcr(_EREVID)
        if rev == 0x00 or rev == 0xFF:
            raise OSError(errno.ENODEV, "ENC28J60: EREVID read 0x%02x (is the chip wired and powered?)" % rev)
        if not clkrdy:
            raise OSError(errno.ETIMEDOUT, "ENC28J60: ESTAT.CLKRDY stayed 0 after reset (EREVID 0x%02x)" % rev)
        self.revid = rev
        # unicast to us, broadcast, and multicast: all of it (MCEN) or, once the stack has given
        # its groups, those whose hash bit is set (HTEN); bad CRC dropped by the chip (§10)
        if self._hashed:
            for i in range(8):
                self._wcr(_EHT0 + i, self._eht[i])
        self._wcr(_ERXFCON, _FCON_HASH if self._hashed else _FCON_MCAST)
        # MAC (§9 steps 8-11)
        full = self.full_duplex
        self._wcr(_MACON1, 0x0D if full else 0x01)  # MARXEN (+TXPAUS, RXPAUS)
        self._wcr(_MACON3, 0x33 if full else 0x32)  # PADCFG0 | TXCRCEN | FRMLNEN (| FULDPX)
        self._wcr(_MACON4, 0x00 if full else 0x40)  # DEFER in half duplex
        self._wcr(_MABBIPG, 0x15 if full else 0x12)
        self._wcr(_MAIPGL, 0x12)
        if not full:
            self._wcr(_MAIPGH, 0x0C)
        self._w16(_MAMXFLL, _MAMXFL)
        mac = self.mac
        self._wcr(_MAADR1, mac[0])  # first byte on the wire (§3 byte order)
        self._wcr(_MAADR2, mac[1])
        self._wcr(_MAADR3, mac[2])
        self._wcr(_MAADR4, mac[3])
        self._wcr(_MAADR5, mac[4])
        self._wcr(_MAADR6, mac[5])
        # PHY (§9 step 13; errata 9)
        self._phy_write(_PHCON1, 0x0100 if full else 0x0000)
        self._phy_write(_PHCON2, 0x0000 if full else 0x0100)
        self._phy_write(_PHLCON, 0x3476)  # LED A link, LED B activity, stretched
        # interrupts (§9 step 14): only what wakes the input loop; TXIF stays masked
        self._bfc(_EIR, 0xFF)
        if self.intr is not None:
            self._phy_write(_PHIE, 0x12)  # PLNKIE | PGEIE
            self._phy_read_hi(_PHIR)  # clears PHIR and EIR.LINKIF
            self._wcr(_EIE, _EIE_INTIE | _EIE_PKTIE | _EIE_LINKIE | _EIE_RXERIE)
        else:
            self._wcr(_EIE, 0x00)
        self._bfs(_ECON1, _ECON1_RXEN)
        self._link = self._read_link()
        self._setbank(_EPKTCNT)  # home bank 1
        self._eir_t = ticks_ms()

    # ------------------------------------------------------------------ link
    def _read_link(self):
        h = self._phy_read_hi(_PHSTAT2)
        return h >= 0 and bool(h & _LSTAT_HI)

    def link_up(self):
        """PHSTAT2.LSTAT, read over MII (about 10 transactions; not for the data path)."""
        self._link = self._read_link()
        return self._link

    def link_status(self):
        """The driver contract's link bits: PHSTAT2.LSTAT (the link now) and DPXSTAT, always 10 Mb/s,
        and PHSTAT1.LLSTAT, which latches low until read: LINK_FLAPPED when the link is up but went
        down since the last call (§4). About 20 transactions, the bank left where the data path wants
        it; on an MII timeout the last state read is given again."""
        self.link_event = False
        l1 = self._phy_read(_PHSTAT1, _MIRDL)
        h2 = self._phy_read(_PHSTAT2, _MIRDH)
        self._setbank(_EPKTCNT)  # home bank 1
        if l1 < 0 or h2 < 0:
            return self._lstat
        s = 0
        if h2 & _LSTAT_HI:
            s = 1 | (4 if h2 & _DPXSTAT_HI else 0) | (0 if l1 & _LLSTAT_LO else 8)
        self._link = bool(s)
        self._lstat = s & 7
        return s

    # ------------------------------------------------------------------ receive (§7)
    def pending(self):
        intr = self.intr
        if intr is not None:
            return intr.value() == 0
        if self._pktcnt:
            return True
        return self._read_pktcnt() != 0

    def _read_pktcnt(self):
        c = self._rcr(_EPKTCNT)
        self._pktcnt = c
        if c > 1:
            self._backlog = True
        return c

    def _service_eir(self):
        """The causes of INT other than a frame: RXERIF (an overflow: counted and cleared) and LINKIF
        (read PHIR, which clears it, and the link state with it)."""
        self._eir_t = ticks_ms()
        self._backlog = False
        eir = self._rcr(_EIR)
        if eir & _EIR_RXERIF:
            self.overflows = (self.overflows + 1) & _WRAP
            self._bfc(_EIR, _EIR_RXERIF)
        if eir & _EIR_LINKIF:
            self._phy_read_hi(_PHIR)
            self._link = self._read_link()
            self.link_event = True  # netif reads link_status() now rather than at its next poll

    def _idle(self):
        intr = self.intr
        if intr is not None:
            if intr.value() == 0:  # INT without a frame
                self._service_eir()
        elif self._backlog or ticks_diff(ticks_ms(), self._eir_t) >= _EIR_CHECK_MS:
            self._service_eir()

    def recv_into(self, buf):
        """One frame (FCS stripped) into buf[0:n]; n, or 0 when EPKTCNT is 0 (errata 6)."""
        skipped = 0
        while skipped < _RX_SKIP_MAX:
            if self._pktcnt == 0 and self._read_pktcnt() == 0:
                self._idle()
                return 0
            if self._rdpt_dirty:
                self._w16(_ERDPTL, self._next)
                self._rdpt_dirty = False
            spi = self._spi
            cs = self._cs
            hdr = self._hdr
            cs.value(0)
            spi.write(self._rbm)
            spi.readinto(hdr)
            nxt = hdr[0] | (hdr[1] << 8)
            cnt = hdr[2] | (hdr[3] << 8)
            exp = self._next + 6 + cnt + (cnt & 1)
            if exp > _RX_END:
                exp -= _RX_SIZE
            if nxt != exp or cnt > _MAMXFL:
                # the next-packet pointer disagrees with the byte count: not a header (§7 step 2)
                cs.value(1)
                self.spi_xfers = (self.spi_xfers + 1) & _WRAP
                self._rx_reset()
                return 0
            n = cnt - 4
            if not hdr[4] & _RSV_OK or n < 14:
                bad = True
                self.rx_errors = (self.rx_errors + 1) & _WRAP
            elif n > len(buf):
                bad = True
                self.rx_dropped = (self.rx_dropped + 1) & _WRAP
            else:
                bad = False
            if bad:
                cs.value(1)
                self.spi_xfers = (self.spi_xfers + 1) & _WRAP
                self._rdpt_dirty = True
                self._consumed(nxt)
                skipped += 1
                continue
            spi.readinto(self._rxw.get(buf, n))
            spi.readinto(self._tail5 if cnt & 1 else self._tail4)  # FCS (+ pad): ERDPT lands on nxt
            cs.value(1)
            self.spi_xfers = (self.spi_xfers + 1) & _WRAP
            self._consumed(nxt)
            self.rx_frames = (self.rx_frames + 1) & _WRAP
            self.rx_bytes = (self.rx_bytes + n) & _WRAP
            return n
        return 0

    def _consumed(self, nxt):
        """The packet before nxt is read: PKTDEC, and give its space back once enough has gathered."""
        self._next = nxt
        self._op(_BFS | _ECON2, _ECON2_PKTDEC)
        if self._pktcnt:
            self._pktcnt -= 1
        used = nxt - self._freed
        if used < 0:
            used += _RX_SIZE
        if used >= _RX_RELEASE:
            self._release()

    def _release(self):
        nxt = self._next
        rd = nxt - 1 if nxt != _RX_START else _RX_END  # always odd (errata 14)
        self._w16(_ERXRDPTL, rd)  # L then H: the chip latches L until H is written (§5)
        self._freed = nxt

    def _rx_reset(self):
        """RX logic reset after a bad next-packet pointer (§7 step 2, as Linux)."""
        self.rx_resets = (self.rx_resets + 1) & _WRAP
        self.rx_errors = (self.rx_errors + 1) & _WRAP
        self._bfc(_ECON1, _ECON1_RXEN)
        self._bfs(_ECON1, _ECON1_RXRST)
        self._bfc(_ECON1, _ECON1_RXRST)
        self._w16(_ERXSTL, _RX_START)  # also reloads ERXWRPT
        self._w16(_ERXNDL, _RX_END)
        self._w16(_ERXRDPTL, _RX_END)
        self._w16(_ERDPTL, _RX_START)
        self._next = _RX_START
        self._freed = _RX_START
        self._rdpt_dirty = False
        self._bfc(_EIR, _EIR_RXERIF)
        # RXRST is expected to clear EPKTCNT; make sure nothing stale is counted
        for _ in range(self._rcr(_EPKTCNT)):
            self._op(_BFS | _ECON2, _ECON2_PKTDEC)
        self._pktcnt = 0
        self._bfs(_ECON1, _ECON1_RXEN)

    # ------------------------------------------------------------------ transmit (§8)
    def send(self, buf, n):
        """Transmit buf[0:n] (DA..payload, no FCS; the chip pads to 60 and appends the FCS).
        True when the chip reports it sent; False (counted in tx_errors) when it could not."""
        if n < 14 or n > _MAX_FRAME or n > len(buf):
            raise ValueError("ENC28J60: frame length %d not in 14..1514 (or longer than the buffer)" % n)
        self._bfc(_EIR, _EIR_TXIF | _EIR_TXERIF)
        # EWRPT back to ETXST; only bytes that differ are written
        v = self._ewrpt
        if v & 0xFF != _TX_START & 0xFF:
            self._wcr(_EWRPTL, _TX_START & 0xFF)
        if v >> 8 != _TX_START >> 8:
            self._wcr(_EWRPTH, _TX_START >> 8)
        cs = self._cs
        spi = self._spi
        cs.value(0)
        spi.write(self._wbm)
        spi.write(self._txw.get(buf, n))
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        self._ewrpt = _TX_START + 1 + n
        end = _TX_START + n
        v = self._etxnd
        if v & 0xFF != end & 0xFF:
            self._wcr(_ETXNDL, end & 0xFF)
        if v >> 8 != end >> 8:
            self._wcr(_ETXNDH, end >> 8)
        self._etxnd = end
        tries = 0
        while True:
            if self._bank == 0:
                self._op(_BFS | _ECON1, _ECON1_TXRTS | 1)  # start, and back to bank 1 (EPKTCNT)
                self._bank = 1
            else:
                self._bfs(_ECON1, _ECON1_TXRTS)
            eir = self._tx_wait()
            if eir >= 0 and eir & _EIR_TXIF and not eir & _EIR_TXERIF:
                self.tx_frames = (self.tx_frames + 1) & _WRAP
                self.tx_bytes = (self.tx_bytes + n) & _WRAP
                return True
            # aborted (TXERIF) or no answer: stop, and reset the TX logic before the next TXRTS
            # (errata 12: an abort can stall it)
            self._bfc(_ECON1, _ECON1_TXRTS)
            self._bfs(_ECON1, _ECON1_TXRST)
            self._bfc(_ECON1, _ECON1_TXRST)
            if eir < 0:
                self.tx_errors = (self.tx_errors + 1) & _WRAP
                return False
            late = self._tsv_byte(3) & _TSV_LATECOL  # errata 15: not ESTAT.LATECOL
            self._bfc(_EIR, _EIR_TXIF | _EIR_TXERIF)
            if not late or tries >= _TX_RETRIES:
                self.tx_errors = (self.tx_errors + 1) & _WRAP
                return False
            tries += 1
            self.tx_retries = (self.tx_retries + 1) & _WRAP  # errata 13: link pulses cause late collisions; send again

    def _tx_wait(self):
        """EIR once TXIF or TXERIF is set, or -1 after _TX_TIMEOUT_MS."""
        t0 = ticks_ms()
        polls = 0
        while True:
            eir = self._rcr(_EIR)
            if eir & (_EIR_TXIF | _EIR_TXERIF):
                return eir
            polls += 1
            if polls > 4:
                if ticks_diff(ticks_ms(), t0) > _TX_TIMEOUT_MS:
                    return -1
                sleep_us(50)

    def _tsv_byte(self, i):
        """Byte i of the transmit status vector at ETXND+1 (moves ERDPT; put back before the next RBM)."""
        self._w16(_ERDPTL, self._etxnd + 1 + i)
        c = self._c2
        r = self._r2
        c[0] = _RBM
        c[1] = 0
        cs = self._cs
        cs.value(0)
        self._spi.write_readinto(c, r)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        self._rdpt_dirty = True
        return r[1]

    # ------------------------------------------------------------------ multicast filter (§10)
    def set_multicast(self, macs, n):
        """Pass multicast frames to the n MACs in macs (6 bytes each, back to back) through the
        hash table filter: the bit that bits 28:23 of the DA's CRC-32 select (hash_bit) is set for
        each. Others whose DA hashes to a set bit pass too (1 in 64 each): the stack's own filter
        keeps exactly its groups. The first call switches ERXFCON from MCEN to HTEN, with RXEN off
        while it does (§9 step 15); later calls write only the EHT bytes that change."""
        eht = bytearray(8)
        for i in range(n):
            k = hash_bit(macs, 6 * i)
            eht[k >> 3] |= 1 << (k & 7)
        for i in range(8):
            if eht[i] != self._eht[i] or not self._hashed:
                self._wcr(_EHT0 + i, eht[i])
                self._eht[i] = eht[i]
        if not self._hashed:
            self._hashed = True
            self._bfc(_ECON1, _ECON1_RXEN)
            self._wcr(_ERXFCON, _FCON_HASH)
            self._bfs(_ECON1, _ECON1_RXEN)
        self._setbank(_EPKTCNT)  # home bank 1 (where EHT is too)

    # ------------------------------------------------------------------ counters
    def counters(self):
        return counters_of(self, _EXTRA)


def hash_bit(mac, off):
    """The hash table bit of the MAC at mac[off:off+6] (§10, DS39662E 8.4): the CRC-32 of the six
    bytes (polynomial 04C11DB7, register preset to ones, each byte fed from its least significant
    bit, no final inversion, as the chip computes its FCS), bits 28:23 as a number 0..63: bit
    (k & 7) of EHT(k >> 3). Not the data path (join and leave): the 32-bit register may be a
    long int on a 32-bit port."""
    crc = 0xFFFFFFFF
    for i in range(6):
        b = mac[off + i]
        for _ in range(8):
            if (crc >> 31) ^ (b & 1):
                crc = ((crc << 1) ^ 0x04C11DB7) & 0xFFFFFFFF
            else:
                crc = (crc << 1) & 0xFFFFFFFF
            b >>= 1
    return (crc >> 23) & 0x3F
