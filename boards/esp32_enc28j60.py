# Board: ESP32 DevKit (ESP32-WROOM-32) + ENC28J60 module on VSPI (SCK GPIO18, MOSI GPIO23, MISO
# GPIO19, CS GPIO5, RESET GPIO26, INT GPIO4), the same wiring as boards/esp32_w5500.py.

CHIP = "enc28j60"
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

# Addresses firmware/main.py gives the interface (edit for your network; the tests and the
# emulated board use 10.7.0.0/24)
IP = "10.7.0.2"
NETMASK = "255.255.255.0"
GATEWAY = "10.7.0.1"
DNS = "0.0.0.0"
MAC = None  # None: 02 + the board's unique id (the driver's default)
MCAST_GROUPS = ()  # multicast groups the UDP echo service (port 7) joins, e.g. ("239.1.2.3",)


# The driver and the interface from the numbers above (bsdnet/boardcfg.py does the wiring)
def build():
    from bsdnet import boardcfg
    import sys

    return boardcfg.build(sys.modules[__name__])


def interface():
    from bsdnet import boardcfg
    import sys

    return boardcfg.interface(sys.modules[__name__])
