# Error numbers the stack raises (OSError(errno, message)), as BSD's sys/errno.h names them and with
# the values MicroPython's errno module and Linux use: errno.ECONNREFUSED from either module equals
# ours. Kept here because MicroPython's errno module has only a few of them (no EMSGSIZE, no
# EDESTADDRREQ, ...), and const() here costs nothing per use.
from .compat import const

ESRCH = const(3)
EBADF = const(9)
EAGAIN = const(11)
EACCES = const(13)
EEXIST = const(17)
EINVAL = const(22)
EDESTADDRREQ = const(89)
EMSGSIZE = const(90)
ENOPROTOOPT = const(92)
EPROTONOSUPPORT = const(93)
EAFNOSUPPORT = const(97)
EADDRINUSE = const(98)
EADDRNOTAVAIL = const(99)
ENETDOWN = const(100)
ENETUNREACH = const(101)
ENOBUFS = const(105)
EISCONN = const(106)
ENOTCONN = const(107)
ETIMEDOUT = const(110)
ECONNREFUSED = const(111)
EHOSTDOWN = const(112)
EHOSTUNREACH = const(113)
