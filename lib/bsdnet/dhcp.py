# DHCP client (RFC 2131, options RFC 2132), loaded only by a board that asks for a lease.
#
#     from bsdnet import dhcp
#     c = dhcp.DhcpClient(nic, hostname="bsdnet")   # nic up (active(True)), no address yet
#     c.start()                     # an asyncio task beside nic.run(); again after a cancel: resumes
#     ok = await c.bound(30000)     # True once an address is configured (nic.ifconfig)
#     c.lease()                     # {"state", "addr", "mask", "router", "dns", "server", "lease_s", "t1_s", ...}
#     c.stop(release=True)          # DHCPRELEASE, the address down, the socket closed
# Without a task of its own: c.attach() makes it one of the interface's timers, stepped by
# nic.poll() (nic.run(), blocking socket calls) when a reply waits or its time is due; or
# c.step(ticks_ms()) after each nic.poll() (returns the ms until it wants to run again).
# DhcpClient(nic, addr="10.7.0.50") starts with INIT-REBOOT for that (last known) address.
#
# States (RFC 2131 figure 5): INIT -> SELECTING (DISCOVER, first OFFER wins) -> REQUESTING
# (REQUEST) -> ACK -> PROBING (RFC 5227 ARP probes from 0.0.0.0; an answer or another host's probe
# -> DECLINE, INIT after 10 s) -> BOUND; at T1 RENEWING (unicast REQUEST to the server), at T2
# REBINDING (broadcast), at the lease's end the address goes down and INIT again; a NAK restarts.
# Retransmissions back off 4, 8, 16, 32, 64 s with +-1 s of jitter (RFC 2131 4.1); in RENEWING and
# REBINDING half the time left, at least 4 s (the RFC's 60 s minimum would leave a short lease no retry).
# Requests ask for broadcast replies (flags bit 15): an interface without an address receives the
# limited broadcast, not a unicast to an address it does not have yet.
# Replies are checked (op, xid, chaddr, cookie, options within the datagram, the server we chose);
# anything else is counted `bad` and dropped (a late OFFER or a duplicate ACK is only ignored).
# Lease times are kept in seconds since binding (a tick counter wraps after 12 days); the timer
# never sleeps longer than an hour at a time.
# The DNS servers of the lease go to nic.nameservers (dotted quads, for bsdnet.dns); the first also
# to ifconfig()'s 4th field.
from .compat import const, ticks_ms, ticks_add, ticks_diff, getrandbits, wait_flag_ms, aio_sleep_ms
from . import stats
from .stats import stat_inc
from .inet import inet_ntoa, inet_aton, in_nullhost, in_eq, in_copy
from . import socket

DHCPS_NAMES = "sent offers acks naks declines bad renews rebinds expired"
_DHCPS_SENT = const(0)
_DHCPS_OFFERS = const(1)
_DHCPS_ACKS = const(2)
_DHCPS_NAKS = const(3)
_DHCPS_DECLINES = const(4)
_DHCPS_BAD = const(5)  # not for us, malformed, from another server, wrong xid
_DHCPS_RENEWS = const(6)  # RENEWING entered (T1)
_DHCPS_REBINDS = const(7)  # REBINDING entered (T2)
_DHCPS_EXPIRED = const(8)  # leases that ran out: the address went down
_DHCPS_N = const(9)
dhcpstat = [0] * _DHCPS_N
stats.TABLES.append(("dhcp", dhcpstat, DHCPS_NAMES, ""))

_INIT = const(0)
_SELECTING = const(1)
_REQUESTING = const(2)
_REBOOTING = const(3)
_PROBING = const(4)
_BOUND = const(5)
_RENEWING = const(6)
_REBINDING = const(7)
_STOPPED = const(8)
_STATE_NAMES = ("init", "selecting", "requesting", "rebooting", "probing", "bound", "renewing", "rebinding",
               "stopped")

_DISCOVER = const(1)
_OFFER = const(2)
_REQUEST = const(3)
_DECLINE = const(4)
_ACK = const(5)
_NAK = const(6)
_RELEASE = const(7)

# the BOOTP message (RFC 2131 figure 1): offsets
_OP = const(0)
_XID = const(4)
_SECS = const(8)
_FLAGS = const(10)
_CIADDR = const(12)
_YIADDR = const(16)
_CHADDR = const(28)
_COOKIE = const(236)
_OPTS = const(240)
_MINLEN = const(300)  # BOOTP's minimum message: some relays and servers drop shorter ones
_BUFLEN = const(548)  # RFC 2131 2: a client takes messages up to 576 bytes of IP datagram

_SERVER_PORT = const(67)
_CLIENT_PORT = const(68)
_INFINITE = const(0x1FFFFFFF)  # seconds: lease 0xffffffff, or anything past 17 years
_MAX_SLEEP_S = const(3600)  # ticks_diff is good for 6 days: wake at least hourly while bound
_REQ_TRIES = const(4)  # REQUESTs before SELECTING/REQUESTING starts over (INIT)
_REBOOT_TRIES = const(2)  # INIT-REBOOT REQUESTs before INIT
_PROBES = const(2)  # RFC 5227 says 3 probes 1-2 s apart and 2 s more; lwIP's 2 x 500 ms is
_PROBE_MS = const(500)  # enough on one Ethernet segment and keeps the time to lease short
_DECLINE_WAIT_MS = const(10000)  # RFC 2131 3.1.5: at least 10 s before starting again
_MIN_RETRY_S = const(4)
_MIN_LEASE_S = const(10)
_PRL = b"\x37\x07\x01\x03\x06\x33\x36\x3a\x3b"  # 55: mask, router, DNS, lease, server id, T1, T2
_COOKIE_B = b"\x63\x82\x53\x63"
_MASK_BYTES = b"\x00\x80\xc0\xe0\xf0\xf8\xfc\xfe\xff"


def _u32s(b, o):
    """A 32-bit seconds field, clamped below 2**29 (a small int on any port)."""
    if b[o] >= 0x20:
        return _INFINITE
    return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]


def _mask_ok(b, o):
    """Option 1 absent (o 0) or contiguous ones then zeros (ifconfig would refuse it)."""
    z = False
    for i in range(4 if o else 0):
        x = b[o + i]
        if (z and x) or x not in _MASK_BYTES:
            return False
        z = x != 255
    return True


def _opt(b, i, code, v):
    """Option code with value v at b[i]; the offset after it."""
    b[i] = code
    b[i + 1] = len(v)
    b[i + 2:i + 2 + len(v)] = v
    return i + 2 + len(v)


class DhcpClient:
    def __init__(self, nic, hostname=None, addr=None):
        self.nic = nic
        self.hostname = hostname.encode() if isinstance(hostname, str) else hostname
        if self.hostname is not None and not 0 < len(self.hostname) <= 63:
            raise ValueError("hostname must be 1 to 63 characters")
        self.buf = bytearray(_BUFLEN)  # one buffer: a reply is parsed before the next message is built
        self.xid = bytearray(4)
        self.addr = bytearray(4)  # yiaddr offered/leased (also the INIT-REBOOT address)
        self.mask = bytearray(4)
        self.router = bytearray(4)
        self.server = bytearray(4)  # the server id (option 54) we deal with
        self.dns = bytearray(12)  # up to 3 DNS servers
        self.ndns = 0
        self.lease_s = self.t1 = self.t2 = 0
        self.secs = 0  # seconds since the lease was granted ...
        self.base = 0  # ... counted from this tick
        self.state = _INIT
        self.at = self.base = ticks_ms()  # when the current state next acts
        self.tries = 0
        self.start_ms = 0
        self.so = None
        self.task = None
        self.configured = False  # the lease's address is on nic
        self.took_ms = 0  # DISCOVER (or INIT-REBOOT REQUEST) to bound, the last time
        self._opt = [0] * 10  # offsets of the options of the last reply (0: absent)
        if addr:
            inet_aton(addr, self.addr)
            self._reboot()

    # --- the task ---------------------------------------------------------------------------
    def start(self):
        """The client's asyncio task (made here: call from a running loop). A client whose task was
        cancelled (the host board stops serve() to read counters) goes on from where it was."""
        self._open()
        if self.state == _STOPPED:
            self.state = _INIT
            self.at = ticks_ms()
            if not in_nullhost(self.addr, 0):
                self._reboot()
        import asyncio

        self.task = asyncio.create_task(self._run())
        return self.task

    async def _run(self):
        so = self.so
        while self.state != _STOPPED:
            try:
                ms = self.step(ticks_ms())
            except Exception as e:  # noqa: BLE001 - a full heap (MemoryError) must not end the client
                print("dhcp: %r" % (e,))
                ms = 1000
            await wait_flag_ms(so._flag, ms)

    async def bound(self, timeout_ms):
        """Wait until an address is configured: True, or False after timeout_ms."""
        t0 = ticks_ms()
        while not self.configured:
            if ticks_diff(ticks_ms(), t0) >= timeout_ms:
                return False
            await aio_sleep_ms(50)
        return True

    # --- or one of the interface's timers (nic.poll runs it) -------------------------------------
    def attach(self):
        self._open()
        if self not in self.nic._timers:
            self.nic._timers.append(self)

    def next_timeout(self, now):
        so = self.so
        if so is None:
            return -1
        if so.poll(socket.POLLIN) & socket.POLLIN or (self.state == _PROBING and self.nic.arp.conflict):
            return now
        return self.at

    def timeout(self, now):
        try:
            self.step(now)
        except Exception as e:  # noqa: BLE001 - as in _run: the client goes on
            print("dhcp: %r" % (e,))
            self.at = ticks_add(now, 1000)

    def stop(self, release=True):
        """End the task; with release, a bound client gives the address back (DHCPRELEASE) first."""
        if self.task is not None:
            self.task.cancel()
            self.task = None
        if self in self.nic._timers:
            self.nic._timers.remove(self)
        if self.so is None:
            return
        if release and self.state in (_BOUND, _RENEWING, _REBINDING):
            self._send(_RELEASE)
        if release:
            self._down()
        self.so.close()
        self.so = None
        self.state = _STOPPED

    def _open(self):
        if self.so is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            s.bind(("0.0.0.0", _CLIENT_PORT))
            s.setblocking(False)
            self.so = s

    def _reboot(self):
        """INIT-REBOOT: ask for the last address first (RFC 2131 3.2)."""
        self.state = _REBOOTING
        self.tries = -1  # a new xid, and the first REQUEST at once

    # --- the state machine ------------------------------------------------------------------
    def step(self, now):
        """Take the replies that wait, act on what is due; ms until the next action (>= 10)."""
        self._open()
        so = self.so
        while so.poll(socket.POLLIN) & socket.POLLIN:
            n, src = so.recvfrom_into(self.buf)
            self._input(n, src, now)
        d = ticks_diff(now, self.base)
        if d >= 1000:
            self.secs += d // 1000
            self.base = ticks_add(self.base, (d // 1000) * 1000)
        arp = self.nic.arp
        if self.state == _PROBING and arp.conflict:
            self._decline(now)
        if ticks_diff(now, self.at) >= 0:
            self._due(now)
        w = ticks_diff(self.at, now)
        return w if w > 10 else 10

    def _due(self, now):
        st = self.state
        if st == _INIT:
            self._new_xid(now)
            self.state = _SELECTING
            self.tries = 0
            self._send(_DISCOVER)
            self._backoff(now)
        elif st == _SELECTING:
            self._send(_DISCOVER)
            self._backoff(now)
        elif st == _REQUESTING or st == _REBOOTING:
            if self.tries >= (_REQ_TRIES if st == _REQUESTING else _REBOOT_TRIES):
                self.state = _INIT
                self.at = now
                return
            if self.tries < 0:
                self._new_xid(now)
            self._send(_REQUEST)
            self._backoff(now)
        elif st == _PROBING:
            if self.tries < _PROBES:
                self.tries += 1
                self.nic.arp.probe(self.addr)
                self.at = ticks_add(now, _PROBE_MS)
            else:
                self.nic.arp.probing = None
                self._bind(now, "bound")
        elif st >= _BOUND and st != _STOPPED:
            self._lease_timer(now)

    def _lease_timer(self, now):
        s = self.secs
        st = self.state
        if s >= self.lease_s:
            stat_inc(dhcpstat, _DHCPS_EXPIRED)
            print("dhcp: lease of %s expired" % inet_ntoa(self.addr))
            self._down()
            self.state = _INIT
            self.at = now
            return
        if s >= self.t2 and st != _REBINDING:
            stat_inc(dhcpstat, _DHCPS_REBINDS)
            self.state = st = _REBINDING
            self.tries = 0
        elif s >= self.t1 and st == _BOUND:
            stat_inc(dhcpstat, _DHCPS_RENEWS)
            self.state = st = _RENEWING
            self.tries = 0
            self._new_xid(now)
        if st == _BOUND:
            self._sleep(now, self.t1 - s)
            return
        # RENEWING: to the server; REBINDING: to any server. Again after half the time left
        self._send(_REQUEST)
        left = (self.t2 if st == _RENEWING else self.lease_s) - s
        left = left // 2 if left // 2 > _MIN_RETRY_S else (left if left < _MIN_RETRY_S else _MIN_RETRY_S)
        self._sleep(now, left if left > 0 else 1)

    def _sleep(self, now, sec):
        self.at = ticks_add(now, (sec if sec < _MAX_SLEEP_S else _MAX_SLEEP_S) * 1000)

    def _backoff(self, now):
        """4, 8, 16, 32, 64 s, +-1 s (RFC 2131 4.1)."""
        t = self.tries if self.tries > 0 else 0
        self.tries += 1
        s = 4 << t if t < 4 else 64
        self.at = ticks_add(now, s * 1000 + getrandbits(11) - 1024)

    def _new_xid(self, now):
        x = self.xid
        r = getrandbits(16)
        x[0] = r >> 8
        x[1] = r & 0xFF
        r = getrandbits(16)
        x[2] = r >> 8
        x[3] = r & 0xFF
        self.start_ms = now

    # --- input --------------------------------------------------------------------------------
    def _input(self, n, src, now):
        t = self._parse(n, src)
        if t == 0:
            stat_inc(dhcpstat, _DHCPS_BAD)
            return
        st = self.state
        b = self.buf
        o = self._opt
        if t == _OFFER:
            if st != _SELECTING:
                return  # a late one (the answer to a retransmitted DISCOVER): not bad, not wanted
            if in_nullhost(b, _YIADDR) or b[_YIADDR] >= 224 or b[_YIADDR] == 127 or not o[5]:
                stat_inc(dhcpstat, _DHCPS_BAD)
                return
            stat_inc(dhcpstat, _DHCPS_OFFERS)
            in_copy(self.addr, 0, b, _YIADDR)
            in_copy(self.server, 0, b, o[5])
            self.state = _REQUESTING
            self.tries = 0
            self._send(_REQUEST)
            self._backoff(now)
            return
        if st not in (_REQUESTING, _REBOOTING, _RENEWING, _REBINDING):
            return  # a duplicate of an answer already taken
        if o[5] and st != _REBOOTING and st != _REBINDING and not in_eq(b, o[5], self.server, 0):
            stat_inc(dhcpstat, _DHCPS_BAD)  # another server's answer
            return
        if t == _NAK:
            stat_inc(dhcpstat, _DHCPS_NAKS)
            print("dhcp: NAK for %s" % inet_ntoa(self.addr))
            self._down()
            for i in range(4):
                self.addr[i] = 0
            self.state = _INIT
            self.at = now
            return
        if t != _ACK or not o[4] or not in_eq(b, _YIADDR, self.addr, 0) or not _mask_ok(b, o[0]):
            stat_inc(dhcpstat, _DHCPS_BAD)
            return
        stat_inc(dhcpstat, _DHCPS_ACKS)
        self._take(b, o)
        self.secs = 0
        self.base = now
        if st == _RENEWING or st == _REBINDING:
            self._bind(now, "renewed" if st == _RENEWING else "rebound")
            return
        # RFC 2131 4.4.1 / RFC 5227 2.1: probe the address before using it
        arp = self.nic.arp
        arp.conflict = False
        self.state = _PROBING
        self.tries = 0
        self.at = now

    def _parse(self, n, src):
        """The message type of a reply for us (option offsets in self._opt), or 0 (bad)."""
        b = self.buf
        if src[1] != _SERVER_PORT or n < _OPTS or b[_OP] != 2 or b[1] != 1 or b[2] != 6:
            return 0
        for i in range(4):
            if b[_XID + i] != self.xid[i] or b[_COOKIE + i] != _COOKIE_B[i]:
                return 0
        mac = self.nic.lladdr
        for i in range(6):
            if b[_CHADDR + i] != mac[i]:
                return 0
        o = self._opt
        for i in range(10):
            o[i] = 0
        t = 0
        i = _OPTS
        while i < n:
            c = b[i]
            if c == 255:
                break
            if c == 0:
                i += 1
                continue
            if i + 2 > n or i + 2 + b[i + 1] > n:
                return 0  # an option past the end
            ln = b[i + 1]
            v = i + 2
            if c == 53 and ln == 1:
                t = b[v]
            elif c == 1 and ln == 4:
                o[0] = v
            elif c == 3 and ln >= 4:
                o[1] = v
            elif c == 6 and ln >= 4:
                o[2] = v
                o[3] = ln // 4 if ln < 12 else 3
            elif c == 51 and ln == 4:
                o[4] = v
            elif c == 54 and ln == 4:
                o[5] = v
            elif c == 58 and ln == 4:
                o[6] = v
            elif c == 59 and ln == 4:
                o[7] = v
            i = v + ln
        return t if _OFFER <= t <= _NAK and t != _DECLINE and t != _REQUEST else 0

    def _take(self, b, o):
        """The lease from an ACK."""
        in_copy(self.addr, 0, b, _YIADDR)
        if o[5]:
            in_copy(self.server, 0, b, o[5])
        if o[0]:
            in_copy(self.mask, 0, b, o[0])
        else:  # no option 1: the address's class (RFC 1122 3.3.1.1 says ask; this is what's left)
            a = b[_YIADDR]
            for i in range(4):
                self.mask[i] = 255 if i < (1 if a < 128 else 2 if a < 192 else 3) else 0
        for i in range(4):
            self.router[i] = b[o[1] + i] if o[1] else 0
        self.ndns = o[3] if o[2] else 0
        for i in range(4 * self.ndns):
            self.dns[i] = b[o[2] + i]
        ls = _u32s(b, o[4])
        ls = self.lease_s = ls if ls > _MIN_LEASE_S else _MIN_LEASE_S  # a 0 s lease would be a DISCOVER storm
        t1 = _u32s(b, o[6]) if o[6] else ls // 2
        t2 = _u32s(b, o[7]) if o[7] else ls - ls // 8
        if not 0 < t2 <= ls:
            t2 = ls - ls // 8
        if not 0 < t1 <= t2:
            t1 = t2 // 2 if t2 // 2 < ls // 2 else ls // 2
        self.t1 = t1
        self.t2 = t2

    def _bind(self, now, how):
        nic = self.nic
        a = inet_ntoa(self.addr)
        dns = [inet_ntoa(self.dns, 4 * i) for i in range(self.ndns)]
        cfg = (a, inet_ntoa(self.mask), inet_ntoa(self.router), dns[0] if dns else "0.0.0.0")
        if not self.configured or nic.ifconfig() != cfg:
            nic.ifconfig(cfg)  # announces the address (gratuitous ARP)
        nic.nameservers = dns
        self.configured = True
        self.state = _BOUND
        if how == "bound":
            self.took_ms = ticks_diff(now, self.start_ms)
        print("dhcp: %s %s/%s gw %s dns %s from %s lease %ds t1 %ds t2 %ds in %d ms" % (
            how, a, cfg[1], cfg[2], ",".join(dns) or "-", inet_ntoa(self.server), self.lease_s, self.t1, self.t2,
            ticks_diff(now, self.start_ms)))
        self._lease_timer(now)

    def _decline(self, now):
        """RFC 2131 3.1.5: the address is in use: DECLINE it, start over after 10 s."""
        stat_inc(dhcpstat, _DHCPS_DECLINES)
        arp = self.nic.arp
        arp.probing = None
        arp.conflict = False
        print("dhcp: %s is in use (ARP probe answered): declined" % inet_ntoa(self.addr))
        self._send(_DECLINE)
        for i in range(4):
            self.addr[i] = 0
        self.state = _INIT
        self.at = ticks_add(now, _DECLINE_WAIT_MS)

    def _down(self):
        """The lease is gone: the address off the interface."""
        self.nic.arp.probing = None
        if self.configured:
            self.configured = False
            self.nic.ifconfig(("0.0.0.0", "0.0.0.0", "0.0.0.0", "0.0.0.0"))
            self.nic.nameservers = []

    # --- output -------------------------------------------------------------------------------
    def _send(self, t):
        """A message of type t (RFC 2131 table 5): unicast to the server when _RENEWING or for a
        RELEASE, else broadcast."""
        b = self.buf
        for i in range(_MINLEN):
            b[i] = 0
        b[0] = 1
        b[1] = 1
        b[2] = 6
        st = self.state
        unicast = t == _RELEASE or st == _RENEWING
        in_copy(b, _XID, self.xid, 0)
        s = ticks_diff(ticks_ms(), self.start_ms) // 1000
        b[_SECS] = (s >> 8) & 0xFF if s < 0xFFFF else 0xFF
        b[_SECS + 1] = s & 0xFF if s < 0xFFFF else 0xFF
        if t == _RELEASE or (t == _REQUEST and (st == _RENEWING or st == _REBINDING)):
            in_copy(b, _CIADDR, self.addr, 0)  # RFC 2131 table 5: ciaddr only when we have the address
        elif t != _DECLINE:
            b[_FLAGS] = 0x80  # BROADCAST: we cannot take a unicast before we have the address
        mac = self.nic.lladdr
        for i in range(6):
            b[_CHADDR + i] = mac[i]
        i = _COOKIE
        for c in _COOKIE_B:
            b[i] = c
            i += 1
        b[i] = 53
        b[i + 1] = 1
        b[i + 2] = t
        i = _opt(b, i + 3, 61, b"\x01" + mac)  # client id: type 1 (Ethernet) and the MAC
        if t == _DECLINE or (t == _REQUEST and (st == _REQUESTING or st == _REBOOTING)):
            i = _opt(b, i, 50, self.addr)  # requested address
        if t == _DECLINE or t == _RELEASE or (t == _REQUEST and st == _REQUESTING):
            i = _opt(b, i, 54, self.server)  # server id: never while renewing or rebinding
        if t == _DISCOVER or t == _REQUEST:
            if self.hostname is not None:
                i = _opt(b, i, 12, self.hostname)
            b[i:i + len(_PRL)] = _PRL
            i += len(_PRL)
        b[i] = 255
        n = i + 1 if i + 1 > _MINLEN else _MINLEN
        dst = inet_ntoa(self.server) if unicast else "255.255.255.255"
        try:
            self.so.sendto(memoryview(b)[:n], (dst, _SERVER_PORT))
            stat_inc(dhcpstat, _DHCPS_SENT)
        except OSError as e:  # no buffer, ARP gave up on the server: the retransmission will tell
            print("dhcp: not sent: %r" % (e,))

    # --- reporting ----------------------------------------------------------------------------
    def lease(self):
        """The lease as a dict (reporting; allocates)."""
        return {"state": _STATE_NAMES[self.state], "addr": inet_ntoa(self.addr), "mask": inet_ntoa(self.mask),
                "router": inet_ntoa(self.router), "server": inet_ntoa(self.server),
                "dns": [inet_ntoa(self.dns, 4 * i) for i in range(self.ndns)], "lease_s": self.lease_s,
                "t1_s": self.t1, "t2_s": self.t2, "elapsed_s": self.secs, "took_ms": self.took_ms}
