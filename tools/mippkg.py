#!/usr/bin/env python3
"""The mip package: package.json at the repository root, so that

    mpremote mip install github:OWNER/REPO          # from GitHub
    mpremote mip install package.json               # from a clone (relative URLs)

puts the stack (every .py under lib/) into the board's /lib. The application (firmware/) and the
board config go on with `make deploy`.

    python3 tools/mippkg.py            # print the package
    python3 tools/mippkg.py --write    # rewrite package.json from lib/
    python3 tools/mippkg.py --check    # exit 1 if package.json does not list exactly lib/'s files
"""
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = os.path.join(ROOT, "package.json")


def _version():
    """bsdnet.__version__, read from lib/bsdnet/__init__.py (one place for the number)."""
    import re

    with open(os.path.join(ROOT, "lib", "bsdnet", "__init__.py")) as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


VERSION = _version()


def device_files(top="lib"):
    """Every .py below ROOT/top, as paths relative to ROOT, sorted."""
    out = []
    for d, dirs, files in os.walk(os.path.join(ROOT, top)):
        dirs[:] = sorted(x for x in dirs if x != "__pycache__" and not x.startswith("."))
        out += [os.path.relpath(os.path.join(d, f), ROOT).replace(os.sep, "/") for f in files if f.endswith(".py")]
    return sorted(out)


def package():
    urls = [[f[len("lib/"):], f] for f in device_files()]
    return {"urls": urls, "deps": [], "version": VERSION}


def render():
    """JSON, one file a line (diffs stay readable)."""
    p = package()
    lines = ",\n".join("    " + json.dumps(u) for u in p["urls"])
    return '{\n  "urls": [\n%s\n  ],\n  "deps": [],\n  "version": %s\n}\n' % (lines, json.dumps(p["version"]))


def main(argv):
    if "--write" in argv:
        with open(PKG, "w") as f:
            f.write(render())
        return 0
    if "--check" in argv:
        try:
            with open(PKG) as f:
                have = json.load(f)
        except (OSError, ValueError) as e:
            print("mippkg: %s: %s" % (PKG, e), file=sys.stderr)
            return 1
        want = package()
        if have.get("urls") != want["urls"]:
            got = set(u for _, u in have.get("urls", ()))
            need = set(u for _, u in want["urls"])
            print("mippkg: package.json is stale (python3 tools/mippkg.py --write): missing %s, extra %s"
                  % (sorted(need - got), sorted(got - need)), file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
