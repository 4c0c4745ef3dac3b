# WIZnet W5500 emulator at the SPI-transaction level, for the MACRAW driver (lib/bsdnet/dev/w5500.py).
#
# Models what shared/chips/W5500.md section 14 lists (section numbers below refer to that fact sheet):
# SPI framing (VDM ends at CS rise, FDM frames of 1/2/4 data bytes, MISO 01 02 03 during the header),
# the buffer mapping base + (offset & (size - 1)) with 16-bit auto-increment, reset values, MR.RST,
# Sn_CR auto-clear (optionally after N reads), OPEN/CLOSE, TX with FSR, RX with the 2-byte MACRAW
# header (L = frame + 2) committed atomically, RECV recomputing RSR, overflow, interrupts and INTn,
# PHYCFGR link, and a torture mode for the two-read rule of TX_FSR / RX_RSR (section 4).
#
# Only socket 0 in MACRAW mode is modelled in full; the hardwired TCP/UDP engine is not (OPEN with
# another protocol leaves Sn_SR at 00 and is recorded as a violation).
#
# Modelling choices [INF in the fact sheet]:
#  - SIR bit n = (Sn_IR != 0) and INTn = (IR & IMR) or (SIR & SIMR), exactly as section 11/14 say;
#    Sn_IR bits are set whatever Sn_IMR holds (section 13). INTLEVEL is stored, not timed.
#  - A command executes when Sn_CR clears: at once (cr_delay=0) or after cr_delay reads of Sn_CR.
#  - SEND with the link down: the chip drops the frame (TX_RD := TX_WR) and sets no SENDOK;
#    with tx_hold=True SEND is accepted but never completes (section 12 #6: SENDOK may never come).
#  - Padding on the wire is zeros. on_transmit gets a memoryview valid during the call only: copy it.
#  - Torture mode: frames given to deliver() and SENDs wait until the host reads the high byte of
#    RX_RSR / TX_FSR; they complete in the middle of that 16-bit read, alternately giving the host
#    (old_hi, new_lo) and (new_hi, old_lo) -- the second as if the chip updated the high byte first.
#    A driver that trusts one read can then consume bytes past RX_WR, recorded at RECV as a violation.
#  - A read of the RX buffer beyond RX_WR (past what RSR shows) is a violation: the bytes there are
#    stale, and W5500.md #8 says a driver never reads them. Counted in stale_reads too.
#  - hold_next(cmd, reads): the next Sn_CR command cmd stays in Sn_CR (not run) for that many reads of
#    Sn_CR, e.g. a RECV that outlasts the driver's bounded poll ("times out", then completes).
#
# Portable Python (CPython and the MicroPython VM). The steady-state paths (deliver, SPI bursts, SEND
# without on_transmit) do not allocate under MicroPython, so the driver's heap figures stay its own.
import sys

from .spi import Pin, SPI

_MICROPYTHON = sys.implementation.name == "micropython"

# common registers (section 2)
MR = 0x0000
SHAR = 0x0009
SIPR = 0x000F
INTLEVEL = 0x0013
IR = 0x0015
IMR = 0x0016
SIR = 0x0017
SIMR = 0x0018
RTR = 0x0019
PHYCFGR = 0x002E
VERSIONR = 0x0039
_COMMON_END = 0x3A

# socket registers (section 3)
SN_MR = 0x00
SN_CR = 0x01
SN_IR = 0x02
SN_SR = 0x03
SN_RXBUF_SIZE = 0x1E
SN_TXBUF_SIZE = 0x1F
SN_TX_FSR = 0x20
SN_TX_RD = 0x22
SN_TX_WR = 0x24
SN_RX_RSR = 0x26
SN_RX_RD = 0x28
SN_RX_WR = 0x2A
SN_IMR = 0x2C
_SOCK_END = 0x30

CMD_OPEN = 0x01
CMD_CLOSE = 0x10
CMD_SEND = 0x20
CMD_RECV = 0x40
IR_SENDOK = 0x10
IR_TIMEOUT = 0x08
IR_RECV = 0x04
SOCK_CLOSED = 0x00
SOCK_MACRAW = 0x42
MR_MFEN = 0x80
MR_BCASTB = 0x40
MR_MMB = 0x20
MR_MIP6B = 0x10

_MEM = 16384
_MTU = 1514
_VALID_KB = (0, 1, 2, 4, 8, 16)


class W5500Chip:
    def __init__(self, strict=True, pointer_start=0, torture=False, link=True, cr_delay=0, rst_polls=0):
        self.strict = strict
        self.pointer_start = pointer_start & 0xFFFF
        self.torture = torture
        self.link = bool(link)
        self.link_100m = True  # what PHYCFGR SPD/DPX report while the link is up (set_link)
        self.link_full = True
        self.cr_delay = cr_delay  # reads of a non-zero Sn_CR before the command runs and CR clears
        self.rst_polls = rst_polls  # reads of MR with RST still set after a soft reset
        self.tx_hold = False  # SEND accepted but never completed (no SENDOK), section 12 #6
        self.on_transmit = None
        self.violations = []
        self.intn = Pin("INTn", 1)
        self.common = bytearray(0x40)
        self.sock = [bytearray(_SOCK_END) for _ in range(8)]
        self.txmem = bytearray(_MEM)
        self.rxmem = bytearray(_MEM)
        self._txf = bytearray(_MTU)
        self._txfmv = memoryview(self._txf)
        # per-socket pointers the chip owns; TX_WR and RX_RD live in the register bytes
        self.tx_rd = [0] * 8
        self.rx_wr = [0] * 8
        self.rx_rdc = [0] * 8  # RX_RD as committed by the last RECV
        self.tx_base = [0] * 8
        self.tx_size = [0] * 8
        self.rx_base = [0] * 8
        self.rx_size = [0] * 8
        self._cr_left = [0] * 8
        self._hold_cmd = 0  # hold_next(): this command ...
        self._hold_reads = 0  # ... stays in Sn_CR for this many reads of it
        self._pending_rx = []  # frames waiting to be committed (torture mode, or CS low)
        self._pending_tx = False
        self._tear = 0
        self._torn_lo = -1  # low byte to return on the next read of the low half (torture)
        self._torn_at = -1
        self._mr_polls = 0
        self._phy_rst = False
        self._rst_low = False
        # SPI state
        self._sel = False
        self._stale_sel = False
        self._ph = 0
        self._addr = 0
        self._bsb = 0
        self._wr = 0
        self._left = 0
        self._fdm = 0
        # counters
        self.selects = 0  # chip-select transactions (CS falling edges)
        self.rx_frames = 0
        self.rx_bytes = 0
        self.tx_frames = 0
        self.tx_bytes = 0
        self.drop_filtered = 0
        self.drop_overflow = 0
        self.drop_runt = 0
        self.drop_giant = 0
        self.drop_closed = 0
        self.drop_link = 0
        self.tx_dropped = 0  # SENDs lost (link down, > MTU)
        self.torn_reads = 0
        self.stale_reads = 0  # transactions reading the RX buffer past RX_WR (each also a violation)
        self.resets = 0  # RSTn pulses and MR.RST writes
        self._reset()

    # ------------------------------------------------------------------ helpers
    def _violation(self, what):
        self.violations.append(what)

    def counters(self):
        # frames_in/out, bytes_in/out: the same names as tools/emu/enc28j60.py uses
        return {
            "selects": self.selects,
            "resets": self.resets,
            "frames_in": self.rx_frames,
            "bytes_in": self.rx_bytes,
            "frames_out": self.tx_frames,
            "bytes_out": self.tx_bytes,
            "rx_frames": self.rx_frames,
            "rx_bytes": self.rx_bytes,
            "tx_frames": self.tx_frames,
            "tx_bytes": self.tx_bytes,
            "drop_filtered": self.drop_filtered,
            "drop_overflow": self.drop_overflow,
            "drop_runt": self.drop_runt,
            "drop_giant": self.drop_giant,
            "drop_closed": self.drop_closed,
            "drop_link": self.drop_link,
            "tx_dropped": self.tx_dropped,
            "torn_reads": self.torn_reads,
            "stale_reads": self.stale_reads,
            "violations": len(self.violations),
        }

    stats = counters

    def _reset(self):
        """Power-on / RSTn / MR.RST: every register to its reset value, sockets closed (section 14)."""
        c = self.common
        for i in range(len(c)):
            c[i] = 0
        c[RTR] = 0x07
        c[RTR + 1] = 0xD0
        c[0x1B] = 0x08  # RCR
        c[0x1C] = 0x28  # PTIMER
        c[0x26] = 0xFF  # PMRU
        c[0x27] = 0xFF
        c[PHYCFGR] = 0xB8
        c[VERSIONR] = 0x04
        for s in range(8):
            r = self.sock[s]
            for i in range(_SOCK_END):
                r[i] = 0
            for i in range(6, 12):
                r[i] = 0xFF  # Sn_DHAR
            r[0x16] = 0x80  # Sn_TTL
            r[SN_RXBUF_SIZE] = 2
            r[SN_TXBUF_SIZE] = 2
            r[SN_IMR] = 0xFF
            r[0x2D] = 0x40  # Sn_FRAG
            self.tx_rd[s] = 0
            self.rx_wr[s] = 0
            self.rx_rdc[s] = 0
            self._cr_left[s] = 0
        self._pending_rx = []
        self._pending_tx = False
        self._torn_lo = -1
        self._phy_rst = False
        self._layout()
        self._update_int()

    def _layout(self):
        tb = rb = 0
        for s in range(8):
            r = self.sock[s]
            ts = r[SN_TXBUF_SIZE]
            rs = r[SN_RXBUF_SIZE]
            ts = (ts << 10) if ts in _VALID_KB else 0
            rs = (rs << 10) if rs in _VALID_KB else 0
            if tb + ts > _MEM:
                ts = 0
            if rb + rs > _MEM:
                rs = 0
            self.tx_base[s] = tb
            self.tx_size[s] = ts
            self.rx_base[s] = rb
            self.rx_size[s] = rs
            tb += ts
            rb += rs

    def _check_sizes(self):
        tt = rt = 0
        for s in range(8):
            r = self.sock[s]
            if r[SN_TXBUF_SIZE] not in _VALID_KB or r[SN_RXBUF_SIZE] not in _VALID_KB:
                self._violation("socket %d buffer size not one of 0,1,2,4,8,16 KB" % s)
            tt += r[SN_TXBUF_SIZE]
            rt += r[SN_RXBUF_SIZE]
        if tt > 16 or rt > 16:
            self._violation("buffer sizes sum to more than 16 KB (TX %d, RX %d)" % (tt, rt))

    def _update_int(self):
        c = self.common
        sir = 0
        for s in range(8):
            # Sn_IR bits are always set (W5500.md §13), but only those enabled in Sn_IMR reach SIR
            # and INTn: the reference driver enables RECV only and polls SENDOK itself, which on
            # silicon works, so SENDOK must not pull INTn low.
            if self.sock[s][SN_IR] & self.sock[s][SN_IMR]:
                sir |= 1 << s
        c[SIR] = sir
        low = (c[IR] & c[IMR]) or (sir & c[SIMR])
        self.intn.drive(0 if low else 1)

    def _fsr(self, s):
        wr = (self.sock[s][SN_TX_WR] << 8) | self.sock[s][SN_TX_WR + 1]
        used = (wr - self.tx_rd[s]) & 0xFFFF
        size = self.tx_size[s]
        return size - used if used <= size else 0

    def hold_next(self, cmd, reads):
        """The next Sn_CR write of cmd (e.g. CMD_RECV) is accepted but runs only after `reads` reads
        of Sn_CR, whatever cr_delay says: a command that outlasts a driver's bounded poll."""
        self._hold_cmd = cmd
        self._hold_reads = reads

    def _rsr(self, s):
        return (self.rx_wr[s] - self.rx_rdc[s]) & 0xFFFF

    def rx_phys(self, ptr, s=0):
        """Index into rxmem of the RX buffer offset ptr (tests use it to corrupt a stored header)."""
        return self.rx_base[s] + (ptr & (self.rx_size[s] - 1))

    # ------------------------------------------------------------------ pins and wire side
    def rst_changed(self, level):
        """RSTn pin: low holds the chip in reset (no SPI answers), the rising edge ends it."""
        if level == 0:
            self._rst_low = True
        elif self._rst_low:
            self._rst_low = False
            self._mr_polls = 0
            self.resets += 1
            self._reset()

    def set_link(self, up, mbps=None, full=None):
        """The cable: plugged (up) or pulled. mbps (10 or 100) and full (duplex) say what the
        auto-negotiation gave, as PHYCFGR SPD and DPX report it. MACRAW gives no interrupt on a
        link change (section 10): the driver sees it only by reading PHYCFGR."""
        self.link = bool(up)
        if mbps is not None:
            if mbps not in (10, 100):
                raise ValueError("W5500 PHY: 10 or 100 Mb/s, not %r" % (mbps,))
            self.link_100m = mbps == 100
        if full is not None:
            self.link_full = bool(full)

    def _link_ok(self):
        return self.link and not self._phy_rst

    def deliver(self, frame):
        """A frame (no FCS) arrives from the wire. True if it was stored (or queued, in torture mode)."""
        n = len(frame)
        if self._rst_low or self.sock[0][SN_SR] != SOCK_MACRAW:
            self.drop_closed += 1
            return False
        if not self._link_ok():
            self.drop_link += 1
            return False
        if n < 60:
            self.drop_runt += 1  # section 5: runts are not delivered
            return False
        if n > _MTU:
            self.drop_giant += 1  # section 12 #10
            return False
        if not self._accept(frame):
            self.drop_filtered += 1
            return False
        if self.torture or self._sel:
            # arrives between SPI transactions (default) or mid-read of RSR (torture)
            self._pending_rx.append(bytes(frame))
            return True
        return self._store(frame, n)

    def _accept(self, f):
        mr = self.sock[0][SN_MR]
        bcast = f[0] == 0xFF and f[1] == 0xFF and f[2] == 0xFF and f[3] == 0xFF and f[4] == 0xFF and f[5] == 0xFF
        mcast = (f[0] & 1) and not bcast
        if mr & MR_MFEN and not bcast:
            # section 3 / 12 #1: only broadcast and DA == SHAR pass; IP multicast is dropped
            c = self.common
            for i in range(6):
                if f[i] != c[SHAR + i]:
                    return False
        if mr & MR_BCASTB and bcast:
            return False
        if mr & MR_MMB and mcast:
            return False
        if mr & MR_MIP6B and f[12] == 0x86 and f[13] == 0xDD:
            return False
        return True

    def _store(self, frame, n):
        s = 0
        size = self.rx_size[s]
        rec = n + 2
        if rec > size - self._rsr(s):
            self.drop_overflow += 1  # section 12 #9: lost whole, no flag in MACRAW
            return False
        base = self.rx_base[s]
        mask = size - 1
        wr = self.rx_wr[s]
        mem = self.rxmem
        mem[base + (wr & mask)] = rec >> 8
        mem[base + ((wr + 1) & mask)] = rec & 0xFF
        p = (wr + 2) & mask
        first = size - p
        if first > n:
            first = n
        if _MICROPYTHON:
            d = base + p
            for i in range(first):
                mem[d + i] = frame[i]
            for i in range(first, n):
                mem[base + i - first] = frame[i]
        else:
            mem[base + p:base + p + first] = frame[0:first]
            if first < n:
                mem[base:base + n - first] = frame[first:n]
        # commit atomically: RX_WR (and so RSR) moves only once the whole record is in memory
        self.rx_wr[s] = (wr + rec) & 0xFFFF
        self.rx_frames += 1
        self.rx_bytes += n
        self.sock[s][SN_IR] |= IR_RECV
        self._update_int()
        return True

    def settle(self):
        """Complete what torture mode holds back (queued frames, a pending SEND)."""
        while self._pending_rx:
            f = self._pending_rx.pop(0)
            if self.sock[0][SN_SR] == SOCK_MACRAW:
                self._store(f, len(f))
        if self._pending_tx:
            self._pending_tx = False
            self._complete_send(0)

    # ------------------------------------------------------------------ SPI side
    def spi_select(self):
        self._sel = True
        self._stale_sel = False
        self.selects += 1
        self._ph = 0
        self._left = 0
        self._torn_lo = -1

    def spi_deselect(self):
        if 0 < self._ph < 3:
            self._violation("chip select rose during the address/control phase")
        elif self._ph == 3 and self._fdm and self._left:
            self._violation("chip select rose inside a fixed-length (FDM) frame")
        self._sel = False
        self._ph = 0
        self._torn_lo = -1
        if self._pending_rx and not self.torture:
            while self._pending_rx:
                f = self._pending_rx.pop(0)
                if self.sock[0][SN_SR] == SOCK_MACRAW:
                    self._store(f, len(f))

    def spi_byte(self, b):
        if self._rst_low:
            return 0xFF  # held in reset: MISO not driven
        ph = self._ph
        if ph < 3:
            if ph == 0:
                self._addr = b << 8
            elif ph == 1:
                self._addr |= b
            else:
                self._bsb = b >> 3
                self._wr = b & 4
                om = b & 3
                self._fdm = om
                self._left = 4 if om == 3 else om
                bsb = self._bsb
                if bsb > 0x1F or (bsb & 3 == 0 and bsb != 0):
                    self._violation("access to reserved block BSB=0x%02x" % bsb)
            self._ph = ph + 1
            return ph + 1  # MISO shows 01 02 03 while the header is clocked in (section 1)
        a = self._addr
        if self._wr:
            self._write(a, b)
            r = 0
        else:
            r = self._read(a)
        self._addr = (a + 1) & 0xFFFF
        if self._fdm:
            self._left -= 1
            if self._left == 0:
                self._ph = 0  # FDM: the next byte starts a new address phase
        return r

    def spi_xfer(self, wbuf, rbuf, n, fill):
        i = 0
        while i < n:
            if self._ph == 3 and not self._fdm and (self._bsb & 3) >= 2 and self._bsb <= 0x1F and not self._rst_low:
                self._burst(wbuf, rbuf, i, n - i)  # VDM burst in a buffer block: runs to the end
                return
            r = self.spi_byte(fill if wbuf is None else wbuf[i])
            if rbuf is not None:
                rbuf[i] = r
            i += 1

    def _burst(self, wbuf, rbuf, i, m):
        s = self._bsb >> 2
        a = self._addr
        self._addr = (a + m) & 0xFFFF
        if self._bsb & 3 == 2:
            mem, base, size = self.txmem, self.tx_base[s], self.tx_size[s]
            if self._wr and self.strict and size and s == 0 and self.sock[0][SN_SR] == SOCK_MACRAW:
                wr = (self.sock[0][SN_TX_WR] << 8) | self.sock[0][SN_TX_WR + 1]
                if ((a - wr) & 0xFFFF) + m > self._fsr(0):
                    self._violation("TX buffer write outside the free space (would overwrite unsent data)")
        else:
            mem, base, size = self.rxmem, self.rx_base[s], self.rx_size[s]
            if not self._wr and self.strict and size:
                self._check_rx_read(s, a, m)
        if size == 0:
            if rbuf is not None:
                for k in range(m):
                    rbuf[i + k] = 0
            return
        mask = size - 1
        p = a & mask
        first = size - p
        if first > m:
            first = m
        # the offset wraps inside the socket buffer (section 4): two pieces at most per burst of <= size
        done = 0
        while done < m:
            if _MICROPYTHON:
                d = base + p
                if self._wr:
                    if wbuf is not None:
                        for k in range(first):
                            mem[d + k] = wbuf[i + done + k]
                    else:
                        for k in range(first):
                            mem[d + k] = 0
                elif rbuf is not None:
                    for k in range(first):
                        rbuf[i + done + k] = mem[d + k]
            else:
                if self._wr:
                    if wbuf is not None:
                        mem[base + p:base + p + first] = wbuf[i + done:i + done + first]
                    else:
                        mem[base + p:base + p + first] = bytes(first)
                elif rbuf is not None:
                    rbuf[i + done:i + done + first] = mem[base + p:base + p + first]
            done += first
            p = 0
            first = m - done
            if first > size:
                first = size

    def _check_rx_read(self, s, a, m):
        # The chip does not mind (the bytes are stale), but a driver that reads there trusts a length
        # it has not checked against RSR (W5500.md #8): a violation, which the tests assert away.
        if self.sock[s][SN_SR] != SOCK_MACRAW:
            return
        off = (a - self.rx_rdc[s]) & 0xFFFF
        rsr = self._rsr(s)
        if off + m > rsr and not self._stale_sel:
            self._stale_sel = True  # one per chip-select transaction (byte-wise reads would repeat it)
            self.stale_reads += 1
            self._violation("RX buffer read beyond RX_WR: %d byte(s) at RX_RD+%d, RSR %d (section 12 #8)"
                            % (m, off, rsr))

    # register and buffer access, one byte
    def _read(self, a):
        bsb = self._bsb
        if bsb == 0:
            return self._common_read(a)
        if bsb > 0x1F:
            return 0
        kind = bsb & 3
        s = bsb >> 2
        if kind == 1:
            return self._sock_read(s, a)
        if kind == 2:
            size = self.tx_size[s]
            return self.txmem[self.tx_base[s] + (a & (size - 1))] if size else 0
        if kind == 3:
            size = self.rx_size[s]
            if not size:
                return 0
            if self.strict:
                self._check_rx_read(s, a, 1)
            return self.rxmem[self.rx_base[s] + (a & (size - 1))]
        return 0  # reserved block reads 00

    def _write(self, a, v):
        bsb = self._bsb
        if bsb == 0:
            self._common_write(a, v)
            return
        if bsb > 0x1F:
            return
        kind = bsb & 3
        s = bsb >> 2
        if kind == 1:
            self._sock_write(s, a, v)
        elif kind == 2:
            size = self.tx_size[s]
            if size:
                self.txmem[self.tx_base[s] + (a & (size - 1))] = v
        elif kind == 3:
            size = self.rx_size[s]
            if size:
                self.rxmem[self.rx_base[s] + (a & (size - 1))] = v
        # reserved block: writes ignored

    def _common_read(self, a):
        c = self.common
        if a == MR:
            if self._mr_polls > 0:
                self._mr_polls -= 1
                return c[MR] | 0x80
            return c[MR]
        if a == PHYCFGR:
            v = c[PHYCFGR] & 0xF8
            if self._link_ok():
                v |= 0x01 | (0x02 if self.link_100m else 0) | (0x04 if self.link_full else 0)  # LNK, SPD, DPX
            return v
        if a >= _COMMON_END:
            if self.strict:
                self._violation("read of undefined common register 0x%04x" % a)
            return 0
        return c[a]

    def _common_write(self, a, v):
        c = self.common
        if a == MR:
            if v & 0x80:
                self.resets += 1
                self._reset()  # also closes every socket; SHAR back to 0 (section 12 #3)
                self._mr_polls = self.rst_polls
                return
            c[MR] = v
        elif a == IR:
            c[IR] &= ~v & 0xFF
            self._update_int()
        elif a == SIR or a == VERSIONR:
            self._violation("write to read-only common register 0x%04x" % a)
        elif a == PHYCFGR:
            c[PHYCFGR] = v & 0xF8  # bits 2..0 are read-only status
            self._phy_rst = not (v & 0x80)
        elif a == IMR or a == SIMR:
            c[a] = v
            self._update_int()
        elif a >= _COMMON_END:
            if self.strict:
                self._violation("write to undefined common register 0x%04x" % a)
        else:
            c[a] = v

    def _sock_read(self, s, a):
        r = self.sock[s]
        if a == SN_CR:
            v = r[SN_CR]
            if v and self._cr_left[s] > 0:
                self._cr_left[s] -= 1
                if self._cr_left[s] == 0:
                    r[SN_CR] = 0
                    self._command(s, v)  # runs now; the next read sees 00
            return v
        if a == SN_TX_FSR or a == SN_RX_RSR:
            return self._counter_hi(s, a)
        if a == SN_TX_FSR + 1 or a == SN_RX_RSR + 1:
            if self._torn_at == a and self._torn_lo >= 0:
                v = self._torn_lo
                self._torn_lo = -1
                return v
            return (self._fsr(s) if a == SN_TX_FSR + 1 else self._rsr(s)) & 0xFF
        if a == SN_TX_RD:
            return self.tx_rd[s] >> 8
        if a == SN_TX_RD + 1:
            return self.tx_rd[s] & 0xFF
        if a == SN_RX_WR:
            return self.rx_wr[s] >> 8
        if a == SN_RX_WR + 1:
            return self.rx_wr[s] & 0xFF
        if a >= _SOCK_END:
            if self.strict:
                self._violation("read of undefined socket register 0x%04x" % a)
            return 0
        return r[a]

    def _counter_hi(self, s, a):
        fsr = a == SN_TX_FSR
        old = self._fsr(s) if fsr else self._rsr(s)
        self._torn_lo = -1
        if s == 0 and self.torture and ((self._pending_tx and fsr) or (self._pending_rx and not fsr)):
            if fsr:
                self._pending_tx = False
                self._complete_send(0)
                new = self._fsr(0)
            else:
                while self._pending_rx:
                    f = self._pending_rx.pop(0)
                    self._store(f, len(f))
                new = self._rsr(0)
            if old != new:
                self._tear ^= 1
                if self._tear:
                    if (old >> 8) != (new >> 8):
                        self.torn_reads += 1
                    return old >> 8  # the low byte, read next, is already the new one
                if (old & 0xFF) != (new & 0xFF):
                    self.torn_reads += 1
                    self._torn_lo = old & 0xFF  # high byte updated first, low byte not yet
                    self._torn_at = a + 1
                return new >> 8
            return new >> 8
        return old >> 8

    def _sock_write(self, s, a, v):
        r = self.sock[s]
        if a == SN_CR:
            if r[SN_CR]:
                self._violation("Sn_CR written (0x%02x) while it still reads 0x%02x (section 12 #5)" % (v, r[SN_CR]))
                return
            if v == 0:
                return
            if self._hold_cmd and v == self._hold_cmd:
                self._hold_cmd = 0
                r[SN_CR] = v
                self._cr_left[s] = self._hold_reads
            elif self.cr_delay:
                r[SN_CR] = v
                self._cr_left[s] = self.cr_delay
            else:
                self._command(s, v)
        elif a == SN_IR:
            r[SN_IR] &= ~v & 0xFF
            self._update_int()
        elif a == SN_SR or SN_TX_FSR <= a <= SN_TX_RD + 1 or a == SN_RX_RSR or a == SN_RX_RSR + 1 \
                or a == SN_RX_WR or a == SN_RX_WR + 1:
            self._violation("write to read-only socket %d register 0x%02x" % (s, a))
        elif a == SN_RXBUF_SIZE or a == SN_TXBUF_SIZE:
            if r[SN_SR] != SOCK_CLOSED and self.strict:
                self._violation("socket %d buffer size written while open (sizes are set before OPEN)" % s)
            r[a] = v
            self._layout()
        elif a == SN_IMR:
            r[a] = v
            self._update_int()
        elif a >= _SOCK_END:
            if self.strict:
                self._violation("write to undefined socket register 0x%02x" % a)
        else:
            r[a] = v

    # ------------------------------------------------------------------ commands
    def _command(self, s, cmd):
        r = self.sock[s]
        if cmd == CMD_OPEN:
            if r[SN_SR] != SOCK_CLOSED:
                self._violation("OPEN on socket %d while Sn_SR=0x%02x (CLOSE first)" % (s, r[SN_SR]))
                return
            p = r[SN_MR] & 0x0F
            if p != 0x04:
                self._violation("OPEN with protocol %d: only MACRAW is modelled" % p)
                return
            if s != 0:
                return  # MACRAW is valid on socket 0 only: Sn_SR stays 00
            self._check_sizes()
            self._layout()
            ps = self.pointer_start
            self.tx_rd[0] = ps
            self.rx_wr[0] = ps
            self.rx_rdc[0] = ps
            r[SN_TX_WR] = ps >> 8
            r[SN_TX_WR + 1] = ps & 0xFF
            r[SN_RX_RD] = ps >> 8
            r[SN_RX_RD + 1] = ps & 0xFF
            self._pending_rx = []
            self._pending_tx = False
            r[SN_SR] = SOCK_MACRAW
        elif cmd == CMD_CLOSE:
            r[SN_SR] = SOCK_CLOSED
            if s == 0:
                self.rx_rdc[0] = self.rx_wr[0]  # RX flushed
                self._pending_rx = []
                self._pending_tx = False
        elif cmd == CMD_SEND:
            if r[SN_SR] != SOCK_MACRAW:
                self._violation("SEND on socket %d while Sn_SR=0x%02x" % (s, r[SN_SR]))
                return
            wr = (r[SN_TX_WR] << 8) | r[SN_TX_WR + 1]
            if ((wr - self.tx_rd[0]) & 0xFFFF) > self.tx_size[0]:
                self._violation("SEND with TX_WR - TX_RD beyond the TX buffer size")
            if self.tx_hold:
                return
            if self.torture:
                self._pending_tx = True
            else:
                self._complete_send(0)
        elif cmd == CMD_RECV:
            if r[SN_SR] != SOCK_MACRAW:
                self._violation("RECV on socket %d while Sn_SR=0x%02x" % (s, r[SN_SR]))
                return
            rd = (r[SN_RX_RD] << 8) | r[SN_RX_RD + 1]
            adv = (rd - self.rx_rdc[0]) & 0xFFFF
            if adv > self._rsr(0):
                self._violation("RX_RD beyond RX_WR at RECV (advance %d, RSR %d)" % (adv, self._rsr(0)))
                rd = self.rx_wr[0]
            # section 4: RSR and free space are recomputed on RECV, not on the RX_RD write
            self.rx_rdc[0] = rd
        else:
            self._violation("Sn_CR command 0x%02x is not used in MACRAW (ignored)" % cmd)
        self._update_int()

    def _complete_send(self, s):
        r = self.sock[s]
        wr = (r[SN_TX_WR] << 8) | r[SN_TX_WR + 1]
        rd = self.tx_rd[s]
        n = (wr - rd) & 0xFFFF
        self.tx_rd[s] = wr
        if not self._link_ok():
            self.tx_dropped += 1  # no SENDOK: the driver must not wait for ever (section 12 #6)
            return
        if n > _MTU:
            self._violation("SEND of %d bytes exceeds the MACRAW MTU of 1514" % n)
            self.tx_dropped += 1
            r[SN_IR] |= IR_SENDOK
            self._update_int()
            return
        if self.on_transmit is not None:
            size = self.tx_size[s]
            mask = size - 1
            base = self.tx_base[s]
            mem = self.txmem
            f = self._txf
            for i in range(n):
                f[i] = mem[base + ((rd + i) & mask)]
            m = n
            while m < 60:
                f[m] = 0  # the chip pads on the wire (section 5); the FCS is not passed on
                m += 1
            self.on_transmit(self._txfmv[0:m])
        self.tx_frames += 1
        self.tx_bytes += n
        r[SN_IR] |= IR_SENDOK
        self._update_int()


def make(mac=None, **kw):
    """A chip and the board side wired to it: (chip, spi, cs, rst, intn).
    kw go to W5500Chip. mac, when given, is kept as chip.board_mac for the caller building the driver
    (the chip itself has no MAC until the driver writes SHAR)."""
    chip = W5500Chip(**kw)
    chip.board_mac = mac
    cs = Pin("CS", 1)
    spi = SPI(chip, cs)
    rst = Pin("RSTn", 1, on_change=chip.rst_changed)
    return chip, spi, cs, rst, chip.intn
