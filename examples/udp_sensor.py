# A sensor that sends a JSON reading to a collector every few seconds, as UDP datagrams.
import asyncio
import gc
import json
import time
from bsdnet import boardcfg, socket

COLLECTOR = ("10.7.0.1", 5005)  # edit: where the readings go
PERIOD_S = 2

# The address comes from the board's /config.py, written by `make deploy BOARD=... PORT=... IP=...`
# (IP=dhcp: a lease, renewed while the interface is driven; or IP=192.168.1.50/24 GATEWAY=... DNS=...).
nic = boardcfg.up()


def read_sensor():
    return gc.mem_free() if hasattr(gc, "mem_free") else 0  # stands in for a real sensor


async def sender():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    seq = 0
    while True:
        seq += 1
        msg = {"board": nic.ifconfig()[0], "seq": seq, "uptime_ms": time.ticks_ms() if hasattr(time, "ticks_ms") else 0,
               "value": read_sensor()}
        s.sendto(json.dumps(msg).encode(), COLLECTOR)
        print("sent", seq)
        await asyncio.sleep(PERIOD_S)


async def main():
    asyncio.create_task(sender())
    await nic.run()  # the interface task: frames in (ARP replies for our datagrams), timers


asyncio.run(main())
