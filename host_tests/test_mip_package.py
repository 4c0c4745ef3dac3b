"""The mip package at the repository root lists exactly the stack's device files (lib/**.py)."""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_package_json_lists_exactly_lib():
    with open(os.path.join(ROOT, "package.json")) as f:
        pkg = json.load(f)
    files = []
    for d, _, names in os.walk(os.path.join(ROOT, "lib")):
        if "__pycache__" in d:
            continue
        files += [os.path.relpath(os.path.join(d, n), ROOT).replace(os.sep, "/") for n in names if n.endswith(".py")]
    srcs = [u for _, u in pkg["urls"]]
    assert sorted(srcs) == sorted(files)
    assert len(set(srcs)) == len(srcs)
    for dest, src in pkg["urls"]:
        assert "lib/" + dest == src  # installed under the board's /lib as the package bsdnet
        assert not src.startswith(("http", "github:"))  # relative: works from GitHub and from a clone
    assert isinstance(pkg["version"], str) and pkg["version"].count(".") == 2
    assert pkg.get("deps", []) == []


def test_node_tooling_lives_in_tools():
    # mip reads the root package.json: an npm one there made `mip install` install nothing
    with open(os.path.join(ROOT, "tools", "package.json")) as f:
        npm = json.load(f)
    assert "dependencies" in npm and "urls" not in npm
    assert os.path.exists(os.path.join(ROOT, "tools", "package-lock.json"))
    assert not os.path.exists(os.path.join(ROOT, "package-lock.json"))


def test_checker_reports_stale(tmp_path, monkeypatch, capsys):
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import mippkg
    (tmp_path / "lib" / "bsdnet").mkdir(parents=True)
    (tmp_path / "lib" / "bsdnet" / "a.py").write_text("")
    monkeypatch.setattr(mippkg, "ROOT", str(tmp_path))
    monkeypatch.setattr(mippkg, "PKG", str(tmp_path / "package.json"))
    assert mippkg.main(["--write"]) == 0 and mippkg.main(["--check"]) == 0
    (tmp_path / "lib" / "bsdnet" / "b.py").write_text("")
    assert mippkg.main(["--check"]) == 1
    assert "lib/bsdnet/b.py" in capsys.readouterr().err
