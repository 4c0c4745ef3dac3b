"""The Linux side of host_tests/test_e2e_tcp.py (not a test module): TCP clients of the board's
services, run inside the test's network namespace; each command prints one JSON line.

    python3 host_tests/linux_tcp.py [--board 10.7.0.2] [--timeout S] CMD ARGS...
      echo SIZE...            one connection per size: SIZE bytes to port 7 while reading the echo
      discard SIZE            SIZE bytes to port 9, shutdown(SHUT_WR), wait for the board's close
      chargen SIZE            SIZE bytes from port 19 checked against the RFC 864 pattern, then close
                              (unread data: the kernel resets the connection)
      halfclose SIZE          SIZE bytes to echo, shutdown(SHUT_WR), the rest of the echo and EOF
      concurrent N SIZE       N clients connected at once, each echoing SIZE bytes of its own
      sequential N            N connections one after another: connect, 1..64 bytes echoed, close
      abort N                 N connections to echo, discard and chargen in turn, each reset
                              (SO_LINGER 0) in the middle of a transfer
      stats                   GET /stats over HTTP/1.1 (the client closes first)
Every socket has a timeout (--timeout, default 30 s); a failed check is reported in the JSON, an
unexpected error exits non-zero with its traceback.
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ECHO, DISCARD, CHARGEN, HTTP = 7, 9, 19, 80
BLOCK = 16384

A = None  # the parsed command line


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(A.timeout)
    s.connect((A.board, port))
    return s


def data_for(n, seed):
    """n bytes that differ per seed, with no period a lost or repeated segment could hide in."""
    import random

    return random.Random(seed).randbytes(n)


def recv_until(s, n=None, log=None):
    """Bytes read until n of them (n=None: until EOF); (data, eof seen, error or None). log: a list
    that gets (time, bytes so far) after each read."""
    buf = bytearray()
    try:
        while n is None or len(buf) < n:
            b = s.recv(min(65536, n - len(buf)) if n is not None else 65536)
            if not b:
                return bytes(buf), True, None
            buf += b
            if log is not None:
                log.append((time.perf_counter(), len(buf)))
    except OSError as e:
        return bytes(buf), False, "%s after %d bytes" % (e.__class__.__name__ if isinstance(e, socket.timeout)
                                                         else e, len(buf))
    return bytes(buf), False, None


def first_diff(a, b):
    for i in range(min(len(a), len(b))):
        if a[i] != b[i]:
            return i
    return min(len(a), len(b)) if len(a) != len(b) else None


class Sender(threading.Thread):
    """sendall of data in BLOCK pieces beside the reader; then optionally shutdown(SHUT_WR)."""

    def __init__(self, s, data, shut=False):
        threading.Thread.__init__(self, daemon=True)
        self.s, self.data, self.shut = s, data, shut
        self.error = None
        self.done_at = None

    def run(self):
        mv = memoryview(self.data)
        try:
            for o in range(0, len(mv), BLOCK):
                self.s.sendall(mv[o:o + BLOCK])
            if self.shut:
                self.s.shutdown(socket.SHUT_WR)
            self.done_at = time.perf_counter()
        except OSError as e:
            self.error = repr(e)


def echo_one(size, seed, shut=False):
    """One echo connection: SIZE bytes there and back byte for byte. shut: the client shuts its
    write side once it sent everything and must still get the whole echo, then EOF."""
    data = data_for(size, seed)
    t0 = time.perf_counter()
    s = connect(ECHO)
    try:
        t1 = time.perf_counter()
        tx = Sender(s, data, shut)
        tx.start()
        log = []
        got, eof, err = recv_until(s, size, log)
        tx.join(A.timeout)
        r = {"size": size, "got": len(got), "diff": first_diff(got, data), "error": err or tx.error,
             "s": time.perf_counter() - t1, "connect_s": t1 - t0}
        if shut:
            # how much of the echo came after the shutdown (the point of the test)
            r["after_shutdown"] = None if tx.done_at is None else len(got) - max(
                [k for t, k in log if t <= tx.done_at] or [0])
            rest, eof, err = recv_until(s)  # nothing more, then the board's FIN
            r["extra"] = len(rest)
            r["eof"] = eof
            r["error"] = r["error"] or err
            r["s"] = time.perf_counter() - t1
        r["ok"] = r["diff"] is None and not r["error"] and (not shut or (r["eof"] and r["extra"] == 0))
        return r
    finally:
        s.close()


def cmd_echo(sizes):
    return {"echo": [echo_one(n, k + 1) for k, n in enumerate(sizes)]}


def cmd_halfclose(size):
    return echo_one(size, 99, shut=True)


def cmd_discard(size):
    blob = data_for(BLOCK, 7)
    s = connect(DISCARD)
    try:
        t0 = time.perf_counter()
        sent = 0
        while sent < size:
            k = min(size - sent, BLOCK)
            s.sendall(blob[:k] if k < BLOCK else blob)
            sent += k
        t_sent = time.perf_counter() - t0
        s.shutdown(socket.SHUT_WR)
        rest, eof, err = recv_until(s)  # discard answers nothing; the board closes after our FIN
        return {"size": size, "sent_s": t_sent, "s": time.perf_counter() - t0, "answered": len(rest), "eof": eof,
                "error": err, "ok": eof and not rest and not err}
    finally:
        s.close()


def chargen_period():
    """One period of the pattern the board sends (95 lines of 72 characters + CR LF), from the
    firmware's own chargen_fill."""
    sys.path[:0] = [os.path.join(ROOT, "lib"), os.path.join(ROOT, "firmware")]
    from services import chargen_fill

    p = bytearray(95 * 74)
    chargen_fill(p, len(p), 0)
    return bytes(p)


def cmd_chargen(size):
    period = chargen_period()
    s = connect(CHARGEN)
    try:
        t0 = time.perf_counter()
        got, eof, err = recv_until(s, size)
        t = time.perf_counter() - t0
    finally:
        s.close()  # unread data: a RST, which the board must take
    r = {"size": size, "got": len(got), "s": t, "error": err, "eof": eof}
    # RFC 864 fixes the pattern, not the line it starts with: the first line says which
    start = got[0] - 32 if got and 32 <= got[0] < 127 else 0
    want = (period[start * 74:] + period * (size // len(period) + 2))[:len(got)]
    r["start_line"] = start
    r["diff"] = first_diff(got, want)
    if r["diff"] is not None:
        d = r["diff"]
        r["near"] = [got[max(0, d - 8):d + 8].decode("latin-1"), want[max(0, d - 8):d + 8].decode("latin-1")]
    r["ok"] = len(got) == size and r["diff"] is None and not err
    return r


def cmd_concurrent(n, size):
    """n clients, all connected before any sends; each echoes size bytes of its own at once."""
    socks, res = [], [None] * n
    t0 = time.perf_counter()
    for _ in range(n):
        socks.append(connect(ECHO))
    t_conn = time.perf_counter() - t0
    go = threading.Barrier(n)

    def client(i):
        s = socks[i]
        data = data_for(size, 1000 + i)
        try:
            go.wait(A.timeout)
            tx = Sender(s, data)
            tx.start()
            got, eof, err = recv_until(s, size)
            tx.join(A.timeout)
            res[i] = {"got": len(got), "diff": first_diff(got, data), "error": err or tx.error}
        except (OSError, threading.BrokenBarrierError) as e:
            res[i] = {"error": repr(e)}
        finally:
            s.close()

    th = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(n)]
    t1 = time.perf_counter()
    for t in th:
        t.start()
    for t in th:
        t.join(A.timeout * 2)
    bad = [dict(r or {"error": "no end"}, client=i) for i, r in enumerate(res)
           if not r or r.get("error") or r.get("diff") is not None]
    return {"n": n, "size": size, "connect_s": t_conn, "s": time.perf_counter() - t1, "bad": bad, "ok": not bad}


def cmd_sequential(n):
    bad = []
    t0 = time.perf_counter()
    for i in range(n):
        data = data_for(1 + i % 64, 2000 + i)
        try:
            s = connect(ECHO)
        except OSError as e:
            bad.append([i, "connect: %r" % e])
            continue
        try:
            s.sendall(data)
            got, eof, err = recv_until(s, len(data))
            if got != data or err:
                bad.append([i, len(got), err])
        except OSError as e:
            bad.append([i, repr(e)])
        finally:
            s.close()
    t = time.perf_counter() - t0
    return {"n": n, "s": t, "rate": n / t if t > 0 else 0, "bad": bad, "ok": not bad}


def _reset(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def cmd_abort(n):
    """Connections reset in the middle of a transfer: echo with its input unread (a full window
    the other way too), discard in the middle of a stream, chargen after a first read."""
    done = []
    blob = data_for(BLOCK, 5)
    for i in range(n):
        port = (ECHO, DISCARD, CHARGEN)[i % 3]
        s = connect(port)
        try:
            if port == CHARGEN:
                recv_until(s, 2000)
            else:
                s.setblocking(False)
                sent = 0
                end = time.monotonic() + 1.0
                while sent < 8 * BLOCK and time.monotonic() < end:  # as much as goes without blocking
                    try:
                        sent += s.send(blob)
                    except BlockingIOError:
                        time.sleep(0.01)
                s.setblocking(True)
                if port == ECHO:
                    recv_until(s, 100)  # the echo has started
            done.append(port)
        finally:
            _reset(s)
    return {"n": n, "ports": done, "ok": len(done) == n}


def cmd_stats():
    import http.client

    c = http.client.HTTPConnection(A.board, HTTP, timeout=A.timeout)
    try:
        c.request("GET", "/stats")
        r = c.getresponse()
        body = r.read()
        return {"status": r.status, "type": r.getheader("Content-Type"), "stats": json.loads(body)}
    finally:
        c.close()


def main():
    global A
    ap = argparse.ArgumentParser()
    ap.add_argument("--board", default="10.7.0.2")
    ap.add_argument("--timeout", type=float, default=30)
    ap.add_argument("cmd")
    ap.add_argument("args", nargs="*", type=int)
    A = ap.parse_args()
    fn = globals()["cmd_" + A.cmd]
    r = fn(A.args) if A.cmd == "echo" else fn(*A.args)
    print(json.dumps(r))


if __name__ == "__main__":
    main()
