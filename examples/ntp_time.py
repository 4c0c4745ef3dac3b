# Set the clock from an NTP server (SNTP, RFC 4330) and print it.
import asyncio
import struct
import time
from bsdnet import boardcfg, socket

NTP_SERVER = "10.7.0.1"  # edit: your NTP server (a dotted quad)

# The address comes from the board's /config.py, written by `make deploy BOARD=... PORT=... IP=...`
# (IP=dhcp: a lease, renewed while the interface is driven; or IP=192.168.1.50/24 GATEWAY=... DNS=...).
nic = boardcfg.up()

# NTP counts seconds from 1900; time.gmtime() from 1970 or, on some MicroPython ports, 2000
NTP_DELTA = 2208988800 if time.gmtime(0)[0] == 1970 else 3155673600


async def ntp_time():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    try:
        q = bytearray(48)
        q[0] = 0x1B  # LI 0, version 3, mode 3 (client)
        s.sendto(q, (NTP_SERVER, 123))
        data, addr = await s.arecvfrom(48)
    finally:
        s.close()
    return struct.unpack("!I", data[40:44])[0] - NTP_DELTA  # the server's transmit time, whole seconds


def set_clock(t):
    tm = time.gmtime(t)
    try:
        import machine

        machine.RTC().datetime((tm[0], tm[1], tm[2], tm[6], tm[3], tm[4], tm[5], 0))
    except (ImportError, AttributeError):
        pass  # no RTC here (a PC, the MicroPython VM): only print it
    print("time: %04d-%02d-%02d %02d:%02d:%02d UTC" % tm[:6])


async def sync():
    while True:
        try:
            set_clock(await ntp_time())
            return  # a real application would sync again now and then
        except OSError as e:  # no answer within 5 s (ETIMEDOUT): ask again
            print("ntp:", e)


async def main():
    asyncio.create_task(sync())
    await nic.run()  # the interface task: frames in, timers


asyncio.run(main())
