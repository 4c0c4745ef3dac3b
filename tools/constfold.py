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
Then the one-line functions (INLINE): a call of a lib/ function whose body is `return EXPR` over
its parameters and its module's consts becomes EXPR with the arguments in place, when the
arguments are pure (no call left in them) and each parameter is read at most twice (a repeated
argument is a name or as small as `off + 20`); with HIDE, the functions no device file calls or
reads any more are left out of their module.
The rewrite keeps every line where it was, so tracebacks on the board point at the source lines.
Not folded: a name that any device file assigns as an attribute (`opts.TCP_PREALLOC = 2` in
firmware/main.py: a tunable set at boot) and a name rebound in the importing module. Files outside
lib/, firmware/ and boards/ (the tests compiled for the emulated boards) are folded as importers:
their own names stay.

    python3 tools/constfold.py lib/bsdnet/tcp_input.py     # the folded source, to stdout
    python3 tools/constfold.py --stats                     # references folded, calls inlined
"""
import ast
import copy
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
# what the emulated boards' test images compile beside lib/ (tools/mcu/mkfs.py collect(tests=True)),
# folded as importers: in a test image (folder(tests=True)), a name they still read after folding
# (a call not inlined, a module walked as a value) stays in lib/; a user's image leaves it out
TEST_READERS = ("host_tests/portable", "tools/emu", "tools/vmharness.py")
# public consts that stay in every module: the reason codes every hdr module shares (code that
# walks the modules reads mod.NREASONS and mod.DROP_SHORT)
KEEP_NAMES = ("NREASONS", "DROP_SHORT")
# one-expression functions (`def sport(buf, off): return (buf[off] << 8) | buf[off + 1]`) are
# inlined at their call sites in the .mpy build (INLINE): a call in MicroPython is a frame, a lookup
# of the module and of the name; the expression in its place is a few opcodes. A function that
# nothing calls or reads any more is then left out of its module's .mpy (HIDE), with its name.
INLINE = True
# a parameter read more than this often in the body is not inlined (its argument would be repeated);
# an argument is repeated only when it is at most ARG_REPEAT_MAX expression nodes (`off + 20`)
PARAM_USES_MAX = 2
ARG_REPEAT_MAX = 3
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

    def __init__(self, root=ROOT, tests=False):
        self.root = root
        self.tests = tests
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
        self.inline = self._inlinables() if INLINE else {}
        self._cache = {}
        self._stages = {}
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
            text, n, _ = self._stage(m)
            if HIDE and m.rel.startswith("lib/"):
                text = self._hide(m, text)
            self._cache[rel] = (text, n)
        return self._cache[rel]

    def _stage(self, m):
        """(text, consts folded, calls inlined) of m before HIDE: other modules' consts made literals,
        then the one-line functions inlined, each pass with its import lists pruned."""
        if m.rel not in self._stages:
            edits, n = self._edits(m)
            text = _apply(m.text, edits)
            k = 0
            if self.inline:
                text, k = self._inline(m, text)
            self._stages[m.rel] = (text, n, k)
        return self._stages[m.rel]

    def _inlinables(self):
        """{module: {function: (params, body with its consts as literals, reads per parameter)}}: the
        lib/ functions whose body is one `return EXPR` over their parameters and module consts."""
        out = {}
        for m in self.mods.values():
            if not m.rel.startswith("lib/"):
                continue
            b = _bindings(m.tree)
            consts = {k: v for k, v in m.consts.items() if b.get(k) == 1 and k not in self.stored}
            top = _bindings(ast.Module([d for d in m.tree.body if not isinstance(d, ast.FunctionDef)] + [
                n for n in ast.walk(m.tree) if isinstance(n, ast.Global)], []))
            for d in m.tree.body:
                # bound once at the top (a parameter of the same name elsewhere is another name)
                if not isinstance(d, ast.FunctionDef) or d.decorator_list or d.name in top or d.name == "const":
                    continue  # const(): mpy-cross folds NAME = const(X) only as it is written
                a = d.args
                if a.posonlyargs or a.vararg or a.kwonlyargs or a.kwarg or a.defaults:
                    continue
                body = [x for x in d.body if not (isinstance(x, ast.Expr) and isinstance(x.value, ast.Constant))]
                if len(body) != 1 or not isinstance(body[0], ast.Return) or body[0].value is None:
                    continue
                params = [x.arg for x in a.args]
                uses = dict.fromkeys(params, 0)
                ok = _pure(body[0].value)
                for n in ast.walk(body[0].value):
                    if isinstance(n, ast.Attribute):
                        ok = False
                    elif isinstance(n, ast.Name):
                        if n.id in uses:
                            uses[n.id] += 1
                        elif n.id not in consts:
                            ok = False
                if not ok or max(uses.values(), default=0) > PARAM_USES_MAX:
                    continue
                expr = _Subst({k: ast.Constant(v) for k, v in consts.items() if k not in uses}).visit(
                    copy.deepcopy(body[0].value))
                out.setdefault(m.name, {})[d.name] = (params, expr, uses)
        return out

    def _inline(self, m, text):
        """(text, calls inlined): m's calls of inlinable functions (alias.f(...), an imported f(...),
        or its own f(...)) replaced by their bodies; then the imported names no longer used dropped."""
        tree = ast.parse(text, m.rel)
        b = _bindings(tree)
        names = self._imported(m, tree)
        mods = {k: v for k, v in names.items() if v in self.mods}  # local name -> module
        funcs = {}  # local name -> (module, function)
        for k, v in names.items():
            src, _, fn = v.rpartition(".")
            if v not in self.mods and fn in self.inline.get(src, ()):
                funcs[k] = (src, fn)
        for f in self.inline.get(m.name, ()):
            if b.get(f) == 1:  # its own functions, where no parameter or local has the name
                funcs.setdefault(f, (m.name, f))

        def target(fn):
            if isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id in mods:
                return self.inline.get(mods[fn.value.id], {}).get(fn.attr)
            if isinstance(fn, ast.Name) and fn.id in funcs:
                return self.inline[funcs[fn.id][0]][funcs[fn.id][1]]
            return None

        inliner = _Inliner(target)
        edits = []
        count = [0]

        def walk(node):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.Call) and target(child.func) is not None:
                    inliner.n = 0
                    new = inliner.visit(copy.deepcopy(child))
                    if not isinstance(new, ast.Call):
                        count[0] += inliner.n
                        edits.append(((child.lineno, child.col_offset), (child.end_lineno, child.end_col_offset),
                                      "(%s%s)" % (ast.unparse(new), "\n" * (child.end_lineno - child.lineno))))
                        continue
                walk(child)

        walk(tree)
        if not edits:
            return text, 0
        text = _apply(text, edits)
        if m.name in API_MODULES:
            return text, count[0]
        # the imported functions no longer called or read leave their import lists
        tree = ast.parse(text, m.rel)
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        edits = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                keep = [a for a in node.names if (a.asname or a.name) not in funcs or (a.asname or a.name) in used]
                if len(keep) < len(node.names):
                    edits.append(_import_edit(node, keep, _all_bound(tree)))
        return _apply(text, edits), count[0]

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
                edits.append(_import_edit(node, names, _all_bound(m.tree)))
        return edits, n

    def reads(self, modname):
        """Every name some device file, example or board-side source still reads from module
        modname once folded: `alias.NAME` (the alias resolved to modname), imported names, strings
        (getattr(mod, "NAME")), and, when the module is used as a value somewhere (passed, kept),
        every attribute name read from an object the folder cannot resolve."""
        if self._reads is None:
            texts = [(m, self._stage(m)[0]) for m in self.mods.values() if m.rel not in SOURCE_FILES]
            texts += [(self.mods[module_name(r)], self.mods[module_name(r)].text) for r in SOURCE_FILES
                      if module_name(r) in self.mods]
            for d in READER_DIRS + (TEST_READERS if self.tests else ()):
                top = os.path.join(self.root, d)
                walk = os.walk(top) if os.path.isdir(top) else [(os.path.dirname(top), [], [os.path.basename(top)])]
                for dp, _, fns in walk:
                    for f in sorted(fns):
                        if f.endswith(".py") and os.path.exists(os.path.join(dp, f)):
                            rel = os.path.relpath(os.path.join(dp, f), self.root).replace(os.sep, "/")
                            with open(os.path.join(dp, f)) as fh:
                                m = _Mod(rel, fh.read())
                            texts.append((m, m.text if d in READER_DIRS else self._stage(m)[0]))
            per, strings, anyattr, escaped = {}, set(), set(), set()
            for m, text in texts:
                tree = ast.parse(text)
                resolve = self._resolver(m, tree)
                values = set()  # the Attribute/Name nodes read through (x in x.attr)
                slots = {id(n) for a in ast.walk(tree) if isinstance(a, ast.Assign)
                         and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in a.targets)
                         for n in ast.walk(a.value)}  # instance attributes, not a module's names
                for node in ast.walk(tree):
                    if isinstance(node, ast.Attribute):
                        values.add(id(node.value))
                        mod = resolve(node.value)
                        if mod is None:
                            anyattr.add(node.attr)
                        else:
                            per.setdefault(mod, set()).add(node.attr)
                    elif isinstance(node, ast.ImportFrom):
                        per.setdefault(self._resolve(m, node), set()).update(a.name for a in node.names)
                    elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in slots:
                        strings.add(node.value)
                for node in ast.walk(tree):
                    if isinstance(node, (ast.Name, ast.Attribute)) and id(node) not in values:
                        mod = resolve(node)
                        if mod is not None and isinstance(node.ctx, ast.Load):
                            escaped.add(mod)
            self._reads = (per, strings, anyattr, escaped)
        per, strings, anyattr, escaped = self._reads
        return per.get(modname, set()) | strings | (anyattr if modname in escaped else set())

    def _imported(self, m, tree):
        """local name -> the dotted name it was imported as ("bsdnet.hdr.tcp", "bsdnet.tcp_seq.seq_hi"),
        for the names of m bound only by imports, and all of them to the same thing."""
        out = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                src = self._resolve(m, node)
                for a in node.names:
                    out.setdefault(a.asname or a.name, set()).add(src + "." + a.name if src else a.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    full = a.name if a.asname else a.name.split(".")[0]
                    out.setdefault(a.asname or full, set()).add(full)
        b = _bindings(tree)
        return {k: next(iter(v)) for k, v in out.items() if len(v) == 1 and not b.get(k)}

    def _resolver(self, m, tree):
        """resolve(expr) -> the module that expr names in m (an imported alias, a package's
        submodule as an attribute), else None."""
        alias = {k: v for k, v in self._imported(m, tree).items() if v in self.mods}

        def resolve(e):
            if isinstance(e, ast.Name):
                return alias.get(e.id)
            if isinstance(e, ast.Attribute):
                r = resolve(e.value)
                if r is not None and r + "." + e.attr in self.mods:
                    return r + "." + e.attr
            return None

        return resolve

    def hidden(self, modname):
        """The public consts of lib/ module modname that become private in its .mpy (HIDE)."""
        m = self.mods.get(modname)
        if not HIDE or m is None or not m.rel.startswith("lib/") or modname in API_MODULES:
            return set()
        kw = {n.arg for n in ast.walk(m.tree) if isinstance(n, ast.keyword)}
        reads = self.reads(modname)
        return {k for k in self.public(modname) if k not in kw and k not in reads and k not in KEEP_NAMES}

    def dropped(self, modname):
        """The inlinable functions of lib/ module modname that its .mpy leaves out (HIDE): no device
        file calls or reads them once inlined, nor does the module itself."""
        m = self.mods.get(modname)
        if not HIDE or m is None or not m.rel.startswith("lib/") or modname in API_MODULES:
            return set()
        fns = set(self.inline.get(modname, ())) - self.reads(modname) - set(KEEP_NAMES)
        if fns:
            fns -= _global_loads(ast.parse(self._stage(m)[0], m.rel))
        return fns

    def _hide(self, m, text):
        """m's staged text with the functions dropped (blank lines in their place) and the hidden
        consts made private."""
        drop = self.dropped(m.name)
        if drop:
            lines = text.splitlines(keepends=True)
            for d in ast.parse(text, m.rel).body:
                if isinstance(d, ast.FunctionDef) and d.name in drop:
                    for i in range(d.lineno - 1, d.end_lineno):
                        lines[i] = "\n"
            text = "".join(lines)
        hide = self.hidden(m.name)
        if not hide:
            return text
        bound = _bindings(m.tree)
        new = {}
        for k in hide:
            p = "_" + k
            while p in bound or p in m.consts:
                p = "_" + p
            new[k] = p
        toks = _tokens(text)
        return _apply(text, [(t.start, t.end, new[t.string]) for i, t in enumerate(toks)
                             if t.type == tokenize.NAME and t.string in new and not (i and toks[i - 1].string == ".")])


def _all_bound(tree):
    """Every name bound anywhere in tree, imports included."""
    out = set(_bindings(tree))
    for n in ast.walk(tree):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
    return out


def _import_edit(node, names, bound):
    """The edit that leaves ImportFrom node with names. The statement stays, so its module loads
    where it did: with no name left, as `from . import mod` (the module object, no function or
    const kept alive by the name), or with its first name if the module binds that name itself
    (bound: the module's bindings)."""
    if names:
        text = "from %s%s import %s" % ("." * node.level, node.module or "", ", ".join(
            a.name + (" as " + a.asname if a.asname else "") for a in names))
    else:
        pkg, _, mod = (node.module or "").rpartition(".")
        if mod and mod not in bound and (node.level or pkg):
            text = "from %s%s import %s" % ("." * node.level, pkg, mod)
        else:
            return _import_edit(node, node.names[:1], bound)
    return ((node.lineno, node.col_offset), (node.end_lineno, node.end_col_offset),
            text + "\n" * (node.end_lineno - node.lineno))


def _global_loads(tree):
    """The names tree reads as module globals: a function's parameters and locals are other names."""
    out = set()

    def walk(node, local):
        for c in ast.iter_child_nodes(node):
            if isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                glob = {g for n in ast.walk(c) if isinstance(n, ast.Global) for g in n.names}
                inner = {n.id for n in ast.walk(c) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
                inner |= {a.arg for n in ast.walk(c) if isinstance(n, ast.arguments)
                          for a in n.posonlyargs + n.args + n.kwonlyargs + [n.vararg, n.kwarg] if a}
                walk(c, (local | inner) - glob)
            elif isinstance(c, ast.Name) and isinstance(c.ctx, ast.Load) and c.id not in local:
                out.add(c.id)
            else:
                walk(c, local)

    walk(tree, set())
    return out


def _pure(node):
    """No call, await, yield, walrus, lambda or comprehension in node: evaluating it twice or not
    at all, or later than the call would have, changes nothing."""
    return not any(isinstance(n, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.Lambda,
                                  ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.Starred))
                   for n in ast.walk(node))


def _size(node):
    return sum(isinstance(n, ast.expr) for n in ast.walk(node))


class _Subst(ast.NodeTransformer):
    """Names replaced by the nodes given (copies)."""

    def __init__(self, by):
        self.by = by

    def visit_Name(self, node):
        return copy.deepcopy(self.by[node.id]) if node.id in self.by else node


class _Inliner(ast.NodeTransformer):
    """Calls of inlinable functions (innermost first) replaced by their bodies, where the
    arguments allow it; n counts them."""

    def __init__(self, target):
        self.target = target
        self.n = 0

    def visit_Call(self, node):
        self.generic_visit(node)
        t = self.target(node.func)
        if t is None or node.keywords or len(node.args) != len(t[0]):
            return node
        params, body, uses = t
        for p, a in zip(params, node.args):
            if not _pure(a) or (uses[p] > 1 and _size(a) > ARG_REPEAT_MAX):
                return node
        self.n += 1
        return _Subst(dict(zip(params, node.args))).visit(copy.deepcopy(body))


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


_folders = {}


def folder(tests=False):
    """The Folder of this process (sources read once) for a user's image, or (tests) for an image
    with the portable tests."""
    if tests not in _folders:
        _folders[tests] = Folder(tests=tests)
    return _folders[tests]


def main(argv):
    f = folder()
    if argv and argv[0] == "--stats":
        total = inl = 0
        print("%-28s %6s %7s %s" % ("module", "consts", "inlined", "functions left out"))
        for name in sorted(f.mods):
            _, n, k = f._stage(f.mods[name])
            total += n
            inl += k
            drop = f.dropped(name)
            if n or k or drop:
                print("%-28s %6d %7d %s" % (name, n, k, " ".join(sorted(drop))))
        print("total %d references folded, %d calls inlined, %d functions left out" % (
            total, inl, sum(len(f.dropped(x)) for x in f.mods)))
        return 0
    for rel in argv:
        sys.stdout.write(f.fold(os.path.relpath(os.path.abspath(rel), ROOT))[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
