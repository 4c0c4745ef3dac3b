# TCP header (RFC 9293; netinet/tcp.h struct tcphdr) and its options: MSS (RFC 9293 3.7.1), window
# scale and timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018), NOP, EOL.
#
# API (as in every hdr module; buf is a bytearray/memoryview, off where the TCP header starts):
#   check(buf, off, n, src, soff, dst, doff) -> 0 or DROP_*
#       n = the segment length (IP payload); src/dst: the IP addresses (4 bytes at soff/doff, usually
#       buf, ip_off + ip.IP_SRC, buf, ip_off + ip.IP_DST). Short, data offset (< 20 or beyond n),
#       checksum over n bytes. The readers do no length checks of their own: check first.
#   readers(buf, off) -> small int      sport(), dport(), hlen() (bytes), flags() (TH_*), win(),
#       cksum(), urp(); 32-bit sequence numbers as 16-bit halves, never one int >= 2**30 (it would
#       allocate on a 32-bit port): seq_hi(), seq_lo(), ack_hi(), ack_lo()
#   emit(buf, off, sport, dport, seq_hi, seq_lo, ack_hi, ack_lo, hlen, flags, win, urp)
#       the fixed 20 bytes, th_sum 0; options (hlen > 20) go at off + 20
#   setters: set_seq(buf, off, hi, lo), set_ack(buf, off, hi, lo), set_flags, set_win
#   fill_cksum(buf, off, n, src, soff, dst, doff) -> th_sum over n bytes (header, options, data)
#   options:
#     TcpOpt(): the record parse_options fills (struct tcpopt): to_flags (TOF_*), to_mss,
#       to_wscale (clamped to 14, RFC 7323 2.3), to_tsval_hi/lo, to_tsecr_hi/lo, to_nsacks and
#       to_sacks (offset in buf of the first SACK block: left edge hi/lo at +0/+2, right at +4/+6,
#       next block at +8). Make one per tcp_input, reuse it for every segment.
#     parse_options(buf, off, optlen, to) -> 0 or DROP_OPTLEN: off = the first option byte
#       (tcp off + 20), optlen = hlen - 20. An option with a length byte < 2 or running past the
#       end stops the walk with DROP_OPTLEN; what was parsed before it stays in the record (BSD
#       tcp_dooptions keeps it and goes on). Known options of the wrong length are skipped, as BSD
#       does. MSS, window scale and SACK-permitted count only on a SYN: tcp_input decides that.
#     emit_mss(buf, off, mss), emit_wscale(buf, off, shift), emit_sackperm(buf, off),
#     emit_ts(buf, off, val_hi, val_lo, ecr_hi, ecr_lo), emit_sack(buf, off, nblocks) followed by
#     emit_sack_block(buf, off, l_hi, l_lo, r_hi, r_lo) per block, emit_nop(buf, off),
#     pad_options(buf, off, n): each returns the bytes it wrote (pad_options: the padded length,
#     a multiple of 4, zero bytes = EOL)
#   reason_name(code) -> str, NREASONS  (tcpstat: tcps_rcvshort, tcps_rcvbadoff, tcps_rcvbadsum)
import struct

from ..compat import const
from ..in_cksum import in_cksum, in_pseudo

TCP_HDR_LEN = const(20)
TCP_MAX_HDR_LEN = const(60)
_SPORT = const(0)
_DPORT = const(2)
_SEQ = const(4)
_ACK = const(8)
_OFF = const(12)
_FLAGS = const(13)
_WIN = const(14)
TCP_SUM = const(16)
_URP = const(18)
_IPPROTO_TCP = const(6)

TH_FIN = const(0x01)
TH_SYN = const(0x02)
TH_RST = const(0x04)
TH_PUSH = const(0x08)
TH_ACK = const(0x10)
TH_URG = const(0x20)
TH_ECE = const(0x40)
TH_CWR = const(0x80)

TCPOPT_EOL = const(0)
TCPOPT_NOP = const(1)
TCPOPT_MAXSEG = const(2)
TCPOLEN_MAXSEG = const(4)
TCPOPT_WINDOW = const(3)
TCPOLEN_WINDOW = const(3)
TCPOPT_SACK_PERMITTED = const(4)
TCPOLEN_SACK_PERMITTED = const(2)
TCPOPT_SACK = const(5)
TCPOLEN_SACK = const(8)  # per block
TCPOPT_TIMESTAMP = const(8)
TCPOLEN_TIMESTAMP = const(10)
TCP_MAX_WINSHIFT = const(14)
TCP_MAX_SACK = const(4)

TOF_MSS = const(0x0001)
TOF_SCALE = const(0x0002)
TOF_SACKPERM = const(0x0004)
TOF_TS = const(0x0010)
TOF_SACK = const(0x0080)

DROP_SHORT = const(1)  # tcps_rcvshort: fewer than 20 bytes
DROP_HLEN = const(2)  # tcps_rcvbadoff: data offset < 5 words or beyond the segment
DROP_CKSUM = const(3)  # tcps_rcvbadsum
DROP_OPTLEN = const(4)  # an option length < 2 or past the end of the options
NREASONS = const(5)
_REASONS = ("ok", "short", "bad data offset", "bad checksum", "bad option length")


def reason_name(code):
    return _REASONS[code] if 0 <= code < NREASONS else "?"


def check(buf, off, n, src, soff, dst, doff):
    if n < TCP_HDR_LEN:
        return DROP_SHORT
    hl = (buf[off + _OFF] >> 4) << 2
    if hl < TCP_HDR_LEN or hl > n:
        return DROP_HLEN
    if in_cksum(buf, off, n, in_pseudo(src, soff, dst, doff, _IPPROTO_TCP, n)) != 0:
        return DROP_CKSUM
    return 0


def sport(buf, off):
    return (buf[off] << 8) | buf[off + 1]


def dport(buf, off):
    return (buf[off + _DPORT] << 8) | buf[off + _DPORT + 1]


def seq_hi(buf, off):
    return (buf[off + _SEQ] << 8) | buf[off + _SEQ + 1]


def seq_lo(buf, off):
    return (buf[off + _SEQ + 2] << 8) | buf[off + _SEQ + 3]


def ack_hi(buf, off):
    return (buf[off + _ACK] << 8) | buf[off + _ACK + 1]


def ack_lo(buf, off):
    return (buf[off + _ACK + 2] << 8) | buf[off + _ACK + 3]


def hlen(buf, off):
    return (buf[off + _OFF] >> 4) << 2


def flags(buf, off):
    return buf[off + _FLAGS]


def win(buf, off):
    return (buf[off + _WIN] << 8) | buf[off + _WIN + 1]


def cksum(buf, off):
    return (buf[off + TCP_SUM] << 8) | buf[off + TCP_SUM + 1]


def urp(buf, off):
    return (buf[off + _URP] << 8) | buf[off + _URP + 1]


def emit(buf, off, sport, dport, seq_hi, seq_lo, ack_hi, ack_lo, hlen, flags, win, urp):
    struct.pack_into(">HHHHHHBBHHH", buf, off, sport, dport, seq_hi, seq_lo, ack_hi, ack_lo,
                     (hlen >> 2) << 4, flags, win, 0, urp)


def set_seq(buf, off, hi, lo):
    buf[off + _SEQ] = hi >> 8
    buf[off + _SEQ + 1] = hi & 0xFF
    buf[off + _SEQ + 2] = lo >> 8
    buf[off + _SEQ + 3] = lo & 0xFF


def set_ack(buf, off, hi, lo):
    buf[off + _ACK] = hi >> 8
    buf[off + _ACK + 1] = hi & 0xFF
    buf[off + _ACK + 2] = lo >> 8
    buf[off + _ACK + 3] = lo & 0xFF


def set_flags(buf, off, v):
    buf[off + _FLAGS] = v


def set_win(buf, off, v):
    buf[off + _WIN] = v >> 8
    buf[off + _WIN + 1] = v & 0xFF


def fill_cksum(buf, off, n, src, soff, dst, doff):
    buf[off + TCP_SUM] = 0
    buf[off + TCP_SUM + 1] = 0
    s = in_cksum(buf, off, n, in_pseudo(src, soff, dst, doff, _IPPROTO_TCP, n))
    buf[off + TCP_SUM] = s >> 8
    buf[off + TCP_SUM + 1] = s & 0xFF
    return s


class TcpOpt:
    def __init__(self):
        self.to_flags = 0
        self.to_mss = 0
        self.to_wscale = 0
        self.to_tsval_hi = 0
        self.to_tsval_lo = 0
        self.to_tsecr_hi = 0
        self.to_tsecr_lo = 0
        self.to_nsacks = 0
        self.to_sacks = 0


def parse_options(buf, off, optlen, to):
    to.to_flags = 0
    to.to_nsacks = 0
    i = off
    end = off + optlen
    while i < end:
        k = buf[i]
        if k == TCPOPT_EOL:
            break
        if k == TCPOPT_NOP:
            i += 1
            continue
        if i + 1 >= end:
            return DROP_OPTLEN
        ol = buf[i + 1]
        if ol < 2 or i + ol > end:
            return DROP_OPTLEN
        if k == TCPOPT_MAXSEG:
            if ol == TCPOLEN_MAXSEG:
                to.to_flags |= TOF_MSS
                to.to_mss = (buf[i + 2] << 8) | buf[i + 3]
        elif k == TCPOPT_WINDOW:
            if ol == TCPOLEN_WINDOW:
                to.to_flags |= TOF_SCALE
                s = buf[i + 2]
                to.to_wscale = s if s < TCP_MAX_WINSHIFT else TCP_MAX_WINSHIFT
        elif k == TCPOPT_SACK_PERMITTED:
            if ol == TCPOLEN_SACK_PERMITTED:
                to.to_flags |= TOF_SACKPERM
        elif k == TCPOPT_TIMESTAMP:
            if ol == TCPOLEN_TIMESTAMP:
                to.to_flags |= TOF_TS
                to.to_tsval_hi = (buf[i + 2] << 8) | buf[i + 3]
                to.to_tsval_lo = (buf[i + 4] << 8) | buf[i + 5]
                to.to_tsecr_hi = (buf[i + 6] << 8) | buf[i + 7]
                to.to_tsecr_lo = (buf[i + 8] << 8) | buf[i + 9]
        elif k == TCPOPT_SACK:
            if ol > 2 and (ol - 2) % TCPOLEN_SACK == 0:
                to.to_flags |= TOF_SACK
                to.to_nsacks = (ol - 2) >> 3
                to.to_sacks = i + 2
        i += ol
    return 0


def emit_nop(buf, off):
    buf[off] = TCPOPT_NOP
    return 1


def emit_mss(buf, off, mss):
    buf[off] = TCPOPT_MAXSEG
    buf[off + 1] = TCPOLEN_MAXSEG
    buf[off + 2] = mss >> 8
    buf[off + 3] = mss & 0xFF
    return TCPOLEN_MAXSEG


def emit_wscale(buf, off, shift):
    buf[off] = TCPOPT_WINDOW
    buf[off + 1] = TCPOLEN_WINDOW
    buf[off + 2] = shift
    return TCPOLEN_WINDOW


def emit_sackperm(buf, off):
    buf[off] = TCPOPT_SACK_PERMITTED
    buf[off + 1] = TCPOLEN_SACK_PERMITTED
    return TCPOLEN_SACK_PERMITTED


def emit_ts(buf, off, val_hi, val_lo, ecr_hi, ecr_lo):
    struct.pack_into(">BBHHHH", buf, off, TCPOPT_TIMESTAMP, TCPOLEN_TIMESTAMP, val_hi, val_lo, ecr_hi, ecr_lo)
    return TCPOLEN_TIMESTAMP


def emit_sack(buf, off, nblocks):
    buf[off] = TCPOPT_SACK
    buf[off + 1] = 2 + nblocks * TCPOLEN_SACK
    return 2


def emit_sack_block(buf, off, l_hi, l_lo, r_hi, r_lo):
    struct.pack_into(">HHHH", buf, off, l_hi, l_lo, r_hi, r_lo)
    return TCPOLEN_SACK


def pad_options(buf, off, n):
    while n & 3:
        buf[off + n] = TCPOPT_EOL
        n += 1
    return n
