"""The host protocol (tools/rp2040/board.mjs header) served on stdin/stdout for a board object in
this process (tools/esp32/qemu.py Esp32): what tools/mcu/board.py ChildBoard talks to."""
import json
import os
import queue
import struct
import sys
import threading


def serve(make_board):
    """make_board(on_console, on_frame) -> a booted board; serve it until quit or EOF. Exit status."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing else may write to the protocol stream
    sys.stdout = sys.stderr
    wlock = threading.Lock()

    def put(kind, payload):
        with wlock:
            out.write(struct.pack(">I", len(payload) + 1) + kind + payload)
            out.flush()

    def send(obj):
        put(b"J", json.dumps(obj).encode())

    try:
        b = make_board(lambda s: send({"event": "console", "data": s}), lambda f: put(b"F", bytes(f)))
    except Exception as e:  # noqa: BLE001 - said on the protocol, then exit
        send({"event": "error", "message": str(e)})
        return 1
    send(b.ready)
    execs = queue.Queue()

    def answer(msg):
        try:
            kw = dict((k, v) for k, v in msg.items() if k not in ("op", "id"))
            r = b.request(msg.get("op"), **kw)
            r["id"] = msg.get("id")
            send(r)
        except Exception as e:  # noqa: BLE001
            send({"id": msg.get("id"), "ok": False, "error": str(e)})

    def exec_loop():  # execs and soft resets one after another; the other ops answer at once
        while True:
            msg = execs.get()
            if msg is None:
                return
            answer(msg)

    threading.Thread(target=exec_loop, daemon=True).start()
    inp = sys.stdin.buffer
    while True:
        hdr = inp.read(4)
        if len(hdr) < 4:
            break
        (n,) = struct.unpack(">I", hdr)
        body = inp.read(n)
        if len(body) < n:
            break
        if body[:1] == b"F":
            b.send_frame(body[1:])
            continue
        try:
            msg = json.loads(body[1:].decode("utf-8"))
        except ValueError:
            send({"event": "error", "message": "bad JSON"})
            continue
        if msg.get("op") == "quit":
            send({"id": msg.get("id"), "ok": True})
            break
        if msg.get("op") in ("exec", "soft_reset"):
            execs.put(msg)
        else:
            answer(msg)
    b.close()
    return 0
