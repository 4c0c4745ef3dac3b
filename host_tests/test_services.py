"""The firmware's services (firmware/services.py) under asyncio, as firmware/main.py runs them: the
interface task and the UDP echo, discard and chargen tasks over the fake device. Checks the answers,
the RFC 864 pattern, the loop guard (datagrams from another service's port are not answered), and
that serve() can be stopped and started again with the sockets kept."""
import asyncio
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "firmware"))

import netfix  # noqa: E402
import ptest  # noqa: E402
from netfix import HOST_MAC, arp_frame, udp_frame  # noqa: E402
from bsdnet.hdr import arp as ah, udp as udph  # noqa: E402

import main  # noqa: E402  firmware/main.py
import services  # noqa: E402


class Dev(netfix.FakeDev):
    intr = None  # polled: the interface task looks every POLL_MIN_MS..POLL_MAX_MS


def _replies(dev, dport):
    return [f for f in dev.sent if len(f) > 42 and f[23] == 17 and udph.dport(f, 34) == dport]


async def _exchange(nic, dev, frames, settle=0.15):
    dev.sent.clear()
    dev.rxq.extend(frames)
    await asyncio.sleep(settle)


def test_services_answer_and_refuse_loops():
    ptest.cleanup()
    services.close_udp()
    dev = Dev()
    nic, _ = netfix.make_if(dev=dev)
    main.start(nic, "10.7.0.2", "255.255.255.0", "10.7.0.1")
    dev.rxq.append(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))

    async def run():
        t = asyncio.create_task(main.serve(nic))
        await asyncio.sleep(0.05)
        # echo
        await _exchange(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 40000, 7, b"ping me")])
        r = _replies(dev, 40000)
        assert len(r) == 1 and r[0][42:49] == b"ping me" and udph.sport(r[0], 34) == 7
        # discard: counted, no answer
        d0 = services.stats["discard"]
        await _exchange(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 40001, 9, b"gone")])
        assert _replies(dev, 40001) == [] and services.stats["discard"] == d0 + 1
        # chargen: the asked length, then the default 512, each the RFC 864 pattern
        await _exchange(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 40002, 19, b"\x00\x10")])
        r = _replies(dev, 40002)
        want = bytearray(16)
        services.chargen_fill(want, 16, 0)
        assert len(r) == 1 and r[0][42:58] == bytes(want)
        await _exchange(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 40002, 19, b"")])
        r = _replies(dev, 40002)
        assert len(r) == 1 and udph.ulen(r[0], 34) == 8 + 512
        body = r[0][42:42 + 512]
        assert body[72:74] == b"\r\n" and body[74] == body[1]  # each line starts one character later
        # the loop guard: a datagram "from" another host's chargen or echo port gets no answer
        ref0 = services.stats["refused"]
        await _exchange(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 19, 7, b"loop?"),
                                   udp_frame("10.7.0.1", "10.7.0.2", 7, 19, b"")])
        assert _replies(dev, 19) == [] and _replies(dev, 7) == []
        assert services.stats["refused"] == ref0 + 2
        # stop and serve again: the sockets stay bound and the services answer
        nic.stop()
        await asyncio.wait_for(t, 2)
        t = asyncio.create_task(main.serve(nic))
        await _exchange(nic, dev, [udp_frame("10.7.0.1", "10.7.0.2", 40003, 7, b"again")])
        assert len(_replies(dev, 40003)) == 1
        nic.stop()
        await asyncio.wait_for(t, 2)

    try:
        asyncio.run(run())
    finally:
        services.close_udp()
        nic.active(False)
