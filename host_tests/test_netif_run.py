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
    assert chip.violations == [], chip.violations  # the driver used the chip as its fact sheet says


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
    assert chip.violations == [], chip.violations
    nic.active(False)
    assert mbuf.pool_free() == opts.NMBCLUSTERS


class _StuckLowPin:
    """An interrupt line held low by a cause the driver cannot clear."""

    IRQ_FALLING = 2

    def value(self):
        return 0

    def irq(self, handler=None, trigger=0):
        pass


class _StuckDev:
    def __init__(self):
        self.mac = BOARD_MAC
        self.intr = _StuckLowPin()
        self.reads = 0

    def init(self):
        pass

    link_event = False

    def link_up(self):
        return True

    def link_status(self):
        return 7

    def pending(self):
        return True  # INTn low

    def recv_into(self, buf):
        self.reads += 1
        if self.reads > 5000:  # bounded: a run() that never yields would otherwise hang the test
            raise RuntimeError("run() spins on the low line without yielding")
        return 0

    def send(self, buf, n):
        return True

    def counters(self):
        return {}


def test_run_does_not_starve_other_tasks_when_the_line_stays_low():
    dev = _StuckDev()
    nic = Interface(dev)
    nic.active(True)
    ticks = []

    async def other():
        for _ in range(20):
            ticks.append(1)
            await asyncio.sleep(0.005)

    async def main():
        task = asyncio.create_task(nic.run())
        await asyncio.wait_for(other(), 2)  # would time out if run() never yielded
        nic.stop()
        await asyncio.wait_for(task, 2)

    asyncio.run(main())
    assert len(ticks) == 20
    # it keeps looking (the line says a frame may wait) but paced, not thousands of reads
    assert 1 <= dev.reads < 2000, dev.reads
    nic.active(False)
