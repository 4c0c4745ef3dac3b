# Heap bytes per segment on the TCP data paths, measured in the MicroPython VM (DESIGN.md 3: the
# goal is 0): an in-order data segment through poll() into the receive ring and read with
# recv_into into a preallocated buffer; a pure ACK of new data (header prediction); a send of a
# preallocated buffer through tcp_output to the device. The device (tcpfix.SeqReplayDev) moves
# the sequence number of one preallocated frame on by itself and only counts what goes out.
from bsdnet import socket as bsock
from bsdnet.stats import tcpstat, stat_index
import ptest
import tcpfix
from tcpfix import World, ACK, PSH, add, tp, pool_full

TCPS_PREDDAT = stat_index("tcp", "preddat")
TCPS_PREDACK = stat_index("tcp", "predack")

_N = 50


def _portable_bcopy():
    from bsdnet import bcopy

    return bcopy.IMPL == "portable"


def test_alloc_receive_path():
    dev = tcpfix.SeqReplayDev()
    with World(dev=dev) as w:
        c = w.passive()
        seg = 100
        dev.arm(w.frame(ACK | PSH, bytes(seg)), 38, w.pseq, seg)
        buf = bytearray(seg)
        nic = w.nic
        t0 = tcpstat[TCPS_PREDDAT]
        dev.quiet = True

        def one():
            dev.count = 1
            nic.poll(w.now)
            c.recv_into(buf)

        # 32 B per segment in the VM, all from bcopy_portable's memoryview slices (16 B copying into
        # the ring, 16 B copying out); 0 on the emulated Pico, where bcopy is the viper one
        per = ptest.report_alloc("tcp receive: data segment via poll + recv_into", one, n=_N,
                                 limit=32 if _portable_bcopy() else 0)
        if per is None:
            for _ in range(_N + 1):
                one()
        assert tcpstat[TCPS_PREDDAT] - t0 == _N + 1
        w.pseq = add(w.pseq, (_N + 1) * seg)
        w.sanity(tp(c), rcv_nxt=w.pseq)
        assert dev.nsent > 0  # the delayed-ACK rule answered every second segment
        assert pool_full()


def test_alloc_pure_ack_path():
    dev = tcpfix.SeqReplayDev()
    with World(dev=dev) as w:
        c = w.passive()
        c.setsockopt(bsock.IPPROTO_TCP, bsock.TCP_NODELAY, 1)
        step = 10
        c.send(bytes((_N + 2) * step))  # in flight: the ACKs below take it back bit by bit
        w.recv_all()
        dev.arm(w.frame(ACK), 42, add(w.bseq, step), step)
        nic = w.nic
        t0 = tcpstat[TCPS_PREDACK]
        dev.quiet = True

        def one():
            dev.count = 1
            nic.poll(w.now)

        if ptest.report_alloc("tcp pure ACK via poll (header prediction)", one, n=_N, limit=0) is None:
            for _ in range(_N + 1):
                one()
        assert tcpstat[TCPS_PREDACK] - t0 == _N + 1
        w.sanity(tp(c), snd_una=add(w.bseq, (_N + 1) * step))
        assert pool_full()


def test_alloc_send_path():
    dev = tcpfix.SeqReplayDev()
    with World(dev=dev) as w:
        c = w.passive()
        c.setsockopt(bsock.IPPROTO_TCP, bsock.TCP_NODELAY, 1)
        data = bytearray(tp(c).sb_hiwat // (_N + 2))  # _N + 1 sends fit the send ring without an ACK
        dev.quiet = True
        n0 = dev.nsent

        def one():
            c.send(data)

        # 48 B per send() in the VM, all from bcopy_portable: 32 B in sosend (a memoryview of the
        # bytearray and its slice), 16 B in tcp_output (the ring's slice); see the Pico figure
        if ptest.report_alloc("tcp send: send() of a preallocated buffer to the device", one, n=_N,
                              limit=48 if ptest.MICROPYTHON and _portable_bcopy() else 0) is None:
            for _ in range(_N + 1):
                one()
        assert dev.nsent - n0 == _N + 1
        w.sanity(tp(c), snd_max=add(w.bseq, (_N + 1) * len(data)))
        assert pool_full()
