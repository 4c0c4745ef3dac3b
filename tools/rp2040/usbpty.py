"""The emulated Pico's USB serial as a pseudo-terminal, so that host tools (mpremote, pyserial, a
terminal program) open it as they would /dev/ttyACM0 on a real board.

    link = PtyLink("/tmp/pico", to_board=board.serial_write)   # /tmp/pico -> /dev/pts/N
    link.from_board(data)                                      # what the firmware wrote on USB
    link.close()

The slave side is put in raw mode (no echo, no CR/LF translation: mpremote's raw REPL and file
transfers are binary) and one slave descriptor stays open here, so the master never reads EIO
between two clients (mpremote connects, works, closes; the next one connects). pyserial's
exclusive open (flock) still keeps a second client out, as on a real port. What the board writes
while no client reads fills the terminal's buffer and is then dropped, as a USB CDC device's output
is when no host reads it.
"""
import os
import select
import threading
import tty

WRITE_WAIT_S = 0.5  # a client that does not read for this long loses the board's output


class PtyLink:
    def __init__(self, link, to_board):
        self.link = os.path.abspath(link)
        self.to_board = to_board
        self.dropped = 0
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.name = os.ttyname(self.slave)
        if os.path.islink(self.link):
            os.unlink(self.link)  # a stale link from an earlier run
        os.symlink(self.name, self.link)
        self._stop = False
        self._wlock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, daemon=True, name="usbpty")
        self._thread.start()

    def _pump(self):
        """Bytes the client writes -> the board (bounded waits, so close() ends it)."""
        while not self._stop:
            try:
                r, _, _ = select.select([self.master], [], [], 0.2)
                if not r:
                    continue
                data = os.read(self.master, 4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return  # closed
            if data:
                self.to_board(data)

    def from_board(self, data):
        """Bytes the firmware wrote on USB -> the client."""
        mv = memoryview(data)
        with self._wlock:
            while len(mv):
                try:
                    n = os.write(self.master, mv)
                    mv = mv[n:]
                    continue
                except BlockingIOError:
                    pass
                except OSError:
                    return
                _, w, _ = select.select([], [self.master], [], WRITE_WAIT_S)
                if not w:
                    self.dropped += len(mv)
                    return

    def close(self):
        self._stop = True
        self._thread.join(1.0)
        try:
            if os.path.islink(self.link) and os.readlink(self.link) == self.name:
                os.unlink(self.link)
        except OSError:
            pass
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass
