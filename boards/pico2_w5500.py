# Board: WIZnet W5500-EVB-Pico2 (RP2350 + W5500 on SPI0), the same pins as the W5500-EVB-Pico; also
# a Raspberry Pi Pico 2 with a W5500 module wired that way. Hardware only: the addresses are in the
# board's config.py. Checked by mpy-cross for its architecture only (rp2040js has no RP2350).

CHIP = "w5500"
ARCH = "armv7emsp"  # mpy-cross -march: RP2350, Cortex-M33 with single-precision FPU
SPI_ID = 0
SCK = 18
MOSI = 19
MISO = 16
CS = 17
RST = 20  # RSTn, active low; None if not wired
INT = 21  # INTn, active low; None if not wired (the interface then polls)
# W5500: 80 MHz in the feature list, about 33 MHz by its timing table (W5500.md §13); 20 MHz asked
# keeps a margin on module wiring. machine.SPI gives the nearest rate at or below it.
BAUDRATE = 20_000_000
