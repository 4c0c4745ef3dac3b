# Test helpers shared by pytest (CPython) and the MicroPython VM harness.
import sys

MICROPYTHON = sys.implementation.name == "micropython"


class Skip(Exception):
    pass


def skip(reason):
    if MICROPYTHON:
        raise Skip(reason)
    import pytest

    pytest.skip(reason)


def raises(exc, fn, *args):
    """Call fn(*args) and return the exception of type exc it raised; fail if none."""
    try:
        fn(*args)
    except exc as e:
        return e
    raise AssertionError("%s not raised" % exc.__name__)


def heap_per_call(fn, n=50):
    """Heap bytes allocated per call of fn, measured with gc.mem_alloc() on MicroPython.
    None on CPython, which has no such figure. fn is called once first to warm caches."""
    if not MICROPYTHON:
        return None
    import gc

    fn()
    gc.collect()
    gc.disable()
    try:
        a = gc.mem_alloc()
        for _ in range(n):
            fn()
        b = gc.mem_alloc()
    finally:
        gc.enable()
    return (b - a + n - 1) // n  # rounded up: any allocation at all shows


def report_alloc(what, fn, n=50, limit=0):
    """Print and assert the per-call heap figure on MicroPython; print a note elsewhere."""
    per = heap_per_call(fn, n)
    if per is None:
        print("alloc %s: n/a on CPython" % what)
        return None
    print("alloc %s: %d bytes per call" % (what, per))
    assert per <= limit, "%s allocates %d bytes per call (limit %d)" % (what, per, limit)
    return per


def cleanup():
    """After each test (pytest's conftest and the VM harness call it): close the sockets and drop
    the interfaces a test left behind, so that the next test neither routes through nor polls them
    and finds the service ports free."""
    u = sys.modules.get("bsdnet.udp_usrreq")
    if u is not None:
        for inp in u.udbinfo.pcbs:
            if inp.attached and inp.so is not None:
                inp.so.close()
    r = sys.modules.get("bsdnet.raw_ip")
    if r is not None:
        for inp in r.ripcbinfo.pcbs:
            if inp.attached and inp.so is not None:
                inp.so.close()
    g = sys.modules.get("bsdnet.igmp")
    if g is not None:
        g.igmp_flush()  # memberships the sockets above did not hold (none, unless a test made some)
    t = sys.modules.get("bsdnet.tcp_subr")
    if t is not None:
        for inp in t.tcbinfo.pcbs:
            if inp.attached and inp.so is not None:
                inp.so.close()
        t.tcp_flush_all()  # TIME_WAIT and the SYN cache too
    r = sys.modules.get("bsdnet.route")
    if r is not None:
        for ifp in list(r.ifnet):
            r.if_detach(ifp)
        del r.rtable[:]  # static routes too
        r.rtgen[0] += 1
    f = sys.modules.get("bsdnet.ip_forward")
    if f is not None:  # a host again, as the build says (a test that made a router)
        from bsdnet import opts

        f.set_forwarding(opts.IP_FORWARDING, opts.IP_SENDREDIRECTS)
