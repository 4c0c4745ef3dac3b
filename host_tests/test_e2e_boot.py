"""The host board's boot line (firmware/main.py boot_line: what the board is, its address, how it got
it, the link) and the link state in its counters, on the cpython and micropython runtimes."""
import pytest

from bsdnet import __version__
from e2e import BOARD_IP, board_id, board_params, netns_board


@pytest.mark.parametrize("param", board_params(("cpython", "micropython")), ids=board_id)
def test_boot_line_and_link_state(param):
    chip, runtime = param
    link = "up 100M full" if chip == "w5500" else "up 10M half"  # the W5500 model's PHY; the ENC28J60: 10BASE-T
    with netns_board("boot", chip, runtime) as b:
        want = "bsdnet %s on hostboard (%s): %s/24 static, link %s, mac %s" % (
            __version__, chip.upper(), BOARD_IP, link, b.ready["mac"])
        assert b.boot == want, (b.boot, want)
        st = b.stats()
        assert st["link"] == link
        assert st["if"]["linkdowns"] == 0 and st["if"]["linkups"] == 0 and st["if"]["onolink"] == 0
