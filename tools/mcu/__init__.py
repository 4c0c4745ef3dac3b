# What the emulated boards (tools/rp2040, tools/esp32) share: the host protocol and its client
# (board.py), the raw REPL (rawrepl.py), the Python chip host behind an emulated SPI bus
# (chiphost.py), the littlefs image of .mpy files (mkfs.py), portable tests and figures (ptests.py).
