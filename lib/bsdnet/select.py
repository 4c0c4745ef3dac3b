# select and poll over bsdnet sockets: what `import select` gives once bsdnet.install() ran.
# Waiting drives the interfaces, as a blocking socket call does (socket.drive), so a library that
# polls with a timeout sees data arrive without an asyncio interface task. Only bsdnet sockets can
# be watched: the chip's frames reach no other object, and a wait that mixed in the runtime's own
# streams could not drive our interfaces while it blocked in theirs.
from .compat import ticks_ms, ticks_diff, sleep_ms
from .errno import EINVAL, ENOENT
from . import socket as _so
from .socket import POLLIN, POLLOUT, POLLERR, POLLHUP  # noqa: F401  select.POLLIN, ... as users spell them


def _check(obj):
    if not isinstance(obj, _so.socket):
        raise OSError(EINVAL, "bsdnet's select watches bsdnet sockets only, not %r" % (type(obj).__name__,))


def _timeout_ms(t, scale):
    """None or a negative value: wait for ever (-1); else whole ms."""
    if t is None or t < 0:
        return -1
    return int(t * scale)


def _wait(events, t):
    """events() until it answers something or t ms pass (-1: for ever; 0: look once)."""
    start = ticks_ms()
    while True:
        r = events()
        if r or t == 0:
            return r
        now = ticks_ms()
        if t > 0 and ticks_diff(now, start) >= t:
            return r
        if not _so.drive(now):
            sleep_ms(1)


class _Poll:
    """select.poll(): register/modify/unregister, poll(timeout_ms) -> [(obj, events)], ipoll."""

    def __init__(self):
        self._m = {}

    def register(self, obj, mask=POLLIN | POLLOUT):
        _check(obj)
        self._m[obj] = mask

    def modify(self, obj, mask):
        if obj not in self._m:
            raise OSError(ENOENT, "not registered")
        self._m[obj] = mask

    def unregister(self, obj):
        self._m.pop(obj, None)

    def _events(self):
        r = []
        for obj, mask in self._m.items():
            ev = obj.poll(mask)
            if ev:
                r.append((obj, ev))
        return r

    def poll(self, timeout=-1):
        return _wait(self._events, _timeout_ms(timeout, 1))

    def ipoll(self, timeout=-1, flags=0):
        return self.poll(timeout)


def poll():
    return _Poll()


def select(rlist, wlist, xlist, timeout=None):
    """(readable, writable, in error) of the sockets given, waiting at most timeout seconds."""
    for lst in (rlist, wlist, xlist):
        for obj in lst:
            _check(obj)

    def events():
        r = [s for s in rlist if s.poll(POLLIN)]
        w = [s for s in wlist if s.poll(POLLOUT)]
        x = [s for s in xlist if s.poll(0) & POLLERR]
        return (r, w, x) if r or w or x else None

    return _wait(events, _timeout_ms(timeout, 1000)) or ([], [], [])
