"""make deploy and mip install with the real mpremote, against the emulated Pico's USB serial on a
pseudo-terminal (tools/rp2040/usbpty.py).

- test_deploy_static: the host board (rp2040 runtime, W5500 model) in a network namespace, its
  flash holding the stock firmware alone (`--serial LINK`: the firmware formats its own
  filesystem). `make deploy BOARD=pico_w5500 PORT=LINK IP=10.7.0.2/24` compiles and copies through
  mpremote and resets the board; the board boots into the deployed main.py and answers ARP, ping
  and HTTP GET / from Linux. Files of ours the deploy does not write (a stale .py that would shadow
  its .mpy, a firmware module at / that would shadow /lib's) are removed; a second deploy copies
  nothing and the board serves again after its reset.
- test_mip_install_package_json: `mpremote mip install package.json` (the root one, relative URLs)
  onto a new emulated Pico lands every file of lib/ under /lib, byte for byte.
Figures printed: deploy time, boot-to-HTTP time, mip install time.
"""
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for _p in (os.path.join(ROOT, "tools"), os.path.join(ROOT, "tools", "rp2040")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from demo import Netns, NetnsBoard, runtime_missing  # noqa: E402
from e2e import assert_no_chip_violations, board_tail  # noqa: E402
from tap import netns_missing  # noqa: E402

BOARD_IP = "10.7.0.2"
HOST_IP = "10.7.0.1"
TAP = "bsd0"
MPREMOTE = [sys.executable, "-m", "mpremote"]
DEPLOY_TIMEOUT_S = 300  # measured about 30 s for the first deploy (55 files, 140 KB)


def _needs_pico():
    why = runtime_missing("rp2040")
    if why:
        pytest.skip(why)
    try:
        import mpremote  # noqa: F401
    except ImportError:
        pytest.skip("mpremote is not installed (make setup)")


def mpremote(link, *args, timeout=120):
    """One mpremote session on LINK; its stdout (a non-zero exit fails the test)."""
    p = subprocess.run(MPREMOTE + ["connect", link] + list(args), capture_output=True, text=True, timeout=timeout,
                       cwd=ROOT)
    assert p.returncode == 0, "mpremote %s: exit %d\n%s%s" % (" ".join(args)[:200], p.returncode, p.stdout, p.stderr)
    return p.stdout


def make_deploy(link, ip):
    """make deploy onto LINK; returns (seconds, output). make, deploy.py and mpremote run in a
    process group of their own: killed together if they overrun."""
    t = time.monotonic()
    p = subprocess.Popen(["make", "--no-print-directory", "deploy", "BOARD=pico_w5500", "PORT=" + link, "IP=" + ip],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
    try:
        out, err = p.communicate(timeout=DEPLOY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail("make deploy: no end within %d s\n%s%s" % (DEPLOY_TIMEOUT_S, out, err))
    dt = time.monotonic() - t
    assert p.returncode == 0, "make deploy: exit %d\n%s%s" % (p.returncode, out, err)
    return dt, out


def http_get(ns, timeout_s, b=None):
    """GET / from Linux until it answers (the board may still be booting); (seconds, body)."""
    t = time.monotonic()
    last = None
    while time.monotonic() - t < timeout_s:
        last = ns.run(["curl", "-sS", "-m", "10", "http://%s/" % BOARD_IP], timeout=20, check=False)
        if last.returncode == 0:
            return time.monotonic() - t, last.stdout
        time.sleep(1)
    pytest.fail("no HTTP answer from %s within %d s: %s\n%s" % (BOARD_IP, timeout_s, last and last.stderr,
                                                               board_tail(b, 60) if b else ""))


@contextlib.contextmanager
def serial_board(tag, chip="w5500"):
    """The host board with an empty filesystem and its USB serial at a pseudo-terminal: (board, link)."""
    ns = Netns("bsdnet-%s-%d" % (tag, os.getpid()))
    tmp = tempfile.mkdtemp(prefix="bsdnet-deploy")
    link = os.path.join(tmp, "pico")
    b = None
    try:
        b = NetnsBoard(ns, chip, "rp2040", ip=BOARD_IP + "/24", host_ip=HOST_IP + "/24", tap=TAP,
                       extra=["--serial", link])
        if b._next("serial ", 60) is None:
            pytest.fail("the host board did not make its pseudo-terminal\n" + board_tail(b))
        yield b, link
        b.stop(5)
        assert_no_chip_violations(b)
    finally:
        if b is not None:
            b.stop(5)
        ns.close()
        shutil.rmtree(tmp, ignore_errors=True)


# a new board's leftovers that would break ours: a .py beside its .mpy (imported first) and a
# firmware module at / (before /lib on sys.path)
_PLANT = """import os
for d in ('/lib', '/lib/bsdnet'):
    try:
        os.mkdir(d)
    except OSError:
        pass
for p in ('/lib/bsdnet/tcp_input.py', '/services.py'):
    with open(p, 'w') as f:
        f.write('raise ImportError("stale")')
"""


def check_deploy(ip_mode, capsys, around=None):
    """Deploy with IP=ip_mode onto a new board; it must come up at BOARD_IP and serve. ip_mode is
    "A.B.C.D/N", or "dhcp" with around(ns) a context manager that serves DHCP in the namespace
    (e.g. dnsmasq on TAP handing out BOARD_IP), entered once the namespace and TAP are there."""
    with serial_board("deploy") as (b, link), (around(b.ns) if around else contextlib.nullcontext()):
        mpremote(link, "exec", _PLANT)
        t_deploy, out = make_deploy(link, ip_mode)
        assert "removed /lib/bsdnet/tcp_input.py" in out and "removed /services.py" in out, out
        t0 = time.monotonic()
        try:
            b.wait_ready(120)  # ARP answered: main.py brought the interface up
        except RuntimeError as e:
            pytest.fail(str(e))
        t_http, body = http_get(b.ns, 60, b)
        boot_to_http = time.monotonic() - t0
        assert "<h1>bsdnet at %s</h1>" % BOARD_IP in body, body[:500]
        p = b.ns.run(["ping", "-c", "3", "-i", "0.2", "-W", "5", BOARD_IP], timeout=30, check=False)
        assert p.returncode == 0 and " 0% packet loss" in p.stdout, p.stdout + p.stderr

        # again: nothing to copy, nothing to remove; the board resets and serves again
        t_again, out2 = make_deploy(link, ip_mode)
        copied = [x for x in out2.splitlines() if x.startswith("cp ")]
        fresh = [x for x in out2.splitlines() if x.startswith("Up to date: ")]
        staged = sum(len(f) for _, _, f in os.walk(os.path.join(ROOT, "build", "deploy", "pico_w5500")))
        assert "removed" not in out2 and len(fresh) == staged and len(copied) == 3, out2  # lib, config.py, main.py
        http_get(b.ns, 120, b)
        with capsys.disabled():
            print("\ndeploy pico_w5500 IP=%s: %.1f s first, %.1f s again (nothing copied); boot to HTTP %.1f s wall"
                  % (ip_mode, t_deploy, t_again, boot_to_http))


_MISSING = netns_missing(("ip", "ping", "curl"))
_NO_DNSMASQ = None if shutil.which("dnsmasq") else "dnsmasq is not installed (make setup)"


@pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")
@pytest.mark.skipif(os.environ.get("RP2040_FULL") != "1",
                    reason="make test deploys with IP=dhcp only (test_deploy_dhcp); RP2040_FULL=1 adds a static one")
def test_deploy_static(capsys):
    _needs_pico()
    check_deploy(BOARD_IP + "/24", capsys)


@contextlib.contextmanager
def _dnsmasq(ns):
    """dnsmasq on the host board's TAP, leasing BOARD_IP only (the address `ready` waits for)."""
    from dnsmasq import Dnsmasq

    tmp = tempfile.mkdtemp(prefix="bsdnet-deploy-dhcp")
    d = None
    try:
        d = Dnsmasq(ns, tmp, pool="%s,%s" % (BOARD_IP, BOARD_IP))
        yield d
        leased = [x for x in d.lease_lines() if len(x) > 2 and x[2] == BOARD_IP]
        assert leased, "dnsmasq leased nothing:\n" + d.text()[-2000:]
    finally:
        if d is not None:
            d.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.mark.skipif((_MISSING or _NO_DNSMASQ) is not None, reason=(_MISSING or _NO_DNSMASQ or ""))
def test_deploy_dhcp(capsys):
    """make deploy IP=dhcp: the board boots from what was deployed, takes its lease from dnsmasq and
    serves HTTP at the leased address."""
    _needs_pico()
    check_deploy("dhcp", capsys, around=_dnsmasq)


_LIST = """import os, hashlib, binascii
def walk(d):
    for e in os.ilistdir(d):
        p = d + '/' + e[0]
        if e[1] == 0x4000:
            walk(p)
        else:
            with open(p, 'rb') as f:
                print(p, binascii.hexlify(hashlib.sha256(f.read()).digest()).decode())
walk('/lib')
"""


def _package_urls():
    with open(os.path.join(ROOT, "package.json")) as f:
        return json.load(f)["urls"]


@pytest.mark.skipif(os.environ.get("RP2040_FULL") != "1",
                    reason="about 45 s: RP2040_FULL=1 (make rp2040-full); make test deploys with make deploy")
def test_mip_install_package_json(capsys):
    _needs_pico()
    import run as rp

    want = {}
    for dest, src in _package_urls():
        with open(os.path.join(ROOT, src), "rb") as f:
            want["/lib/" + dest] = hashlib.sha256(f.read()).hexdigest()
    tmp = tempfile.mkdtemp(prefix="bsdnet-mip")
    link = os.path.join(tmp, "pico")
    try:
        with rp.Board(fs="", pty=link, stderr=subprocess.DEVNULL):
            assert mpremote(link, "exec", "import os; print(os.listdir('/'))").strip() == "[]"  # a new board
            t = time.monotonic()
            out = mpremote(link, "mip", "install", "package.json", timeout=600)
            dt = time.monotonic() - t
            assert "Done" in out, out
            got = dict(x.split() for x in mpremote(link, "exec", _LIST).splitlines())
            assert got == want
            # and the stack imports from there
            assert mpremote(link, "exec", "from bsdnet import netif, tcp_subr; print('ok')").strip() == "ok"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    with capsys.disabled():
        print("\nmpremote mip install package.json: %d files in %.1f s" % (len(want), dt))


# ---------------------------------------------------------------- tools/deploy.py without a board
def test_arch_from_board_file_or_prefix(tmp_path, monkeypatch):
    import deploy

    assert deploy.board_arch("pico_w5500") == "armv6m"
    (tmp_path / "boards").mkdir()
    for name, text in (("pico2_w5500", ""), ("esp32_enc28j60", ""), ("pico_odd", 'ARCH = "armv7m"\n'),
                       ("other", "")):
        (tmp_path / "boards" / (name + ".py")).write_text("CHIP = 'w5500'\n" + text)
    monkeypatch.setattr(deploy, "ROOT", str(tmp_path))
    assert deploy.board_arch("pico2_w5500") == "armv7emsp"
    assert deploy.board_arch("esp32_enc28j60") == "xtensawin"
    assert deploy.board_arch("pico_odd") == "armv7m"  # the board file's own ARCH wins
    with pytest.raises(deploy.DeployError, match="ARCH"):
        deploy.board_arch("other")
    with pytest.raises(deploy.DeployError, match="unknown board 'pico_nope'.*pico2_w5500"):
        deploy.board_arch("pico_nope")


def test_bad_arguments_say_what_is_wrong(tmp_path):
    import deploy

    with pytest.raises(deploy.DeployError, match="no PORT"):
        deploy.deploy("pico_w5500", "")
    with pytest.raises(deploy.DeployError, match="no such device"):
        deploy.deploy("pico_w5500", str(tmp_path / "ttyACM9"))
    with pytest.raises(deploy.DeployError, match="dhcp or A.B.C.D/N"):
        deploy.deploy("pico_w5500", "/dev/null", ip="10.7.0.2")
    with pytest.raises(deploy.DeployError, match="no BOARD"):
        deploy.deploy("", "/dev/null")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "--board", "pico_x",
                        "--port", "/dev/null"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "unknown board 'pico_x'" in p.stderr, p.stderr


def test_stage_and_dry_run():
    import deploy

    lines = []
    paths, _ = deploy.deploy("pico_w5500", "/dev/ttyACM0", ip="10.9.8.7/16", gateway="10.9.0.1", hostname="pico-1",
                             dry_run=True, log=lines.append)
    out = os.path.join(deploy.STAGE, "pico_w5500")
    lib = set("/lib/" + d[:-3] + ".mpy" for d, _ in _package_urls())
    assert set(p for p in paths if p.startswith("/lib/bsdnet/")) == lib
    for p in ("/main.py", "/config.py", "/lib/services.mpy", "/lib/httpd.mpy",
              "/lib/boards/pico_w5500.mpy"):
        assert p in paths
    assert not [p for p in paths if p.endswith(".py") and p.count("/") > 1]  # only / keeps sources
    with open(os.path.join(out, "lib", "bsdnet", "in_cksum_viper.mpy"), "rb") as f:
        hdr = f.read(4)
    assert hdr[0] == ord("M") and hdr[2] >> 2 == 4  # .mpy with native code for arch 4, MP_NATIVE_ARCH_ARMV6M
    cfg = {}
    exec(open(os.path.join(out, "config.py")).read(), cfg)
    assert (cfg["BOARD"], cfg["IP"], cfg["GATEWAY"], cfg["DNS"], cfg["HOSTNAME"]) == (
        "pico_w5500", "10.9.8.7/16", "10.9.0.1", "0.0.0.0", "pico-1")
    assert "/board.py" not in paths  # the older layout: /config.py names the board now
    cmd = lines[-1]
    assert cmd.startswith(sys.executable + " -m mpremote connect /dev/ttyACM0 run ") and cmd.endswith(" + reset"), cmd
    assert cmd.count(" + ") == 3  # one session: cleanup, cp -r lib, cp the top-level files, reset
