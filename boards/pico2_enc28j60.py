# Board: Raspberry Pi Pico 2 (RP2350) + an ENC28J60 module on SPI0, wired as pico_enc28j60. Hardware
# only: the addresses are in the board's config.py. Checked by mpy-cross for its architecture only
# (rp2040js has no RP2350).

CHIP = "enc28j60"
ARCH = "armv7emsp"  # mpy-cross -march: RP2350, Cortex-M33 with single-precision FPU
SPI_ID = 0
SCK = 18
MOSI = 19
MISO = 16
CS = 17
RST = 20  # RESET, active low; None if not wired (SRC resets it over SPI)
INT = 21  # INT, active low; None if not wired (the interface then polls)
# ENC28J60: SCK at most 20 MHz (ENC28J60.md §1), and at least 8 MHz on rev B1/B4 (errata 1).
# machine.SPI gives the nearest rate at or below 20 MHz the divider allows.
BAUDRATE = 20_000_000
