# Board: Raspberry Pi Pico + ENC28J60 module on SPI0 (no stock board; same wiring as the
# W5500-EVB-Pico so the emulated Pico serves both chips: SCK GP18, MOSI GP19, MISO GP16,
# CS GP17, RESET GP20, INT GP21).

CHIP = "enc28j60"
SPI_ID = 0
SCK = 18
MOSI = 19
MISO = 16
CS = 17
RST = 20
INT = 21  # INT, active low; None if not wired
# ENC28J60 max SCK 20 MHz; errata 1 (rev B1/B4): MAC/MII access unreliable below 8 MHz.
# The RP2040 gives 12 MHz for a 20 MHz request, inside both limits.
BAUDRATE = 20_000_000

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
