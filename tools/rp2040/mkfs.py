#!/usr/bin/env python3
"""Build the littlefs image that the emulated Pico mounts at / (flash offset 0xA0000).

    python3 tools/rp2040/mkfs.py [-o build/rp2040/fs.img] [--board pico_w5500] [--ip 10.7.0.2/24]
                                 [--extra HOST[:FSPATH] ...] [--no-compile] [--tests]

    python3 tools/rp2040/mkfs.py ... [--ip 10.7.0.2/24]: the layout is tools/mcu/mkfs.py's (the lib/ and
firmware/ .mpy, /lib/boards/<name>.py, /config.py); here: mpy-cross -march=armv6m, littlefs block
size 4096, 352 blocks (1,408 KiB), as the RPI_PICO firmware expects.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mcu import mkfs as _fs  # noqa: E402
from mcu.mkfs import ROOT, MPYCROSS, KEEP_SOURCE, collect, config_text  # noqa: E402,F401

BLOCK_SIZE = 4096
BLOCK_COUNT = 352
FS_OFFSET = 0xA0000
GEOMETRY = _fs.Geometry("armv6m", BLOCK_COUNT, BLOCK_SIZE)


def compile_files(files, workdir, compile_py=True, keep_source=False):
    return _fs.compile_files(files, workdir, GEOMETRY.arch, compile_py, keep_source)


def make_image(entries):
    return _fs.make_image(entries, GEOMETRY)


def build(out=None, board="pico_w5500", extras=(), tests=False, compile_py=True, config=None):
    """Build the image; returns (image bytes, [(fs path, size)]). Writes it to out when given.
    config: the /config.py text (default with a board: config_text(board))."""
    return _fs.build(GEOMETRY, out, board, extras, tests, compile_py, config)


def main(argv=None):
    return _fs.main(argv, GEOMETRY, os.path.join(ROOT, "build", "rp2040", "fs.img"), "pico_w5500",
                    __doc__.split("\n")[0])


if __name__ == "__main__":
    sys.exit(main())
