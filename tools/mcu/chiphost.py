"""A chip model (tools/emu/) in this Python process, behind an emulated MCU's SPI bus and pins.

The emulator calls select()/deselect() on chip-select edges, byte(b) -> MISO per SPI byte and
rst(level) on the reset line; frames from the wire go in with deliver(frame) and frames the chip
sends come out through on_frame(bytes). After each of these the interrupt line's level is read
again and handed to on_int(level) when it changed (the emulator drives the MCU's input with it).
Chips: none (MISO floats high), loopback (MISO = MOSI), w5500, enc28j60 (the project's models).
"""
import os
import sys

_TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

CHIPS = ("none", "loopback", "w5500", "enc28j60")


class _Floating:
    """Nothing on the bus: MISO reads 0xFF."""

    def spi_select(self):
        pass

    def spi_deselect(self):
        pass

    def spi_byte(self, b):
        return 0xFF


class _Loopback(_Floating):
    """MISO wired to MOSI."""

    def spi_byte(self, b):
        return b


def make_chip(name):
    if name in (None, "", "none"):
        return _Floating()
    if name == "loopback":
        return _Loopback()
    if name == "w5500":
        from emu.w5500 import W5500Chip

        return W5500Chip()
    if name == "enc28j60":
        from emu.enc28j60 import ENC28J60Chip

        return ENC28J60Chip()
    raise ValueError("unknown chip %r (%s)" % (name, "|".join(CHIPS)))


class ChipHost:
    def __init__(self, name="none", on_frame=None, on_int=None):
        self.name = name
        self.chip = make_chip(name)
        self.on_frame = on_frame
        self.on_int = on_int
        self.selected = False
        self.spi_bytes = 0
        self.spi_selects = 0
        self.frames_in = 0
        self.frames_out = 0
        self._byte = self.chip.spi_byte
        if hasattr(self.chip, "on_transmit"):
            self.chip.on_transmit = self._transmit
        self.int = self.int_level()

    def _transmit(self, frame):
        self.frames_out += 1
        if self.on_frame is not None:
            self.on_frame(bytes(frame))

    def int_level(self):
        c = self.chip
        f = getattr(c, "int_level", None)
        if f is not None:
            return 1 if f() else 0
        p = getattr(c, "intn", None)
        return p.value() if p is not None else 1

    def _update_int(self):
        v = self.int_level()
        if v != self.int:
            self.int = v
            if self.on_int is not None:
                self.on_int(v)

    def select(self):
        self.selected = True
        self.spi_selects += 1
        self.chip.spi_select()

    def deselect(self):
        if self.selected:
            self.selected = False
            self.chip.spi_deselect()
            self._update_int()

    def byte(self, b):
        self.spi_bytes += 1
        return self._byte(b) & 0xFF

    def rst(self, level):
        c = self.chip
        f = getattr(c, "rst_changed", None)
        if f is not None:
            f(1 if level else 0)
        elif level and hasattr(c, "reset"):
            c.reset()
        self._update_int()

    def deliver(self, frame):
        self.frames_in += 1
        f = getattr(self.chip, "deliver", None)
        if f is not None:
            f(frame)
        self._update_int()

    def eval(self, expr):
        """repr() of expr evaluated with `chip` bound to the model (chip.counters(), ...)."""
        return repr(eval(expr, {"chip": self.chip}))

    def stats(self):
        return {"spi_bytes": self.spi_bytes, "spi_selects": self.spi_selects,
                "frames_in": self.frames_in, "frames_out": self.frames_out}
