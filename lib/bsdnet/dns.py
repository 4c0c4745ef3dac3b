# DNS stub resolver (RFC 1035): A records over UDP, loaded with the first name to resolve.
#
#     from bsdnet import dns
#     dns.resolve("example.lan")           # "10.7.0.5"; blocking (drives the interfaces itself)
#     await dns.aresolve("example.lan")    # the same in an asyncio task beside nic.run()
#     dns.set_servers(["10.7.0.1"])        # else the lease's (nic.nameservers), else ifconfig()'s 4th
# socket.getaddrinfo() and streams.open_connection() come here for anything not a dotted quad.
#
# Each server is asked in turn, `tries` rounds, `timeout_ms` each; every query has a new random
# id and a new random source port, and only an answer from that server's port 53, with that id and
# our question, is taken (RFC 5452): a spoofed or stray one is counted `bad` and the wait goes on.
# The answer's records are walked within the datagram (compression pointers must point backwards
# of where their name started, and at most 255 bytes a name: no loop); a CNAME chain is followed
# within the answer. Errors are OSError: EAI_NONAME ("NXDOMAIN: name does not exist", or a name with
# no A record), ETIMEDOUT (no server answered), EAI_FAIL (no DNS server configured; the server
# failed). A small cache keeps DNS_CACHE names for their TTL (at most a day).
from .compat import const, ticks_ms, ticks_add, ticks_diff, getrandbits
from . import stats
from .stats import stat_inc
from . import route
from . import socket
from .inet import inet_aton, inet_isdotted, inet_ntoa, in_nullhost
from .errno import ETIMEDOUT, EADDRINUSE, EINVAL

EAI_NONAME = const(-2)  # as getaddrinfo's: MicroPython raises OSError(-2) for an unknown name
EAI_FAIL = const(-4)
tries = 3  # rounds over the servers (settable, as timeout_ms)
timeout_ms = 2000  # per query
DNS_CACHE = const(4)
_TTL_MAX_S = const(86400)
_MAXNAME = const(255)
_BUFLEN = const(512)  # RFC 1035 4.2.1: UDP messages are at most 512 bytes
_MAXRR = const(12)  # answer records looked at

DNSS_NAMES = "queries answers nxdomain timeouts bad hits"
_DNSS_QUERIES = const(0)
_DNSS_ANSWERS = const(1)
_DNSS_NXDOMAIN = const(2)
_DNSS_TIMEOUTS = const(3)
_DNSS_BAD = const(4)  # wrong server, port, id or question; malformed; compression loops
_DNSS_HITS = const(5)
_DNSS_N = const(6)
dnsstat = [0] * _DNSS_N
stats.TABLES.append(("dns", dnsstat, DNSS_NAMES, ""))

_servers = []  # type: list  # set_servers()
_bufs = [bytearray(_BUFLEN)]  # made at import, while a Pico's heap still has a 512-byte block (measured)
_cache = []  # type: list  # [name, address, expiry tick]


def set_servers(addrs):
    """The DNS servers to ask, in order (dotted quads); [] goes back to the interfaces' own."""
    for a in addrs:
        inet_aton(a)
    _servers[:] = list(addrs)


def servers():
    """set_servers()'s, else each interface's: the lease's (nic.nameservers), else ifconfig()'s DNS."""
    if _servers:
        return list(_servers)
    out = []
    for ifp in route.ifnet:
        ns = getattr(ifp, "nameservers", None)
        if ns:
            out.extend(ns)
        elif not in_nullhost(ifp.ia.dns, 0):
            out.append(inet_ntoa(ifp.ia.dns))
    return out


def _cached(name, now):
    for e in _cache:
        if e[0] == name:
            if ticks_diff(e[2], now) > 0:
                stat_inc(dnsstat, _DNSS_HITS)
                return e[1]
            _cache.remove(e)
            return None
    return None


def _cache_put(name, addr, ttl, now):
    if ttl <= 0:
        return
    if len(_cache) >= DNS_CACHE:
        old = _cache[0]
        for e in _cache:  # the one expiring first goes
            if ticks_diff(e[2], old[2]) < 0:
                old = e
        _cache.remove(old)
    _cache.append([name, addr, ticks_add(now, (ttl if ttl < _TTL_MAX_S else _TTL_MAX_S) * 1000)])


def cache_flush():
    _cache[:] = []


def _norm(name):
    if not isinstance(name, str) or not name:
        raise OSError(EINVAL, "a host name is a non-empty str, not %r" % (name,))
    name = name.lower()
    if name[-1] == ".":
        name = name[:-1]
    if len(name) > 253:
        raise OSError(EINVAL, "host name too long")
    for label in name.split("."):
        if not 0 < len(label) <= 63:
            raise OSError(EINVAL, "not a host name: %r" % (name,))
    return name


class _Query:
    """One name's queries: the message (built once), the servers and the tries; check() judges a
    datagram. Shared by resolve() and aresolve()."""

    def __init__(self, name):
        self.name = name
        self.servers = servers()
        if not self.servers:
            raise OSError(EAI_FAIL, "no DNS servers: no lease gave one and none was configured (dns.set_servers)")
        self.buf = _bufs.pop() if _bufs else bytearray(_BUFLEN)  # a second resolve at once makes its own
        q = bytearray(12)
        q[2] = 1  # RD: recursion desired
        q[5] = 1  # one question
        for label in name.split("."):
            q.append(len(label))
            q.extend(label.encode())
        q.extend(b"\x00\x00\x01\x00\x01")  # root, QTYPE A, QCLASS IN
        self.q = q
        self.qend = len(q)
        self.n = 0  # queries sent
        self.so = None
        self.srv = None
        self.last = ""  # the last server that failed, for the message

    def next(self):
        """Send the next query (a new socket: new id, new port); the wait in ms, or raise when
        every try is spent."""
        k = len(self.servers)
        if self.n >= tries * k:
            stat_inc(dnsstat, _DNSS_TIMEOUTS)
            raise OSError(ETIMEDOUT, "DNS: no answer for %s from %s (%d queries%s)" % (
                self.name, ", ".join(self.servers), self.n, "; last: " + self.last if self.last else ""))
        self.srv = self.servers[self.n % k]
        self.n += 1
        self.close()
        self.so = _random_port_socket()
        q = self.q
        r = getrandbits(16)
        q[0] = r >> 8
        q[1] = r & 0xFF
        stat_inc(dnsstat, _DNSS_QUERIES)
        self.so.sendto(q, (self.srv, 53))
        return timeout_ms

    def close(self):
        if self.so is not None:
            self.so.close()
            self.so = None

    def done(self):
        self.close()
        if not _bufs:
            _bufs.append(self.buf)

    def check(self, n, src, now):
        """None: not our answer (counted), keep waiting; False: this server failed, ask the next;
        else the address (cached). Raises EAI_NONAME for NXDOMAIN or no A record."""
        b = self.buf
        q = self.q
        if src[0] != self.srv or src[1] != 53 or n < self.qend or b[0] != q[0] or b[1] != q[1] or not b[2] & 0x80:
            stat_inc(dnsstat, _DNSS_BAD)
            return None
        for i in range(12, self.qend):  # the question, as asked (names compare without case)
            c = b[i]
            if c != q[i] and not (65 <= c <= 90 and c + 32 == q[i]):
                stat_inc(dnsstat, _DNSS_BAD)
                return None
        if b[4] != 0 or b[5] != 1:
            stat_inc(dnsstat, _DNSS_BAD)
            return None
        rcode = b[3] & 0x0F
        if rcode == 3:
            stat_inc(dnsstat, _DNSS_NXDOMAIN)
            raise OSError(EAI_NONAME, "NXDOMAIN: name does not exist: %s (from %s)" % (self.name, self.srv))
        if rcode != 0 or b[2] & 0x02:  # SERVFAIL, REFUSED, ...; or truncated: the next server
            self.last = "%s rcode %d" % (self.srv, rcode)
            return False
        r = _answer(b, n, self.qend, (b[6] << 8) | b[7])
        if r is None:
            stat_inc(dnsstat, _DNSS_BAD)
            self.last = "%s: a malformed answer" % self.srv
            return False
        if r < 0:
            raise OSError(EAI_NONAME, "no address (A record) for %s (from %s)" % (self.name, self.srv))
        stat_inc(dnsstat, _DNSS_ANSWERS)
        a = inet_ntoa(b, r)
        _cache_put(self.name, a, _ttl, now)
        return a


_ttl = 0  # the TTL of the record _answer() found (a module global: no tuple per answer)


def _answer(b, n, off, an):
    """The offset of the A record's address for the question's name (at 12), CNAMEs followed;
    -1 when the answer has none; None when the message is malformed or its CNAMEs loop."""
    global _ttl
    rr = []
    for _ in range(an if an < _MAXRR else _MAXRR):
        e = _skip_name(b, n, off)
        if e < 0 or e + 10 > n or _walk(b, n, off) is None:
            return None
        ln = (b[e + 8] << 8) | b[e + 9]
        if e + 10 + ln > n:
            return None
        rr.append((off, (b[e] << 8) | b[e + 1], (b[e + 2] << 8) | b[e + 3], e + 4, e + 10, ln))
        off = e + 10 + ln
    target = 12
    for _ in range(len(rr) + 1):
        nxt = -1
        for o, typ, cls, t, d, ln in rr:
            if cls != 1 or not _name_eq(b, n, o, target):
                continue
            if typ == 1 and ln == 4:
                if b[t] & 0x80:
                    _ttl = 0  # RFC 2181 8: a TTL with the top bit set is 0
                elif b[t] or b[t + 1] > 1:
                    _ttl = _TTL_MAX_S  # over 131071 s: capped anyway (no int past 2**30 on a board)
                else:
                    _ttl = (b[t + 1] << 16) | (b[t + 2] << 8) | b[t + 3]
                    if _ttl > _TTL_MAX_S:
                        _ttl = _TTL_MAX_S
                return d
            if typ == 5 and _skip_name(b, d + ln, d) == d + ln:  # CNAME: its rdata is one name
                nxt = d
        if nxt < 0:
            return -1
        target = nxt
    return None  # a CNAME loop


def _walk(b, n, o):
    """Offsets of a name's labels, pointers followed; None when malformed (past n, a pointer not
    backwards, a name over 255 bytes)."""
    out = []
    start = o
    total = 0
    while True:
        if o >= n:
            return None
        c = b[o]
        if c & 0xC0 == 0xC0:
            if o + 1 >= n:
                return None
            p = ((c & 0x3F) << 8) | b[o + 1]
            if p >= start:  # RFC 1035 4.1.4 says "a prior occurrence": backwards only, so no loop
                return None
            o = start = p
            continue
        if c & 0xC0:
            return None  # 0x40/0x80: extended label types, unknown
        if c == 0:
            return out
        total += c + 1
        if total > _MAXNAME or o + 1 + c > n:
            return None
        out.append(o)
        o += c + 1


def _skip_name(b, n, o):
    """The offset after the name at o (a pointer ends it), or -1."""
    while o < n:
        c = b[o]
        if c & 0xC0 == 0xC0:
            return o + 2 if o + 2 <= n else -1
        if c & 0xC0:
            return -1
        if c == 0:
            return o + 1
        o += c + 1
    return -1


def _name_eq(b, n, x, y):
    lx = _walk(b, n, x)
    ly = _walk(b, n, y)
    if lx is None or ly is None or len(lx) != len(ly):
        return False
    for i in range(len(lx)):
        p = lx[i]
        r = ly[i]
        c = b[p]
        if b[r] != c:
            return False
        for k in range(1, c + 1):
            u = b[p + k]
            v = b[r + k]
            if u != v and ((u | 0x20) != (v | 0x20) or not 97 <= (u | 0x20) <= 122):
                return False  # letters compare without case (RFC 4343), nothing else
    return True


def _random_port_socket():
    """A UDP socket on a random port of the dynamic range (RFC 6056 / RFC 5452: the port is half
    of what a spoofer must guess)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(8):
        try:
            s.bind(("0.0.0.0", 49152 + getrandbits(14)))
            return s
        except OSError as e:
            if e.args[0] != EADDRINUSE:
                s.close()
                raise
    s.bind(("0.0.0.0", 0))
    return s


def _begin(host):
    """(address, None) when it is known without asking (a dotted quad, a cached name), else
    (None, a new query): what resolve() and aresolve() share before they wait."""
    if inet_isdotted(host):
        return host, None
    name = _norm(host)
    a = _cached(name, ticks_ms())
    if a is not None:
        return a, None
    return None, _Query(name)


def resolve(host):
    """The address of host (a dotted quad), blocking; dotted quads come back as they are."""
    a, q = _begin(host)
    if q is None:
        return a
    try:
        while True:
            t = q.next()
            t0 = ticks_ms()
            so = q.so
            while True:
                left = t - ticks_diff(ticks_ms(), t0)
                if left <= 0:
                    break
                so.settimeout(left / 1000)
                try:
                    n, src = so.recvfrom_into(q.buf)
                except OSError as e:
                    if e.args[0] == ETIMEDOUT:
                        break
                    raise
                r = q.check(n, src, ticks_ms())
                if r is False:
                    break
                if r is not None:
                    return r
    finally:
        q.done()


async def aresolve(host):
    """resolve() for asyncio tasks: waits without blocking the loop (nic.run() does the input)."""
    a, q = _begin(host)
    if q is None:
        return a
    try:
        while True:
            t = q.next()
            t0 = ticks_ms()
            so = q.so
            while True:
                left = t - ticks_diff(ticks_ms(), t0)
                if left <= 0:
                    break
                so.settimeout(left / 1000)
                try:
                    n, src = await so.arecvfrom_into(q.buf)
                except OSError as e:
                    if e.args[0] == ETIMEDOUT:
                        break
                    raise
                r = q.check(n, src, ticks_ms())
                if r is False:
                    break
                if r is not None:
                    return r
    finally:
        q.done()
