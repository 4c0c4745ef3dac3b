# main.py for the REFERENCE firmware (micropython-v1.28.0-W5500_EVB_PICO.uf2): MicroPython's own
# network.WIZNET5K driver (W5500 in MACRAW mode, lwIP in C) serving UDP echo (port 7), to measure
# our stack against on the same emulated board and the same chip model (tools/rp2040/bench_ref.py).
#
#   .venv/bin/python tools/rp2040/run.py --uf2 ../shared/rp2040/micropython-v1.28.0-W5500_EVB_PICO.uf2 \
#       --chip w5500 --board "" --extra tools/rp2040/ref_main.py:/main.py --serve ...
# or from Python: run.Board(chip=..., uf2=run.UF2_W5500, board="", serve=True, bridge="w5500",
#                           extras=["tools/rp2040/ref_main.py:/main.py"]), then send frames with
# send_frame() / read them with recv_frame() (or relay them to a TAP).
# Prints "ref heap at boot: N" (gc.mem_free() before the network is touched), "ref up: IP MAC" once
# the interface is up, then "ref mem_free: N" (gc.mem_free() after a
# collect, with the UDP echo socket bound), then serves for ever.
#
# Wiring as the W5500-EVB-Pico and the emulated board (tools/rp2040/board.mjs DEFAULT_PINS): SPI0
# GP18/19/16, CS GP17, RST GP20, INTn GP21. INTn is passed explicitly: without it the driver only
# polls the chip from lwIP's 64 ms timer. The SPI rate asked is the same as boards/pico_w5500.py's.
#
# INTn and the chip model: the driver sets SIMR = 01 and Sn_IMR(0) = RECV only, then spins on
# Sn_IR for SENDOK after every SEND while its falling-edge interrupt handler clears Sn_IR(0). If the
# chip model drives INTn for SENDOK too (SIR bit = Sn_IR != 0, ignoring Sn_IMR), the handler runs
# inside that spin, clears SENDOK, and the firmware polls Sn_IR for ever (the "never came up"
# failure: ~60,000 Sn_IR reads per 0.6 s emulated). bench_ref.py runs it on a W5500 model whose
# SIR bit n is (Sn_IR & Sn_IMR) != 0, which is what the real board's behaviour implies.
# Addresses as boards/pico_w5500.py: 10.7.0.2/24.
import gc
import machine
import network
import socket
import time
from machine import Pin

IP = "10.7.0.2"
NETMASK = "255.255.255.0"
GATEWAY = "10.7.0.1"
PORT = 7
BAUDRATE = 20_000_000


def main():
    gc.collect()
    print("ref heap at boot: %d" % gc.mem_free())
    spi = machine.SPI(0, BAUDRATE, sck=Pin(18), mosi=Pin(19), miso=Pin(16))
    nic = network.WIZNET5K(spi, Pin(17), Pin(20), Pin(21))
    nic.active(True)
    nic.ifconfig((IP, NETMASK, GATEWAY, "0.0.0.0"))
    t = time.ticks_ms()
    while not nic.isconnected() and time.ticks_diff(time.ticks_ms(), t) < 5000:
        time.sleep_ms(50)
    mac = nic.config("mac")
    print("ref up: %s %s" % (nic.ifconfig()[0], ":".join("%02x" % b for b in mac)))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", PORT))
    buf = bytearray(1472)
    mv = memoryview(buf)
    gc.collect()
    print("ref mem_free: %d" % gc.mem_free())
    while True:
        n, addr = s.recvfrom_into(buf) if hasattr(s, "recvfrom_into") else _recvfrom(s, buf)
        s.sendto(mv[:n], addr)


def _recvfrom(s, buf):
    data, addr = s.recvfrom(len(buf))
    n = len(data)
    buf[:n] = data
    return n, addr


main()
