# Board: Raspberry Pi Pico (RP2040) + an ENC28J60 module on SPI0, wired as the W5500-EVB-Pico so the
# emulated Pico serves both chips. Hardware only: the addresses are in the board's config.py.

CHIP = "enc28j60"
ARCH = "armv6m"  # mpy-cross -march: RP2040, Cortex-M0+
SPI_ID = 0
SCK = 18
MOSI = 19
MISO = 16
CS = 17
RST = 20  # RESET, active low; None if not wired (SRC resets it over SPI)
INT = 21  # INT, active low; None if not wired (the interface then polls)
# ENC28J60: SCK at most 20 MHz (ENC28J60.md §1), and at least 8 MHz on rev B1/B4 (errata 1: MAC/MII
# access unreliable below). machine.SPI gives the nearest rate at or below 20 MHz the divider allows.
BAUDRATE = 20_000_000
