# bsdnet: a 4.4BSD-shaped IPv4 stack for MicroPython on SPI Ethernet chips.
# Keep this file light: importing the package must not pull the whole stack in.
__version__ = "0.6.0"  # the mip package's version too (tools/mippkg.py reads it here)


def install():
    """After this, `import socket`/`select` (and usocket/uselect) and asyncio.open_connection /
    start_server in any library use bsdnet (dropin.py). Call it once the interface has its address."""
    from .dropin import install

    return install()
