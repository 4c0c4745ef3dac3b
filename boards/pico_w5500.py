# Board: WIZnet W5500-EVB-Pico (RP2040 + W5500 on SPI0), as MicroPython's boards/W5500_EVB_PICO wires
# it; also a Raspberry Pi Pico with a W5500 module wired the same way, and the emulated Pico
# (tools/rp2040/board.mjs DEFAULT_PINS). Hardware only: the addresses are in the board's config.py.

CHIP = "w5500"
ARCH = "armv6m"  # mpy-cross -march: RP2040, Cortex-M0+
SPI_ID = 0
SCK = 18
MOSI = 19
MISO = 16
CS = 17
RST = 20  # RSTn, active low; None if not wired
INT = 21  # INTn, active low; None if not wired (the interface then polls)
# W5500: 80 MHz in the feature list, about 33 MHz by its timing table (W5500.md §13); 20 MHz asked
# keeps a margin on module wiring. machine.SPI gives the nearest rate the divider allows at or
# below it (print the SPI object to see it).
BAUDRATE = 20_000_000
