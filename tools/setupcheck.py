"""What `make setup` installs, looked for before a host tool needs it (host only, stdlib only).

The documented command lines say `python3 tools/hostboard.py ...`: the system python3, which lacks
what `make setup` put into the project's virtualenv (littlefs for the rp2040 runtime's flash image,
...). require() makes such a command line work anyway:

    setupcheck.require("hostboard", modules=("littlefs",), npm=("rp2040js",))

- every module importable here, every npm package in node_modules: returns;
- a module missing, and ROOT/.venv/bin/python exists (setup was done) and is not the interpreter
  running: the process is executed again under it, with the same argv (os.execv; nothing has been
  printed yet, so nothing is lost or doubled);
- otherwise (no virtualenv, or the module is missing from it too, or an npm package is missing):
  one line on stderr, `<tool>: run `make setup` first: <what> is missing`, and exit status 2.
"""
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
_REEXEC = "BSDNET_SETUP_REEXEC"  # set across the re-execution: a second miss stops there

# what each host-board runtime needs beyond the standard library (hostboard.py and demo.py use it)
RUNTIME_MODULES = {
    "cpython": (),
    "micropython": (),
    "rp2040": ("littlefs",),  # tools/rp2040/mkfs.py builds the board's flash image with littlefs-python
    "esp32": ("littlefs", "esptool"),  # tools/esp32: the littlefs image, and esptool's merge_bin for the flash
}
RUNTIME_NPM = {
    "cpython": (),
    "micropython": ("@micropython/micropython-webassembly-pyscript",),  # tools/vmboard.mjs
    "rp2040": ("rp2040js", "@micropython/micropython-webassembly-pyscript"),  # board.mjs; its chip model's VM
    "esp32": (),  # QEMU is a shared library loaded into the host board's own process
}


def missing_modules(modules):
    """The names in modules that this interpreter cannot import."""
    out = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            out.append(name)
    return out


def missing_npm(packages, root=ROOT):
    return [p for p in packages if not os.path.isdir(os.path.join(root, "tools", "node_modules", *p.split("/")))]


def _in_venv(venv_python):
    venv = os.path.dirname(os.path.dirname(venv_python))
    return os.path.realpath(sys.prefix) == os.path.realpath(venv)


def require(tool, modules=(), npm=(), venv_python=VENV_PYTHON, argv=None):
    """Return if everything is here; re-execute under the project's virtualenv if that can help;
    else say what is missing on one line and exit 2."""
    miss = missing_modules(modules)
    if miss:
        can = os.path.isfile(venv_python) and os.access(venv_python, os.X_OK)
        if can and not _in_venv(venv_python) and not os.environ.get(_REEXEC):
            argv = list(sys.argv if argv is None else argv)
            if argv and argv[0] and os.path.exists(argv[0]):
                argv[0] = os.path.abspath(argv[0])
            os.environ[_REEXEC] = "1"
            sys.stdout.flush()
            sys.stderr.flush()
            os.execv(venv_python, [venv_python] + argv)
        _die(tool, "%s is missing" % miss[0] + ("" if not can else " (from %s too)" % venv_python))
    gone = missing_npm(npm)
    if gone:
        _die(tool, "npm package %s is missing" % gone[0])
    os.environ.pop(_REEXEC, None)  # children of ours (a tool started by this one) check afresh


def require_runtime(tool, runtime, argv=None):
    require(tool, RUNTIME_MODULES.get(runtime, ()), RUNTIME_NPM.get(runtime, ()), argv=argv)


def _die(tool, what):
    sys.stderr.write("%s: run `make setup` first: %s\n" % (tool, what))
    sys.stderr.flush()
    sys.exit(2)
