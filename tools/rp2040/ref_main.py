# main.py for the REFERENCE firmware (micropython-v1.28.0-W5500_EVB_PICO.uf2): MicroPython's own
# network.WIZNET5K driver (W5500 in MACRAW mode, lwIP in C) serving UDP echo (port 7), to measure
# our stack against on the same emulated board and the same chip model.
#
#   .venv/bin/python tools/rp2040/run.py --uf2 ../shared/rp2040/micropython-v1.28.0-W5500_EVB_PICO.uf2 \
#       --chip w5500 --board "" --extra tools/rp2040/ref_main.py:/main.py --serve ...
# or from Python: run.Board(chip="w5500", uf2=run.UF2_W5500, board="", serve=True,
#                           extras=["tools/rp2040/ref_main.py:/main.py"]), then send frames with
# send_frame() / read them with recv_frame() (or relay them to a TAP). It prints "ref up: IP MAC".
# Addresses as boards/pico_w5500.py: 10.7.0.2/24. The board's pins are the firmware's defaults
# (SPI0 GP18/19/16, CS GP17, RST GP20, INTn GP21), so WIZNET5K() takes no arguments.
import network
import socket
import time

IP = "10.7.0.2"
NETMASK = "255.255.255.0"
GATEWAY = "10.7.0.1"
PORT = 7


def main():
    nic = network.WIZNET5K()
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
    while True:
        n, addr = s.recvfrom_into(buf) if hasattr(s, "recvfrom_into") else _recvfrom(s, buf)
        s.sendto(mv[:n], addr)


def _recvfrom(s, buf):
    data, addr = s.recvfrom(len(buf))
    n = len(data)
    buf[:n] = data
    return n, addr


main()
