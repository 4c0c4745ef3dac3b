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


def spi():
    import machine

    return machine.SPI(SPI_ID, baudrate=BAUDRATE, polarity=0, phase=0,
                       sck=machine.Pin(SCK), mosi=machine.Pin(MOSI), miso=machine.Pin(MISO))


def pins():
    """(cs, rst, int) machine.Pin objects: CS and RST driven high (idle, out of reset), INTn input."""
    import machine

    cs = machine.Pin(CS, machine.Pin.OUT, value=1)
    rst = machine.Pin(RST, machine.Pin.OUT, value=1)
    intn = machine.Pin(INT, machine.Pin.IN, machine.Pin.PULL_UP) if INT is not None else None
    return cs, rst, intn


def build():
    """(spi, cs, rst, int): everything a driver needs, e.g. W5500(*board.build())."""
    cs, rst, intn = pins()
    return spi(), cs, rst, intn


def interface():
    """The bsdnet Interface on this board's chip (firmware/main.py calls this)."""
    from bsdnet.netif import Interface

    cs, rst, intn = pins()
    return Interface.w5500(spi(), cs, rst, intn, mac=MAC)
