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


def spi():
    import machine

    return machine.SPI(SPI_ID, baudrate=BAUDRATE, polarity=0, phase=0,
                       sck=machine.Pin(SCK), mosi=machine.Pin(MOSI), miso=machine.Pin(MISO))


def pins():
    """(cs, rst, int) machine.Pin objects: CS and RESET driven high, INT input with pull-up."""
    import machine

    cs = machine.Pin(CS, machine.Pin.OUT, value=1)
    rst = machine.Pin(RST, machine.Pin.OUT, value=1)
    intn = machine.Pin(INT, machine.Pin.IN, machine.Pin.PULL_UP) if INT is not None else None
    return cs, rst, intn


def build():
    """(spi, cs, rst, int): everything a driver needs, e.g. ENC28J60(*board.build())."""
    cs, rst, intn = pins()
    return spi(), cs, rst, intn


def interface():
    """The bsdnet Interface on this board's chip (firmware/main.py calls this)."""
    from bsdnet.netif import Interface

    cs, rst, intn = pins()
    return Interface.enc28j60(spi(), cs, rst, intn, mac=MAC)
