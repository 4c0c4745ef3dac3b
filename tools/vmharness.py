# Runs one portable test module inside the MicroPython VM (or any MicroPython) and prints
# one machine-readable line per test:  @@ <PASS|FAIL|SKIP> <name> <heap bytes> [reason]
# The heap figure is gc.mem_alloc() after minus before the test body (gc disabled around it).
# After each test the mbuf pool must be full again: a leaked cluster fails the test.
import sys
import gc


def _leak_check():
    m = sys.modules.get("bsdnet.mbuf")
    if m is None:
        return None
    short = m.pool_size() - m.pool_free()
    if short:
        m.pool_reset()
        return "mbuf pool short by %d cluster(s) after the test" % short
    return None


def run(modname, only=None):
    import ptest

    mod = __import__(modname)
    names = sorted(n for n in dir(mod) if n.startswith("test_"))
    if only:
        names = [n for n in names if n in only]
    for name in names:
        fn = getattr(mod, name)
        status, reason = "PASS", ""
        gc.collect()
        before = gc.mem_alloc()
        try:
            r = fn()
            if r is not None and hasattr(r, "send"):
                raise AssertionError("async test functions are not supported by this harness")
        except ptest.Skip as e:
            status, reason = "SKIP", str(e)
        except Exception as e:  # noqa: BLE001 - report every failure with its traceback
            status = "FAIL"
            print("---- traceback of %s.%s" % (modname, name))
            sys.print_exception(e)
            reason = repr(e)
        delta = gc.mem_alloc() - before
        ptest.cleanup()  # sockets closed before the pool check: their queued datagrams go back
        if status == "PASS":
            leak = _leak_check()
            if leak:
                status, reason = "FAIL", leak
        else:
            _leak_check()
        print("@@ %s %s %d %s" % (status, name, delta, reason.replace("\n", " ")))
