# TCP's user requests (FreeBSD tcp_usrreq.c, pr_usrreqs): what the socket layer calls for a
# SOCK_STREAM socket. The socket (socket.py) does the waiting; these do the work and say whether
# a call could complete. `now` comes from clock[0] (ticks_ms), which tests may replace.
#
# The application's data goes into the send ring (copied once), tcp_output takes it from there;
# received data is copied out of the receive ring, and reading may open the window (tcp_output
# decides whether that is worth a window update).
from .compat import const, ticks_ms
from . import opts
from . import route
from .sockbuf import sb_put, sb_get
from .inet import inet_ntoa, in_nullhost, in_copy, in_badsenddst
from .in_pcb import in_pcbbind, in_pcbconnect, in_pcblookup
from .tcp_var import (tcp_timer_activate, TCPS_CLOSED, TCPS_LISTEN, TCPS_SYN_SENT,
                      TCPS_SYN_RECEIVED, TCPS_ESTABLISHED, TCPS_CLOSE_WAIT, TCPS_FIN_WAIT_1,
                      TCPS_LAST_ACK, TCPS_TIME_WAIT, TF_NODELAY, TF_REQ_SCALE, TF_REQ_TSTMP, TF_NEEDFIN,
                      SS_CANTRCVMORE, SS_CANTSENDMORE, SS_NOFDREF, SS_ISDISCONNECTED, SS_LINGER0, TT_KEEP,
                      TT_2MSL, TCPS_FIN_WAIT_2)
from .tcp_output import tcp_output
from .tcp_subr import (tcbinfo, tcp_init, tcp_pcballoc, tcp_getbufs, tcp_bufs_free, tcp_putbufs, tcp_pcbfree,
                       tcp_close, tcp_drop, tcp_new_isn, tcp_mss)
from .tcp_timer import SO_KEEPALIVE
from . import tcp_syncache
from .stats import stat_inc, tcpstat
from .errno import (EBADF, EPROTONOSUPPORT, EINVAL, ENOBUFS, EISCONN, ENOTCONN, EALREADY, EOPNOTSUPP, EPIPE, EADDRINUSE,
                    EHOSTUNREACH, ENETDOWN, ECONNRESET, ECONNABORTED, ENOPROTOOPT, EADDRNOTAVAIL)
# counter indices in bsdnet.stats (private consts: no RAM at run time)
_TCPS_CONNATTEMPT = const(0)

clock = [ticks_ms]

# socket option numbers, as Linux and MicroPython's lwIP ports number them
SOL_SOCKET = 1
IPPROTO_TCP = 6
SO_REUSEADDR = 2
_SO_REUSEPORT = const(15)
SO_ERROR = 4
SO_KEEPALIVE_OPT = 9
SO_LINGER_OPT = 13
TCP_NODELAY = 1
TCP_KEEPIDLE = 4
TCP_KEEPINTVL = 5
TCP_KEEPCNT = 6


def _err(tp):
    """so_error, once (ECONNRESET, ETIMEDOUT, ECONNREFUSED ...), else 0."""
    e = tp.so_error
    tp.so_error = 0
    return e


class TcpUsrreqs:
    """pr_usrreqs for TCP. Every method takes the socket; those a socket may wait on return
    None for "not yet" (the socket waits on its flag and calls again)."""

    def attach(self, so, proto):
        if proto not in (0, IPPROTO_TCP):
            raise OSError(EPROTONOSUPPORT, "SOCK_STREAM is TCP (protocol 0 or 6), not %r" % (proto,))
        tcp_init()
        tp = tcp_pcballoc(so)
        if tp is None:
            raise OSError(ENOBUFS, "no TCP socket free: %d in use of %d (opts.TCP_MAXCONN + TCP_LISTEN), or no "
                          "heap for another" % (sum(1 for p in tcbinfo.pcbs if p.attached), tcbinfo.size))
        tp.so = so
        so._tp = tp
        so._inp = tp.inp

    def adopt(self, so, tp):
        """A connection taken off a listener's accept queue becomes this socket's."""
        tp.so = so
        so._tp = tp
        so._inp = tp.inp

    def _tp(self, so):
        tp = so._tp
        if tp is None:
            raise OSError(EBADF, "socket is closed")
        return tp

    # --- association ---------------------------------------------------------------------------
    def bind(self, so, addr, a, port, is_ours):
        tp = self._tp(so)
        if tp.state != TCPS_CLOSED or tp.inp.lport:
            raise OSError(EINVAL, "socket is already bound")
        in_pcbbind(tp.inp, a, port, is_ours, so._reuse)

    def listen(self, so, backlog, is_ours):
        tp = self._tp(so)
        if tp.state != TCPS_CLOSED and tp.state != TCPS_LISTEN:
            raise OSError(EINVAL, "listen() on a connected socket")
        if tp.inp.lport == 0:
            in_pcbbind(tp.inp, bytes(4), 0, is_ours, so._reuse)
        if not isinstance(backlog, int):
            raise OSError(EINVAL, "backlog must be an int")
        # the accept queue holds connections with their rings: at most all of them
        tp.so_qlimit = 1 if backlog < 1 else (backlog if backlog < opts.TCP_MAXCONN else opts.TCP_MAXCONN)
        tp.state = TCPS_LISTEN

    def accept(self, so):
        """The first queued connection's tcpcb, or None when there is none yet."""
        tp = self._tp(so)
        if tp.state != TCPS_LISTEN:
            raise OSError(EINVAL, "accept() needs a listening socket (call listen() first)")
        if not tp.so_comp:
            return None
        c = tp.so_comp.pop(0)
        c.so_head = None
        return c

    def connect(self, so, a, port, is_ours):
        """Start an active open (SYN). Raises for misuse; the socket waits for the outcome."""
        tp = self._tp(so)
        st = tp.state
        if st == TCPS_LISTEN:
            raise OSError(EOPNOTSUPP, "connect() on a listening socket")
        if st == TCPS_SYN_SENT or st == TCPS_SYN_RECEIVED:
            raise OSError(EALREADY, "connection already in progress")
        if st != TCPS_CLOSED or tp.so_state & SS_ISDISCONNECTED:
            raise OSError(EISCONN, "socket is already connected (or was: make a new one)")
        if in_badsenddst(a, 0):
            raise OSError(EADDRNOTAVAIL, "cannot connect to %s" % inet_ntoa(a))
        if port == 0:
            raise OSError(EINVAL, "cannot connect to %s port %d" % (inet_ntoa(a), port))
        ifp = route.rtalloc_ifp(a, 0)
        if ifp is None:
            raise OSError(EHOSTUNREACH if route.ifnet else ENETDOWN, "no route to %s" % inet_ntoa(a))
        if ifp.ia.is_broadcast(a, 0) or a[0] & 0xF0 == 0xE0:
            raise OSError(EINVAL, "TCP cannot connect to a broadcast or multicast address")
        if not ifp.link:
            raise OSError(ENETDOWN, "link is down: cannot connect to %s" % inet_ntoa(a))
        inp = tp.inp
        if in_nullhost(inp.laddr, 0):
            in_copy(inp.laddr, 0, ifp.ia.addr, 0)
        if inp.lport == 0:
            in_pcbbind(inp, inp.laddr, 0, is_ours)
        other = in_pcblookup(tcbinfo, a, 0, port, inp.laddr, 0, inp.lport, 0)
        if other is not None and other is not inp:
            raise OSError(EADDRINUSE, "that connection exists already")
        if not tcp_getbufs(tp):
            if tcp_bufs_free():  # a slot, but no heap for its buffers
                raise OSError(ENOBUFS, "no heap for a TCP connection's buffers: call bsdnet.tcp_subr.tcp_init() "
                                       "first thing in main.py, while the heap is in one piece")
            raise OSError(ENOBUFS, "all %d TCP connections are in use (opts.TCP_MAXCONN)" % opts.TCP_MAXCONN)
        in_pcbconnect(inp, a, port)
        now = clock[0]()
        tcp_new_isn(tp, inp.laddr, a, 0, inp.lport, port, now)
        tp.ifp = ifp
        tp.rtgen = route.rtgen[0]
        tcp_mss(tp, ifp, 0)
        tp.t_flags |= TF_REQ_SCALE | TF_REQ_TSTMP
        tp.snd_una = tp.snd_nxt = tp.snd_max = 0
        tp.state = TCPS_SYN_SENT
        tp.t_starttime = now
        stat_inc(tcpstat, _TCPS_CONNATTEMPT)
        tcp_timer_activate(tp, TT_KEEP, opts.TCP_KEEPINIT_MS, now)
        tcp_output(tp, now)

    def connected(self, so):
        """For a waiting connect(): True once established, None while in progress; raises the
        reason it failed."""
        tp = self._tp(so)
        if tp.state >= TCPS_ESTABLISHED:
            return True
        if tp.state == TCPS_SYN_SENT or tp.state == TCPS_SYN_RECEIVED:
            return None
        e = _err(tp)
        raise OSError(e or ECONNABORTED, "connect failed")

    def abort(self, so, err):
        """A connect() that timed out at the socket: the attempt goes."""
        tp = so._tp
        if tp is not None and tp.state < TCPS_ESTABLISHED and tp.state != TCPS_LISTEN:
            tcp_drop(tp, err, clock[0]())

    # --- data ----------------------------------------------------------------------------------
    def sosend(self, so, data, off, n):
        """Copy up to n bytes of data[off:] into the send ring and start output. Returns the
        count (0: no room now); raises when the connection cannot send."""
        tp = self._tp(so)
        e = _err(tp)
        if e:
            raise OSError(e, "connection failed")
        st = tp.state
        if tp.so_state & SS_CANTSENDMORE:
            raise OSError(EPIPE, "cannot send after shutdown(SHUT_WR) or the connection closed")
        if st < TCPS_ESTABLISHED or st == TCPS_TIME_WAIT:
            if st == TCPS_SYN_SENT or st == TCPS_SYN_RECEIVED:
                return 0
            if tp.so_state & SS_ISDISCONNECTED:
                raise OSError(EPIPE, "the connection is closed")
            raise OSError(ENOTCONN, "socket is not connected")
        if tp.ifp is not None and not tp.ifp.link:
            # nothing queued: the connection stays, its timers retransmit once the link is back
            raise OSError(ENETDOWN, "link is down: %d bytes not sent" % n)
        size = tp.sb_hiwat
        room = size - tp.sb_cc
        if n > room:
            n = room
        if n <= 0:
            return 0
        pos = tp.sb_off + tp.sb_cc
        if pos >= size:
            pos -= size
        sb_put(tp.sb, pos, data, off, n)
        tp.sb_cc += n
        tcp_output(tp, clock[0]())
        return n

    def sendspace(self, so):
        tp = so._tp
        if tp is None or tp.sb is None:
            return 0
        return tp.sb_hiwat - tp.sb_cc

    def soreceive(self, so, buf, nbytes):
        """Copy what is readable (at most nbytes) into buf. Returns the count, 0 at the end of
        the stream, None when nothing is readable yet; raises ECONNRESET and the like."""
        tp = self._tp(so)
        cc = tp.rb_cc
        if cc == 0:
            e = _err(tp)
            if e:
                raise OSError(e, "connection reset" if e == ECONNRESET else "connection failed")
            if tp.so_state & SS_CANTRCVMORE or tp.state == TCPS_TIME_WAIT:
                return 0
            if tp.state == TCPS_CLOSED:
                if tp.so_state & SS_ISDISCONNECTED:
                    return 0
                raise OSError(ENOTCONN, "socket is not connected")
            if tp.state == TCPS_LISTEN:
                raise OSError(ENOTCONN, "recv() on a listening socket")
            return None
        n = nbytes if nbytes < cc else cc
        size = tp.rb_hiwat
        o = tp.rb_off
        sb_get(tp.rb, o, buf, 0, n)
        o += n
        if o >= size:
            o -= size
        tp.rb_cc = cc - n
        tp.rb_off = 0 if tp.rb_cc == 0 and tp.rq_n == 0 else o
        if tp.state >= TCPS_ESTABLISHED:
            tcp_output(tp, clock[0]())  # a window update, if reading opened it enough
        return n

    def readable(self, so):
        tp = so._tp
        if tp is None:
            return True
        if tp.state == TCPS_LISTEN:
            return len(tp.so_comp) > 0
        if tp.state == TCPS_CLOSED:
            return True  # nothing will come: the call says why (ENOTCONN, EOF, so_error)
        return tp.rb_cc > 0 or tp.so_error != 0 or tp.so_state & (SS_CANTRCVMORE | SS_ISDISCONNECTED) != 0 \
            or tp.state == TCPS_TIME_WAIT

    def writable(self, so):
        tp = so._tp
        if tp is None:
            return True
        if tp.so_error or tp.so_state & (SS_CANTSENDMORE | SS_ISDISCONNECTED) or tp.state < TCPS_SYN_SENT:
            return True  # the call fails at once (EPIPE, ENOTCONN on a listener or unconnected)
        return tp.state >= TCPS_ESTABLISHED and tp.sb is not None and tp.sb_cc < tp.sb_hiwat

    def hangup(self, so):
        tp = so._tp
        return tp is None or tp.so_state & SS_ISDISCONNECTED != 0

    def unsent(self, so):
        tp = so._tp
        return 0 if tp is None else tp.sb_cc

    # --- shutdown and close ----------------------------------------------------------------------
    def shutdown(self, so, how):
        tp = self._tp(so)
        if tp.state < TCPS_SYN_SENT and not tp.so_state & SS_ISDISCONNECTED:
            raise OSError(ENOTCONN, "socket is not connected")
        if how == 0 or how == 2:  # SHUT_RD
            tp.so_state |= SS_CANTRCVMORE
            tp.rb_cc = 0
            tp.rb_off = 0
            tp.rq_n = 0
        if how == 1 or how == 2:  # SHUT_WR
            self._usrclosed(tp)
        so._wake()

    def _usrclosed(self, tp):
        """tcp_usrclosed(): no more data from us. The FIN follows the data already queued."""
        tp.so_state |= SS_CANTSENDMORE
        st = tp.state
        if st == TCPS_SYN_SENT or st == TCPS_CLOSED:
            if st == TCPS_SYN_SENT:
                tcp_close(tp)
            return
        if st == TCPS_SYN_RECEIVED or st == TCPS_ESTABLISHED:
            tp.state = TCPS_FIN_WAIT_1
        elif st == TCPS_CLOSE_WAIT:
            tp.state = TCPS_LAST_ACK
        else:
            return
        tp.t_flags |= TF_NEEDFIN
        tcp_output(tp, clock[0]())

    def close(self, so):
        tp = so._tp
        if tp is None:
            return
        so._tp = None
        so._inp = None
        now = clock[0]()
        st = tp.state
        if st == TCPS_LISTEN:
            tcp_syncache.syncache_drop_listener(tp)
            while tp.so_comp:  # connections nobody accepted: reset them (BSD soabort)
                c = tp.so_comp.pop(0)
                c.so_head = None
                c.so_state |= SS_NOFDREF
                tcp_drop(c, ECONNABORTED, now)
            tp.state = TCPS_CLOSED
            tcp_pcbfree(tp)
            return
        tp.so_state |= SS_NOFDREF
        if st == TCPS_CLOSED:
            tcp_pcbfree(tp)
            return
        if tp.so_state & SS_LINGER0 and st >= TCPS_SYN_RECEIVED and st != TCPS_TIME_WAIT:
            tp.so = None
            tcp_drop(tp, ECONNABORTED, now)  # SO_LINGER 0: a RST, no TIME_WAIT
            return
        tp.so = None
        # unread data is thrown away; unsent data still goes, then the FIN (BSD tcp_disconnect)
        tp.rb_cc = 0
        tp.rq_n = 0
        if st == TCPS_TIME_WAIT:
            tcp_putbufs(tp)
            return
        self._usrclosed(tp)
        if tp.state == TCPS_CLOSED:
            return
        if tp.state == TCPS_FIN_WAIT_2 and tp.t_timer[TT_2MSL] < 0:
            tcp_timer_activate(tp, TT_2MSL, opts.TCP_FINWAIT2_MS, now)  # half-closed before: bounded wait

    # --- names and options -----------------------------------------------------------------------
    def peer(self, so):
        tp = self._tp(so)
        if tp.state < TCPS_SYN_SENT and not tp.so_state & SS_ISDISCONNECTED or tp.state == TCPS_LISTEN:
            raise OSError(ENOTCONN, "socket is not connected")
        return tp.inp

    def setsockopt(self, so, level, opt, value):
        tp = self._tp(so)
        v = _optint(value)
        if level == SOL_SOCKET:
            if opt == SO_REUSEADDR or opt == _SO_REUSEPORT:
                bit = 2 if opt == _SO_REUSEPORT else 1  # so._reuse: in_pcbbind's bits
                so._reuse = (so._reuse | bit) if v else (so._reuse & ~bit)
            elif opt == SO_KEEPALIVE_OPT:
                if v:
                    tp.so_options |= SO_KEEPALIVE
                    if tp.state >= TCPS_ESTABLISHED and tp.state != TCPS_TIME_WAIT:
                        tcp_timer_activate(tp, TT_KEEP, tp.keepidle, clock[0]())
                else:
                    tp.so_options &= ~SO_KEEPALIVE
                    if tp.state >= TCPS_ESTABLISHED:
                        tp.t_timer[TT_KEEP] = -1
            elif opt == SO_LINGER_OPT:
                onoff, secs = _linger(value)
                if onoff and secs == 0:
                    tp.so_state |= SS_LINGER0
                else:
                    tp.so_state &= ~SS_LINGER0
            else:
                raise OSError(ENOPROTOOPT, "SOL_SOCKET option %r not supported for TCP" % (opt,))
        elif level == IPPROTO_TCP:
            if opt == TCP_NODELAY:
                if v:
                    tp.t_flags |= TF_NODELAY
                    if tp.state >= TCPS_ESTABLISHED:
                        tcp_output(tp, clock[0]())
                else:
                    tp.t_flags &= ~TF_NODELAY
            elif opt == TCP_KEEPIDLE or opt == TCP_KEEPINTVL:
                if v < 1:
                    raise OSError(EINVAL, "keepalive times are whole seconds >= 1")
                if opt == TCP_KEEPIDLE:
                    tp.keepidle = v * 1000
                else:
                    tp.keepintvl = v * 1000
            elif opt == TCP_KEEPCNT:
                if v < 1:
                    raise OSError(EINVAL, "TCP_KEEPCNT must be >= 1")
                tp.keepcnt = v
            else:
                raise OSError(ENOPROTOOPT, "IPPROTO_TCP option %r not supported" % (opt,))
        else:
            raise OSError(ENOPROTOOPT, "socket option level %r not supported" % (level,))

    def getsockopt(self, so, level, opt):
        tp = self._tp(so)
        if level == SOL_SOCKET:
            if opt == SO_REUSEADDR or opt == _SO_REUSEPORT:
                return 1 if so._reuse & (2 if opt == _SO_REUSEPORT else 1) else 0
            if opt == SO_KEEPALIVE_OPT:
                return 1 if tp.so_options & SO_KEEPALIVE else 0
            if opt == SO_ERROR:
                return _err(tp)
            if opt == SO_LINGER_OPT:
                return (1, 0) if tp.so_state & SS_LINGER0 else (0, 0)
        elif level == IPPROTO_TCP:
            if opt == TCP_NODELAY:
                return 1 if tp.t_flags & TF_NODELAY else 0
            if opt == TCP_KEEPIDLE:
                return tp.keepidle // 1000
            if opt == TCP_KEEPINTVL:
                return tp.keepintvl // 1000
            if opt == TCP_KEEPCNT:
                return tp.keepcnt
        raise OSError(ENOPROTOOPT, "socket option level %r, option %r not supported" % (level, opt))


def _optint(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, bytearray)) and len(value) >= 4:
        return value[0] | (value[1] << 8) | (value[2] << 16)  # a C int, little endian
    if isinstance(value, (tuple, list)):
        return 0
    raise OSError(EINVAL, "option value must be an int or bytes, not %r" % (value,))


def _linger(value):
    """SO_LINGER as (onoff, seconds), or struct linger's 8 bytes ("ii", little endian)."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return int(value[0]), int(value[1])
    if isinstance(value, (bytes, bytearray)) and len(value) >= 8:
        return value[0] | (value[1] << 8), value[4] | (value[5] << 8)
    raise OSError(EINVAL, "SO_LINGER takes (onoff, seconds) or struct linger bytes")


tcp_usrreqs = TcpUsrreqs()
