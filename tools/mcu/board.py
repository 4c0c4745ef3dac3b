"""The board object every emulated MCU offers, and its client for a board in a child process.

One interface for all emulated boards: request(op, wait, **kw) with the ops of the host protocol
(documented at the top of tools/rp2040/board.mjs: exec, soft_reset, chip_eval, stats, pace, serial,
quit), send_frame(frame) / on_frame(frame) for whole Ethernet frames, alive(), close(). BoardApi turns
the ops into methods. ChildBoard speaks the protocol to a child process (node tools/rp2040/board.mjs
--stdio, python tools/esp32/run.py --stdio); tools/esp32/qemu.py implements the same ops in-process.
"""
import json
import queue
import shutil
import struct
import subprocess
import threading


class BoardError(Exception):
    pass


class BoardApi:
    """Methods over request(); a subclass implements request, send_frame, alive, close."""

    ready = None  # the "ready" event: banner, boot_wall_ms, ...

    def exec_full(self, code, timeout=60):
        """Run code through the raw REPL: dict with stdout, stderr, emu_ms, wall_ms."""
        return self.request("exec", wait=timeout, code=code, timeout=timeout)

    def exec(self, code, timeout=60):
        r = self.exec_full(code, timeout)
        return r["stdout"], r["stderr"]

    def soft_reset(self, timeout=30):
        return self.request("soft_reset", wait=timeout, timeout=timeout)

    def chip_eval(self, expr):
        """repr() of a Python expression evaluated beside the chip model (`chip`)."""
        return self.request("chip_eval", wait=10, expr=expr)["value"]

    def stats(self):
        return self.request("stats", wait=10)

    def pace(self, on=True):
        return self.request("pace", wait=10, on=bool(on))

    def serial(self, data):
        """Raw bytes (a str, latin-1) to the REPL's input, whatever runs."""
        return self.request("serial", wait=5, data=data)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ChildBoard(BoardApi):
    """A board in a child process speaking the host protocol on its stdin/stdout."""

    def __init__(self, cmd, boot_timeout=60, on_console=None, on_frame=None, stderr=None, cwd=None, tmp=None,
                 on_serial=None, on_reset=None):
        """on_serial(bytes): the board's serial output when the child hands it over raw ('S' messages,
        board.mjs --usb-raw); on_reset(): the firmware reset the MCU (machine.reset())."""
        self._tmp = tmp  # a directory removed at close
        self.on_serial = on_serial
        self.on_reset = on_reset
        self.resets = 0
        self.console = []
        self.on_console = on_console
        self.on_frame = on_frame
        self.frames = queue.Queue()
        self._answers = {}
        self._cv = threading.Condition()
        self._next_id = 1
        self._wlock = threading.Lock()
        self.ready = None
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=stderr if stderr is not None else None, cwd=cwd)
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        with self._cv:
            if not self._cv.wait_for(lambda: self.ready is not None or self.proc.poll() is not None,
                                     boot_timeout):
                self.close()
                raise BoardError("the emulated board did not reach the raw REPL in %ds" % boot_timeout)
        if self.ready is None:
            self.close()
            raise BoardError("%s exited with %s before the raw REPL" % (cmd[1], self.proc.poll()))

    def _read_loop(self):
        f = self.proc.stdout
        while True:
            hdr = f.read(4)
            if len(hdr) < 4:
                break
            (n,) = struct.unpack(">I", hdr)
            body = f.read(n)
            if len(body) < n:
                break
            kind, payload = body[:1], body[1:]
            if kind == b"S":
                if self.on_serial is not None:
                    self.on_serial(payload)
            elif kind == b"F":
                if self.on_frame is not None:
                    self.on_frame(payload)
                else:
                    self.frames.put(payload)
            elif kind == b"J":
                msg = json.loads(payload.decode("utf-8"))
                ev = msg.get("event")
                if ev == "console":
                    self.console.append(msg["data"])
                    if self.on_console:
                        self.on_console(msg["data"])
                elif ev == "reset":
                    self.resets += 1
                    self.console.append("[reset]")
                    if self.on_reset:
                        self.on_reset()
                elif ev == "ready":
                    with self._cv:
                        self.ready = msg
                        self._cv.notify_all()
                elif ev is not None:
                    self.console.append("[%s] %s" % (ev, msg.get("message", "")))
                else:
                    with self._cv:
                        self._answers[msg.get("id")] = msg
                        self._cv.notify_all()
        with self._cv:
            self._cv.notify_all()

    def _send(self, kind, payload):
        with self._wlock:
            self.proc.stdin.write(struct.pack(">I", len(payload) + 1) + kind + payload)
            self.proc.stdin.flush()

    def request(self, op, wait=60, **kw):
        with self._cv:
            i = self._next_id
            self._next_id += 1
        kw.update(op=op, id=i)
        self._send(b"J", json.dumps(kw).encode())
        with self._cv:
            ok = self._cv.wait_for(lambda: i in self._answers or self.proc.poll() is not None, wait + 5)
            if i not in self._answers:
                raise BoardError("no answer to %s (%s)" % (op, "timeout" if not ok else "board exited"))
            msg = self._answers.pop(i)
        if not msg.get("ok"):
            raise BoardError("%s failed: %s" % (op, msg.get("error")))
        return msg

    def alive(self):
        return self.proc.poll() is None

    def send_frame(self, frame):
        self._send(b"F", bytes(frame))

    def serial_write(self, data):
        """Raw bytes to the board's serial ('S' messages: what a pseudo-terminal's client wrote)."""
        try:
            self._send(b"S", bytes(data))
        except (OSError, ValueError, AttributeError):
            pass  # the board has exited (or is not started yet): the bytes go nowhere, as to an unplugged board

    def recv_frame(self, timeout=1.0):
        try:
            return self.frames.get(timeout=timeout)
        except queue.Empty:
            return None

    def quit(self):
        """Ask the child to quit, without waiting (close() waits)."""
        try:
            self._send(b"J", json.dumps({"op": "quit", "id": 0}).encode())
        except (OSError, ValueError):
            pass

    def close(self):
        if self.proc.poll() is None:
            try:
                self._send(b"J", json.dumps({"op": "quit", "id": 0}).encode())
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired, ValueError):
                self.proc.kill()
                self.proc.wait(5)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
