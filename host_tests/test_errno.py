"""bsdnet.errno against the host's errno module (Linux numbers, which MicroPython uses too)."""
def test_errno_numbers_match_the_host():
    """bsdnet.errno holds MicroPython's (Linux's) numbers: an application comparing with errno.X on
    the host or the board gets the same answer."""
    import errno as host_errno

    from bsdnet import errno as ours

    names = [n for n in dir(ours) if n.startswith("E")]
    assert len(names) >= 15
    for n in names:
        assert getattr(ours, n) == getattr(host_errno, n), n
