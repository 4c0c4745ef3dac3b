# WIZnet W5500 MAC-raw driver: socket 0 in MACRAW mode, the host runs Ethernet/ARP/IP itself.
# Facts: shared/chips/W5500.md -- "§n" below are its sections, "#n" the pitfalls of its §12.
#
# SPI budget (chip-select transactions per frame in steady state; host_tests/portable/test_w5500.py
# measures them):
#   receive  3, fewer when frames queue up:
#     query   read Sn_IR, then [Sn_IR := RECV (+SENDOK seen)] [Sn_CR] [RX_RSR] [RX_RSR] [RX_RD]
#     record  VDM read at RX_RD: the 2-byte header, then (chip select still low) the frame it announces
#     commit  [RX_RD] [Sn_CR := RECV]; deferred while RSR says more frames wait (up to _COMMIT_AT bytes),
#             so a burst of k frames costs 1 query + k record reads + about k/3 commits
# Nothing is read from the RX buffer beyond what RSR has shown to be there (#8): a record's header is
# read only when RSR counts at least its 2 bytes, its frame only when RSR counts all of it.
#   send     3:
#     query   [Sn_CR] [Sn_IR] [TX_FSR] [TX_FSR] [PHYCFGR]
#     frame   VDM write at TX_WR
#     commit  [Sn_IR := SENDOK|TIMEOUT] [TX_WR] [Sn_CR := SEND]
# A bracket is one fixed-length (FDM, 1/2 data bytes) frame; the brackets of a line are chained while
# chip select stays low: in FDM "the frame ends after N data bytes and the next byte is a new address
# phase" (§1). That is what puts the two-read rule (§4), the Sn_CR check (#5) and the first header into
# one transaction. The reference drivers use one VDM transaction per access instead (§1); chaining is
# the part of this driver to confirm first on real silicon.
#
# Pointers: TX_WR and RX_RD are host-written, so the driver reads them once after OPEN and keeps its
# own copy (§6 step 2 and §7 step 3 read them each time; the values are the same). RSR counts from the
# RX_RD the chip took with the last RECV, which is behind our copy while a commit is outstanding (its
# Sn_CR poll timed out: RX_RD and RECV were not written). So the query reads the chip's RX_RD too and
# counts from our copy only what lies beyond it: RSR - (ours - chip's). Buffer bursts go
# at the raw 16-bit pointer: the chip maps offset -> base + (offset & (size - 1)) and wraps inside the
# socket buffer while auto-incrementing (§4), so a frame or header that straddles the end is one burst.
#
# Filtering: Sn_MR = 0x04 (MACRAW, MFEN off). MFEN=1 would pass only broadcast and DA == SHAR and so
# drop IPv4 multicast (#1: IGMP groups and mDNS would never work). BCASTB stays off (#2: ARP, DHCP).
# With MFEN off the chip is promiscuous; recv_into keeps DA == our MAC, broadcast and multicast
# (DA[0] & 1) and counts other unicast as rx_dropped. On a switched LAN that is only flooded unicast.
import errno

from bsdnet.compat import const, ticks_ms, ticks_diff, sleep_ms
from . import default_mac, counters_init, counters_of, Window

_EXTRA = ("reopens",)  # this chip's counters beyond the common ones
# Counters wrap below 2**29: a small int on a 32-bit port is < 2**30, and the sum before the mask
# (count + 1, bytes + 1514) must stay one too, so that an increment never allocates, however long
# the board runs or however fast a hostile LAN makes it count (DESIGN.md: counters that never allocate).
_WRAP = const(0x1FFFFFFF)

# SPI control byte: BSB << 3 | RWB << 2 | OM (§1)
_CB_COMMON_R = const(0x00)
_CB_COMMON_W = const(0x04)
_CB_COMMON_R1 = const(0x01)  # FDM, 1 byte
_CB_S0_R = const(0x08)
_CB_S0_W = const(0x0C)
_CB_S0_R1 = const(0x09)
_CB_S0_R2 = const(0x0A)
_CB_S0_W1 = const(0x0D)
_CB_S0_W2 = const(0x0E)
_CB_TX_W = const(0x14)
_CB_RX_R = const(0x18)

# common registers (§2)
_MR = const(0x0000)
_SHAR = const(0x0009)
_SIMR = const(0x0018)
_PHYCFGR = const(0x002E)
_VERSIONR = const(0x0039)
_MR_RST = const(0x80)
_MR_PB = const(0x10)
_VERSION = const(0x04)

# socket registers (§3), in the block of the socket (n = 1..7 at BSB 4n+1)
_SN_MR = const(0x00)
_SN_CR = const(0x01)
_SN_IR = const(0x02)
_SN_SR = const(0x03)
_SN_RXBUF_SIZE = const(0x1E)
_SN_TX_RD = const(0x22)
_SN_IMR = const(0x2C)
_SN_MR_MACRAW = const(0x04)  # MFEN off: see the filtering note above
_CMD_OPEN = const(0x01)
_CMD_CLOSE = const(0x10)
_CMD_SEND = const(0x20)
_CMD_RECV = const(0x40)
_IR_SENDOK = const(0x10)
_IR_TIMEOUT = const(0x08)
_IR_RECV = const(0x04)
_SOCK_CLOSED = const(0x00)
_SOCK_MACRAW = const(0x42)

_BUF = const(16384)  # socket 0 gets all 16 KB of TX and of RX RAM (§3)
_BUF_KB = const(16)
_REC_MIN = const(62)  # §7 step 4: 62 <= L <= 1516, L = frame + 2 (§5)
_REC_MAX = const(1516)
_MTU = const(1514)
_COMMIT_AT = const(4096)  # RX bytes read before RECV hands them back even if more frames wait

# bounds for every wait (counted iterations; time only as an extra early exit)
_CR_POLLS = const(200)  # Sn_CR back to 00 (accepted at once on silicon: a few polls)
_SR_POLLS = const(100)
_RST_POLLS = const(50)  # MR.RST self-clear, 1 ms apart
_VER_POLLS = const(100)  # VERSIONR == 04, 1 ms apart (#11: can read 00 just after reset)
_TX_POLLS = const(2000)  # previous SENDOK / free space
_TX_MIN_POLLS = const(10)
_TX_WAIT_MS = const(20)  # 1514 B at 10 Mb/s half duplex with backoff fits well inside
_TX_IDLE_POLLS = const(10)  # buffer empty but no SENDOK: dropped by the chip (link went down)
_RX_SKIPS = const(16)  # frames dropped inside one recv_into before it gives up the call
_RX_STALL_MAX = const(64)  # header says more than RSR, again and again: treat as garbage (#8, #7)

# offsets of the results in the chained transactions
_Q_CR = const(7)
_Q_RSR1 = const(11)
_Q_RSR2 = const(16)
_Q_RD = const(21)
_T_CR = const(3)
_T_IR = const(7)
_T_FSR1 = const(11)
_T_FSR2 = const(16)
_T_PHY = const(21)




class W5500:
    def __init__(self, spi, cs, rst=None, intr=None, mac=None):
        self._spi = spi
        self._cs = cs
        self._rst = rst
        self.intr = intr  # netif looks for .intr to wait on INTn edges
        if mac is None:
            mac = default_mac(b"\x57\x55")
        if len(mac) != 6 or mac[0] & 1:
            raise ValueError("W5500: mac must be 6 bytes, unicast")
        self.mac = bytes(mac)
        self._macb = bytearray(self.mac)
        cs.init(cs.OUT, value=1)
        if rst is not None:
            rst.init(rst.OUT, value=1)
        if intr is not None:
            intr.init(intr.IN, intr.PULL_UP)
        # every buffer the data path uses is made here, once
        self._h = bytearray(3)  # VDM header: address hi, lo, control
        self._s = bytearray(16)  # small register reads and writes (init, link_up)
        self._smv = memoryview(self._s)
        self._s1 = self._smv[0:1]  # link_up() and register polls: no allocation
        self._w1 = self._smv[15:16]
        self._hdr2 = bytearray(2)  # a record's 2-byte header, read in front of its frame
        # RX query: part 1 reads Sn_IR, part 2 clears what it saw and reads CR, RSR twice, the chip's RX_RD
        self._irtx = bytearray((0x00, _SN_IR, _CB_S0_R1, 0))
        self._irrx = bytearray(4)
        self._qtx = bytearray((0x00, _SN_IR, _CB_S0_W1, _IR_RECV,
                               0x00, _SN_CR, _CB_S0_R1, 0,
                               0x00, 0x26, _CB_S0_R2, 0, 0,
                               0x00, 0x26, _CB_S0_R2, 0, 0,
                               0x00, 0x28, _CB_S0_R2, 0, 0))
        self._qrx = bytearray(len(self._qtx))
        # RX commit: RX_RD, then RECV; a Sn_CR poll goes in front when a command may still run
        self._ctx = bytearray((0x00, 0x28, _CB_S0_W2, 0, 0, 0x00, _SN_CR, _CB_S0_W1, _CMD_RECV))
        self._crtx = bytearray((0x00, _SN_CR, _CB_S0_R1, 0))
        self._crrx = bytearray(4)
        # pending() without INTn: CR and RSR
        self._ptx = bytearray((0x00, _SN_CR, _CB_S0_R1, 0, 0x00, 0x26, _CB_S0_R2, 0, 0))
        self._prx = bytearray(9)
        # TX query and commit
        self._ttx = bytearray((0x00, _SN_CR, _CB_S0_R1, 0,
                               0x00, _SN_IR, _CB_S0_R1, 0,
                               0x00, 0x20, _CB_S0_R2, 0, 0,
                               0x00, 0x20, _CB_S0_R2, 0, 0,
                               0x00, _PHYCFGR, _CB_COMMON_R1, 0))
        self._trx = bytearray(len(self._ttx))
        self._tctx = bytearray((0x00, _SN_IR, _CB_S0_W1, _IR_SENDOK | _IR_TIMEOUT,
                                0x00, 0x24, _CB_S0_W2, 0, 0,
                                0x00, _SN_CR, _CB_S0_W1, _CMD_SEND))
        self._rxw = Window()  # the caller's buffer cut to the frame's length (machine.SPI has no length)
        self._txw = Window()
        self._state_reset()
        counters_init(self, _EXTRA)

    def _state_reset(self):
        self._tx_wr = 0
        self._rx_rd = 0
        self._rx_left = 0  # bytes known to wait from _rx_rd on (a consistent RSR, less what was read)
        self._rx_unc = 0  # bytes read but not yet handed back with RECV
        self._rx_stalls = 0
        self._rx_full = False
        self._tx_busy = False  # a SEND was issued and its SENDOK not seen yet (§6 step 7)
        self._sendok = False
        self._sendto = False
        self._cr_clean = False  # Sn_CR read 00 since the last command we wrote

    # ------------------------------------------------------------------ small accesses (init, link)
    def _read(self, cb, addr, n, mv=None):
        cs = self._cs
        h = self._h
        h[0] = addr >> 8
        h[1] = addr & 0xFF
        h[2] = cb
        cs.value(0)
        self._spi.write(h)
        self._spi.readinto(self._smv[0:n] if mv is None else mv)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        return self._s

    def _r8(self, cb, addr):
        return self._read(cb, addr, 1, self._s1)[0]

    def _write(self, cb, addr, data):
        cs = self._cs
        h = self._h
        h[0] = addr >> 8
        h[1] = addr & 0xFF
        h[2] = cb | 0x04
        cs.value(0)
        self._spi.write(h)
        self._spi.write(data)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP

    def _w8(self, cb, addr, v):
        self._s[15] = v
        self._write(cb, addr, self._w1)

    def _xfer(self, tx, rx):
        cs = self._cs
        cs.value(0)
        self._spi.write_readinto(tx, rx)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP

    def _wait_cr(self):
        for _ in range(_CR_POLLS):
            if self._r8(_CB_S0_R, _SN_CR) == 0:
                self._cr_clean = True
                return True
        return False

    def _command(self, cmd):
        # #5: Sn_CR must read 00 before the next command
        if not self._wait_cr():
            return False
        self._w8(_CB_S0_R, _SN_CR, cmd)
        self._cr_clean = False
        return self._wait_cr()

    def _wait_sr(self, want):
        v = -1
        for _ in range(_SR_POLLS):
            v = self._r8(_CB_S0_R, _SN_SR)
            if v == want:
                break
        return v

    # ------------------------------------------------------------------ bring-up
    def init(self):
        """Reset the chip, check it is there, and open socket 0 in MACRAW (§9)."""
        if self._rst is not None:
            self._rst.value(0)
            sleep_ms(2)  # RSTn low >= 500 us (§9)
            self._rst.value(1)
            sleep_ms(2)  # PLL lock <= 1 ms after release (§9)
        self._w8(_CB_COMMON_R, _MR, _MR_RST)
        mr = _MR_RST
        for _ in range(_RST_POLLS):
            mr = self._r8(_CB_COMMON_R, _MR)
            if not mr & _MR_RST:
                break
            sleep_ms(1)
        ver = 0
        for _ in range(_VER_POLLS):
            ver = self._r8(_CB_COMMON_R, _VERSIONR)
            if ver == _VERSION:
                break
            sleep_ms(1)
        if ver != _VERSION:
            raise OSError(errno.ENODEV, "W5500: VERSIONR read 0x%02x, expected 0x04 (is the chip wired and powered?)"
                          % ver)
        if mr & _MR_RST:
            raise OSError(errno.EIO, "W5500: MR read 0x%02x, software reset (MR.RST) did not clear" % mr)
        self._w8(_CB_COMMON_R, _MR, _MR_PB)  # #4: the hardware engine must not answer ping; SIPR stays 0
        self._write(_CB_COMMON_R, _SHAR, self._macb)  # #3: SHAR is 0 after every reset
        got = self._read(_CB_COMMON_R, _SHAR, 6)
        for i in range(6):
            if got[i] != self._macb[i]:
                raise OSError(errno.EIO, "W5500: SHAR read back %s, wrote %s (check MOSI wiring)"
                              % (_hex(got, 6), _hex(self._macb, 6)))
        # all 16 KB to socket 0, nothing to sockets 1..7 (§3), before OPEN
        s = self._s
        for n in range(7, -1, -1):
            v = _BUF_KB if n == 0 else 0
            s[13] = v
            s[14] = v
            self._write(((n << 2) | 1) << 3, _SN_RXBUF_SIZE, self._smv[13:15])
        if self.intr is not None:
            # INTn for received frames only; SIR follows any Sn_IR bit (§11), so SENDOK is cleared when seen
            self._w8(_CB_S0_R, _SN_IMR, _IR_RECV)
            self._w8(_CB_COMMON_R, _SIMR, 0x01)
        else:
            self._w8(_CB_COMMON_R, _SIMR, 0x00)
        if not self._open():
            raise OSError(errno.EIO, "W5500: Sn_SR read 0x%02x after OPEN, expected 0x42 (MACRAW)"
                          % self._r8(_CB_S0_R, _SN_SR))

    def _open(self):
        """CLOSE and OPEN socket 0 in MACRAW, then take the pointers. Flushes what the chip holds."""
        self._state_reset()
        self._command(_CMD_CLOSE)
        self._w8(_CB_S0_R, _SN_IR, 0xFF)
        self._wait_sr(_SOCK_CLOSED)
        self._w8(_CB_S0_R, _SN_MR, _SN_MR_MACRAW)
        self._command(_CMD_OPEN)
        if self._wait_sr(_SOCK_MACRAW) != _SOCK_MACRAW:
            return False
        p = self._read(_CB_S0_R, _SN_TX_RD, 10)  # TX_RD TX_WR RX_RSR RX_RD RX_WR (OPEN need not zero them)
        self._tx_wr = (p[2] << 8) | p[3]
        self._rx_rd = (p[6] << 8) | p[7]
        self._cr_clean = True
        return True

    def _reopen(self):
        self.reopens = (self.reopens + 1) & _WRAP
        self._open()

    # ------------------------------------------------------------------ contract
    link_event = False  # MACRAW raises no interrupt on a link change (§10): netif polls link_status()

    def link_status(self):
        """PHYCFGR bits 2..0 (§10): LNK 1, SPD 2 (100 Mb/s), DPX 4 (full duplex); one transaction."""
        return self._r8(_CB_COMMON_R, _PHYCFGR) & 0x07

    def link_up(self):
        return bool(self.link_status() & 1)

    def pending(self):
        """Is a frame waiting? INTn low when wired (§11), else RX_RSR != 0."""
        if self._rx_left:
            return True
        if self.intr is not None:
            return self.intr.value() == 0
        rx = self._prx
        self._xfer(self._ptx, rx)
        return rx[7] != 0 or rx[8] != 0

    def recv_into(self, buf):
        """Copy one received frame (no FCS) into buf[0:n] and return n; 0 when none waits."""
        for _ in range(_RX_SKIPS):
            n = self._rx_one(buf)
            if n >= 0:
                return n
        return 0

    def _rx_query(self):
        # §7 steps 1-2 in one transaction: clear Sn_IR.RECV before reading RSR (§11), Sn_CR 00 so that
        # a RECV of ours has been taken (#5), RSR twice (§4 two-read rule), and the chip's RX_RD, the
        # base RSR counts from.
        cs = self._cs
        spi = self._spi
        tx = self._qtx
        rx = self._qrx
        irrx = self._irrx
        rsr = -1
        for _ in range(_CR_POLLS):
            cs.value(0)
            spi.write_readinto(self._irtx, irrx)
            ir = irrx[3]
            # clear RECV always, and SENDOK/TIMEOUT only when seen (remembered for send)
            tx[3] = _IR_RECV | (ir & (_IR_SENDOK | _IR_TIMEOUT))
            spi.write_readinto(tx, rx)
            cs.value(1)
            self.spi_xfers = (self.spi_xfers + 1) & _WRAP
            if ir & _IR_SENDOK:
                self._sendok = True
            if ir & _IR_TIMEOUT:
                self._sendto = True
            if rx[_Q_CR] != 0:
                continue
            self._cr_clean = True
            r1 = (rx[_Q_RSR1] << 8) | rx[_Q_RSR1 + 1]
            if r1 == (rx[_Q_RSR2] << 8) | rx[_Q_RSR2 + 1]:
                rsr = r1
                break
        if rsr <= 0:
            return False
        # MACRAW has no overflow flag (#9): count each time the buffer is found without room for a
        # full-size frame, when arrivals may have been lost
        if rsr > _BUF - _REC_MAX:
            if not self._rx_full:
                self._rx_full = True
                self.overflows = (self.overflows + 1) & _WRAP
        else:
            self._rx_full = False
        # #8: RSR counts from the chip's RX_RD; ours is ahead by what a commit that timed out left
        # unhanded back. Anything else means the two disagree on the buffer: do not trust it.
        behind = (self._rx_rd - ((rx[_Q_RD] << 8) | rx[_Q_RD + 1])) & 0xFFFF
        if behind != self._rx_unc or behind > rsr:
            self._rx_recover()
            return False
        left = rsr - behind
        if left < 2:
            return False
        self._rx_left = left
        return True

    def _rx_commit(self):
        # §7 step 6: RX_RD, then RECV (the chip recomputes RSR on RECV, §4)
        cs = self._cs
        spi = self._spi
        rd = self._rx_rd
        tx = self._ctx
        tx[3] = rd >> 8
        tx[4] = rd & 0xFF
        cs.value(0)
        if not self._cr_clean:
            crrx = self._crrx
            ok = False
            for _ in range(_CR_POLLS):
                spi.write_readinto(self._crtx, crrx)
                if crrx[3] == 0:
                    ok = True
                    break
            if not ok:
                cs.value(1)
                self.spi_xfers = (self.spi_xfers + 1) & _WRAP
                return  # timed out: RX_RD stays ours, _rx_unc says how far the chip's is behind
        spi.write(tx)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        self._rx_unc = 0
        self._cr_clean = False

    def _rx_recover(self):
        # #7 / §7 step 4: the buffer is not to be trusted: CLOSE and OPEN again (drops what it holds)
        self.rx_errors = (self.rx_errors + 1) & _WRAP
        self._reopen()

    def _rx_one(self, buf):
        if self._rx_left == 0:
            if self._rx_unc:
                self._rx_commit()
            if not self._rx_query():
                return 0
        left = self._rx_left  # >= 2: the header is within what RSR showed
        rd = self._rx_rd
        h = self._h
        h[0] = rd >> 8
        h[1] = rd & 0xFF
        h[2] = _CB_RX_R
        cs = self._cs
        spi = self._spi
        hdr = self._hdr2
        cs.value(0)
        spi.write(h)
        spi.readinto(hdr)
        rec = (hdr[0] << 8) | hdr[1]
        if rec < _REC_MIN or rec > _REC_MAX:
            cs.value(1)
            self.spi_xfers = (self.spi_xfers + 1) & _WRAP
            self._rx_recover()
            return 0
        if rec > left:
            # #8: the record is longer than RSR said: never read past RX_WR, ask again later
            cs.value(1)
            self.spi_xfers = (self.spi_xfers + 1) & _WRAP
            self._rx_left = 0
            if self._rx_unc:
                self._rx_commit()
            self._rx_stalls += 1
            if self._rx_stalls > _RX_STALL_MAX:
                self._rx_recover()
            return 0
        self._rx_stalls = 0
        n = rec - 2
        keep = n <= len(buf)
        if keep:
            spi.readinto(self._rxw.get(buf, n))  # §7 step 5, the burst continuing at RX_RD + 2
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        nxt = left - rec
        self._rx_rd = (rd + rec) & 0xFFFF
        self._rx_left = nxt if nxt >= 2 else 0  # 1 stray byte cannot hold a record: RSR afresh next time
        self._rx_unc += rec
        if self._rx_left == 0 or self._rx_unc >= _COMMIT_AT:
            self._rx_commit()
        if not keep:
            self.rx_dropped = (self.rx_dropped + 1) & _WRAP  # longer than the caller's buffer
            return -1
        if not buf[0] & 1:
            m = self._macb
            if buf[0] != m[0] or buf[1] != m[1] or buf[2] != m[2] or buf[3] != m[3] or buf[4] != m[4] \
                    or buf[5] != m[5]:
                self.rx_dropped = (self.rx_dropped + 1) & _WRAP  # unicast for another station (MFEN off, top)
                return -1
        self.rx_frames = (self.rx_frames + 1) & _WRAP
        self.rx_bytes = (self.rx_bytes + n) & _WRAP
        return n

    def send(self, buf, n):
        """Transmit buf[0:n] (no FCS; the chip pads short frames). False, counted in tx_errors, if the
        link is down, no room came in time, or the previous frame never got its SENDOK."""
        if n > _MTU or n > len(buf) or n < 14:
            raise ValueError("W5500.send: frame of %d bytes (14..1514, within the buffer)" % n)
        rx = self._trx
        tx = self._ttx
        t0 = ticks_ms()
        idle = 0
        ok = False
        for i in range(_TX_POLLS):
            self._xfer(tx, rx)
            if not rx[_T_PHY] & 1:
                self.tx_errors = (self.tx_errors + 1) & _WRAP  # link down (§10): nothing would go out
                return False
            if rx[_T_CR] == 0:
                self._cr_clean = True
                ir = rx[_T_IR]
                if ir & _IR_SENDOK:
                    self._sendok = True
                if ir & _IR_TIMEOUT:
                    self._sendto = True
                fsr = (rx[_T_FSR1] << 8) | rx[_T_FSR1 + 1]
                if fsr == (rx[_T_FSR2] << 8) | rx[_T_FSR2 + 1]:  # §4 two-read rule
                    if self._tx_busy:
                        if self._sendok or self._sendto:
                            if self._sendto:
                                self.tx_errors = (self.tx_errors + 1) & _WRAP  # the previous frame timed out
                            self._tx_busy = False
                        elif fsr == _BUF:
                            # the chip emptied the buffer without SENDOK: the frame was dropped when the
                            # link went down; give it a few polls in case SENDOK is only late
                            idle += 1
                            if idle >= _TX_IDLE_POLLS:
                                self.tx_errors = (self.tx_errors + 1) & _WRAP
                                self._tx_busy = False
                    if not self._tx_busy and fsr >= n:
                        ok = True
                        break
            if i >= _TX_MIN_POLLS and ticks_diff(ticks_ms(), t0) > _TX_WAIT_MS:
                break
        if not ok:
            self.tx_errors = (self.tx_errors + 1) & _WRAP
            if self._tx_busy:
                self._reopen()  # #6: SENDOK never came; the socket state is unknown: start it afresh
            return False
        src = self._txw.get(buf, n)
        wr = self._tx_wr
        cs = self._cs
        spi = self._spi
        h = self._h
        h[0] = wr >> 8
        h[1] = wr & 0xFF
        h[2] = _CB_TX_W
        cs.value(0)
        spi.write(h)
        spi.write(src)  # §6 step 3: one burst at TX_WR, the chip wraps inside the buffer
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        wr = (wr + n) & 0xFFFF
        c = self._tctx
        c[7] = wr >> 8
        c[8] = wr & 0xFF
        cs.value(0)
        spi.write(c)  # clear SENDOK/TIMEOUT, TX_WR, SEND (§6 steps 4-5)
        cs.value(1)
        self.spi_xfers = (self.spi_xfers + 1) & _WRAP
        self._tx_wr = wr
        self._tx_busy = True
        self._sendok = False
        self._sendto = False
        self._cr_clean = False
        self.tx_frames = (self.tx_frames + 1) & _WRAP
        self.tx_bytes = (self.tx_bytes + n) & _WRAP
        return True

    def set_multicast(self, macs, n):
        """The stack's multicast groups (n MACs in macs). Nothing to program: MACRAW has no group
        filter, only MFEN, which would drop every IPv4 multicast frame (#1), so it stays off and the
        chip passes all multicast; the stack keeps its groups' frames (if_ether.ether_input,
        etherstat mcastfilter) and counts the rest."""

    def counters(self):
        return counters_of(self, _EXTRA)


def _hex(b, n):
    return ":".join("%02x" % b[i] for i in range(n))
