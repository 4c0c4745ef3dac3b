# An in-process Ethernet wire: a hub joining two or more ports, with delivery driven explicitly.
#
#   w = Wire()
#   a = w.attach(chip_a)            # sets chip_a.on_transmit; frames for chip_a go to chip_a.deliver
#   b = w.attach(chip_b)
#   p = w.port(sink)                # an external endpoint (a TAP, a VM relay): sink(frame) -> bool;
#                                   # its short frames are padded to 60 bytes, as a real peer's MAC does
#   p.send(frame)                   # a frame from the endpoint onto the wire
#   w.step()                        # deliver the frames queued so far (replies queue for the next step)
#
# Middleware sits between a sender and the queue, in order: each stage gets (src, frame, out) and calls
# out(src, frame) zero or more times (drop, pass, duplicate, hold back). Stages with a tick(out) method
# get one tick per step(), so a held frame is released even when no other frame comes.
#   Impair(loss=.., dup=.., reorder=.., corrupt=.., seed=..)   seeded faults, same results on every runtime
#   Pcap(f)                                                     records each frame that passes (libpcap)
# Portable Python: runs under CPython and inside the MicroPython VM. Host tool, not device code: it
# copies each frame once (a chip may hand over a view of its own memory).
import struct

try:
    import time as _time
except ImportError:  # pragma: no cover
    _time = None


class Rand:
    """xorshift32 (Marsaglia): the same sequence on CPython and MicroPython for the same seed."""

    def __init__(self, seed=1):
        self.x = (seed & 0xFFFFFFFF) or 0x9E3779B9

    def next(self):
        x = self.x
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        self.x = x
        return x

    def below(self, n):
        """A number in [0, n)."""
        return self.next() % n

    def chance(self, thresh):
        """True with probability thresh / 2**24 (see prob())."""
        return thresh > 0 and (self.next() >> 8) < thresh


def prob(p):
    """A probability (0..1) as an integer threshold out of 2**24: exact with single-precision floats."""
    p = float(p)
    if p < 0 or p > 1:
        raise ValueError("probability %r is not in 0..1" % p)
    return int(p * 16777216)


class Impair:
    """Seeded fault injection. Each frame, in this order: lost with probability loss; else corrupted
    (one bit flipped at or after byte `corrupt_from`, default 14: past the Ethernet header, so the
    checksums of the upper layers must catch it, as the FCS would on a real wire) with probability
    corrupt; duplicated with probability dup; held back with probability reorder until the next frame
    has passed (or `hold` ticks went by), so the two arrive swapped."""

    def __init__(self, loss=0.0, dup=0.0, reorder=0.0, corrupt=0.0, seed=1, corrupt_from=14, hold=3):
        self.rng = Rand(seed)
        self.loss = prob(loss)
        self.dup = prob(dup)
        self.reorder = prob(reorder)
        self.corrupt = prob(corrupt)
        self.corrupt_from = corrupt_from
        self.hold = hold
        self._held = []  # [src, frame, ticks left]
        self.stats = {"in": 0, "lost": 0, "duplicated": 0, "reordered": 0, "corrupted": 0}

    def __call__(self, src, frame, out):
        st = self.stats
        st["in"] += 1
        rng = self.rng
        if rng.chance(self.loss):
            st["lost"] += 1
            return
        if rng.chance(self.corrupt) and len(frame) > self.corrupt_from:
            frame = bytearray(frame)
            i = self.corrupt_from + rng.below(len(frame) - self.corrupt_from)
            frame[i] ^= 1 << rng.below(8)
            frame = bytes(frame)
            st["corrupted"] += 1
        copies = 2 if rng.chance(self.dup) else 1
        if copies == 2:
            st["duplicated"] += 1
        if rng.chance(self.reorder):
            st["reordered"] += 1
            self._held.append([src, frame, self.hold])
            if copies == 2:
                out(src, frame)
            return
        for _ in range(copies):
            out(src, frame)
        self._release(out)

    def _release(self, out):
        held = self._held
        self._held = []
        for h in held:
            out(h[0], h[1])

    def tick(self, out):
        keep = []
        for h in self._held:
            h[2] -= 1
            if h[2] <= 0:
                out(h[0], h[1])
            else:
                keep.append(h)
        self._held = keep

    def flush(self, out):
        self._release(out)


_PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1


def _wallclock():
    if _time is None:
        return 0, 0
    try:
        t = _time.time_ns()
        return t // 1000000000, (t // 1000) % 1000000
    except AttributeError:
        t = _time.time()
        s = int(t)
        return s, int((t - s) * 1000000)


class PcapWriter:
    """Classic libpcap file (microsecond timestamps, LINKTYPE_ETHERNET) on a binary file-like object.
    clock() -> (seconds, microseconds); default wall-clock time."""

    def __init__(self, f, snaplen=65535, clock=None):
        self.f = f
        self.snaplen = snaplen
        self.clock = clock or _wallclock
        self.count = 0
        f.write(struct.pack("<IHHiIII", _PCAP_MAGIC, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET))

    def write(self, frame, ts=None):
        sec, usec = ts if ts is not None else self.clock()
        n = len(frame)
        cap = n if n <= self.snaplen else self.snaplen
        self.f.write(struct.pack("<IIII", sec, usec, cap, n))
        self.f.write(bytes(frame[:cap]) if cap < n else bytes(frame))
        self.count += 1
        fl = getattr(self.f, "flush", None)
        if fl is not None:
            fl()


class Pcap(PcapWriter):
    """PcapWriter as wire middleware: records every frame that reaches this stage, then passes it on."""

    def __call__(self, src, frame, out):
        self.write(frame)
        out(src, frame)


def read_pcap(data):
    """Parse a classic pcap (bytes) into (linktype, [(sec, usec, frame), ...]); for tests and tools."""
    magic, vmaj, vmin, _, _, snaplen, link = struct.unpack("<IHHiIII", data[:24])
    if magic != _PCAP_MAGIC:
        raise ValueError("not a little-endian microsecond pcap")
    out = []
    i = 24
    while i + 16 <= len(data):
        sec, usec, cap, n = struct.unpack("<IIII", data[i:i + 16])
        i += 16
        out.append((sec, usec, bytes(data[i:i + cap])))
        i += cap
    return link, out


ETHER_MIN = 60  # minimum frame without FCS; a transmitting MAC pads shorter ones


class Port:
    def __init__(self, wire, sink, name, pad=False):
        self.wire = wire
        self.pad = pad
        self.sink = sink  # sink(frame) -> bool (False: refused, e.g. receive buffer full)
        self.name = name
        self.tx = 0
        self.rx = 0
        self.refused = 0

    def send(self, frame):
        """A frame from this port's side onto the wire (copied)."""
        self.tx += 1
        frame = bytes(frame)
        if self.pad and len(frame) < ETHER_MIN:
            frame = frame + bytes(ETHER_MIN - len(frame))
        self.wire._input(self, frame)

    def __repr__(self):
        return "<Port %s>" % self.name


class Wire:
    """A hub: a frame sent from one port is delivered to every other port, on the next step()."""

    def __init__(self, middleware=None):
        self.ports = []
        self.middleware = list(middleware or ())
        self.queue = []  # (src port, frame) in wire order
        self.on_pending = None  # called when the queue goes from empty to not empty (host loops schedule a step)
        self.delivered = 0
        self._outs = None

    def port(self, sink, name=None, pad=True):
        """An external endpoint. pad: short frames sent from it are padded to 60 bytes, as the
        Ethernet MAC of a real peer does (a Linux TAP hands over 42-byte ARP frames as they are)."""
        p = Port(self, sink, name or "port%d" % len(self.ports), pad)
        self.ports.append(p)
        return p

    def attach(self, chip, name=None, link=True):
        """Connect an emulated chip: its transmitted frames go onto the wire, frames for it to chip.deliver."""
        p = self.port(chip.deliver, name, pad=False)  # padding is the chip model's business

        def tx(frame):
            p.send(frame)

        chip.on_transmit = tx
        if link and hasattr(chip, "set_link"):
            chip.set_link(True)
        return p

    def add(self, stage):
        self.middleware.append(stage)
        self._outs = None

    def _stage_outs(self):
        # out functions per stage, built once: outs[i] feeds stage i, outs[len] enqueues
        if self._outs is None:
            outs = [None] * (len(self.middleware) + 1)
            outs[len(self.middleware)] = self._enqueue
            for i in range(len(self.middleware) - 1, -1, -1):
                outs[i] = self._make_out(self.middleware[i], outs[i + 1])
            self._outs = outs
        return self._outs

    @staticmethod
    def _make_out(stage, nxt):
        def out(src, frame):
            stage(src, frame, nxt)

        return out

    def _input(self, src, frame):
        self._stage_outs()[0](src, frame)

    def _enqueue(self, src, frame):
        was_empty = not self.queue
        self.queue.append((src, frame))
        if was_empty and self.on_pending is not None:
            self.on_pending()

    def pending(self):
        return len(self.queue)

    def tick(self):
        """One tick for the stages that hold frames back."""
        outs = self._stage_outs()
        for i in range(len(self.middleware)):
            t = getattr(self.middleware[i], "tick", None)
            if t is not None:
                t(outs[i + 1])

    def step(self, limit=None):
        """Tick the middleware, then deliver the frames queued before this call (at most `limit`).
        Frames sent while delivering wait for the next step. Returns the number delivered."""
        self.tick()
        batch = self.queue
        if limit is not None and len(batch) > limit:
            self.queue = batch[limit:]
            batch = batch[:limit]
        else:
            self.queue = []
        n = 0
        for src, frame in batch:
            for p in self.ports:
                if p is src:
                    continue
                if p.sink(frame) is False:
                    p.refused += 1
                else:
                    p.rx += 1
            n += 1
        self.delivered += n
        return n

    def flush(self):
        """Release every frame a stage holds back (end of a test)."""
        outs = self._stage_outs()
        for i in range(len(self.middleware)):
            f = getattr(self.middleware[i], "flush", None)
            if f is not None:
                f(outs[i + 1])

    def run(self, until=None, max_steps=1000, poll=None):
        """Step until `until()` is true or nothing is left to do; poll() (e.g. the boards' nic.poll)
        runs after each step. Bounded by max_steps. Returns the number of steps taken."""
        for i in range(max_steps):
            if until is not None and until():
                return i
            n = self.step()
            busy = 0
            if poll is not None:
                busy = poll() or 0
            if until is None and n == 0 and not busy and not self.queue:
                held = 0
                for s in self.middleware:
                    held += len(getattr(s, "_held", ()))
                if not held:
                    return i + 1
        return max_steps

    def stats(self):
        d = {"delivered": self.delivered, "queued": len(self.queue), "ports": {}}
        for p in self.ports:
            d["ports"][p.name] = {"tx": p.tx, "rx": p.rx, "refused": p.refused}
        for s in self.middleware:
            st = getattr(s, "stats", None)
            if st is not None:
                d["impair"] = dict(st)
        return d


def parse_impair(spec):
    """'loss=0.1,dup=0.05,reorder=0.1,corrupt=0.01,seed=7' -> Impair(...)."""
    kw = {}
    for item in spec.split(","):
        item = item.strip()
        if not item:
            continue
        if "=" not in item:
            raise ValueError("impairment %r: expected name=value" % item)
        k, v = item.split("=", 1)
        k = k.strip()
        if k == "seed" or k == "hold" or k == "corrupt_from":
            kw[k] = int(v)
        elif k in ("loss", "dup", "reorder", "corrupt"):
            kw[k] = float(v)
        else:
            raise ValueError("unknown impairment %r (loss, dup, reorder, corrupt, seed, hold)" % k)
    return Impair(**kw)
