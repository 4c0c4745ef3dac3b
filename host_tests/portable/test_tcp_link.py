# TCP across a pulled cable (a FakeDev's link): send() refused with ENETDOWN while the link is
# down, nothing queued; a retransmission that falls due meanwhile is dropped at the interface and
# counted (onolink); the connection stays, and once the link is back the data goes out again.
from bsdnet import if_link, stats
from bsdnet.errno import ENETDOWN
import ptest
from tcpfix import World, ACK, PSH


def _count(nic, name):
    return nic.ifstat[stats.stat_index("if", name)]


def test_send_while_the_link_is_down():
    saved = if_link.log
    lines = []
    if_link.log = lines.append
    try:
        with World() as w:
            c = w.passive()
            c.send(b"hello")
            s = w.recv()
            assert s.flags & PSH and s.payload == b"hello", s
            w.dev.link = False  # the cable pulled; the peer has not acknowledged "hello"
            w.tick(1000)  # the next look at the link (and the RTO, 200 ms minimum, fell due)
            assert lines == ["bsdnet: link down"] and not w.nic.link
            assert w.dev.sent == [] and _count(w.nic, "onolink") >= 1  # the retransmission dropped
            e = ptest.raises(OSError, c.send, b"more")
            assert e.args[0] == ENETDOWN and "link is down" in str(e), e
            w.dev.link = True
            w.tick(1000)
            assert lines == ["bsdnet: link down", "bsdnet: link up 100M full"], lines
            w.advance(120000)  # the retransmission timer, backed off
            segs = w.recv_all()
            assert any(x.payload == b"hello" for x in segs), segs
            w.bseq += 5  # the peer acknowledges "hello": the connection goes on
            w.send(ACK)
            assert c.send(b"more") == 4
            assert w.recv().payload == b"more"
    finally:
        if_link.log = saved
