import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for p in ("lib", "tools", os.path.join("host_tests", "portable")):
    p = os.path.join(ROOT, p)
    if p not in sys.path:
        sys.path.insert(0, p)

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def mbuf_pool_full_after_test():
    """A test that leaves the mbuf pool short has leaked a buffer: fail it (lwIP-style leak check)."""
    yield
    m = sys.modules.get("bsdnet.mbuf")
    if m is None:
        return
    short = m.pool_size() - m.pool_free()
    if short:
        m.pool_reset()
        pytest.fail("mbuf pool short by %d cluster(s) after the test" % short)


@pytest.fixture(autouse=True)
def portable_test_leaves_no_sockets(request):
    """The portable tests share one process under pytest (one VM per module in the VM): sockets
    and interfaces a portable test left open must not reach the next test or the host tests
    (whose in-process boards bind the firmware's service ports)."""
    yield
    if os.sep + "portable" + os.sep not in str(request.node.fspath):
        return
    import ptest

    ptest.cleanup()
