#!/usr/bin/env python3
"""Build the littlefs image that the emulated ESP32 mounts at / (the firmware's `vfs` partition,
flash offset 0x200000).

    python3 tools/esp32/esp32fs.py [-o build/esp32/fs.img] [--board esp32_w5500] [--extra HOST[:FSPATH] ...]
                                [--no-compile] [--tests]

The layout and the builder are shared with the other emulated boards (tools/mcu/mkfs.py); here:
mpy-cross -march=xtensawin, littlefs v2 block size 4096, 512 blocks (2 MiB), prog/read size 256,
what MicroPython v1.23's ESP32_GENERIC mounts (../shared/esp32/README.md).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mcu import mkfs as _fs  # noqa: E402

GEOMETRY = _fs.Geometry("xtensawin", 512, 4096, prog_size=256, read_size=256)


def build(out=None, board="esp32_w5500", extras=(), tests=False, compile_py=True, config=None):
    """Build the image; returns (image bytes, [(fs path, size)]). Writes it to out when given.
    config: the /config.py text (default with a board: tools/mcu/mkfs.py config_text(board))."""
    return _fs.build(GEOMETRY, out, board, extras, tests, compile_py, config)


def main(argv=None):
    return _fs.main(argv, GEOMETRY, os.path.join(_fs.ROOT, "build", "esp32", "fs.img"), "esp32_w5500",
                    __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(main())
