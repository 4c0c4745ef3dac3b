# Harness only (the emulated ESP32's image, not a user's board): a RAM cache of flash blocks under
# the littlefs at /. In QEMU every flash operation of the ESP32 firmware costs about 10 ms
# (../shared/esp32/README.md; tools/esp32/README: a cross-core wait lasting a FreeRTOS tick), so an
# import that looks up a few directories takes seconds. on(n) remounts / over n cached 4 KiB
# blocks, off() remounts it plain and gives the heap back (figures are measured that way).
import os
import esp32

_BS = 4096


class _Cached:
    def __init__(self, part, n):
        self.p = part
        self.bufs = [bytearray(_BS) for _ in range(n)]
        self.tags = [-1] * n
        self.age = [0] * n
        self.t = 0
        self.hits = 0
        self.misses = 0

    def _slot(self, b):
        self.t += 1
        tags = self.tags
        for i in range(len(tags)):
            if tags[i] == b:
                self.age[i] = self.t
                self.hits += 1
                return i
        self.misses += 1
        age = self.age
        i = age.index(min(age))
        self.p.readblocks(b, self.bufs[i])
        tags[i] = b
        age[i] = self.t
        return i

    def _drop(self, b):
        for i in range(len(self.tags)):
            if self.tags[i] == b:
                self.tags[i] = -1
                self.age[i] = 0

    def readblocks(self, b, buf, off=0):
        n = len(buf)
        pos = 0
        while pos < n:
            m = min(n - pos, _BS - off)
            buf[pos:pos + m] = memoryview(self.bufs[self._slot(b)])[off:off + m]
            pos += m
            b += 1
            off = 0

    def writeblocks(self, b, buf, off=None):
        for i in range((len(buf) + (off or 0) + _BS - 1) // _BS):
            self._drop(b + i)
        if off is None:
            self.p.writeblocks(b, buf)
        else:
            self.p.writeblocks(b, buf, off)

    def ioctl(self, op, arg):
        if op == 6:  # erase
            self._drop(arg)
        return self.p.ioctl(op, arg)


dev = None


def _remount(bdev):
    # as the firmware's _boot.py mounts it (vfs.mount's defaults: read/prog size 32): each open
    # file then takes ~300 bytes of heap; with progsize=256 its 1 KiB cache made it ~1200 (measured),
    # and every import opens its .mpy
    os.umount("/")
    os.mount(os.VfsLfs2(bdev), "/")


def on(n=8):
    global dev
    part = esp32.Partition.find(esp32.Partition.TYPE_DATA, label="vfs")[0]
    dev = _Cached(part, n)
    _remount(dev)


def off():
    global dev
    if dev is not None:
        p, dev = dev.p, None
        _remount(p)
