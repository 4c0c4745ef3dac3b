# Microchip ENC28J60 emulator at the SPI-instruction level, for the raw-Ethernet driver
# (lib/bsdnet/dev/enc28j60.py). Section numbers refer to shared/chips/ENC28J60.md; section 13 lists
# what is modelled: the seven instructions (one per chip select, the dummy byte on MAC/MII reads),
# banks, reset values, buffer pointers with auto-increment and wrap (ERDPT: ERXND -> ERXST and
# 1FFF -> 0000; EWRPT: 1FFF -> 0000), the ERXRDPT latch, the RX engine (filters, padding to 60, a real
# CRC-32, the byte at ERXRDPT never written, EPKTCNT saturating at 255, atomic commit), PKTDEC, the TX
# engine with its 7-byte status vector, late-collision fault injection with the TX logic stalled until
# TXRST (errata 12/13), TXRST/RXRST, MII with MISTAT.BUSY, PHSTAT1.LLSTAT latching low, PHIR clear
# on read, the INT pin, power-save (SRC ignored: errata 19), and optionally CLKRDY coming late.
#
# Modelling choices ([INF] in the fact sheet):
#  - The chip object starts as if powered long ago (ready). After SRC or RST it is not ready for
#    1 ms: any instruction other than reading ESTAT in that time is a violation (errata 2). With
#    slow_clkrdy=True ESTAT.CLKRDY also reads 0 during that ms; otherwise it reads 1 at once (the
#    erratum: CLKRDY comes too early).
#  - MII: the PHY operation takes effect at once, MISTAT.BUSY then reads 1 for `mii_polls` reads
#    of MISTAT. Reading MIRD or writing MICMD/MIREGADR/MIWR while BUSY is a violation.
#  - TX completes at TXRTS (or after `tx_polls` reads of EIR/ECON1/ESTAT). With the link down the
#    frame is "sent" into nothing (TXIF, not passed to on_transmit). `tx_hang=True` makes TXRTS never
#    complete (for the driver's timeout path). After a late-collision abort the TX logic is stalled:
#    TXRTS without a TXRST pulse never completes (errata 12).
#  - Half duplex without PHCON2.HDLDIS loops transmitted frames back into RX (errata 9).
#  - RSV: count incl. FCS, bit 20 CRC error, 22 type > 1500, 23 RxOK, 24 multicast (not broadcast),
#    25 broadcast, 27 control (8808), 28 pause, 30 VLAN (8100). Bit 21 (length check) is not modelled.
#  - Filters: UCEN, MCEN, BCEN, CRCEN, ANDOR, HTEN (the hash table: bits 28:23 of the CRC-32 of the
#    DA, computed as the FCS is but without its final inversion, select a bit of EHT0-7; see
#    hash_bit). PMEN/MPEN never match (not modelled). Writing ERXFCON while ECON1.RXEN is set is a
#    violation (section 9 step 15).
#    ERXFCON = 00 is promiscuous: bad-CRC frames are stored with RSV bit 23 clear.
#  - DMA: DMAST completes at once, setting DMAIF, without copying (the driver does not use it).
#  - RXRST clears EPKTCNT and restarts the FIFO at ERXST.
#  - on_transmit(frame) gets a memoryview of the chip's transmit copy (padded per MACON3 or the
#    control byte, no FCS), valid during the call only: copy it.
#
# Portable Python (CPython and the MicroPython VM). The steady-state paths (deliver, RBM/WBM bursts,
# register access, TX with on_transmit None) do not allocate under MicroPython, so heap figures
# measured around driver + chip are the driver's.
import sys

from .spi import Pin, SPI

_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from time import ticks_ms as _ticks_ms, ticks_diff as _ticks_diff
except ImportError:
    import time as _time

    def _ticks_ms():
        return int(_time.monotonic() * 1000) & 0x3FFFFFFF

    def _ticks_diff(a, b):
        return ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000


if not _MICROPYTHON:
    from binascii import crc32 as _crc32
else:
    _crc32 = None

# ---- register indices: (bank << 5) | addr for 00..19, addr for the common 1B..1F
ERDPTL = 0x00
ERDPTH = 0x01
EWRPTL = 0x02
EWRPTH = 0x03
ETXSTL = 0x04
ETXSTH = 0x05
ETXNDL = 0x06
ETXNDH = 0x07
ERXSTL = 0x08
ERXSTH = 0x09
ERXNDL = 0x0A
ERXNDH = 0x0B
ERXRDPTL = 0x0C
ERXRDPTH = 0x0D
ERXWRPTL = 0x0E
ERXWRPTH = 0x0F
EIE = 0x1B
EIR = 0x1C
ESTAT = 0x1D
ECON2 = 0x1E
ECON1 = 0x1F
EHT0 = 0x20  # EHT0..EHT7: bank 1, 00..07
ERXFCON = 0x38
EPKTCNT = 0x39
MACON1 = 0x40
MACON3 = 0x42
MACON4 = 0x43
MABBIPG = 0x44
MAIPGL = 0x46
MAIPGH = 0x47
MACLCON1 = 0x48
MACLCON2 = 0x49
MAMXFLL = 0x4A
MAMXFLH = 0x4B
MICMD = 0x52
MIREGADR = 0x54
MIWRL = 0x56
MIWRH = 0x57
MIRDL = 0x58
MIRDH = 0x59
MAADR5 = 0x60
MAADR6 = 0x61
MAADR3 = 0x62
MAADR4 = 0x63
MAADR1 = 0x64
MAADR2 = 0x65
MISTAT = 0x6A
EREVID = 0x72
ECOCON = 0x75
EFLOCON = 0x77
EPAUSL = 0x78
EPAUSH = 0x79

# MAC byte i (0 = first on the wire) lives at this register index (section 3)
MAADR_INDEX = (MAADR1, MAADR2, MAADR3, MAADR4, MAADR5, MAADR6)

# PHY registers (section 4)
PHCON1 = 0x00
PHSTAT1 = 0x01
PHID1 = 0x02
PHID2 = 0x03
PHCON2 = 0x10
PHSTAT2 = 0x11
PHIE = 0x12
PHIR = 0x13
PHLCON = 0x14

# bits
EIR_PKTIF = 0x40
EIR_DMAIF = 0x20
EIR_LINKIF = 0x10
EIR_TXIF = 0x08
EIR_TXERIF = 0x02
EIR_RXERIF = 0x01
ESTAT_INT = 0x80
ESTAT_BUFER = 0x40
ESTAT_LATECOL = 0x10
ESTAT_RXBUSY = 0x04
ESTAT_TXABRT = 0x02
ESTAT_CLKRDY = 0x01
ECON1_TXRST = 0x80
ECON1_RXRST = 0x40
ECON1_DMAST = 0x20
ECON1_TXRTS = 0x08
ECON1_RXEN = 0x04
ECON2_AUTOINC = 0x80
ECON2_PKTDEC = 0x40
ECON2_PWRSV = 0x20
MACON1_MARXEN = 0x01
MACON3_TXCRCEN = 0x10
MACON3_HFRMEN = 0x04
MACON3_FULDPX = 0x01
MICMD_MIIRD = 0x01
MISTAT_BUSY = 0x01
PHCON1_PRST = 0x8000
PHCON1_PDPXMD = 0x0100
PHCON2_HDLDIS = 0x0100
PHSTAT1_LLSTAT = 0x0004
PHSTAT2_LSTAT = 0x0400
PHSTAT2_DPXSTAT = 0x0200
PHIE_PLNKIE = 0x10
PHIE_PGEIE = 0x02
PHIR_PLNKIF = 0x10
PHIR_PGIF = 0x04

# SPI decoder states
_S_OP = 0
_S_RCR = 1
_S_RCR_DUMMY = 2
_S_RBM = 3
_S_WCR = 4
_S_WBM = 5
_S_BFS = 6
_S_BFC = 7
_S_DONE = 8


def _table(cells):
    t = bytearray(128)
    for c in cells:
        t[c] = 1
    return t


# implemented register slots (unimplemented and 1A read 00, ignore writes)
_IMPL = _table(
    list(range(0x00, 0x18)) + [0x1B, 0x1C, 0x1D, 0x1E, 0x1F]
    + list(range(0x20, 0x32)) + [0x34, 0x35, 0x38, 0x39]
    + [0x40, 0x42, 0x43, 0x44, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x52, 0x54, 0x56, 0x57, 0x58, 0x59]
    + list(range(0x60, 0x6B)) + [0x72, 0x75, 0x77, 0x78, 0x79]
)
# MAC/MII registers: RCR clocks a dummy byte first, BFS/BFC do not apply (section 1)
_DUMMY = _table(
    [0x40, 0x42, 0x43, 0x44, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x52, 0x54, 0x56, 0x57, 0x58, 0x59]
    + [0x60, 0x61, 0x62, 0x63, 0x64, 0x65, 0x6A]
)
# read-only from the host's side
_RO = _table([ERXWRPTL, ERXWRPTH, EPKTCNT, MIRDL, MIRDH, MISTAT, EREVID])
# high bytes of 13-bit buffer pointers
_PTRH = _table([ERDPTH, EWRPTH, ETXSTH, ETXNDH, ERXSTH, ERXNDH, ERXRDPTH, ERXWRPTH, 0x11, 0x13, 0x15, 0x17])
_NAMES = {
    ERXSTL: "ERXSTL", ERXSTH: "ERXSTH", ERXNDL: "ERXNDL", ERXNDH: "ERXNDH", ERXWRPTL: "ERXWRPTL",
    ERXWRPTH: "ERXWRPTH", EPKTCNT: "EPKTCNT", MIRDL: "MIRDL", MIRDH: "MIRDH", MISTAT: "MISTAT",
    EREVID: "EREVID", MICMD: "MICMD", MIREGADR: "MIREGADR", MIWRL: "MIWRL", MIWRH: "MIWRH",
}


def _name(ix):
    n = _NAMES.get(ix)
    if n is None:
        return "bank %d reg 0x%02x" % (ix >> 5, ix & 0x1F) if (ix & 0x1F) < 0x1B else "reg 0x%02x" % ix
    return n


# CRC-32 (IEEE 802.3, reflected 0xEDB88320) as two 16-bit halves, so that MicroPython's small
# ints carry it without heap allocation
_CRC_LO = [0] * 256
_CRC_HI = [0] * 256


def _crc_tables():
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0xEDB88320 if c & 1 else c >> 1
        _CRC_LO[i] = c & 0xFFFF
        _CRC_HI[i] = c >> 16


_crc_tables()


def crc32_fcs(frame, n, pad_to, out):
    """FCS of frame[0:n] zero-padded to pad_to bytes, written into out[0:4] in wire order."""
    if _crc32 is not None:
        c = _crc32(frame[:n])
        if pad_to > n:
            c = _crc32(bytes(pad_to - n), c)
        out[0] = c & 0xFF
        out[1] = (c >> 8) & 0xFF
        out[2] = (c >> 16) & 0xFF
        out[3] = (c >> 24) & 0xFF
        return
    lo = 0xFFFF
    hi = 0xFFFF
    tlo = _CRC_LO
    thi = _CRC_HI
    for i in range(n):
        x = (lo ^ frame[i]) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[x]
        hi = (hi >> 8) ^ thi[x]
    for _ in range(n, pad_to):
        x = lo & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[x]
        hi = (hi >> 8) ^ thi[x]
    out[0] = (lo & 0xFF) ^ 0xFF
    out[1] = (lo >> 8) ^ 0xFF
    out[2] = (hi & 0xFF) ^ 0xFF
    out[3] = (hi >> 8) ^ 0xFF


def hash_bit(da):
    """The hash table bit (0..63) of the destination address da[0:6] (DS39662E 8.4; EHT(k >> 3) bit
    (k & 7)). The datasheet's CRC runs its register most significant bit first, bytes fed least
    significant bit first, preset to ones, no final inversion: that register is the bit reverse of
    the reflected one the FCS tables above compute, so its bits 28..23 are bits 3..8 here. No
    allocation (per received frame with HTEN)."""
    lo = 0xFFFF
    hi = 0xFFFF
    tlo = _CRC_LO
    thi = _CRC_HI
    for i in range(6):
        x = (lo ^ da[i]) & 0xFF
        lo = ((lo >> 8) | ((hi & 0xFF) << 8)) ^ tlo[x]
        hi = (hi >> 8) ^ thi[x]
    return (((lo >> 8) & 1) | ((lo >> 6) & 2) | ((lo >> 4) & 4) | ((lo >> 2) & 8) | (lo & 16)
            | ((lo << 2) & 32))


class ENC28J60Chip:
    def __init__(self, strict=True, revid=0x06, link=True, late_collisions=0, slow_clkrdy=False,
                 mii_polls=1, tx_polls=0):
        self.strict = strict
        self.revid = revid
        self.late_collisions = late_collisions  # the next N transmissions abort with a late collision
        self.slow_clkrdy = slow_clkrdy
        self.mii_polls = mii_polls
        self.tx_polls = tx_polls
        self.tx_hang = False  # TXRTS never completes (TX timeout path of the driver)
        self.clock = _ticks_ms  # ms clock for the 1 ms after reset; tests may freeze it
        self.violations = []
        self.on_transmit = None
        self.board_mac = None
        self.intn = Pin("INTn", 1)
        self.mem = bytearray(8192)
        for i in range(8192):
            self.mem[i] = 0xEE  # not zero: a field the driver forgot to write shows
        self.r = bytearray(128)
        self.phy = [0] * 32
        self.link = bool(link)
        self._llstat = self.link
        self._txbuf = bytearray(1536 + 64)
        self._txmv = memoryview(self._txbuf)
        self._fcs = bytearray(4)
        self._one = bytearray(1)
        self._hdr = bytearray(8)
        # counters
        self.selects = 0
        self.frames_in = 0
        self.bytes_in = 0
        self.frames_out = 0
        self.bytes_out = 0
        self.tx_aborts = 0
        self.tx_late_collisions = 0
        self.tx_nolink = 0
        self.resets = 0
        self.looped_back = 0
        self.drops = {"disabled": 0, "link": 0, "filter": 0, "crc": 0, "giant": 0, "overflow": 0, "pktcnt": 0}
        self._rst_low = False
        self._sel = False
        self._st = _S_DONE
        self._int_level = 1
        self._reset_regs()
        self._ready = True  # powered long ago
        self._reset_t = 0

    # ------------------------------------------------------------------ state
    def _violation(self, what):
        if self.strict:
            self.violations.append(what)

    def _reset_regs(self):
        """Power-on / RST / SRC: registers and PHY to their reset values (section 13). Buffer memory keeps
        its contents."""
        r = self.r
        for i in range(128):
            r[i] = 0
        r[ERDPTL] = 0xFA
        r[ERDPTH] = 0x05
        r[ERXSTL] = 0xFA
        r[ERXSTH] = 0x05
        r[ERXNDL] = 0xFF
        r[ERXNDH] = 0x1F
        r[ERXRDPTL] = 0xFA
        r[ERXRDPTH] = 0x05
        r[ECON2] = ECON2_AUTOINC
        r[ERXFCON] = 0xA1
        r[MAMXFLH] = 0x06
        r[MACLCON1] = 0x0F
        r[MACLCON2] = 0x37
        r[EREVID] = self.revid
        r[ECOCON] = 0x04
        r[EPAUSH] = 0x10
        r[ESTAT] = ESTAT_CLKRDY
        self._rdpt_latch = 0xFA
        self._bank = 0
        self._mii_busy = 0
        self._tx_stalled = False
        self._tx_wait = -1  # polls left before a pending TX completes; -1: none pending
        self._reset_phy()
        self._update_int()

    def _reset_phy(self):
        p = self.phy
        for i in range(32):
            p[i] = 0
        p[PHID1] = 0x0083
        p[PHID2] = 0x1400
        p[PHLCON] = 0x3422
        self._llstat = self.link

    def _soft_reset(self):
        self.resets += 1
        self._reset_regs()
        self._ready = False
        self._reset_t = self.clock()

    def reset(self):
        """Hardware reset (the RST pin pulsed; the rp2040 board calls this on its rising edge)."""
        self._soft_reset()

    def rst_changed(self, level):
        """RST pin (active low): low holds the chip in reset, the rising edge ends it."""
        if level == 0:
            self._rst_low = True
            self._update_int()
        elif self._rst_low:
            self._rst_low = False
            self._soft_reset()

    def enter_power_save(self):
        """As if firmware before us had set ECON2.PWRSV (errata 19: SRC is then ignored)."""
        self.r[ECON2] |= ECON2_PWRSV

    def _p16(self, lo):
        r = self.r
        return r[lo] | (r[lo + 1] << 8)

    def _set16(self, lo, v):
        r = self.r
        r[lo] = v & 0xFF
        r[lo + 1] = (v >> 8) & 0x1F

    def _update_int(self):
        r = self.r
        eie = r[EIE]
        act = (eie & 0x80) and (r[EIR] & eie & 0x7B) and not self._rst_low
        if act:
            r[ESTAT] |= ESTAT_INT
            lvl = 0
        else:
            r[ESTAT] &= ~ESTAT_INT & 0xFF
            lvl = 1
        if lvl != self._int_level:
            self._int_level = lvl
            self.intn.drive(lvl)

    def int_level(self):
        return self._int_level

    def counters(self):
        d = {
            "selects": self.selects, "frames_in": self.frames_in, "bytes_in": self.bytes_in,
            "frames_out": self.frames_out, "bytes_out": self.bytes_out, "tx_aborts": self.tx_aborts,
            "tx_late_collisions": self.tx_late_collisions, "tx_nolink": self.tx_nolink,
            "resets": self.resets, "looped_back": self.looped_back, "epktcnt": self.r[EPKTCNT],
            "violations": len(self.violations),
        }
        for k in self.drops:
            d["drop_" + k] = self.drops[k]
        return d

    stats = counters

    # convenience for tests
    def reg(self, ix):
        """A register by index ((bank << 5) | addr), without side effects."""
        return self.r[ix]

    def mac(self):
        r = self.r
        return bytes(r[MAADR_INDEX[i]] for i in range(6))

    def pointer(self, name):
        return self._p16({"ERDPT": ERDPTL, "EWRPT": EWRPTL, "ETXST": ETXSTL, "ETXND": ETXNDL, "ERXST": ERXSTL,
                          "ERXND": ERXNDL, "ERXRDPT": ERXRDPTL, "ERXWRPT": ERXWRPTL}[name])

    def phy_reg(self, a):
        return self.phy[a]

    # ------------------------------------------------------------------ SPI side
    def spi_select(self):
        self._sel = True
        self.selects += 1
        self._st = _S_DONE if self._rst_low else _S_OP

    def spi_deselect(self):
        self._sel = False
        self._st = _S_DONE
        self._update_int()

    def spi_byte(self, b):
        st = self._st
        if st == _S_RBM:
            one = self._one
            self._rbm_burst(one, 0, 1)
            return one[0]
        if st == _S_WBM:
            one = self._one
            one[0] = b
            self._wbm_burst(one, 0, 1)
            return 0
        if st == _S_OP:
            self._opcode(b)
            return 0
        if st == _S_RCR:
            self._st = _S_DONE
            return self._read_reg(self._a)
        if st == _S_RCR_DUMMY:
            self._st = _S_RCR
            return 0
        if st == _S_WCR:
            self._st = _S_DONE
            self._write_reg(self._a, b)
            return 0
        if st == _S_BFS:
            self._st = _S_DONE
            a = self._a
            self._write_reg(a, self.r[a] | b)
            return 0
        if st == _S_BFC:
            self._st = _S_DONE
            a = self._a
            self._write_reg(a, self.r[a] & ~b & 0xFF)
            return 0
        return 0

    def spi_xfer(self, wbuf, rbuf, n, fill):
        i = 0
        while i < n:
            st = self._st
            if st == _S_RBM:
                self._rbm_burst(rbuf, i, n - i)
                return
            if st == _S_WBM and wbuf is not None:
                self._wbm_burst(wbuf, i, n - i)
                return
            r = self.spi_byte(fill if wbuf is None else wbuf[i])
            if rbuf is not None:
                rbuf[i] = r
            i += 1

    def _opcode(self, b):
        if not self._ready:
            if _ticks_diff(self.clock(), self._reset_t) >= 1:
                self._ready = True
            elif b != 0x1D:
                self._violation("SPI instruction 0x%02x less than 1 ms after reset (errata 2: wait >= 1 ms)" % b)
        if b == 0xFF:
            self._st = _S_DONE
            if self.r[ECON2] & ECON2_PWRSV:
                self._violation("SRC while ECON2.PWRSV is set: ignored (errata 19: clear PWRSV and wait first)")
                return
            self._soft_reset()
            return
        op = b >> 5
        a = b & 0x1F
        ix = a if a >= 0x1B else (self._bank << 5) | a
        self._a = ix
        if op == 0:
            self._st = _S_RCR_DUMMY if _DUMMY[ix] else _S_RCR
        elif op == 2:
            self._st = _S_WCR
        elif op == 4 or op == 5:
            if _DUMMY[ix]:
                self._violation("%s on MAC/MII register %s (ETH registers only)"
                                % ("BFS" if op == 4 else "BFC", _name(ix)))
                self._st = _S_DONE
            else:
                self._st = _S_BFS if op == 4 else _S_BFC
        elif b == 0x3A:
            self._start_rbm()
        elif b == 0x7A:
            self._st = _S_WBM
            self._wbm_checked = False
        else:
            self._violation("bad opcode 0x%02x" % b)
            self._st = _S_DONE

    # ------------------------------------------------------------------ buffer memory
    def _start_rbm(self):
        self._st = _S_RBM
        self._rbm_avail = -1
        if not self.strict:
            return
        p = self._p16(ERDPTL)
        rxst = self._p16(ERXSTL)
        rxnd = self._p16(ERXNDL)
        if p < rxst or p > rxnd or rxnd < rxst:
            return
        if p & 1:
            self._violation("RBM from odd ERDPT 0x%04x in the RX buffer (packets start even)" % p)
        size = rxnd - rxst + 1
        rd = self._p16(ERXRDPTL)
        start = rxst if rd >= rxnd or rd < rxst else rd + 1
        used = (self._p16(ERXWRPTL) - start) % size
        off = (p - start) % size
        self._rbm_avail = used - off if off < used else 0
        self._rbm_from = p

    def _rbm_burst(self, rbuf, off, cnt):
        r = self.r
        mem = self.mem
        p = r[ERDPTL] | (r[ERDPTH] << 8)
        rxst = r[ERXSTL] | (r[ERXSTH] << 8)
        rxnd = r[ERXNDL] | (r[ERXNDH] << 8)
        inc = r[ECON2] & ECON2_AUTOINC
        avail = self._rbm_avail
        for k in range(off, off + cnt):
            if rbuf is not None:
                rbuf[k] = mem[p]
            if avail >= 0:
                if avail == 0:
                    self._violation("RBM past ERXWRPT: read uncommitted RX memory at 0x%04x (started at 0x%04x)"
                                    % (p, self._rbm_from))
                    avail = -1
                else:
                    avail -= 1
            if inc:
                if p == rxnd:
                    p = rxst
                else:
                    p = (p + 1) & 0x1FFF
        self._rbm_avail = avail
        r[ERDPTL] = p & 0xFF
        r[ERDPTH] = p >> 8

    def _wbm_burst(self, wbuf, off, cnt):
        r = self.r
        mem = self.mem
        p = r[EWRPTL] | (r[EWRPTH] << 8)
        inc = r[ECON2] & ECON2_AUTOINC
        if r[ECON1] & ECON1_RXEN and not self._wbm_checked:
            rxst = r[ERXSTL] | (r[ERXSTH] << 8)
            rxnd = r[ERXNDL] | (r[ERXNDH] << 8)
        else:
            rxst = 1
            rxnd = 0
        for k in range(off, off + cnt):
            if rxst <= p <= rxnd:
                self._violation("WBM into the RX buffer at 0x%04x while RXEN is set" % p)
                self._wbm_checked = True
                rxst = 1
                rxnd = 0
            mem[p] = wbuf[k]
            if inc:
                p = (p + 1) & 0x1FFF
        r[EWRPTL] = p & 0xFF
        r[EWRPTH] = p >> 8

    # ------------------------------------------------------------------ registers
    def _read_reg(self, ix):
        r = self.r
        if ix == ESTAT or ix == EIR or ix == ECON1:
            if self._tx_wait > 0:
                self._tx_wait -= 1
                if self._tx_wait == 0:
                    self._tx_complete()
            if ix == ESTAT:
                v = r[ESTAT]
                if self.slow_clkrdy and not self._ready:
                    if _ticks_diff(self.clock(), self._reset_t) >= 1:
                        self._ready = True
                    else:
                        v &= ~ESTAT_CLKRDY & 0xFF
                return v
            return r[ix]
        if ix == ECON2:
            return r[ECON2]
        if ix == MISTAT:
            if self._mii_busy > 0:
                self._mii_busy -= 1
                return MISTAT_BUSY
            return 0
        if (ix == MIRDL or ix == MIRDH) and self._mii_busy:
            self._violation("%s read while MISTAT.BUSY" % _name(ix))
        if not _IMPL[ix]:
            return 0
        return r[ix]

    def _write_reg(self, ix, v):
        r = self.r
        if not _IMPL[ix]:
            return
        if ix >= 0x1B and ix <= 0x1F:
            if ix == ECON1:
                self._write_econ1(v)
            elif ix == ECON2:
                self._write_econ2(v)
            elif ix == EIR:
                r[EIR] = (v & 0x2B) | (r[EIR] & (EIR_PKTIF | EIR_LINKIF))
            elif ix == ESTAT:
                # only BUFER, LATECOL and TXABRT can be cleared by the host
                keep = r[ESTAT] & ~(ESTAT_BUFER | ESTAT_LATECOL | ESTAT_TXABRT) & 0xFF
                r[ESTAT] = keep | (v & r[ESTAT] & (ESTAT_BUFER | ESTAT_LATECOL | ESTAT_TXABRT))
            else:
                r[ix] = v
            return
        if _RO[ix]:
            self._violation("write 0x%02x to read-only %s" % (v, _name(ix)))
            return
        if ix == ERXFCON and r[ECON1] & ECON1_RXEN:
            self._violation("ERXFCON written while ECON1.RXEN is set (clear RXEN first)")
        if ix == ERXRDPTL:
            self._rdpt_latch = v
            return
        if ix == ERXRDPTH:
            val = ((v & 0x1F) << 8) | self._rdpt_latch
            if not val & 1:
                self._violation("even ERXRDPT 0x%04x (errata 14: always odd)" % val)
            r[ERXRDPTL] = self._rdpt_latch
            r[ERXRDPTH] = v & 0x1F
            return
        if ERXSTL <= ix <= ERXNDH:
            if r[ECON1] & ECON1_RXEN:
                self._violation("write to %s while ECON1.RXEN is set" % _name(ix))
            r[ix] = v & 0x1F if _PTRH[ix] else v
            r[ERXWRPTL] = r[ERXSTL]  # writing ERXST/ERXND reloads ERXWRPT (section 5)
            r[ERXWRPTH] = r[ERXSTH]
            return
        if ix == MICMD or ix == MIREGADR or ix == MIWRL or ix == MIWRH:
            if self._mii_busy:
                self._violation("write to %s while MISTAT.BUSY" % _name(ix))
            if ix == MICMD:
                old = r[MICMD]
                r[MICMD] = v & 0x03
                if v & MICMD_MIIRD and not old & MICMD_MIIRD:
                    val = self._phy_read(r[MIREGADR] & 0x1F)
                    r[MIRDL] = val & 0xFF
                    r[MIRDH] = val >> 8
                    self._mii_busy = self.mii_polls
                elif v & MICMD_MIIRD:
                    self._violation("MICMD.MIIRD written 1 while already 1 (clear it after each read)")
                return
            r[ix] = v
            if ix == MIWRH:
                self._phy_write(r[MIREGADR] & 0x1F, r[MIWRL] | (v << 8))
                self._mii_busy = self.mii_polls
            return
        r[ix] = v & 0x1F if _PTRH[ix] else v

    def _write_econ2(self, v):
        r = self.r
        if v & ECON2_PKTDEC:
            c = r[EPKTCNT]
            if c == 0:
                self._violation("PKTDEC with EPKTCNT 0")
            else:
                c -= 1
                r[EPKTCNT] = c
                if c == 0:
                    r[EIR] &= ~EIR_PKTIF & 0xFF
        r[ECON2] = v & 0xA8

    def _write_econ1(self, v):
        r = self.r
        old = r[ECON1]
        rise = v & ~old
        r[ECON1] = v
        self._bank = v & 3
        if rise & ECON1_TXRST:
            # TX logic reset: a stalled or pending transmission is given up (errata 12)
            self._tx_stalled = False
            self._tx_wait = -1
            r[ECON1] &= ~ECON1_TXRTS & 0xFF
        if rise & ECON1_RXRST:
            r[EPKTCNT] = 0
            r[EIR] &= ~EIR_PKTIF & 0xFF
            r[ERXWRPTL] = r[ERXSTL]
            r[ERXWRPTH] = r[ERXSTH]
        if rise & ECON1_DMAST:
            r[ECON1] &= ~ECON1_DMAST & 0xFF
            r[EIR] |= EIR_DMAIF
        if rise & ECON1_RXEN:
            self._check_rx_config()
        if not v & ECON1_TXRTS and old & ECON1_TXRTS:
            self._tx_wait = -1  # host gave up the transmission
        if rise & ECON1_TXRTS:
            if v & ECON1_TXRST:
                self._violation("TXRTS set while ECON1.TXRST holds the TX logic in reset")
                r[ECON1] &= ~ECON1_TXRTS & 0xFF
            else:
                self._tx_start()

    def _check_rx_config(self):
        r = self.r
        if self._p16(ERXSTL) != 0:
            self._violation("RXEN with ERXST 0x%04x: the RX buffer must start at 0000 (errata 5)" % self._p16(ERXSTL))
        if not self._p16(ERXRDPTL) & 1:
            self._violation("RXEN with even ERXRDPT 0x%04x (errata 14)" % self._p16(ERXRDPTL))
        full = r[MACON3] & MACON3_FULDPX
        if bool(full) != bool(self.phy[PHCON1] & PHCON1_PDPXMD):
            self._violation("MACON3.FULDPX does not match PHCON1.PDPXMD")
        if not full and not self.phy[PHCON2] & PHCON2_HDLDIS:
            self._violation("half duplex without PHCON2.HDLDIS (errata 9: transmitted frames loop back)")

    # ------------------------------------------------------------------ PHY via MII
    def _phy_read(self, a):
        p = self.phy
        if a == PHSTAT1:
            v = 0x1800 | (PHSTAT1_LLSTAT if self._llstat else 0)
            self._llstat = self.link  # LLSTAT latches low until read
            return v
        if a == PHSTAT2:
            v = PHSTAT2_LSTAT if self.link else 0
            if p[PHCON1] & PHCON1_PDPXMD:
                v |= PHSTAT2_DPXSTAT
            return v
        if a == PHIR:
            v = p[PHIR]
            p[PHIR] = 0
            self.r[EIR] &= ~EIR_LINKIF & 0xFF
            return v
        return p[a]

    def _phy_write(self, a, v):
        p = self.phy
        if a == PHCON1:
            if v & PHCON1_PRST:
                self._reset_phy()
                return
            p[PHCON1] = v & 0x4900
        elif a == PHCON2:
            p[PHCON2] = v & 0x6500
        elif a == PHIE:
            p[PHIE] = v & 0x12
        elif a == PHLCON:
            p[PHLCON] = (v & 0x0FFE) | 0x3000
        else:
            self._violation("MII write 0x%04x to read-only or unimplemented PHY register 0x%02x" % (v, a))

    def set_link(self, up):
        up = bool(up)
        if up == self.link:
            return
        self.link = up
        if not up:
            self._llstat = False
        p = self.phy
        p[PHIR] |= PHIR_PLNKIF
        if p[PHIE] & PHIE_PLNKIE and p[PHIE] & PHIE_PGEIE:
            p[PHIR] |= PHIR_PGIF
            self.r[EIR] |= EIR_LINKIF
        self._update_int()

    # ------------------------------------------------------------------ wire side: receive
    def _accept(self, f, fcon):
        """ERXFCON filters other than CRCEN (section 10)."""
        bcast = f[0] == 0xFF and f[1] == 0xFF and f[2] == 0xFF and f[3] == 0xFF and f[4] == 0xFF and f[5] == 0xFF
        en = fcon & 0x9F
        if en == 0:
            return True
        r = self.r
        anyhit = False
        allhit = True
        if fcon & 0x80:  # UCEN
            hit = True
            for i in range(6):
                if f[i] != r[MAADR_INDEX[i]]:
                    hit = False
                    break
            anyhit = anyhit or hit
            allhit = allhit and hit
        if fcon & 0x18:  # PMEN, MPEN: not modelled, never match
            allhit = False
        if fcon & 0x04:  # HTEN: the bit of EHT0-7 that bits 28:23 of the DA's CRC select
            k = hash_bit(f)
            hit = bool(r[EHT0 + (k >> 3)] & (1 << (k & 7)))
            anyhit = anyhit or hit
            allhit = allhit and hit
        if fcon & 0x02:  # MCEN: group bit (broadcast included)
            hit = bool(f[0] & 1)
            anyhit = anyhit or hit
            allhit = allhit and hit
        if fcon & 0x01:  # BCEN
            anyhit = anyhit or bcast
            allhit = allhit and bcast
        return allhit if fcon & 0x40 else anyhit

    def deliver(self, frame, fcs=None):
        """A frame arrives from the wire (no FCS; TAP frames may be shorter than 60 bytes). fcs, when
        given, is the 4-byte FCS as received (a wrong one makes a bad-CRC frame). True if stored."""
        r = self.r
        drops = self.drops
        if self._rst_low or not (r[ECON1] & ECON1_RXEN) or r[ECON1] & ECON1_RXRST or not r[MACON1] & MACON1_MARXEN:
            drops["disabled"] += 1
            return False
        if not self.link:
            drops["link"] += 1
            return False
        n = len(frame)
        ln = n if n >= 60 else 60
        count = ln + 4
        out = self._fcs
        crc32_fcs(frame, n, ln, out)
        crc_ok = True
        if fcs is not None:
            for i in range(4):
                if fcs[i] != out[i]:
                    crc_ok = False
                out[i] = fcs[i]
        fcon = r[ERXFCON]
        if fcon and fcon & 0x20 and not crc_ok:
            drops["crc"] += 1
            return False
        if fcon and not self._accept(frame, fcon):
            drops["filter"] += 1
            return False
        if count > self._p16(MAMXFLL) and not r[MACON3] & MACON3_HFRMEN:
            drops["giant"] += 1
            return False
        if r[EPKTCNT] == 255:
            drops["pktcnt"] += 1
            r[EIR] |= EIR_RXERIF
            self._update_int()
            return False
        rxst = self._p16(ERXSTL)
        rxnd = self._p16(ERXNDL)
        size = rxnd - rxst + 1
        wr = self._p16(ERXWRPTL)
        rd = self._p16(ERXRDPTL)
        need = 6 + count + (count & 1)
        if rd < rxst or rd > rxnd or wr == rd:
            free = 0
        else:
            free = (rd - wr) % size  # the byte at ERXRDPT is never written
        if need > free:
            drops["overflow"] += 1
            r[EIR] |= EIR_RXERIF
            self._update_int()
            return False
        nxt = wr + need
        if nxt > rxnd:
            nxt -= size
        # receive status vector (section 6)
        bcast = frame[0] == 0xFF and frame[1] == 0xFF and frame[2] == 0xFF and frame[3] == 0xFF and \
            frame[4] == 0xFF and frame[5] == 0xFF
        typ = (frame[12] << 8) | frame[13] if n >= 14 else 0
        s2 = 0x80 if crc_ok else 0x10
        if typ > 1500:
            s2 |= 0x40
        s3 = 0
        if bcast:
            s3 |= 0x02
        elif frame[0] & 1:
            s3 |= 0x01
        if typ == 0x8808:
            s3 |= 0x08
            if n >= 16 and frame[14] == 0 and frame[15] == 1:
                s3 |= 0x10
        elif typ == 0x8100:
            s3 |= 0x40
        mem = self.mem
        hdr = self._hdr
        hdr[0] = nxt & 0xFF
        hdr[1] = nxt >> 8
        hdr[2] = count & 0xFF
        hdr[3] = count >> 8
        hdr[4] = s2
        hdr[5] = s3
        p = wr
        for i in range(6):
            mem[p] = hdr[i]
            p = rxst if p == rxnd else p + 1
        for i in range(n):
            mem[p] = frame[i]
            p = rxst if p == rxnd else p + 1
        for _ in range(n, ln):
            mem[p] = 0
            p = rxst if p == rxnd else p + 1
        for i in range(4):
            mem[p] = out[i]
            p = rxst if p == rxnd else p + 1
        # commit atomically: the write pointer, the count and PKTIF move together
        self._set16(ERXWRPTL, nxt)
        r[EPKTCNT] += 1
        r[EIR] |= EIR_PKTIF
        self.frames_in += 1
        self.bytes_in += n
        self._update_int()
        return True

    # ------------------------------------------------------------------ transmit
    def _tx_start(self):
        if self._tx_stalled:
            self._violation("TXRTS after a transmit abort without a TXRST pulse: the TX logic is stalled (errata 12)")
            return  # TXRTS stays set for ever
        if self.tx_hang:
            return
        st = self._p16(ETXSTL)
        nd = self._p16(ETXNDL)
        rxst = self._p16(ERXSTL)
        rxnd = self._p16(ERXNDL)
        if nd < st:
            self._violation("TXRTS with ETXND 0x%04x below ETXST 0x%04x" % (nd, st))
        elif self.r[ECON1] & ECON1_RXEN and st <= rxnd and nd + 7 >= rxst:
            self._violation("TX buffer 0x%04x-0x%04x (+TSV) overlaps the RX buffer" % (st, nd + 7))
        if self.tx_polls > 0:
            self._tx_wait = self.tx_polls
            return
        self._tx_complete()

    def _tx_complete(self):
        r = self.r
        mem = self.mem
        self._tx_wait = -1
        st = self._p16(ETXSTL)
        nd = self._p16(ETXNDL)
        n = nd - st if nd >= st else 0
        ctrl = mem[st]
        if ctrl & 0x01:  # POVERRIDE: PHUGEEN, PPADEN, PCRCEN from the control byte
            pad = 1 if ctrl & 0x04 else 0
            crc = ctrl & 0x02
            huge = ctrl & 0x08
        else:
            pad = r[MACON3] >> 5
            crc = r[MACON3] & MACON3_TXCRCEN
            huge = r[MACON3] & MACON3_HFRMEN
        buf = self._txbuf
        for i in range(n):
            buf[i] = mem[(st + 1 + i) & 0x1FFF]
        target = 0
        if pad & 1:
            if pad == 1:
                target = 60
            elif pad == 5:
                target = 64 if n >= 14 and buf[12] == 0x81 and buf[13] == 0x00 else 60
            else:
                target = 64
        ln = n
        while ln < target:
            buf[ln] = 0
            ln += 1
        wire = ln + (4 if crc else 0)
        bcast = n >= 6 and buf[0] == 0xFF and buf[1] == 0xFF and buf[2] == 0xFF and buf[3] == 0xFF and \
            buf[4] == 0xFF and buf[5] == 0xFF
        s3 = 0
        if bcast:
            s3 = 0x02
        elif n and buf[0] & 1:
            s3 = 0x01
        s2 = 0x80
        fault = False
        if wire > self._p16(MAMXFLL) and not huge:
            s3 |= 0x40  # giant
            s2 = 0
            fault = True
        elif self.late_collisions > 0:
            self.late_collisions -= 1
            self.tx_late_collisions += 1
            s3 |= 0x20  # late collision (TSV bit 29)
            s2 = 0
            fault = True
            self._tx_stalled = True  # errata 12: stalled until TXRST
            r[ESTAT] |= ESTAT_LATECOL
        # the 7-byte transmit status vector after ETXND (section 8)
        tsv = self._hdr
        tsv[0] = wire & 0xFF
        tsv[1] = wire >> 8
        tsv[2] = s2
        tsv[3] = s3
        tsv[4] = wire & 0xFF
        tsv[5] = wire >> 8
        tsv[6] = 0x08 if n >= 14 and buf[12] == 0x81 and buf[13] == 0 else 0
        for i in range(7):
            mem[(nd + 1 + i) & 0x1FFF] = tsv[i]
        r[ECON1] &= ~ECON1_TXRTS & 0xFF
        if fault:
            self.tx_aborts += 1
            r[EIR] |= EIR_TXERIF
            r[ESTAT] |= ESTAT_TXABRT
            self._update_int()
            return
        r[EIR] |= EIR_TXIF
        if not self.link:
            self.tx_nolink += 1
            self._update_int()
            return
        self.frames_out += 1
        self.bytes_out += ln
        cb = self.on_transmit
        if cb is not None:
            cb(self._txmv[:ln])
        if not r[MACON3] & MACON3_FULDPX and not self.phy[PHCON2] & PHCON2_HDLDIS:
            self.looped_back += 1
            self.deliver(bytes(self._txmv[:ln]))  # errata 9: half-duplex loopback
        self._update_int()


def make(mac=None, **kw):
    """A chip and the board side wired to it: (chip, spi, cs, rst, intn). kw go to ENC28J60Chip.
    mac, when given, is kept as chip.board_mac for the caller building the driver (the chip has no
    MAC of its own: MAADR is written by the driver and only filters)."""
    chip = ENC28J60Chip(**kw)
    chip.board_mac = mac
    cs = Pin("CS", 1)
    spi = SPI(chip, cs)
    rst = Pin("RST", 1, on_change=chip.rst_changed)
    return chip, spi, cs, rst, chip.intn
