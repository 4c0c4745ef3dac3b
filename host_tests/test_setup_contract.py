"""The host board's documented command line (`python3 tools/hostboard.py ...`) with the SYSTEM python3
and a clean environment: every runtime starts (re-executed under .venv when this interpreter lacks a
module, e.g. littlefs for rp2040), and without `make setup` the tools say so on one line, exit 2.
tools/setupcheck.py is what they share. No network, no root: --check stops before the TAP."""
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SYS_PY = "/usr/bin/python3"
VENV_PY = os.path.join(ROOT, ".venv", "bin", "python")
sys.path.insert(0, os.path.join(ROOT, "tools"))

from demo import runtime_missing  # noqa: E402


def _clean_env():
    path = ["/usr/bin", "/bin"]
    node = shutil.which("node")
    if node:
        path.insert(0, os.path.dirname(node))
    return {"PATH": ":".join(path)}


def _run(argv, timeout=60):
    return subprocess.run(argv, cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=timeout)


def _need_system_python():
    if not os.path.exists(SYS_PY):
        pytest.skip("no system python3 at %s" % SYS_PY)
    if not os.path.exists(VENV_PY):
        pytest.skip("make setup not done (no .venv)")


def test_help_with_the_system_python():
    _need_system_python()
    p = _run([SYS_PY, "tools/hostboard.py", "--help"])
    assert p.returncode == 0, p.stderr
    assert "--runtime" in p.stdout and "No module named" not in p.stderr


@pytest.mark.parametrize("runtime", ["cpython", "micropython", "rp2040"])
@pytest.mark.parametrize("chip", ["w5500", "enc28j60"])
def test_every_runtime_starts_from_the_documented_command_line(runtime, chip):
    _need_system_python()
    why = runtime_missing(runtime)
    if why:
        pytest.skip(why)
    p = _run([SYS_PY, "tools/hostboard.py", "--tap", "bsdchk0", "--chip", chip, "--ip", "10.7.0.2/24",
              "--runtime", runtime, "--check"])
    assert "No module named" not in p.stderr + p.stdout, p.stderr
    assert p.returncode == 0, (p.stdout, p.stderr)
    line = p.stdout.strip().splitlines()[-1]
    assert line.startswith("ok runtime=%s chip=%s python=" % (runtime, chip)), line
    exe = line.split("python=", 1)[1]
    if subprocess.run([SYS_PY, "-c", "import littlefs"], capture_output=True).returncode != 0:
        # the system python3 has no littlefs: rp2040 only runs under the project's virtualenv
        assert (exe == VENV_PY) == (runtime == "rp2040"), (runtime, exe)


def _script(tmp_path, body):
    f = tmp_path / "tool.py"
    f.write_text("import sys\nsys.path.insert(0, %r)\nimport setupcheck\n%s\n" % (os.path.join(ROOT, "tools"), body))
    return str(f)


def test_missing_module_reexecutes_under_the_venv_keeping_argv(tmp_path):
    _need_system_python()
    if subprocess.run([SYS_PY, "-c", "import littlefs"], capture_output=True).returncode == 0:
        pytest.skip("the system python3 has littlefs: nothing to re-execute for")
    f = _script(tmp_path, "setupcheck.require('tool', ['littlefs'])\nprint(sys.executable, sys.argv[1:])")
    p = _run([SYS_PY, f, "--x", "1"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "%s ['--x', '1']" % VENV_PY


def test_without_setup_one_line_and_status_2(tmp_path):
    _need_system_python()
    f = _script(tmp_path, "setupcheck.require('hostboard', ['no_such_module_bsdnet'],"
                          " venv_python='/nonexistent/python')\nprint('not reached')")
    p = _run([SYS_PY, f])
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr == "hostboard: run `make setup` first: no_such_module_bsdnet is missing\n", p.stderr
    # with the virtualenv there but the module missing from it too: one re-execution, then the same line
    f = _script(tmp_path, "setupcheck.require('hostboard', ['no_such_module_bsdnet'])\nprint('not reached')")
    p = _run([SYS_PY, f])
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith("hostboard: run `make setup` first: no_such_module_bsdnet is missing"), p.stderr
    assert len(p.stderr.splitlines()) == 1
    # an npm package that node_modules lacks
    f = _script(tmp_path, "setupcheck.require('hostboard', npm=['no-such-package-bsdnet'])")
    p = _run([SYS_PY, f])
    assert p.returncode == 2
    assert p.stderr == "hostboard: run `make setup` first: npm package no-such-package-bsdnet is missing\n"
