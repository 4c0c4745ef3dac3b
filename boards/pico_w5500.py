# Board: WIZnet W5500-EVB-Pico (RP2040 + W5500 on SPI0), as MicroPython's boards/W5500_EVB_PICO wires it.
# Also the wiring of the emulated Pico (tools/rp2040/board.mjs DEFAULT_PINS).

CHIP = "w5500"
SPI_ID = 0
SCK = 18
MOSI = 19
MISO = 16
CS = 17
RST = 20
INT = 21  # INTn, active low; None if not wired
# 20 MHz asked; the RP2040 divides 125 MHz down to 12 MHz (machine.SPI reports the rate it got)
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
