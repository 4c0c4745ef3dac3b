# ifnet: one interface over one MAC-raw chip driver.
#
# The public face follows MicroPython's network.LAN / WIZNET5K: active(), isconnected(),
# ifconfig(), config('mac'), status(). Underneath, poll() is the input loop (BSD's ether_input
# called from the driver's interrupt thread): it reads `now` once, drains up to RX_BATCH frames
# into mbufs and hands them to ether_input, then runs the timers that are due. run() is the
# asyncio task that calls poll() and sleeps until the next frame (interrupt pin) or deadline.
import asyncio
from .compat import const, ticks_ms, ticks_add, ticks_diff, aio_sleep_ms, Flag
from . import opts
from . import mbuf
from .inet import InIfaddr, inet_ntoa
from . import if_ether
from . import ip_input
from . import stats
from .stats import stat_inc, stat_add, IFS_NAMES
from .errno import ENETDOWN
import sys
from . import route
from .if_link import LinkWatch, link_text
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_IFS_IPACKETS = const(0)
_IFS_IBYTES = const(1)
_IFS_OPACKETS = const(2)
_IFS_OBYTES = const(3)
_IFS_OERRORS = const(5)
_IFS_IQDROPS = const(6)
_IFS_ONOLINK = const(11)
_IFS_N = const(12)
_MBS_GETS = const(0)
_MBS_FREES = const(1)
_MBS_DROPS = const(2)
_MBS_QUOTADROPS = const(4)
_MBS_MIN_FREE = const(5)

_NO_DEADLINE = const(-1)
_INTR_RECHECK_MS = const(1000)
# status() with no argument, as network.WIZNET5K answers it
STAT_LINK_DOWN = const(0)
STAT_LINK_UP = const(1)  # the cable is in, the interface is not active
STAT_ACTIVE = const(2)  # the cable is in and the interface is active


class Interface:
    def __init__(self, dev):
        self.dev = dev
        self.mtu = opts.ETHERMTU
        self.ia = InIfaddr()
        self.up = False
        self.lladdr = bytearray(6)
        self.ifstat = [0] * _IFS_N  # this interface's counters (stats.IFS_*)
        self.arp = if_ether.ArpTable(self)
        self.link = False  # the link as last read (if_link): if_output and the socket layer look here
        self.linkw = LinkWatch(self)
        self.ipintr = ip_input.ip_input  # a plain function on the instance: calling it does not allocate
        # objects with next_timeout(now) -> tick or -1, and timeout(now): this interface's ARP, then
        # the protocols' (route.pr_timers: TCP's, once tcp_init() has run)
        self._timers = [self.arp, self.linkw]
        self._flag = Flag()
        self._clock = None  # the task that sets _flag at the next deadline (interrupt mode)
        self._clock_at = 0
        self._running = False
        self._poll_ms = opts.POLL_MIN_MS
        self.intr = getattr(dev, "intr", None)
        self.dhcp = None  # the DHCP client of an interface brought up by boardcfg with IP "dhcp"

    # --- constructors for the two chips -------------------------------------------------
    @staticmethod
    def w5500(spi, cs, rst=None, intr=None, mac=None):
        from .dev.w5500 import W5500

        return Interface(W5500(spi, cs, rst=rst, intr=intr, mac=mac))

    @staticmethod
    def enc28j60(spi, cs, rst=None, intr=None, mac=None):
        from .dev.enc28j60 import ENC28J60

        return Interface(ENC28J60(spi, cs, rst=rst, intr=intr, mac=mac))

    # --- network.LAN-like API -----------------------------------------------------------
    def active(self, on=None):
        if on is None:
            return self.up
        if on and not self.up:
            self.dev.init()  # OSError(ENODEV) with the chip's name when it is absent
            mac = self.dev.mac
            for i in range(6):
                self.lladdr[i] = mac[i]
            mc = getattr(self, "mcast", None)  # igmp.EtherMulti (if_multiaddrs), made by the first join
            if mc is not None:
                mc.program(self.dev)  # the chip's multicast filter, after init() reset it
            if self.intr is not None:
                self.intr.irq(self._isr, trigger=self.intr.IRQ_FALLING)
            self.linkw.start()
            self.up = True
            route.if_attach(self)
        elif not on and self.up:
            route.if_detach(self)
            if self.intr is not None:
                self.intr.irq(None)
            self.up = False
            self.linkw.stop()
            self.arp.flush()
        return None

    def isconnected(self):
        """Active, an address configured, and the link up (read from the PHY now)."""
        return self.up and self.ia.configured and bool(self._link_now() & 1)

    def status(self, param=None):
        """As network.WIZNET5K: STAT_LINK_DOWN (0), STAT_LINK_UP (1: not active) or STAT_ACTIVE (2).
        status('link'): the link as text, 'up 100M full' or 'down'."""
        s = self._link_now()
        if param is None:
            return STAT_LINK_DOWN if not s & 1 else STAT_ACTIVE if self.up else STAT_LINK_UP
        if param == "link":
            return link_text(s)
        raise ValueError("unknown status param %r (give 'link' or nothing)" % (param,))

    def _link_now(self):
        """The link_status() bits read now; an active interface logs and counts a change (if_link)."""
        return self.linkw.check(ticks_ms()) if self.up else self.dev.link_status() & 7

    def config(self, key):
        if key == "mac":
            return bytes(self.lladdr if self.up else self.dev.mac)
        if key == "mtu":
            return self.mtu
        raise ValueError("unknown config parameter %r" % (key,))

    def ifconfig(self, cfg=None):
        ia = self.ia
        if cfg is None:
            return (inet_ntoa(ia.addr), inet_ntoa(ia.mask), inet_ntoa(ia.gateway), inet_ntoa(ia.dns))
        if not isinstance(cfg, (tuple, list)) or len(cfg) != 4:
            raise ValueError("ifconfig takes (ip, netmask, gateway, dns)")
        ia.set(cfg[0], cfg[1], cfg[2], cfg[3])
        route.rt_ifaddr(self)  # its connected and default routes anew
        self.arp.flush()
        if self.up and ia.configured:
            self.arp.announce(ticks_ms())  # gratuitous ARP: our address changed
        return None

    # --- input loop ---------------------------------------------------------------------
    def _isr(self, pin):
        self._flag.set()

    def poll(self, now=None):
        """Drain up to RX_BATCH frames and run due timers. Returns the number of frames read."""
        if not self.up:
            return 0
        if now is None:
            now = ticks_ms()
        dev = self.dev
        st = self.ifstat
        n = 0
        while n < opts.RX_BATCH:
            m = mbuf.m_get(0)
            if m is None:
                stat_inc(st, _IFS_IQDROPS)  # no cluster: leave the frame in the chip, try later
                break
            ln = dev.recv_into(m.buf)
            if ln <= 0:
                mbuf.m_free(m)
                break
            m.len = ln
            stat_inc(st, _IFS_IPACKETS)
            stat_add(st, _IFS_IBYTES, ln)
            n += 1
            if_ether.ether_input(self, m, now)
            if not dev.pending():
                break  # an interrupt pin read (or one register read) instead of an empty receive
        _timers_due(self._timers, now)
        _timers_due(route.pr_timers, now)
        return n

    def next_deadline(self, now):
        """ms until the earliest timer, or -1 when none is pending."""
        return _earliest(route.pr_timers, now, _earliest(self._timers, now, _NO_DEADLINE))

    async def run(self):
        """The interface task: poll, then sleep until a frame (interrupt) or the next deadline.
        Without an interrupt pin the poll interval adapts: short while frames flow, longer when idle.
        With one, the task waits on the flag alone (a timeout on it would cost a task per wake-up
        on MicroPython: asyncio.wait_for) and a clock task sets the flag at the next deadline."""
        self._running = True
        try:
            while self._running:
                now = ticks_ms()
                got = self.poll(now)
                if got >= opts.RX_BATCH:
                    await aio_sleep_ms(0)  # more waiting: let other tasks run, then go on draining
                    continue
                wait = self.next_deadline(now)
                if self.intr is not None:
                    # edges can be lost (W5500.md §11): look again at least once a second
                    if wait == _NO_DEADLINE or wait > _INTR_RECHECK_MS:
                        wait = _INTR_RECHECK_MS
                    self._arm_clock(now, wait)
                    # the flag keeps an edge that came while we polled; the pin read catches a line
                    # that stayed low (no new edge): look again, but let the other tasks run first,
                    # and do not spin on a line held low by a cause the driver cannot clear
                    if self.dev.pending():
                        await aio_sleep_ms(0 if got else opts.POLL_MIN_MS)
                    else:
                        await self._flag.wait()
                    continue
                self._poll_ms = opts.POLL_MIN_MS if got else min(self._poll_ms * 2, opts.POLL_MAX_MS)
                if wait == _NO_DEADLINE or wait > self._poll_ms:
                    wait = self._poll_ms
                await aio_sleep_ms(wait)
        finally:
            if self._clock is not None:
                self._clock.cancel()
                self._clock = None

    def _arm_clock(self, now, wait):
        """Make sure the clock task wakes us within `wait` ms: a new clock task only when the
        running one would wake later than that (a deadline moved earlier), which is rare."""
        at = ticks_add(now, wait)
        if self._clock is not None and ticks_diff(self._clock_at, at) <= 0:
            return
        if self._clock is not None:
            self._clock.cancel()
        self._clock_at = at
        self._clock = asyncio.create_task(self._tick(wait))

    async def _tick(self, wait):
        await aio_sleep_ms(wait)
        self._clock = None
        self._flag.set()

    def stop(self):
        self._running = False
        self._flag.set()

    # --- output -------------------------------------------------------------------------
    def if_output(self, m):
        """Hand a complete frame (m.off at the Ethernet header) to the chip; always frees m. With the
        link down nothing reaches the chip: counted (onolink), the sender learns ENETDOWN."""
        if not self.link:
            stat_inc(self.ifstat, _IFS_ONOLINK)
            if_ether.arp_error[0] = ENETDOWN
            mbuf.m_free(m)
            return False
        ok = self.dev.send(m.buf[m.off:m.off + m.len] if m.off else m.buf, m.len)
        if ok:
            stat_inc(self.ifstat, _IFS_OPACKETS)
            stat_add(self.ifstat, _IFS_OBYTES, m.len)
        else:
            stat_inc(self.ifstat, _IFS_OERRORS)
            self.linkw.due = True  # the chip refused it (the W5500 does with the link down): look now
        mbuf.m_free(m)
        return ok

    # --- observability ------------------------------------------------------------------
    def stats(self, key=None):
        """Every counter by layer, as dicts (built here, for reporting: never on the data path);
        with key (one of stats_keys()), that layer's dict alone: a small heap reports layer by layer."""
        if key is not None:
            return self._stats1(key)
        d = {}
        for k in self.stats_keys():
            d[k] = self._stats1(k)
        return d

    def stats_keys(self):
        return ["if", "dev", "link"] + [t[0] for t in stats.TABLES] + ["tcp_conns", "mbuf"]

    def _stats1(self, key):
        if key == "if":
            return stats.stat_dict(self.ifstat, IFS_NAMES)
        if key == "dev":
            return self.dev.counters()
        if key == "link":
            return link_text(self.linkw.state) if self.up else "down"
        if key == "tcp_conns":
            return _tcp_conns()
        if key == "mbuf":
            ms = stats.mbstat
            return {"free": mbuf.pool_free(), "size": mbuf.pool_size(), "drops": ms[_MBS_DROPS],
                    "min_free": ms[_MBS_MIN_FREE], "gets": ms[_MBS_GETS], "frees": ms[_MBS_FREES],
                    "quotadrops": ms[_MBS_QUOTADROPS], "held_arp": mbuf.held[mbuf.HOLD_ARP],
                    "held_reass": mbuf.held[mbuf.HOLD_REASS], "held_sock": mbuf.held[mbuf.HOLD_SOCK]}
        a, names, prefix = stats._table(key)
        return stats.stat_dict(a, names, prefix)

    def arp_entries(self):
        return self.arp.entries()


def _timers_due(timers, now):
    for t in timers:
        d = t.next_timeout(now)
        if d != _NO_DEADLINE and ticks_diff(d, now) <= 0:
            t.timeout(now)


def _earliest(timers, now, best):
    for t in timers:
        d = t.next_timeout(now)
        if d != _NO_DEADLINE:
            dt = ticks_diff(d, now)
            if dt < 0:
                dt = 0
            if best == _NO_DEADLINE or dt < best:
                best = dt
    return best


def _tcp_conns():
    """TCP's connection counts, when TCP is loaded (its first segment or socket loads it)."""
    t = sys.modules.get("bsdnet.tcp_subr")
    if t is None:
        return {}
    from . import tcp_syncache

    return {"connections": t.tcp_connections(), "time_wait": t.tcp_timewait(),
            "syncache": tcp_syncache.syncache_count(), "bufs_free": t.tcp_bufs_free()}
