# Board: ESP32 DevKit (ESP32-WROOM-32) + W5500 module on VSPI (SCK GPIO18, MOSI GPIO23, MISO GPIO19,
# CS GPIO5, RESET GPIO26, INT GPIO4). Also the wiring of the emulated ESP32 (tools/esp32/qemu.py
# DEFAULT_PINS). Hardware only: the addresses are in the board's config.py.

CHIP = "w5500"
ARCH = "xtensawin"  # mpy-cross -march: ESP32, Xtensa LX6 with windowed registers
SPI_ID = 2  # MicroPython's SPI(2) is VSPI (SPI3)
SCK = 18
MOSI = 23
MISO = 19
CS = 5
RST = 26
INT = 4  # INTn, active low; None if not wired
# W5500: 80 MHz on its feature list, ~33 MHz by the timing table; 20 MHz is 80 MHz APB / 4, exact
BAUDRATE = 20_000_000
