# machine.SPI and machine.Pin look-alikes that connect a driver to an emulated chip.
#
# A chip model implements:
#   spi_select()            chip select went low: a new transaction starts
#   spi_deselect()          chip select went high: the transaction ends
#   spi_byte(b) -> int      one byte clocked: MOSI in, MISO out (the primitive; rp2040js feeds these)
#   spi_xfer(wbuf, rbuf, n, fill)   optional fast path for n bytes (wbuf None: send fill; rbuf None: discard)
# Portable Python: runs under CPython and inside the MicroPython VM.


class Pin:
    """machine.Pin look-alike. Output pins driven by the driver call on_change(level) on every change;
    input pins (e.g. INTn) are driven by the chip model with drive(level) and can fire irq handlers."""

    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, name="pin", value=1, on_change=None):
        self.name = name
        self._v = value
        self.on_change = on_change
        self._irq = None
        self._trigger = 0

    def init(self, mode=-1, pull=-1, value=None, **kw):
        if value is not None:
            self.value(value)

    def value(self, v=None):
        if v is None:
            return self._v
        v = 1 if v else 0
        if v != self._v:
            self._v = v
            if self.on_change is not None:
                self.on_change(v)
        return None

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def low(self):
        self.value(0)

    def high(self):
        self.value(1)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, **kw):
        self._irq = handler
        self._trigger = trigger

    def drive(self, v):
        """Set by the chip model (an input pin from the driver's side); fires the irq handler on an edge."""
        v = 1 if v else 0
        old = self._v
        self._v = v
        if old != v and self._irq is not None:
            if (v == 0 and self._trigger & Pin.IRQ_FALLING) or (v == 1 and self._trigger & Pin.IRQ_RISING):
                self._irq(self)


class SPI:
    """machine.SPI look-alike with one chip behind it, selected by cs (a Pin from this module).
    Counts transfers (calls) and bytes so tests can check the driver's SPI budget."""

    def __init__(self, chip, cs, baudrate=20000000):
        self.chip = chip
        self.cs = cs
        self.baudrate = baudrate
        self.calls = 0
        self.nbytes = 0
        self.violations = []
        self._fast = getattr(chip, "spi_xfer", None)
        cs.on_change = self._cs_changed
        self._selected = cs.value() == 0
        if self._selected:
            chip.spi_select()

    def _cs_changed(self, level):
        if level == 0:
            self._selected = True
            self.chip.spi_select()
        else:
            self._selected = False
            self.chip.spi_deselect()

    def init(self, *a, **kw):
        pass

    def deinit(self):
        pass

    def _xfer(self, wbuf, rbuf, n, fill):
        self.calls += 1
        self.nbytes += n
        if not self._selected:
            # the chip ignores the clock while not selected; MISO floats (reads as 0xFF here)
            self.violations.append("SPI transfer of %d bytes with chip select high" % n)
            if rbuf is not None:
                for i in range(n):
                    rbuf[i] = 0xFF
            return
        if self._fast is not None:
            self._fast(wbuf, rbuf, n, fill)
            return
        byte = self.chip.spi_byte
        for i in range(n):
            r = byte(fill if wbuf is None else wbuf[i])
            if rbuf is not None:
                rbuf[i] = r

    def write(self, buf):
        self._xfer(buf, None, len(buf), 0)

    def readinto(self, buf, write=0):
        self._xfer(None, buf, len(buf), write)

    def read(self, n, write=0):
        b = bytearray(n)
        self._xfer(None, b, n, write)
        return bytes(b)

    def write_readinto(self, wbuf, rbuf):
        if len(wbuf) != len(rbuf):
            raise ValueError("buffers must be the same length")
        self._xfer(wbuf, rbuf, len(wbuf), 0)


class FloatingBus:
    """No chip on the bus: MISO floats (pulled up: 0xFF; pulled down or shorted: 0x00)."""

    def __init__(self, level=0xFF):
        self.level = level

    def spi_select(self):
        pass

    def spi_deselect(self):
        pass

    def spi_byte(self, b):
        return self.level
