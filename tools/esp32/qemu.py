"""An emulated ESP32 in this process: stock MicroPython in QEMU (a shared library loaded with
ctypes, ../shared/esp32/README.md), our chip model on VSPI behind the SPI callback.

    b = Esp32(chip="w5500", fs=IMAGE_BYTES)       # boots, stops main.py, raw REPL ready
    out, err = b.exec("print(1+1)")
    b.send_frame(frame); b.on_frame = callable     # whole Ethernet frames, both ways
The board object of tools/mcu/board.py (BoardApi: request(op, ...) with the host protocol's ops),
so `tools/esp32/run.py --stdio` serves it to a parent process as board.mjs serves the Pico.

One ESP32 per process: QEMU keeps its machine in globals and does not start twice.
Threads: QEMU's main loop runs in a thread of ours (qemu_init and qemu_main_loop on the same
thread: the global lock is taken there). The callbacks come from QEMU's CPU thread holding QEMU's
global lock; whatever touches the chip model or drives a pin from another thread takes that lock
first (_locked), so the chip model only ever runs under it, one call at a time.
"""
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "esp32")
LIB = os.path.join(SHARED, "libqemu-xtensa.so")
FIRMWARE = os.path.join(SHARED, "micropython-v1.23.0-ESP32_GENERIC.bin")
ROMS = ("esp32-v3-rom.bin", "esp32-v3-rom-app.bin")
APT_LIBS = "libglib2.0-0 libpixman-1-0 libgcrypt20 libslirp0 zlib1g"

FS_OFFSET = 0x200000  # the firmware's `vfs` partition (littlefs, mounted at /)
FLASH_SIZE = "4MB"
APP_OFFSET = 0x1000  # where users flash the MicroPython .bin
VSPI = 1  # spi_event id: 0 is SPI2 (HSPI, MicroPython SPI(1)), 1 is SPI3 (VSPI, SPI(2))
# the wiring of boards/esp32_*.py: VSPI SCK 18, MOSI 23, MISO 19; GPIO chip select, INTn, RSTn
DEFAULT_PINS = {"cs": 5, "rst": 26, "int": 4}

sys.path.insert(0, os.path.dirname(HERE))
sys.path.insert(0, HERE)
from mcu.board import BoardApi, BoardError  # noqa: E402
from mcu.chiphost import ChipHost  # noqa: E402
from mcu.rawrepl import RawRepl  # noqa: E402

_WP = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int)
_DP = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int)
_I2C = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint16)
_SPI = ctypes.CFUNCTYPE(ctypes.c_uint8, ctypes.c_uint8, ctypes.c_uint16)
_UTX = ctypes.CFUNCTYPE(None, ctypes.c_uint8, ctypes.c_uint8)
_RMT = ctypes.CFUNCTYPE(None, ctypes.c_uint8, ctypes.c_uint32, ctypes.c_uint32)


class _Callbacks(ctypes.Structure):
    # the order qemu_picsimlab_register_callbacks reads them in (../shared/esp32/README.md)
    _fields_ = [("write_pin", _WP), ("dir_pin", _DP), ("i2c_event", _I2C), ("spi_event", _SPI),
                ("uart_tx", _UTX), ("pinmap", ctypes.POINTER(ctypes.c_short)), ("rmt_event", _RMT)]


def missing(firmware=FIRMWARE):
    """None when the emulated ESP32 can run here, else the reason it cannot (one line)."""
    if not os.path.isfile(LIB):
        return "emulator library not found: %s (see shared/esp32/README.md)" % LIB
    for f in ROMS:
        if not os.path.isfile(os.path.join(SHARED, f)):
            return "ESP32 ROM image not found: %s (see shared/esp32/README.md)" % os.path.join(SHARED, f)
    if not os.path.isfile(firmware):
        return "MicroPython firmware not found: %s (see shared/esp32/README.md)" % firmware
    if shutil.which("ldd"):
        p = subprocess.run(["ldd", LIB], capture_output=True, text=True)
        gone = [ln.split()[0] for ln in p.stdout.splitlines() if "not found" in ln]
        if gone:
            return "the emulator library needs %s (apt packages: %s; make setup)" % (", ".join(gone), APT_LIBS)
    return None


def flash_image(firmware, fs_image, out):
    """The 4 MB flash: the firmware at 0x1000 as esptool's merge_bin places it (a user's
    `esptool.py write_flash 0x1000 FIRMWARE`), the littlefs image in the vfs partition."""
    p = subprocess.run([sys.executable, "-m", "esptool", "--chip", "esp32", "merge_bin", "--fill-flash-size",
                        FLASH_SIZE, "-o", out, "0x%x" % APP_OFFSET, firmware], capture_output=True, text=True)
    if p.returncode != 0:
        raise BoardError("esptool merge_bin failed: %s" % (p.stderr or p.stdout).strip()[-300:])
    if fs_image:
        with open(out, "r+b") as f:
            f.seek(FS_OFFSET)
            f.write(fs_image)
    return out


BOOT_MARK = b"flash cache on"  # the last line of tools/esp32/onboard/boot.py


def image(board=None, extras=(), tests=False, config=None):
    """The littlefs image (bytes): lib/ and firmware/ as .mpy (tools/esp32/esp32fs.py), boards/<board>.py
    in /lib/boards/ with a /config.py naming it, extras, and the harness's /boot.py with /flashcache.py
    (flash blocks cached in RAM while modules load: every flash operation costs ~10 ms in this emulator)."""
    import esp32fs as mkfs  # not `mkfs`: tools/rp2040/mkfs.py may be imported under that name already

    hb = os.path.join(HERE, "onboard")  # not "board": a directory imports as that module
    ex = [os.path.join(hb, "boot.py") + ":/boot.py", os.path.join(hb, "flashcache.py") + ":/flashcache.py"]
    return mkfs.build(None, board, ex + list(extras), tests, config=config)[0]


_instance = None


class Esp32(BoardApi):
    def __init__(self, chip="none", firmware=FIRMWARE, fs=None, pins=None, boot_timeout=60,
                 on_console=None, on_frame=None, serve=False, flash_dir=None, boot_mark=None):
        """fs: the littlefs image (bytes) for the vfs partition, None for a blank one (the firmware
        formats it). serve: leave main.py running; the raw REPL is entered at the first exec.
        boot_mark: console text boot.py prints last (bytes): the first Ctrl-C waits for it."""
        global _instance
        if _instance is not None:
            raise BoardError("one emulated ESP32 per process (QEMU does not start twice)")
        why = missing(firmware)
        if why:
            raise BoardError(why)
        _instance = self
        self.on_frame = on_frame
        self.on_console = on_console
        self.console = []
        self.pins = dict(DEFAULT_PINS, **(pins or {}))
        self.host = ChipHost(chip, on_frame=self._frame_out, on_int=self._drive_int)
        self.closed = False
        self.ready = None
        self._tmp = tempfile.mkdtemp(prefix="esp32-", dir=flash_dir)
        self._flash = flash_image(firmware, fs, os.path.join(self._tmp, "flash.bin"))
        self._sock_path = os.path.join(self._tmp, "uart0")
        self._exec_lock = threading.Lock()
        self._wall0 = time.monotonic()
        self._lib = ctypes.CDLL(LIB, mode=ctypes.RTLD_GLOBAL)
        lib = self._lib
        lib.qemu_mutex_lock_iothread_impl.argtypes = (ctypes.c_char_p, ctypes.c_int)
        lib.qemu_picsimlab_set_pin.argtypes = (ctypes.c_int, ctypes.c_int)
        lib.qemu_clock_get_ns.restype = ctypes.c_int64
        lib.qemu_clock_get_ns.argtypes = (ctypes.c_int,)
        lib.qemu_system_shutdown_request.argtypes = (ctypes.c_int,)
        # pinmap: [N, gpio...]; write_pin and set_pin speak of an index into it (1-based)
        gpios = [self.pins["cs"], self.pins["int"]] + ([self.pins["rst"]] if self.pins.get("rst") is not None else [])
        self._pinmap = (ctypes.c_short * (len(gpios) + 1))(len(gpios), *gpios)
        self._idx = dict((g, i + 1) for i, g in enumerate(gpios))
        self._cs_idx = self._idx[self.pins["cs"]]
        self._int_idx = self._idx[self.pins["int"]]
        self._rst_idx = self._idx.get(self.pins.get("rst"), -1)
        self._cbs = (_WP(self._write_pin), _DP(lambda p, d: None), _I2C(lambda i, a, e: 0),
                     _SPI(self._spi_event), _UTX(lambda i, b: None), _RMT(lambda c, a, b: None))
        self._cb = _Callbacks(self._cbs[0], self._cbs[1], self._cbs[2], self._cbs[3], self._cbs[4],
                              self._pinmap, self._cbs[5])
        lib.qemu_picsimlab_register_callbacks(ctypes.byref(self._cb))
        args = ["qemu", "-machine", "esp32-picsimlab", "-L", SHARED, "-display", "none", "-monitor", "none",
                "-drive", "file=%s,if=mtd,format=raw" % self._flash,
                "-global", "driver=timer.esp32.timg,property=wdt_disable,value=true",
                "-chardev", "socket,id=ser0,path=%s,server=on,wait=off" % self._sock_path, "-serial", "chardev:ser0"]
        self._argv = (ctypes.c_char_p * (len(args) + 1))(*[x.encode() for x in args], None)
        self._argc = len(args)
        self._qemu = threading.Thread(target=self._qemu_main, name="qemu", daemon=True)
        self._qemu.start()
        self._uart = self._connect(10)
        self.repl = RawRepl(self._uart_write, self._console)
        self._reader = threading.Thread(target=self._read_uart, name="uart0", daemon=True)
        self._reader.start()
        banner = ""
        if not serve:
            try:
                banner = self.repl.enter(boot_timeout, after=boot_mark)
            except Exception as e:
                self.close()
                raise BoardError("the emulated ESP32 did not reach the raw REPL: %s" % e)
        self.ready = {"event": "ready", "banner": banner, "boot_wall_ms": self.wall_ms(), "boot_emu_ms": self.emu_ms()}

    # -- QEMU side (its threads, its lock)
    def _qemu_main(self):
        # qemu_init installs its own SIGTERM/SIGINT/SIGHUP handlers (it would stop the machine and
        # leave this process running): the process's handlers are put back after it
        libc = ctypes.CDLL(None, use_errno=True)
        saved = []
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            act = ctypes.create_string_buffer(256)  # struct sigaction, opaque (152 bytes on x86-64 glibc)
            libc.sigaction(int(sig), None, act)
            saved.append((sig, act))
        self._lib.qemu_init(self._argc, self._argv)
        for sig, act in saved:
            libc.sigaction(int(sig), act, None)
        # an input starts low: the interrupt line's idle level before the firmware arms its IRQ
        self._lib.qemu_picsimlab_set_pin(self._int_idx, self.host.int)
        self._lib.qemu_main_loop()
        self._lib.qemu_cleanup()

    def _locked(self, fn, *args):
        """fn(*args) under QEMU's global lock (from any thread but QEMU's own)."""
        self._lib.qemu_mutex_lock_iothread_impl(b"esp32/qemu.py", 0)
        try:
            return fn(*args)
        finally:
            self._lib.qemu_mutex_unlock_iothread()

    def _write_pin(self, idx, value):
        if self.closed:
            return
        if idx == self._cs_idx:
            if value:
                self.host.deselect()
            else:
                self.host.select()
        elif idx == self._rst_idx:
            self.host.rst(value)

    def _spi_event(self, sid, ev):
        if sid != VSPI or self.closed or (ev & 0xFF) == 0x01:
            return 0xFF  # another bus, or the controller's own CS line (the boards use a GPIO)
        if not self.host.selected:
            return 0xFF
        return self.host.byte(ev >> 8)

    def _drive_int(self, level):
        """The chip's INTn changed (lock held: from a callback or from _locked)."""
        if not self.closed:
            self._lib.qemu_picsimlab_set_pin(self._int_idx, level)

    def _frame_out(self, frame):
        if self.on_frame is not None:
            self.on_frame(frame)

    # -- the UART
    def _connect(self, timeout):
        end = time.monotonic() + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self._sock_path)
                return s
            except OSError:
                s.close()
                if time.monotonic() > end or not self._qemu.is_alive():
                    raise BoardError("QEMU's UART socket did not appear in %d s" % timeout)
                time.sleep(0.02)

    def _uart_write(self, data):
        self._uart.sendall(data)

    def _read_uart(self):
        while not self.closed:
            try:
                d = self._uart.recv(4096)
            except OSError:
                break
            if not d:
                break
            self.repl.feed(d)

    def _console(self, s):
        self.console.append(s)
        if len(self.console) > 256:  # a tail: a host board serves for days
            del self.console[:128]
        if self.on_console is not None:
            self.on_console(s)

    # -- BoardApi
    def emu_ms(self):
        return self._lib.qemu_clock_get_ns(1) / 1e6  # QEMU_CLOCK_VIRTUAL

    def wall_ms(self):
        return (time.monotonic() - self._wall0) * 1000.0

    def alive(self):
        return not self.closed and self._qemu.is_alive()

    def request(self, op, wait=60, **kw):
        if not self.alive():
            raise BoardError("no answer to %s (board stopped)" % op)
        if op == "exec":
            with self._exec_lock:
                w0, e0 = time.monotonic(), self.emu_ms()
                out, err = self.repl.exec(kw["code"], kw.get("timeout", wait))
                return {"ok": True, "stdout": out, "stderr": err, "emu_ms": self.emu_ms() - e0,
                        "wall_ms": (time.monotonic() - w0) * 1000.0}
        if op == "soft_reset":
            with self._exec_lock:
                w0 = time.monotonic()
                self.repl.soft_reset(kw.get("timeout", wait))
                return {"ok": True, "wall_ms": (time.monotonic() - w0) * 1000.0}
        if op == "chip_eval":
            return {"ok": True, "value": self._locked(self.host.eval, kw["expr"])}
        if op == "stats":
            return dict(self.host.stats(), ok=True, emu_ms=self.emu_ms(), wall_ms=self.wall_ms(), pace=True)
        if op == "pace":
            return {"ok": True, "pace": True}  # QEMU's clocks follow wall time already
        if op == "serial":
            self._uart_write(kw["data"].encode("latin-1"))
            return {"ok": True}
        if op == "quit":
            self.close()
            return {"ok": True}
        raise BoardError("%s failed: unknown op" % op)

    def send_frame(self, frame):
        if self.alive():
            self._locked(self.host.deliver, bytes(frame))

    def close(self):
        """Stop the machine (QEMU's main loop returns); the process can exit. Not restartable."""
        if self.closed:
            return
        self.closed = True
        if self._qemu.is_alive():
            self._locked(self._lib.qemu_system_shutdown_request, 3)  # SHUTDOWN_CAUSE_HOST_SIGNAL
            self._qemu.join(3)
        try:
            self._uart.close()
        except OSError:
            pass
        shutil.rmtree(self._tmp, ignore_errors=True)
