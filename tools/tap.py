"""A Linux TAP device for the host board (host-only, needs CAP_NET_ADMIN).

    tap = Tap.open("bsd0", host_ip="10.7.0.1/24")   # create (or attach to) bsd0 in this namespace
    tap.fd                                          # nonblocking; one read() = one frame, one write() = one frame
    tap.read() -> bytes or None;  tap.write(frame)
    tap.close()                                     # deletes the device if this process created it

IFF_TAP | IFF_NO_PI: frames without the 4-byte packet-info header. MTU 1500. Offloads are switched
off (ethtool -K, when ethtool is installed) because with them on the kernel hands a TAP reader frames
with partial checksums (CHECKSUM_PARTIAL: the pseudo-header sum only), which a stack that checks
checksums rightly drops. Without ethtool the TAP has no offloads unless TUNSETOFFLOAD turned them
on, which we never do, so the frames are complete either way; ethtool just makes it explicit.
"""
import errno
import fcntl
import os
import shutil
import struct
import subprocess

TUNSETIFF = 0x400454CA
TUNSETPERSIST = 0x400454CB
TUNSETOFFLOAD = 0x400454D0
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
SIOCGIFHWADDR = 0x8927


def _run(cmd, check=True):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    if check and p.returncode != 0:
        raise OSError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()))
    return p


_PACKAGES = {"ip": "iproute2", "ping": "iputils-ping", "arping": "iputils-arping", "tcpdump": "tcpdump"}


def netns_missing(tools=("ip",)):
    """None when a network namespace with a TAP can be made here (root, /dev/net/tun, the tools),
    else the reason, for a skip or a skip line."""
    if os.geteuid() != 0:
        return "needs root (network namespace and TAP)"
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun is missing"
    for t in tools:
        if shutil.which(t) is None:
            return "%s is not installed (Debian: %s)" % (t, _PACKAGES.get(t, t))
    return None


def link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


class Tap:
    def __init__(self, fd, name, created):
        self.fd = fd
        self.name = name
        self.created = created
        self.rx = 0
        self.tx = 0
        self.tx_errors = 0

    @classmethod
    def open(cls, name, host_ip=None, mtu=1500, up=True):
        """Create (or open an existing, persistent) TAP named name, offloads off, MTU mtu, host_ip
        ("A.B.C.D/N") assigned and the link up. Raises OSError with a reason on failure."""
        if len(name.encode()) >= 16:
            raise ValueError("interface name %r is longer than 15 bytes" % name)
        if not os.path.exists("/dev/net/tun"):
            raise OSError(errno.ENODEV, "/dev/net/tun is missing (modprobe tun, or run in a container with it)")
        existed = link_exists(name)
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI)
            fcntl.ioctl(fd, TUNSETIFF, ifr)
            # no offloads: every frame from the kernel carries complete checksums, no GSO superframes
            fcntl.ioctl(fd, TUNSETOFFLOAD, 0)
        except OSError:
            os.close(fd)
            raise
        tap = cls(fd, name, not existed)
        try:
            tap.configure(host_ip, mtu, up)
        except Exception:
            tap.close()
            raise
        return tap

    def configure(self, host_ip=None, mtu=1500, up=True):
        _run(["ip", "link", "set", "dev", self.name, "mtu", str(mtu)])
        if shutil.which("ethtool"):
            # ignore "Operation not supported" for features a TAP does not have
            _run(["ethtool", "-K", self.name, "tx", "off", "rx", "off", "tso", "off", "gso", "off",
                  "gro", "off", "sg", "off"], check=False)
        if host_ip:
            _run(["ip", "addr", "replace", host_ip, "dev", self.name])
        if up:
            _run(["ip", "link", "set", "dev", self.name, "up"])

    def mac(self):
        """The Linux side's MAC address as 6 bytes."""
        with open("/sys/class/net/%s/address" % self.name) as f:
            return bytes(int(x, 16) for x in f.read().strip().split(":"))

    def read(self, n=65536):
        """One frame, or None when none is waiting."""
        try:
            b = os.read(self.fd, n)
        except BlockingIOError:
            return None
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EIO):  # EIO: the link is down
                return None
            raise
        self.rx += 1
        return b

    def write(self, frame):
        try:
            os.write(self.fd, frame)
            self.tx += 1
            return True
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.EIO, errno.EINVAL):
                self.tx_errors += 1
                return False
            raise

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.created and link_exists(self.name):
            # a non-persistent TAP goes away with its last fd; delete it anyway if it stayed
            _run(["ip", "link", "del", "dev", self.name], check=False)
