# Board: ESP32 DevKit (ESP32-WROOM-32) + ENC28J60 module on VSPI (SCK GPIO18, MOSI GPIO23, MISO
# GPIO19, CS GPIO5, RESET GPIO26, INT GPIO4), the same wiring as boards/esp32_w5500.py.

CHIP = "enc28j60"
ARCH = "xtensawin"  # mpy-cross -march: ESP32, Xtensa LX6 with windowed registers
SPI_ID = 2  # MicroPython's SPI(2) is VSPI (SPI3)
SCK = 18
MOSI = 23
MISO = 19
CS = 5
RST = 26
INT = 4  # INT, active low; None if not wired
# ENC28J60 max SCK 20 MHz; errata 1 (rev B1/B4): MAC/MII access unreliable below 8 MHz.
# 16 MHz (80 MHz APB / 5, exact) is inside both limits with margin.
BAUDRATE = 16_000_000
