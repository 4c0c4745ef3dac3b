# The interface task (netif.run) under asyncio: woken by the interrupt pin, or polling adaptively
# without one; frames answered while it sleeps between deadlines; stop() ends it.
import asyncio

from bsdnet import opts, mbuf
from bsdnet.netif import Interface
from bsdnet.hdr import arp as ah, icmp as ich
from emu import w5500 as emu
from netfix import HOST_MAC, BOARD_MAC, arp_frame, echo_frame


def _board(with_intr):
    chip, spi, cs, rst, intn = emu.make()
    nic = Interface.w5500(spi, cs, rst=rst, intr=intn if with_intr else None, mac=BOARD_MAC)
    nic.active(True)
    nic.ifconfig(("10.7.0.2", "255.255.255.0", "10.7.0.1", "0.0.0.0"))
    out = []
    chip.on_transmit = lambda f: out.append(bytes(f))
    return nic, chip, out


async def _exercise(nic, chip, out, n=10):
    task = asyncio.create_task(nic.run())
    await asyncio.sleep(0.01)
    chip.deliver(arp_frame(ah.ARPOP_REQUEST, HOST_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.2"))
    for seq in range(n):
        chip.deliver(echo_frame("10.7.0.1", "10.7.0.2", seq=seq))
        for _ in range(200):  # bounded: 2 s at most per echo
            if any(len(f) > 34 and f[34] == ich.ICMP_ECHOREPLY and ich.seq(f, 34) == seq for f in out):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no echo reply for seq %d" % seq)
    nic.stop()
    await asyncio.wait_for(task, 2)


def test_run_woken_by_interrupt_pin():
    nic, chip, out = _board(True)
    asyncio.run(_exercise(nic, chip, out))
    assert mbuf.pool_free() == opts.NMBCLUSTERS


def test_run_polls_without_interrupt_pin():
    nic, chip, out = _board(False)
    asyncio.run(_exercise(nic, chip, out))
    assert nic._poll_ms >= opts.POLL_MIN_MS


def test_run_serves_arp_retries_as_deadlines():
    # an unanswered resolution: the task wakes for each retry deadline without any frame arriving
    nic, chip, out = _board(True)

    async def main():
        task = asyncio.create_task(nic.run())
        from bsdnet.ip_output import ip_output
        from bsdnet.hdr import ip as iph
        from bsdnet.inet import inet_aton

        m = mbuf.m_get()
        iph.emit(m.buf, m.off, 20, 0, 20, 0, 0, 64, 253, nic.ia.addr, 0, inet_aton("10.7.0.9"), 0)
        m.len = 20
        ip_output(nic, m, 0)
        await asyncio.sleep((opts.ARP_RETRY_MS * 2 + 300) / 1000)
        nic.stop()
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    reqs = [f for f in out if f[12:14] == b"\x08\x06" and ah.op(f, 14) == ah.ARPOP_REQUEST
            and f[38:42] == bytes([10, 7, 0, 9])]
    assert len(reqs) >= 3  # the first request and at least two retries, timed by deadlines
    nic.active(False)
    assert mbuf.pool_free() == opts.NMBCLUSTERS
