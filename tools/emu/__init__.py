# Chip emulators at the SPI-transaction level (portable Python: CPython and the MicroPython VM).
