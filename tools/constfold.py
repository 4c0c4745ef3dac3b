#!/usr/bin/env python3
"""Cross-module const() folding for the .mpy build (host only; mpysize.mpy_cross runs it).

mpy-cross folds a `NAME = const(...)` only inside its own module. Everywhere else `opts.TCP_MSS`
or an imported `TH_SYN` is a global dict entry, an interned name and a lookup at run time: on a
32-bit board about 30 bytes of heap a name and module, and a dict lookup on the per-packet path.
This rewrites a device module's source before mpy-cross so that those references are literals:

- `alias.NAME` where alias is a bsdnet module imported in the file (`from . import opts`) and
  NAME a const() of that module;
- `NAME` imported with `from .mod import NAME` (or `as A`) where NAME is a const() of mod.

Import statements all stay, so what loads when does not move (dropping whole imports once left a
DHCP boot on the emulated Pico with no 1472-byte block: measured); a name whose every reference was
folded leaves its import list, the first name staying when none would be left. API modules (what
users import from) keep every name they import.
Then the names themselves (HIDE): a public const() of a lib/ module that is not an API module, and
that no device file reads any more once folded (examples and firmware/main.py, which reaches the
board as source, are read as they are), becomes private in its module (`_NAME`): mpy-cross then
makes it no global and no interned name. On a 32-bit board that is ~30 bytes a name.
The rewrite keeps every line where it was, so tracebacks on the board point at the source lines.
Not folded: a name that any device file assigns as an attribute (`opts.TCP_PREALLOC = 2` in
firmware/main.py: a tunable set at boot) and a name rebound in the importing module. Files outside
lib/, firmware/ and boards/ (the tests compiled for the emulated boards) are folded as importers:
their own names stay.

    python3 tools/constfold.py lib/bsdnet/tcp_input.py     # the folded source, to stdout
    python3 tools/constfold.py --stats                     # references folded, per module
"""
import ast
import io
import os
import sys
import tokenize
import types

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIRS = ("lib", "firmware", "boards")
# private names for the consts nothing reads once folded: ~8 KB of heap on the emulated ESP32 and
# ~250 interned names. Fewer names move the moment MicroPython grows its qstr pools (by doubling:
# past 1260 names the next pool is 1280 entries, ~9 KB in one block) later into the boot; that
# needs a heap kept in one piece, which firmware/main.py's gc.threshold does (without it, a DHCP
# boot on the emulated Pico failed "allocating 1280 bytes": measured).
HIDE = True
# files that reach the board as source or are the user's (their references are not folded)
SOURCE_FILES = ("firmware/main.py",)
READER_DIRS = ("examples",)
# public consts that stay in every module: the reason codes every hdr module shares (code that
# walks the modules reads mod.NREASONS and mod.DROP_SHORT)
KEEP_NAMES = ("NREASONS", "DROP_SHORT")
# modules whose names are part of what users read from them: every public name and every imported
# name stays
API_MODULES = ("bsdnet", "bsdnet.socket", "bsdnet.select", "bsdnet.errno", "bsdnet.streams", "bsdnet.dropin")


def module_name(rel):
    """lib/bsdnet/hdr/tcp.py -> bsdnet.hdr.tcp; firmware/services.py -> services; boards/x.py -> boards.x."""
    parts = rel[:-3].split("/")
    if parts[0] in ("lib", "firmware"):
        parts = parts[1:]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _is_const_call(v):
    return isinstance(v, ast.Call) and isinstance(v.func, ast.Name) and v.func.id == "const" and len(v.args) == 1


class _Mod:
    def __init__(self, rel, text):
        self.rel = rel
        self.name = module_name(rel)
        self.is_pkg = rel.endswith("__init__.py")
        self.text = text
        self.tree = ast.parse(text, rel)
        self.consts = {}  # every const() of the module, private ones too (for evaluating the rest)

    def package(self):
        return self.name if self.is_pkg else self.name.rpartition(".")[0]


def _bindings(tree):
    """name -> number of ways it is bound in the module other than by an import."""
    out = {}

    def add(n):
        out[n] = out.get(n, 0) + 1

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            add(node.name)
        elif isinstance(node, ast.arg):
            add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            for n in node.names:
                add(n)
    return out


class Folder:
    """The const tables of every device module, and each module's folded source."""

    def __init__(self, root=ROOT):
        self.root = root
        self.mods = {}
        for d in DIRS:
            for dp, dns, fns in os.walk(os.path.join(root, d)):
                dns[:] = sorted(n for n in dns if n != "__pycache__")
                for f in sorted(fns):
                    if f.endswith(".py"):
                        rel = os.path.relpath(os.path.join(dp, f), root).replace(os.sep, "/")
                        with open(os.path.join(root, rel)) as fh:
                            m = _Mod(rel, fh.read())
                        self.mods[m.name] = m
        # attributes assigned anywhere (opts.TCP_PREALLOC = ...): tunables, not constants
        self.stored = set()
        for m in self.mods.values():
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                    self.stored.add(node.attr)
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr"
                      and len(node.args) > 1 and isinstance(node.args[1], ast.Constant)):
                    self.stored.add(node.args[1].value)
        for _ in range(len(self.mods)):  # until no module learns a new value (consts built on imported ones)
            if not any([self._eval_consts(m) for m in self.mods.values()]):
                break
        self._cache = {}
        self._reads = None

    def public(self, modname):
        """The foldable const()s of a module: public, assigned once, never stored from outside."""
        m = self.mods.get(modname)
        if m is None:
            return {}
        b = _bindings(m.tree)
        return {k: v for k, v in m.consts.items() if not k.startswith("_") and k not in self.stored and b.get(k) == 1}

    def _resolve(self, m, node):
        """The absolute module an ImportFrom names."""
        if node.level == 0:
            return node.module or ""
        base = m.package().split(".") if m.package() else []
        if node.level > 1:
            base = base[:len(base) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def _aliases(self, m):
        """(module aliases name -> module, const aliases name -> value, import nodes) of module m."""
        mods, consts, nodes = {}, {}, []
        for node in ast.walk(m.tree):
            if isinstance(node, ast.ImportFrom):
                src = self._resolve(m, node)
                nodes.append((node, src))
                pub = self.public(src)
                for a in node.names:
                    local = a.asname or a.name
                    full = src + "." + a.name if src else a.name
                    if full in self.mods:
                        mods.setdefault(local, set()).add(full)
                    elif a.name in pub:
                        consts.setdefault(local, set()).add(pub[a.name])
                    else:
                        consts.setdefault(local, set()).add(None)
            elif isinstance(node, ast.Import):
                nodes.append((node, None))
                for a in node.names:
                    if a.asname and a.name in self.mods:
                        mods.setdefault(a.asname, set()).add(a.name)
                    else:
                        mods.setdefault(a.asname or a.name.split(".")[0], set()).add(None)
        b = _bindings(m.tree)
        # one meaning for the whole file: bound only by imports, all of them the same thing
        mods = {k: next(iter(v)) for k, v in mods.items() if len(v) == 1 and None not in v and not b.get(k)
                and k not in consts}
        consts = {k: next(iter(v)) for k, v in consts.items() if len(v) == 1 and None not in v and not b.get(k)
                  and k not in mods}
        return mods, consts, nodes

    def _eval_consts(self, m):
        """Evaluate m's const() assignments with what is known so far; True if a value was new."""
        mods, consts, _ = self._aliases(m)
        ns = dict(consts)
        for k, v in mods.items():
            ns[k] = types.SimpleNamespace(**self.mods[v].consts)
        new = False
        for s in m.tree.body:
            if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name) \
                    and _is_const_call(s.value):
                try:
                    v = eval(compile(ast.Expression(s.value.args[0]), m.rel, "eval"), {"__builtins__": {}}, ns)
                except Exception:  # noqa: BLE001 - not a constant we can compute here: left alone
                    continue
                if not isinstance(v, int):
                    continue
                ns[s.targets[0].id] = v
                if m.consts.get(s.targets[0].id, object()) != v:
                    m.consts[s.targets[0].id] = v
                    new = True
        return new

    def fold(self, rel):
        """(folded source, references folded) of rel: a device file, or any other that imports them
        (a test compiled for a board: its references are folded, its own names stay)."""
        rel = rel.replace(os.sep, "/")
        if rel not in self._cache:
            m = self.mods.get(module_name(rel))
            if m is None or m.rel != rel:
                with open(os.path.join(self.root, rel)) as fh:
                    m = _Mod(rel, fh.read())
            edits, n = self._edits(m)
            if HIDE and m.rel.startswith("lib/"):
                edits += self._hide_edits(m)
            self._cache[rel] = (_apply(m.text, edits), n)
        return self._cache[rel]

    def _edits(self, m):
        """(edits, references folded): other modules' consts made literals, and the import lists
        without the names no longer referenced."""
        mods, consts, nodes = self._aliases(m)
        mconsts = {k: self.public(v) for k, v in mods.items()}
        spans = [(n.lineno, n.col_offset, n.end_lineno, n.end_col_offset) for n, _ in nodes]

        def in_import(pos):
            return any((l0, c0) <= pos < (l1, c1) for l0, c0, l1, c1 in spans)

        toks = _tokens(m.text)
        edits = []
        left = {}  # alias -> references not folded
        i = 0
        while i < len(toks):
            t = toks[i]
            if t.type != tokenize.NAME or in_import(t.start) or (i and toks[i - 1].string == "."):
                i += 1
                continue
            nxt = toks[i + 1] if i + 1 < len(toks) else None
            if t.string in mconsts and nxt is not None and nxt.string == "." and i + 2 < len(toks):
                attr = toks[i + 2]
                table = mconsts[t.string]
                if attr.type == tokenize.NAME and attr.string in table and attr.start[0] == t.start[0]:
                    after = toks[i + 3] if i + 3 < len(toks) else None
                    edits.append((t.start, attr.end, _literal(table[attr.string], after)))
                    i += 3
                    continue
                left[t.string] = left.get(t.string, 0) + 1
            elif t.string in consts and not (nxt is not None and nxt.string == "="):
                edits.append((t.start, t.end, _literal(consts[t.string], nxt)))
            elif t.string in mods or t.string in consts:
                left[t.string] = left.get(t.string, 0) + 1
            i += 1
        n = len(edits)
        if m.name not in API_MODULES:
            for node, _ in nodes:
                if not isinstance(node, ast.ImportFrom):
                    continue
                names = [a for a in node.names if (a.asname or a.name) not in consts or left.get(a.asname or a.name)]
                if len(names) == len(node.names):
                    continue
                # the statement stays, so its module loads where it did: with one name at least
                text = "from %s%s import %s" % ("." * node.level, node.module or "", ", ".join(
                    a.name + (" as " + a.asname if a.asname else "") for a in names or node.names[:1]))
                edits.append(((node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset),
                              text + "\n" * (node.end_lineno - node.lineno)))
        return edits, n

    def reads(self):
        """Every name some device file, example or board-side source still reads from another
        module once folded: attributes, imported names, getattr() names."""
        if self._reads is None:
            texts = [_apply(m.text, self._edits(m)[0]) for m in self.mods.values() if m.rel not in SOURCE_FILES]
            texts += [self.mods[module_name(r)].text for r in SOURCE_FILES if module_name(r) in self.mods]
            for d in READER_DIRS:
                for dp, _, fns in os.walk(os.path.join(self.root, d)):
                    for f in sorted(fns):
                        if f.endswith(".py"):
                            with open(os.path.join(dp, f)) as fh:
                                texts.append(fh.read())
            out = set()
            for text in texts:
                for node in ast.walk(ast.parse(text)):
                    if isinstance(node, ast.Attribute):
                        out.add(node.attr)
                    elif isinstance(node, ast.ImportFrom):
                        out.update(a.name for a in node.names)
                    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                        out.add(node.value)  # getattr(mod, "NAME") and the like
            self._reads = out
        return self._reads

    def hidden(self, modname):
        """The public consts of lib/ module modname that become private in its .mpy (HIDE)."""
        m = self.mods.get(modname)
        if not HIDE or m is None or not m.rel.startswith("lib/") or modname in API_MODULES:
            return set()
        kw = {n.arg for n in ast.walk(m.tree) if isinstance(n, ast.keyword)}
        return {k for k in self.public(modname) if k not in kw and k not in self.reads() and k not in KEEP_NAMES}

    def _hide_edits(self, m):
        hide = self.hidden(m.name)
        if not hide:
            return []
        bound = _bindings(m.tree)
        new = {}
        for k in hide:
            p = "_" + k
            while p in bound or p in m.consts:
                p = "_" + p
            new[k] = p
        toks = _tokens(m.text)
        return [(t.start, t.end, new[t.string]) for i, t in enumerate(toks)
                if t.type == tokenize.NAME and t.string in new and not (i and toks[i - 1].string == ".")]


def _tokens(text):
    return [t for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)]


def _literal(v, after):
    s = "True" if v is True else "False" if v is False else str(v)
    if v < 0 or (after is not None and after.string == "."):
        s = "(%s)" % s
    return s


def _apply(text, edits):
    lines = text.splitlines(keepends=True)
    starts = [0]
    for ln in lines:
        starts.append(starts[-1] + len(ln))

    def off(pos):
        return starts[pos[0] - 1] + pos[1]

    out = text
    for a, b, s in sorted(edits, key=lambda e: off(e[0]), reverse=True):
        out = out[:off(a)] + s + out[off(b):]
    return out


_folder = [None]


def folder():
    """The one Folder of this process (sources read once)."""
    if _folder[0] is None:
        _folder[0] = Folder()
    return _folder[0]


def main(argv):
    f = folder()
    if argv and argv[0] == "--stats":
        total = 0
        for name in sorted(f.mods):
            n = f.fold(f.mods[name].rel)[1]
            total += n
            if n:
                print("%-28s %4d" % (name, n))
        print("total %d references folded" % total)
        return 0
    for rel in argv:
        sys.stdout.write(f.fold(os.path.relpath(os.path.abspath(rel), ROOT))[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
