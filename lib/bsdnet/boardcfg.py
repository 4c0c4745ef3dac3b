# Turn a board module (boards/<name>.py, deployed as board.py: pin numbers, SPI bus, chip) into
# machine.SPI/Pin objects and an Interface. Board modules hold only numbers and names.


def spi(cfg):
    import machine

    return machine.SPI(cfg.SPI_ID, baudrate=cfg.BAUDRATE, polarity=0, phase=0,
                       sck=machine.Pin(cfg.SCK), mosi=machine.Pin(cfg.MOSI), miso=machine.Pin(cfg.MISO))


def pins(cfg):
    """(cs, rst, int): CS and reset driven high (idle, out of reset), the interrupt an input with pull-up."""
    import machine

    cs = machine.Pin(cfg.CS, machine.Pin.OUT, value=1)
    rst = machine.Pin(cfg.RST, machine.Pin.OUT, value=1) if cfg.RST is not None else None
    intn = machine.Pin(cfg.INT, machine.Pin.IN, machine.Pin.PULL_UP) if cfg.INT is not None else None
    return cs, rst, intn


def build(cfg):
    """(spi, cs, rst, int): what a driver takes, e.g. W5500(*boardcfg.build(board))."""
    cs, rst, intn = pins(cfg)
    return spi(cfg), cs, rst, intn


def interface(cfg):
    from .netif import Interface

    s, cs, rst, intn = build(cfg)
    if cfg.CHIP == "w5500":
        return Interface.w5500(s, cs, rst, intn, mac=cfg.MAC)
    if cfg.CHIP == "enc28j60":
        return Interface.enc28j60(s, cs, rst, intn, mac=cfg.MAC)
    raise ValueError("board CHIP %r: give 'w5500' or 'enc28j60'" % (cfg.CHIP,))
