"""tools/constfold.py: other modules' const()s become literals in the .mpy build, lines unchanged."""
import os
import subprocess
import sys
import textwrap

import constfold
import mpysize

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tree(tmp_path, files):
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return constfold.Folder(str(tmp_path))


TREE = {
    "lib/pkg/__init__.py": "__version__ = '1'\n",
    "lib/pkg/opts.py": """\
        from .compat import const
        MSS = const(1460)
        BIG = const(MSS * 4)
        NEG = const(-3)
        TUNED = const(4)  # set at boot by main.py: not a constant
        _PRIVATE = const(9)
        """,
    "lib/pkg/compat.py": "def const(x):\n    return x\n",
    "lib/pkg/hdr.py": """\
        from .compat import const
        TH_SYN = const(2)
        TH_ACK = const(0x10)
        print("side effect")
        def f(b):
            print(b)  # two statements: not inlined
            return b
        """,
    "lib/pkg/user.py": """\
        from . import opts
        from .hdr import (TH_SYN,
                          TH_ACK, f)


        def g(x, flags=TH_SYN):
            n = opts.BIG + opts.MSS  # a comment stays
            return f(x) & TH_ACK, opts.NEG.bit_length(), opts.TUNED, opts._PRIVATE, flags
        """,
    "lib/pkg/shadow.py": """\
        from .hdr import TH_SYN


        def h(TH_SYN=1):
            return TH_SYN
        """,
    "lib/pkg/only_consts.py": """\
        from .hdr import TH_ACK
        from . import opts
        X = TH_ACK + opts.MSS
        """,
    "firmware/main.py": "from pkg import opts\nopts.TUNED = 2\n",
}


def test_references_become_literals_and_lines_stay(tmp_path):
    f = _tree(tmp_path, TREE)
    src = (tmp_path / "lib/pkg/user.py").read_text()
    out, n = f.fold("lib/pkg/user.py")
    assert out.count("\n") == src.count("\n")
    assert "n = 5840 + 1460  # a comment stays" in out
    # a negative literal, and one followed by an attribute, in parentheses
    assert "(-3).bit_length()" in out
    assert "flags=2" in out and "f(x) & 16" in out
    # a tunable that some module assigns, and a private name, are left as they are
    assert "opts.TUNED" in out and "opts._PRIVATE" in out
    assert n == 5
    # the import statement stays where it was, without the names folded
    assert "from .hdr import f\n\n" in out
    assert "from . import opts" in out
    compile(out, "user.py", "exec")
    assert out.splitlines()[src.splitlines().index("def g(x, flags=TH_SYN):")] == "def g(x, flags=2):"


def test_import_lists_lose_folded_names_but_every_statement_stays(tmp_path):
    f = _tree(tmp_path, TREE)
    out, n = f.fold("lib/pkg/only_consts.py")
    assert n == 2
    # both statements stay (the modules load where they did), each with one name at least
    assert out.splitlines() == ["from . import hdr", "from . import opts", "X = 16 + 1460"]
    out = f.fold("lib/pkg/user.py")[0]
    assert "from .hdr import f\n" in out and "TH_SYN" not in out


def test_consts_nothing_reads_become_private_in_their_module(tmp_path, monkeypatch):
    monkeypatch.setattr(constfold, "HIDE", True)
    f = _tree(tmp_path, dict(TREE, **{
        "lib/pkg/reader.py": ("from . import hdr\nimport pkg.opts\n\n\n"
                              "def r(m):\n    return pkg.opts.MSS, getattr(m, 'NEG')\n"),
        "lib/pkg/fin.py": "from .compat import const\nTH_FIN = const(1)\nFIN2 = const(TH_FIN * 2)\n",
        "lib/pkg/finuser.py": "from .fin import FIN2, TH_FIN\nX = TH_FIN + FIN2\n",
        "examples/ex.py": "from pkg.hdr import TH_ACK\nfrom pkg.fin import FIN2\n"}))
    out = f.fold("lib/pkg/fin.py")[0]
    # TH_FIN: every reference folded -> private, FIN2 read by an example: stays
    assert out == "from .compat import const\n_TH_FIN = const(1)\nFIN2 = const(_TH_FIN * 2)\n"
    # TH_SYN: shadow.py imports it and binds the name itself (not folded); TH_ACK: an example's
    assert f.hidden("pkg.hdr") == set()
    # read as an attribute the folder cannot resolve, named in a string, assigned from outside,
    # or private already: left as they are
    assert f.hidden("pkg.opts") == {"BIG"}
    out = f.fold("lib/pkg/opts.py")[0]
    assert "_BIG = const(_MSS * 4)" not in out and "_BIG = const(MSS * 4)" in out and "TUNED = const(4)" in out
    compile(out, "opts.py", "exec")
    # firmware/ and boards/ keep their names; so does a module users import from
    assert f.hidden("main") == set()
    monkeypatch.setattr(constfold, "HIDE", False)
    assert f.hidden("pkg.opts") == set()


def test_a_test_compiled_for_a_board_is_folded_as_an_importer(tmp_path):
    f = _tree(tmp_path, dict(TREE, **{
        "host_tests/t.py": "from pkg import opts\nfrom pkg.hdr import TH_SYN, f\nX = opts.MSS + TH_SYN\n"}))
    assert f.fold("host_tests/t.py") == ("from pkg import opts\nfrom pkg.hdr import f\nX = 1460 + 2\n", 2)


def test_a_name_bound_in_the_module_is_not_folded(tmp_path):
    f = _tree(tmp_path, TREE)
    out, n = f.fold("lib/pkg/shadow.py")
    assert n == 0 and out == (tmp_path / "lib/pkg/shadow.py").read_text()


def test_every_device_file_folds_to_valid_code_with_its_lines():
    f = constfold.Folder(ROOT)
    total = 0
    for m in f.mods.values():
        out, n = f.fold(m.rel)
        assert out.count("\n") == m.text.count("\n"), m.rel
        compile(out, m.rel, "exec")
        total += n
    # opts.TCP_PREALLOC is set by firmware/main.py at boot: never folded
    assert "TCP_PREALLOC" in f.stored
    assert "opts.TCP_PREALLOC" in f.fold("lib/bsdnet/tcp_subr.py")[0]
    print("\nconst references folded in the device tree: %d" % total)
    assert total > 500


def test_mpy_cross_of_a_folded_module_keeps_its_source_name(tmp_path):
    dst = tmp_path / "tcp_output.mpy"
    assert mpysize.mpy_cross("armv6m", "lib/bsdnet/tcp_output.py", str(dst)) is None
    data = dst.read_bytes()
    assert data[:1] == b"M" and b"lib/bsdnet/tcp_output.py" in data
    err = mpysize.mpy_cross("armv6m", "lib/bsdnet/nonexistent.py", str(tmp_path / "x.mpy"))
    assert err is not None and "nonexistent" in err


def test_command_line_prints_the_folded_source():
    p = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "constfold.py"), "lib/bsdnet/tcp_output.py"],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0
    assert "opts.TCP_RTO_MIN_MS" not in p.stdout and "def tcp_output" in p.stdout


INLINE_TREE = {
    "lib/pkg/__init__.py": "",
    "lib/pkg/compat.py": "def const(x):\n    return x\n",
    "lib/pkg/hdr.py": """\
        from .compat import const
        _HI = const(2)


        def word(buf, off):
            return (buf[off + _HI] << 8) | buf[off + _HI + 1]


        def low(buf, off):
            return buf[off] & 0x0F


        def emit(buf, off, word):  # a parameter called like a function is another name
            buf[off + _HI] = word >> 8
            buf[off + _HI + 1] = word & 0xFF
        """,
    "lib/pkg/user.py": """\
        from . import hdr
        from .hdr import low


        def f(m, b, o):
            a = hdr.word(b, o + 4)  # a repeated argument as small as off + 4: inlined
            c = hdr.word(m.buf, m.off)  # an attribute read twice: still small
            d = low(m.buf[m.off:], 0)  # read once: any pure argument
            e = hdr.word(b[o:], o)  # repeated and larger: a call
            g = low(len(b), 0) if False else 0  # a call in the argument: a call
            return a, c, d, e, g


        def h(b):
            return hdr.word(b,
                            0)
        """,
}


def _load(tmp_path, name, files):
    """Write files (rel -> text) under tmp_path/name and import package pkg from there."""
    import importlib

    root = tmp_path / name
    for rel, text in files.items():
        p = root / rel.replace("lib/", "", 1)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for k in [k for k in sys.modules if k == "pkg" or k.startswith("pkg.")]:
        del sys.modules[k]
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module("pkg.user")
    finally:
        sys.path.remove(str(root))
        for k in [k for k in sys.modules if k == "pkg" or k.startswith("pkg.")]:
            del sys.modules[k]


def test_one_line_functions_are_inlined_where_the_arguments_allow(tmp_path, monkeypatch):
    monkeypatch.setattr(constfold, "HIDE", True)
    f = _tree(tmp_path / "src", INLINE_TREE)
    src = (tmp_path / "src/lib/pkg/user.py").read_text()
    out = f.fold("lib/pkg/user.py")[0]
    assert out.count("\n") == src.count("\n")
    assert "a = (b[o + 4 + 2] << 8 | b[o + 4 + 2 + 1])" in out
    assert "c = (m.buf[m.off + 2] << 8 | m.buf[m.off + 2 + 1])" in out
    assert "d = (m.buf[m.off:][0] & 15)" in out
    assert "e = hdr.word(b[o:], o)" in out and "low(len(b), 0)" in out
    # a call over two lines: the expression keeps the line count inside its parentheses
    assert "return (b[0 + 2] << 8 | b[0 + 2 + 1]\n)" in out
    # `low` is still called (with len()): its import stays
    assert "from .hdr import low" in out
    # the folded package computes what the source does
    class M:
        buf = bytearray(range(40, 60))
        off = 3

    b = bytearray(range(100, 140))
    want = _load(tmp_path, "a", {r: m.text for r, m in ((m.rel, m) for m in f.mods.values())})
    got = _load(tmp_path, "b", {m.rel: f.fold(m.rel)[0] for m in f.mods.values()})
    assert got.f(M, b, 5) == want.f(M, b, 5) and got.h(b) == want.h(b)


def test_functions_nothing_calls_any_more_leave_the_mpy(tmp_path, monkeypatch):
    monkeypatch.setattr(constfold, "HIDE", True)
    tree = dict(INLINE_TREE)
    tree["lib/pkg/user.py"] = "from .hdr import word\n\n\ndef f(b):\n    return word(b, 1)\n"
    f = _tree(tmp_path, tree)
    out = f.fold("lib/pkg/user.py")[0]
    # every call inlined: the import keeps its module loading where it did, with no name of it
    assert out == "from . import hdr\n\n\ndef f(b):\n    return (b[1 + 2] << 8 | b[1 + 2 + 1])\n"
    assert f.dropped("pkg.hdr") == {"word", "low"}
    hdr = f.fold("lib/pkg/hdr.py")[0]
    assert "def word" not in hdr and "def low" not in hdr and "def emit(buf, off, word)" in hdr
    assert hdr.count("\n") == (tmp_path / "lib/pkg/hdr.py").read_text().count("\n")
    compile(hdr, "hdr.py", "exec")
    # a test compiled for a board that still calls one (an argument too large to repeat): in a
    # test image it stays
    (tmp_path / "host_tests/portable").mkdir(parents=True)
    (tmp_path / "host_tests/portable/test_x.py").write_text("from pkg import hdr\nX = hdr.word(b'ab'[0:], 0)\n")
    ft = constfold.Folder(str(tmp_path), tests=True)
    assert ft.dropped("pkg.hdr") == {"low"} and f.dropped("pkg.hdr") == {"word", "low"}
    monkeypatch.setattr(constfold, "INLINE", False)
    assert constfold.Folder(str(tmp_path)).fold("lib/pkg/user.py")[0] == tree["lib/pkg/user.py"]
