"""MicroPython's raw REPL over a byte stream (the emulated ESP32's UART).

    r = RawRepl(write)              # write(bytes) sends to the board's console
    ...r.feed(data)                 # from whatever reads the console (another thread)
    banner = r.enter(30)            # Ctrl-C until the friendly prompt, then Ctrl-A
    out, err = r.exec("print(1)")   # stdout and the traceback apart
    r.soft_reset()                  # Ctrl-D at the raw prompt: fresh heap, boot.py runs, main.py not
Output that arrives while no exec waits for it (main.py at boot) goes to on_console(str).
"""
import threading
import time

RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"


class ReplTimeout(Exception):
    pass


class RawRepl:
    def __init__(self, write, on_console=None):
        self._write = write
        self.on_console = on_console
        self._buf = bytearray()
        self._cv = threading.Condition()
        self._busy = False
        self.raw = False

    def feed(self, data):
        with self._cv:
            self._buf += data
            if self._busy:
                self._cv.notify_all()
                return
            out = bytes(self._buf)
            del self._buf[:]
        if self.on_console is not None and out:
            self.on_console(out.decode("utf-8", "replace"))

    def write(self, data):
        self._write(data)

    def _until(self, pattern, timeout):
        """Bytes up to and including pattern, consumed from the buffer; ReplTimeout keeps them."""
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                i = self._buf.find(pattern)
                if i >= 0:
                    out = bytes(self._buf[:i + len(pattern)])
                    del self._buf[:i + len(pattern)]
                    return out
                left = end - time.monotonic()
                if left <= 0:
                    raise ReplTimeout("timeout after %.0f s waiting for %r; have %r"
                                      % (timeout, pattern, bytes(self._buf[-200:])))
                self._cv.wait(min(left, 0.5))

    def _take(self):
        with self._cv:
            out = bytes(self._buf)
            del self._buf[:]
        return out

    def _begin(self):
        with self._cv:
            self._busy = True

    def _end(self):
        with self._cv:
            self._busy = False
            rest = bytes(self._buf)
            del self._buf[:]
        if rest and self.on_console is not None:
            self.on_console(rest.decode("utf-8", "replace"))

    def enter(self, timeout=30, after=None):
        """Ctrl-C (twice) stops main.py; sent again every second until the friendly prompt shows (a
        Ctrl-C before the firmware arms its interrupt character is only an input byte); then Ctrl-A.
        after: console text to wait for first (boot.py's last line: a Ctrl-C must not cut it short)."""
        self._begin()
        try:
            banner = b""
            end = time.monotonic() + timeout
            if after is not None:
                banner += self._until(after, timeout)
            while True:
                self._write(b"\r\x03\x03")
                try:
                    banner += self._until(b">>> ", min(1.0, max(0.05, end - time.monotonic())))
                    break
                except ReplTimeout:
                    banner += self._take()
                    if time.monotonic() >= end:
                        raise ReplTimeout("no REPL prompt in %.0f s; console: %r" % (timeout, banner[-300:]))
            time.sleep(0.02)
            banner += self._take()
            self._write(b"\x01")
            self._until(RAW_PROMPT, timeout)
            self.raw = True
            return banner.decode("utf-8", "replace")
        finally:
            self._end()

    def soft_reset(self, timeout=30):
        if not self.raw:
            return self.enter(timeout)
        self._begin()
        try:
            self._take()
            self._write(b"\x04")
            return self._until(RAW_PROMPT, timeout).decode("utf-8", "replace")
        finally:
            self._end()

    def _lines_until(self, pattern, timeout, on_line):
        """As _until, handing each whole line to on_line(str) as it arrives (a long-running exec's
        output); returns what followed the last line."""
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                i = self._buf.find(pattern)
                j = self._buf.find(b"\n")
                if j >= 0 and (i < 0 or j < i):
                    line = bytes(self._buf[:j + 1])
                    del self._buf[:j + 1]
                    self._cv.release()
                    try:
                        on_line(line.decode("utf-8", "replace"))
                    finally:
                        self._cv.acquire()
                    continue
                if i >= 0:
                    out = bytes(self._buf[:i + len(pattern)])
                    del self._buf[:i + len(pattern)]
                    return out
                left = end - time.monotonic()
                if left <= 0:
                    raise ReplTimeout("timeout after %.0f s waiting for %r" % (timeout, pattern))
                self._cv.wait(min(left, 0.5))

    def exec(self, code, timeout=60, on_line=None):
        """(stdout, stderr); stderr holds the traceback when there was one. On a timeout the code is
        interrupted (Ctrl-C) and the REPL resynchronised before ReplTimeout is raised. on_line(str):
        stdout goes there line by line as it comes (and not into the result)."""
        if not self.raw:
            self.enter(timeout)
        self._begin()
        try:
            junk = self._take()
            if junk and self.on_console is not None:
                self.on_console(junk.decode("utf-8", "replace"))
            data = code.encode("utf-8") if isinstance(code, str) else code
            # the raw REPL reads its input into a buffer as it comes: write in pieces so a UART
            # FIFO never overflows
            for i in range(0, len(data), 256):
                self._write(data[i:i + 256])
            self._write(b"\x04")
            self._until(b"OK", timeout)
            try:
                out = self._until(b"\x04", timeout) if on_line is None else self._lines_until(b"\x04", timeout, on_line)
            except ReplTimeout:
                self._write(b"\x03")
                try:
                    self._until(b"\x04>", 5)
                except ReplTimeout:
                    self.raw = False
                raise
            err = self._until(b"\x04", timeout)
            self._until(b">", timeout)
            return out[:-1].decode("utf-8", "replace"), err[:-1].decode("utf-8", "replace")
        finally:
            self._end()
