# An interface's link state (BSD's if_link_state_change). The PHY is read once a second from the
# interface's timers, never per frame: the W5500 raises no interrupt on a link change in MACRAW
# (W5500.md §10); the ENC28J60's LINKIF only makes the next look come at once (driver link_event).
# Each change is logged on the console in one line and counted (linkdowns, linkups); while the
# link is down netif.if_output drops frames (onolink) and the socket layer refuses to send (ENETDOWN).
from .compat import const, ticks_add
from . import opts
from .stats import stat_inc

_IFS_LINKDOWNS = const(9)
_IFS_LINKUPS = const(10)
_LINK_UP = const(1)  # the driver contract's link_status() bits (dev/__init__.py)
_LINK_100M = const(2)
_LINK_FULL = const(4)
_LINK_FLAPPED = const(8)
_NO_DEADLINE = const(-1)


def link_text(s):
    """'up 100M full', 'up 10M half' or 'down' for link_status() bits s."""
    if not s & _LINK_UP:
        return "down"
    return "up %s %s" % ("100M" if s & _LINK_100M else "10M", "full" if s & _LINK_FULL else "half")


class LinkWatch:
    """One per interface, in its timer list: next_timeout() is the next look at the PHY."""

    def __init__(self, ifp):
        self.ifp = ifp
        self.state = 0  # the last link_status() bits, LINK_FLAPPED cleared
        self.at = 0
        self.due = False
        self.on = False

    def start(self):
        """The interface came up: take the state as it is (not a change: nothing logged or counted;
        the latch of a drop before now is read and forgotten). The first poll looks again and sets
        the clock of the looks from its `now` (the one the interface's timers run on)."""
        self.state = self.ifp.dev.link_status() & 7
        self.ifp.link = bool(self.state & _LINK_UP)
        self.due = True
        self.on = True

    def stop(self):
        self.on = False
        self.ifp.link = False

    def next_timeout(self, now):
        if not self.on:
            return _NO_DEADLINE
        return now if self.due or self.ifp.dev.link_event else self.at

    def timeout(self, now):
        self.at = ticks_add(now, opts.LINK_POLL_MS)
        self.due = False
        self.check(now)

    def check(self, now):
        """Read the PHY; log, count and act on a change. Returns the bits read."""
        s = self.ifp.dev.link_status()
        old = self.state
        if s & _LINK_FLAPPED and old & _LINK_UP:
            self._change(0, now)  # down and up again between two looks: both halves are changes
            old = 0
        s &= 7
        if s != old:
            self._change(s, now)
        return s

    def _change(self, s, now):
        ifp = self.ifp
        was = ifp.link
        self.state = s
        ifp.link = bool(s & _LINK_UP)
        log("bsdnet: link " + link_text(s))
        if ifp.link == was:
            return  # speed or duplex renegotiated: logged, not a link change
        stat_inc(ifp.ifstat, _IFS_LINKUPS if ifp.link else _IFS_LINKDOWNS)
        if ifp.link and ifp.ia.configured:
            ifp.arp.announce(now)  # gratuitous ARP: the board may now be on another switch port


def log(line):
    """The console line of a link change (a test may put its own function here)."""
    print(line)
