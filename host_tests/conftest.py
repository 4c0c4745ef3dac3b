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
