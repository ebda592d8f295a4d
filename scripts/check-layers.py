#!/usr/bin/env python3
"""Check the layering of smallpay's Rust sources from their import graph.

What it does
------------
It reads every ``src/**/*.rs`` file and builds a *file-level* import graph: an edge
``a.rs -> b.rs`` means ``a.rs`` names a path that lives in ``b.rs``, through a ``use`` tree
(grouped, nested, multi-line, ``pub use`` re-exports included) or an inline path in code
(``crate::db::retrying(..)``, ``super::repo::find(..)``, ``super::super::x``, ``self::f``, or a
name bound by an earlier ``use``, such as ``repo::find`` after ``use super::repo``).
``mod x;`` declarations are not edges, comments and string literals are ignored, and items
gated by ``#[cfg(test)]`` (the ``mod tests { .. }`` blocks) are skipped unless
``--include-tests`` is given. A path maps to the longest prefix of it that names a module file
(``src/x/y.rs`` or ``src/x/y/mod.rs``); ``src/lib.rs`` is the crate root and ``src/main.rs``
(and ``src/bin/*.rs``) reach the library as ``smallpay::..``.

Then it enforces:

* cycles: a strongly connected component of more than one file is allowed only when every
  file in it is a GraphQL object file (``graphql.rs``, or a file under a ``graphql/``
  directory, except the schema wiring in ``GRAPHQL_OBJECT_EXCLUDED``); any other is a
  violation;
* ``src/domain/**`` refers only to ``src/domain/**`` inside the crate, never names the
  crates in ``DOMAIN_FORBIDDEN_CRATES``, and of ``entity`` uses only ``entity::vocab``;
* nothing but ``APP_IMPORTERS`` imports ``src/app.rs``;
* the wiring files (``WIRING``) are imported only as ``WIRING_MAY_IMPORT`` allows;
* ``src/state.rs`` imports only the base files in ``STATE_MAY_IMPORT``.

A rule about a file that does not exist (yet) simply never fires.

How to run it
-------------
    python3 scripts/check-layers.py              # report; exit 0 when clean, 1 otherwise
    python3 scripts/check-layers.py --dot        # the file graph as Graphviz DOT
    python3 scripts/check-layers.py --mermaid    # module-level graph as Mermaid `graph TD`
    python3 scripts/check-layers.py --self-test  # check the checker on small fake trees
    python3 scripts/check-layers.py --root DIR   # another checkout (default: this script's repo)

e.g. ``python3 scripts/check-layers.py --dot | dot -Tsvg > layers.svg``.

Known limits: a textual scanner, not rustc. ``#[path = ..]`` attributes, ``include!``, macro
generated paths and paths inside string literals (``#[serde(with = "crate::x")]``) are not
seen; names brought in by a glob import (``use x::*``) are only resolved when they are child
modules of ``x``; modules of a binary (``mod x;`` in ``src/main.rs``) are analysed as if
they belonged to the library.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# The rules. Paths are relative to the repo root; "dir/**" means every file under dir/, "**"
# means every file.
# ---------------------------------------------------------------------------------------------

# GraphQL object files (`graphql.rs`, `.../graphql/...`) may form cycles with each other (the
# object types point at one another); these files of the graphql/ folder are wiring instead.
GRAPHQL_OBJECT_EXCLUDED = ["src/graphql/schema.rs", "src/graphql/mod.rs"]

# Pure rules and vocabulary.
DOMAIN = ["src/domain.rs", "src/domain/**"]
DOMAIN_FORBIDDEN_CRATES = [
    "sea_orm",
    "async_graphql",
    "axum",
    "tokio",
    "tower",
    "tower_http",
    "sqlx",
    "jsonwebtoken",
]
# Of the `entity` crate, the domain may use only these paths (and what is below them).
DOMAIN_ENTITY_ALLOWED = [("entity", "vocab")]

# The application builder: only these may import it.
APP = "src/app.rs"
APP_IMPORTERS = ["src/main.rs", "src/lib.rs"]

# Wiring: files that assemble the application. No file imports one of them unless the table
# below says so (a file importing itself is never an edge).
WIRING = [
    "src/app.rs",
    "src/http.rs",
    "src/http/**",
    "src/main.rs",
    "src/graphql/schema.rs",
    "src/graphql/service.rs",
    "src/jobs/runner.rs",
    "src/events/publisher.rs",
    "src/demo.rs",
]
WIRING_MAY_IMPORT = {
    "src/app.rs": ["**"],
    "src/main.rs": ["**"],
    "src/lib.rs": ["**"],  # only declares modules
    # The test clock's endpoint runs the jobs it made due.
    "src/http.rs": ["src/graphql/schema.rs", "src/graphql/service.rs", "src/http/**", "src/jobs/runner.rs"],
    "src/graphql/service.rs": ["src/graphql/schema.rs"],  # runs the schema
    # `http/graphql.rs` runs `/graphql`'s requests through the service, as `http.rs` did.
    "src/http/**": ["src/http.rs", "src/http/**", "src/graphql/schema.rs", "src/graphql/service.rs"],
    "src/graphql/mod.rs": ["src/graphql/schema.rs"],  # re-exports the schema builder
    # src/demo.rs, src/graphql/schema.rs, src/jobs/runner.rs, src/events/publisher.rs: none.
}

# The shared state may import only these base files.
STATE = "src/state.rs"
STATE_MAY_IMPORT = [
    "src/clock.rs",
    "src/config/mod.rs",
    "src/db.rs",
    "src/db/**",
    "src/error.rs",
    "src/gateway.rs",
    "src/gateway/**",
    "src/cards/seal.rs",
    "src/cards/notifier.rs",
    "src/events/bus.rs",
    "src/auth/jwt.rs",
    "src/auth/mod.rs",
    "src/auth/provisioned.rs",
    "src/auth/viewer.rs",
    "src/domain.rs",
    "src/domain/**",
    "src/money.rs",
    "src/ratelimit.rs",
]

# The library's name as the binaries spell it, when Cargo.toml does not say.
DEFAULT_LIB_NAME = "smallpay"


def matches(path: str, pattern: str) -> bool:
    if pattern == "**":
        return True
    if pattern.endswith("/**"):
        return path.startswith(pattern[:-2])
    return path == pattern


def matches_any(path: str, patterns) -> bool:
    return any(matches(path, p) for p in patterns)


# ---------------------------------------------------------------------------------------------
# Lexer: identifiers, `::` and single punctuation; comments, strings, chars and lifetimes gone.
# ---------------------------------------------------------------------------------------------

IDENT = re.compile(r"[^\W\d]\w*")
NUMBER = re.compile(r"\d[\w]*")


@dataclass(frozen=True)
class Tok:
    kind: str  # "id", "p" (punctuation), "num", "lt" (lifetime or label)
    text: str
    line: int


def _skip_quoted(text: str, i: int) -> int:
    """`i` is just after an opening `"`: the index just after the closing one."""
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
        elif c == '"':
            return i + 1
        else:
            i += 1
    return n


def _skip_char(text: str, i: int) -> int | None:
    """`i` is at a `'`: the index after the char literal there, or None for a lifetime."""
    n = len(text)
    if i + 1 < n and text[i + 1] == "\\":
        j = text.find("'", i + 3)
        return n if j < 0 else j + 1
    if i + 2 < n and text[i + 2] == "'" and text[i + 1] != "'":
        return i + 3
    return None


def lex(text: str) -> list[Tok]:
    toks: list[Tok] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            line += text.count("\n", i, j)
            i = j
        elif c == '"':
            j = _skip_quoted(text, i + 1)
            line += text.count("\n", i, j)
            i = j
        elif c == "'":
            j = _skip_char(text, i)
            if j is not None:
                i = j
            else:
                m = IDENT.match(text, i + 1)
                end = m.end() if m else i + 1
                toks.append(Tok("lt", text[i:end], line))
                i = end
        elif c.isdigit():
            m = NUMBER.match(text, i)
            toks.append(Tok("num", m.group(), line))
            i = m.end()
        elif IDENT.match(text, i):
            m = IDENT.match(text, i)
            word, end = m.group(), m.end()
            nxt = text[end] if end < n else ""
            if word in ("r", "br", "cr") and nxt in ('"', "#"):
                k = end
                while k < n and text[k] == "#":
                    k += 1
                if k < n and text[k] == '"':  # raw string r#"..."#
                    close = '"' + "#" * (k - end)
                    j = text.find(close, k + 1)
                    j = n if j < 0 else j + len(close)
                    line += text.count("\n", i, j)
                    i = j
                    continue
                if word == "r" and k == end + 1:  # raw identifier r#type
                    m2 = IDENT.match(text, k)
                    if m2:
                        toks.append(Tok("id", m2.group(), line))
                        i = m2.end()
                        continue
            if word in ("b", "c") and nxt == '"':
                j = _skip_quoted(text, end + 1)
                line += text.count("\n", i, j)
                i = j
                continue
            if word == "b" and nxt == "'":
                j = _skip_char(text, end)
                if j is not None:
                    i = j
                    continue
            toks.append(Tok("id", word, line))
            i = end
        elif text.startswith("::", i):
            toks.append(Tok("p", "::", line))
            i += 2
        elif c == "$":  # `$crate` in macros is `crate`
            i += 1
        else:
            toks.append(Tok("p", c, line))
            i += 1
    return toks


# ---------------------------------------------------------------------------------------------
# Scanner: the paths a file names, with the module they are named from.
# ---------------------------------------------------------------------------------------------


@dataclass
class Ref:
    segs: tuple[str, ...]  # as written, leading `::` dropped, trailing `self` dropped
    module: tuple[str, ...]  # the (inline) module the path is written in, relative to the file's
    line: int
    kind: str  # "use", "path", "glob" (use x::*), "mention" (a bare crate name)


@dataclass
class Scan:
    refs: list[Ref] = field(default_factory=list)
    bindings: dict[str, Ref] = field(default_factory=dict)  # name -> the use path it binds
    globs: list[Ref] = field(default_factory=list)
    declared_mods: set[str] = field(default_factory=set)  # `mod x;` at the file's top level


def _match(toks, i, close, open_):
    """toks[i] is `open_`: the index just after the matching `close`."""
    depth = 0
    while i < len(toks):
        t = toks[i].text if toks[i].kind == "p" else None
        if t == open_:
            depth += 1
        elif t == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _is_p(toks, i, text):
    return 0 <= i < len(toks) and toks[i].kind == "p" and toks[i].text == text


def _is_id(toks, i, text=None):
    return 0 <= i < len(toks) and toks[i].kind == "id" and (text is None or toks[i].text == text)


def _is_test_cfg(inner: list[Tok]) -> bool:
    words = [t.text for t in inner if t.kind == "id"]
    return bool(words) and words[0] == "cfg" and "test" in words and "not" not in words


def _skip_item(toks, i):
    """Skip the item starting at i (after its attributes): to its `;` or its `{ .. }` block."""
    n = len(toks)
    while _is_p(toks, i, "#"):
        j = i + 1 + _is_p(toks, i + 1, "!")
        i = _match(toks, j, "]", "[") if _is_p(toks, j, "[") else j
    depth = 0
    while i < n:
        t = toks[i]
        if t.kind == "p":
            if t.text in "([":
                depth += 1
            elif t.text in ")]":
                depth -= 1
            elif depth == 0 and t.text == ";":
                return i + 1
            elif depth == 0 and t.text == "{":
                return _match(toks, i, "}", "{")
        i += 1
    return n


def _parse_use_tree(toks, i, prefix, out):
    """Parse one use tree at i with the given prefix; append (segs, alias, glob) to out."""
    segs = list(prefix)
    n = len(toks)
    if _is_p(toks, i, "::"):  # `use ::sea_orm::X`
        i += 1
    while i < n:
        t = toks[i]
        if t.kind == "id":
            segs.append(t.text)
            i += 1
            if _is_p(toks, i, "::"):
                i += 1
                continue
            alias = None
            if _is_id(toks, i, "as") and i + 1 < n:
                alias = toks[i + 1].text
                i += 2
            out.append((tuple(segs), alias, False, t.line))
            return i
        if t.kind == "p" and t.text == "*":
            out.append((tuple(segs), None, True, t.line))
            return i + 1
        if t.kind == "p" and t.text == "{":
            i += 1
            while i < n and not _is_p(toks, i, "}"):
                if _is_p(toks, i, ","):
                    i += 1
                    continue
                j = _parse_use_tree(toks, i, segs, out)
                i = j if j > i else i + 1
            return i + 1
        return i + 1  # not a use tree after all
    return i


def scan(toks: list[Tok], include_tests: bool = False, extern_names=()) -> Scan:
    """Walk the tokens of one file and collect the paths it names."""
    s = Scan()
    n = len(toks)
    mods: list[tuple[str, int]] = []  # inline modules: (name, brace depth inside it)
    depth = 0
    i = 0
    while i < n:
        t = toks[i]
        cur = tuple(m for m, _ in mods)
        if t.kind == "p":
            if t.text == "#":
                inner_attr = _is_p(toks, i + 1, "!")
                j = i + 1 + inner_attr
                if _is_p(toks, j, "["):
                    end = _match(toks, j, "]", "[")
                    if not include_tests and _is_test_cfg(toks[j + 1 : end - 1]):
                        if inner_attr:  # #![cfg(test)]: the whole file or module is test-only
                            if not mods:
                                return Scan()
                            i = end
                            continue
                        i = _skip_item(toks, end)
                        continue
                i += 1
            elif t.text == "{":
                depth += 1
                i += 1
            elif t.text == "}":
                if mods and mods[-1][1] == depth:
                    mods.pop()
                depth -= 1
                i += 1
            else:
                i += 1
            continue
        if t.kind != "id":
            i += 1
            continue
        word = t.text
        if word == "mod" and _is_id(toks, i + 1):
            name = toks[i + 1].text
            if _is_p(toks, i + 2, ";"):
                if not mods:
                    s.declared_mods.add(name)
                i += 3
                continue
            if _is_p(toks, i + 2, "{"):
                depth += 1
                mods.append((name, depth))
                i += 3
                continue
        if word == "use":
            out = []
            j = _parse_use_tree(toks, i + 1, (), out)
            while j < n and not _is_p(toks, j - 1, ";") and not _is_p(toks, j, ";"):
                j += 1  # malformed: resync at the `;`
            if _is_p(toks, j, ";"):
                j += 1
            for segs, alias, glob, line in out:
                if segs and segs[-1] == "self":
                    segs = segs[:-1]
                if not segs:
                    continue
                ref = Ref(segs, cur, line, "glob" if glob else "use")
                s.refs.append(ref)
                if glob:
                    s.globs.append(ref)
                else:
                    name = alias or segs[-1]
                    if name != "_":
                        s.bindings.setdefault(name, ref)
            i = j
            continue
        # An inline path: an identifier followed by `::` that does not continue a path.
        # `a::b`, `Vec::<u8>::new`: b and new continue a path; `::sea_orm::X` starts one.
        continuing = _is_p(toks, i - 1, "::") and (_is_id(toks, i - 2) or _is_p(toks, i - 2, ">"))
        after_dot = _is_p(toks, i - 1, ".")
        if _is_p(toks, i + 1, "::") and not continuing and not after_dot:
            if _is_id(toks, i - 1, "in") and _is_p(toks, i - 2, "("):  # pub(in crate::x)
                i += 1
                continue
            segs = [word]
            j = i + 1
            while _is_p(toks, j, "::") and _is_id(toks, j + 1):
                segs.append(toks[j + 1].text)
                j += 2
            s.refs.append(Ref(tuple(segs), cur, t.line, "path"))
            i = j
            continue
        if word in extern_names and not continuing and not after_dot:
            s.refs.append(Ref((word,), cur, t.line, "mention"))
        i += 1
    return s


# ---------------------------------------------------------------------------------------------
# The crate: files, module paths, resolution.
# ---------------------------------------------------------------------------------------------


@dataclass
class Tree:
    """A module tree: the library (rooted at src/lib.rs) or a binary (src/main.rs, ...)."""

    root_file: str
    base_dir: str  # where its top-level module files live
    top_level: set[str] | None  # binaries: the modules the root declares; None: any file


@dataclass
class Violation:
    rule: str
    text: str


class Crate:
    def __init__(self, root: Path, include_tests: bool = False):
        self.root = root
        self.include_tests = include_tests
        self.lib_name = lib_name(root)
        src = root / "src"
        self.files = sorted(p.relative_to(root).as_posix() for p in src.rglob("*.rs") if p.is_file())
        self.fileset = set(self.files)
        self.lib = Tree("src/lib.rs", "src", None)
        self.scans: dict[str, Scan] = {}
        extern = set(DOMAIN_FORBIDDEN_CRATES)
        for f in self.files:
            text = (root / f).read_text(encoding="utf-8", errors="replace")
            self.scans[f] = scan(lex(text), include_tests, extern)
        self.trees: dict[str, Tree] = {}
        for f in self.files:
            if self.is_bin_root(f):
                self.trees[f] = Tree(f, os.path.dirname(f), self.scans[f].declared_mods)
        # edges[a][b] = (line, how) of the first reference
        self.edges: dict[str, dict[str, tuple[int, str]]] = {f: {} for f in self.files}
        self.externals: dict[str, list[tuple[tuple[str, ...], int]]] = defaultdict(list)
        for f in self.files:
            self._resolve_file(f)

    # -- files and modules

    def is_bin_root(self, f: str) -> bool:
        if f == "src/main.rs":
            return True
        parts = f.split("/")
        return parts[:2] == ["src", "bin"] and (len(parts) == 3 or (len(parts) == 4 and parts[3] == "main.rs"))

    def tree_of(self, f: str) -> tuple[Tree, tuple[str, ...]]:
        """The module tree a file belongs to and its module path in it."""
        if f in self.trees:
            return self.trees[f], ()
        if f == "src/lib.rs":
            return self.lib, ()
        parts = f[len("src/") :][: -len(".rs")].split("/")
        if parts[-1] == "mod":
            parts = parts[:-1]
        return self.lib, tuple(parts)

    def module_file(self, tree: Tree, segs: tuple[str, ...]) -> str | None:
        """The file of module `segs` in `tree`, if it exists."""
        if not segs:
            return tree.root_file
        if tree.top_level is not None and segs[0] not in tree.top_level:
            return None
        base = tree.base_dir + "/" + "/".join(segs)
        for cand in (base + ".rs", base + "/mod.rs"):
            if cand in self.fileset:
                return cand
        return None

    def file_for(self, tree: Tree, segs: tuple[str, ...]) -> str:
        for k in range(len(segs), 0, -1):
            f = self.module_file(tree, segs[:k])
            if f:
                return f
        return tree.root_file

    # -- resolution

    def resolve(self, f: str, ref: Ref, seen=None):
        """("int", tree, absolute segs) | ("ext", segs) | None for a reference made in file f."""
        tree, modpath = self.tree_of(f)
        here = modpath + ref.module
        segs = ref.segs
        first = segs[0]
        if ref.kind == "mention":
            return ("ext", segs)
        if first == "crate":
            return ("int", tree, segs[1:])
        if first in ("self", "super"):
            base = list(here)
            rest = list(segs)
            while rest and rest[0] in ("self", "super"):
                if rest.pop(0) == "super" and base:
                    base.pop()
            return ("int", tree, tuple(base + rest))
        if first == self.lib_name and tree is not self.lib:
            return ("int", self.lib, segs[1:])
        scan_ = self.scans[f]
        seen = (seen or set()) | {id(ref)}
        bound = scan_.bindings.get(first)  # a name bound by a `use` of this file
        if bound is not None and id(bound) not in seen:
            r = self.resolve(f, bound, seen)
            if r[0] == "int":
                return ("int", r[1], r[2] + segs[1:])
            return ("ext", r[1] + segs[1:])
        if self.module_file(tree, here + (first,)):
            return ("int", tree, here + segs)  # a child module, 2018-style relative path
        for g in scan_.globs:  # `use x::*` brings x's child modules into scope
            if id(g) in seen:
                continue
            r = self.resolve(f, g, seen)
            if r[0] == "int" and self.module_file(r[1], r[2] + (first,)):
                return ("int", r[1], r[2] + segs)
        return ("ext", segs)

    def _resolve_file(self, f: str):
        for ref in self.scans[f].refs:
            r = self.resolve(f, ref)
            if r is None:
                continue
            if r[0] == "ext":
                self.externals[f].append((r[1], ref.line))
                continue
            target = self.file_for(r[1], r[2])
            if target != f and target not in self.edges[f]:
                self.edges[f][target] = (ref.line, ref.kind)

    @property
    def edge_count(self) -> int:
        return sum(len(v) for v in self.edges.values())


def lib_name(root: Path) -> str:
    try:
        data = tomllib.loads((root / "Cargo.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        return DEFAULT_LIB_NAME
    name = data.get("lib", {}).get("name") or data.get("package", {}).get("name") or DEFAULT_LIB_NAME
    return name.replace("-", "_")


# ---------------------------------------------------------------------------------------------
# Graph algorithms.
# ---------------------------------------------------------------------------------------------


def tarjan(nodes, edges) -> list[list[str]]:
    """Strongly connected components, iteratively (no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    comps: list[list[str]] = []
    counter = 0
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                comps.append(sorted(comp))
    return comps


def shortest_cycle(comp: list[str], edges) -> list[str]:
    """A shortest cycle through src/app.rs if it is in the component, else its most imported file."""
    members = set(comp)
    indeg = {v: sum(1 for u in comp if v in edges[u]) for v in comp}
    hub = max(comp, key=lambda v: (v == APP, indeg[v]))  # comp is sorted: ties go to the first
    prev = {hub: None}
    queue = deque([hub])
    while queue:
        u = queue.popleft()
        for w in sorted(edges[u]):
            if w not in members:
                continue
            if w == hub:
                path = [u]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [hub]
            if w not in prev:
                prev[w] = u
                queue.append(w)
    return [hub]


# ---------------------------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------------------------


def is_graphql_object(f: str) -> bool:
    if f in GRAPHQL_OBJECT_EXCLUDED:
        return False
    parts = f.split("/")
    return parts[-1] == "graphql.rs" or "graphql" in parts[:-1]


@dataclass
class Report:
    files: int
    edges: int
    violations: list[Violation]
    allowed_cycles: list[list[str]]
    cycles: list[list[str]]  # the disallowed ones
    violating_edges: set[tuple[str, str]]


def check(crate: Crate) -> Report:
    violations: list[Violation] = []
    bad_edges: set[tuple[str, str]] = set()
    edges = crate.edges

    def edge_violation(src, dst, rule, why):
        line, _ = edges[src][dst]
        violations.append(Violation(rule, f"{src}: imports {dst} ({why}; line {line})"))
        bad_edges.add((src, dst))

    # cycles
    comps = [c for c in tarjan(crate.files, edges) if len(c) > 1]
    comps.sort(key=lambda c: (-len(c), c))
    allowed, cycles = [], []
    for comp in comps:
        if all(is_graphql_object(f) for f in comp):
            allowed.append(comp)
            continue
        cycles.append(comp)
        example = shortest_cycle(comp, edges)
        members = "\n".join(f"      {f}" for f in comp)
        violations.append(
            Violation(
                "cycle",
                f"cycle of {len(comp)} files (not all GraphQL objects), e.g. {' -> '.join(example)}:\n{members}",
            )
        )
        inside = set(comp)
        bad_edges.update((a, b) for a in comp for b in edges[a] if b in inside)

    for src in crate.files:
        for dst in sorted(edges[src]):
            # domain
            if matches_any(src, DOMAIN) and not matches_any(dst, DOMAIN):
                edge_violation(src, dst, "domain", "domain may import only src/domain/**")
            # app
            if dst == APP and src not in APP_IMPORTERS:
                edge_violation(src, dst, "app", f"only {', '.join(APP_IMPORTERS)} may import {APP}")
            # wiring (app.rs has its own, stricter rule above)
            elif matches_any(dst, WIRING):
                allowed_targets = [t for pat, ts in WIRING_MAY_IMPORT.items() if matches(src, pat) for t in ts]
                if not matches_any(dst, allowed_targets):
                    edge_violation(src, dst, "wiring", "wiring is imported only by the wiring that assembles it")
            # state
            if src == STATE and not matches_any(dst, STATE_MAY_IMPORT):
                edge_violation(src, dst, "state", f"{STATE} may import only base files")

    # domain: external crates
    for src in crate.files:
        if not matches_any(src, DOMAIN):
            continue
        reported = set()
        for segs, line in crate.externals.get(src, ()):
            name = "::".join(segs)
            if segs[0] in DOMAIN_FORBIDDEN_CRATES:
                key = segs[0]
                why = f"domain must not use the crate {segs[0]}"
            elif segs[0] == "entity" and not any(
                tuple(segs[: len(a)]) == a for a in DOMAIN_ENTITY_ALLOWED
            ):
                key = name
                why = "domain may use only entity::vocab of the entity crate"
            else:
                continue
            if key in reported:
                continue
            reported.add(key)
            violations.append(Violation("domain", f"{src}: imports {name} ({why}; line {line})"))

    return Report(len(crate.files), crate.edge_count, violations, allowed, cycles, bad_edges)


# ---------------------------------------------------------------------------------------------
# Output.
# ---------------------------------------------------------------------------------------------


def print_report(report: Report, out=sys.stdout):
    p = lambda *a: print(*a, file=out)  # noqa: E731
    p(f"layers: {report.files} files, {report.edges} edges (src/**/*.rs)")
    if report.allowed_cycles:
        p(f"graphql object cycles (allowed): {len(report.allowed_cycles)}")
        for comp in report.allowed_cycles:
            p(f"  - {len(comp)} files: {', '.join(comp)}")
    else:
        p("graphql object cycles (allowed): none")
    if report.violations:
        by_rule = defaultdict(int)
        for v in report.violations:
            by_rule[v.rule] += 1
        p(f"violations ({', '.join(f'{r}: {c}' for r, c in by_rule.items())}):")
        for v in report.violations:
            p(f"  {v.text}")
        p(f"layers: {len(report.violations)} violations")
    else:
        p("layers: ok")


def print_dot(crate: Crate, report: Report, out=sys.stdout):
    in_cycle = {f for comp in report.cycles for f in comp}
    in_allowed = {f for comp in report.allowed_cycles for f in comp}
    print("digraph layers {", file=out)
    print('  rankdir=LR; node [shape=box, fontname="monospace", fontsize=10];', file=out)
    for f in crate.files:
        attrs = [f'label="{f[len("src/"):]}"']
        if f in in_cycle:
            attrs.append('style=filled, fillcolor="#f8c8c8"')
        elif f in in_allowed:
            attrs.append('style=filled, fillcolor="#d8e8f8"')
        print(f'  "{f}" [{", ".join(attrs)}];', file=out)
    for src in crate.files:
        for dst in sorted(crate.edges[src]):
            attr = ' [color="red"]' if (src, dst) in report.violating_edges else ""
            print(f'  "{src}" -> "{dst}"{attr};', file=out)
    print("}", file=out)


def top_module(f: str) -> str:
    rest = f[len("src/") :]
    first = rest.split("/")[0]
    return first[: -len(".rs")] if first.endswith(".rs") else first


def print_mermaid(crate: Crate, out=sys.stdout):
    mods = sorted({top_module(f) for f in crate.files})
    pairs = sorted(
        {(top_module(a), top_module(b)) for a in crate.files for b in crate.edges[a]} - {(m, m) for m in mods}
    )
    print("graph TD", file=out)
    for m in mods:
        print(f'  m_{m}["{m}"]', file=out)
    for a, b in pairs:
        print(f"  m_{a} --> m_{b}", file=out)


# ---------------------------------------------------------------------------------------------
# Self-test.
# ---------------------------------------------------------------------------------------------

SELFTEST_BAD = {
    "Cargo.toml": '[package]\nname = "smallpay"\n',
    "src/lib.rs": "pub mod a;\npub mod b;\npub mod domain;\npub mod shop;\npub mod x;\npub mod y;\n",
    # a <-> b: a cycle of two files that are not GraphQL objects
    "src/a.rs": "use crate::b::B;\npub struct A;\n",
    "src/b.rs": "pub struct B;\npub fn f() -> crate::a::A { crate::a::A }\n",
    # x/graphql.rs <-> y/graphql.rs: allowed
    "src/x/mod.rs": "pub mod graphql;\n",
    "src/x/graphql.rs": "use crate::y::graphql::Y;\npub struct X(Y);\n",
    "src/y/mod.rs": "pub mod graphql;\n",
    "src/y/graphql.rs": "pub struct Y;\nfn back() -> crate::x::graphql::X { todo!() }\n",
    "src/domain/mod.rs": "pub mod rules;\n",
    "src/domain/rules.rs": "use sea_orm::DbErr;\nuse crate::domain::Vocab;\n",
    "src/shop/mod.rs": "pub mod repo;\npub mod rules;\npub mod service;\npub mod types;\n",
    "src/shop/types.rs": "pub struct Id;\n",
    "src/shop/repo.rs": "pub fn find() {}\n",
    "src/shop/rules.rs": "pub fn ok() {}\npub struct Policy;\n",
    # a grouped multi-line use tree, super:: in code, and things that are no edge
    "src/shop/service.rs": (
        "//! Mentions crate::a::A in a doc comment.\n"
        "use crate::{\n"
        "    shop::{\n"
        "        rules::{self, Policy},\n"
        "        types::Id as ShopId,\n"
        "    },\n"
        "};\n"
        "/* crate::b::f() in a block comment /* nested crate::b */ */\n"
        "pub fn go(c: char) -> &'static str {\n"
        "    let _ = (rules::ok(), '\"', b'x', r#\"crate::a::A \" \"#);\n"
        "    super::repo::find();\n"
        '    "crate::b::f() in a string"\n'
        "}\n"
        "#[cfg(test)]\n"
        "mod tests {\n"
        "    use super::*;\n"
        "    use crate::a::A;\n"
        "}\n"
    ),
}
SELFTEST_BAD_EDGES = {
    ("src/a.rs", "src/b.rs"),
    ("src/b.rs", "src/a.rs"),
    ("src/x/graphql.rs", "src/y/graphql.rs"),
    ("src/y/graphql.rs", "src/x/graphql.rs"),
    ("src/domain/rules.rs", "src/domain/mod.rs"),
    ("src/shop/service.rs", "src/shop/rules.rs"),
    ("src/shop/service.rs", "src/shop/types.rs"),
    ("src/shop/service.rs", "src/shop/repo.rs"),
}
SELFTEST_BAD_VIOLATIONS = [
    "cycle of 2 files (not all GraphQL objects), e.g. src/a.rs -> src/b.rs -> src/a.rs:\n"
    "      src/a.rs\n      src/b.rs",
    "src/domain/rules.rs: imports sea_orm::DbErr (domain must not use the crate sea_orm; line 1)",
]

SELFTEST_RULES = {
    "src/lib.rs": "pub mod app;\npub mod domain;\npub mod graphql;\npub mod http;\npub mod jobs;\n"
    "pub mod money;\npub mod payouts;\npub mod state;\npub mod demo;\n",
    "src/main.rs": "use smallpay::{app::App, http};\nfn main() { smallpay::demo::load(); crate::run(); }\n",
    "src/app.rs": "use crate::{graphql::schema::build, http::router, state::State, demo};\n",
    "src/http.rs": "use crate::graphql::schema::build;\n",
    "src/demo.rs": "pub fn load() { crate::http::router(); }\n",
    "src/graphql/mod.rs": "pub mod schema;\npub use schema::build;\n",
    "src/graphql/schema.rs": "pub fn build() {}\n",
    "src/jobs/mod.rs": "pub mod runner;\npub use self::runner::start;\n",
    "src/jobs/runner.rs": "pub fn start() { let _ = crate::app::App; }\n",
    "src/money.rs": "pub struct Cny;\n",
    "src/state.rs": "use crate::{money::Cny, payouts::repo};\n",
    "src/payouts/mod.rs": "pub mod repo;\n",
    "src/payouts/repo.rs": "use crate::money::Cny;\n",
    "src/domain/mod.rs": (
        "use entity::vocab::Kind;\nuse entity::payout;\nuse crate::money::Cny;\n"
        "#[derive(Debug)]\n#[tokio::main]\nasync fn f() { let x = crate::domain::g(); }\n"
    ),
}
SELFTEST_RULES_VIOLATIONS = [
    "src/demo.rs: imports src/http.rs (wiring is imported only by the wiring that assembles it; line 1)",
    "src/domain/mod.rs: imports src/money.rs (domain may import only src/domain/**; line 3)",
    "src/jobs/mod.rs: imports src/jobs/runner.rs (wiring is imported only by the wiring that assembles it; line 2)",
    "src/jobs/runner.rs: imports src/app.rs (only src/main.rs, src/lib.rs may import src/app.rs; line 1)",
    "src/state.rs: imports src/payouts/repo.rs (src/state.rs may import only base files; line 1)",
    "src/domain/mod.rs: imports entity::payout (domain may use only entity::vocab of the entity crate; line 2)",
    "src/domain/mod.rs: imports tokio::main (domain must not use the crate tokio; line 5)",
]

SELFTEST_CLEAN = {
    "src/lib.rs": "//! Root.\npub mod auth;\npub mod orders;\npub mod payouts;\n",
    "src/main.rs": "use smallpay::auth::Role;\nfn main() { smallpay::payouts::service::run(); }\n",
    "src/auth/mod.rs": "pub mod viewer;\npub use viewer::Role;\n",
    "src/auth/viewer.rs": "pub enum Role { Admin }\n",
    "src/orders/mod.rs": "pub mod graphql;\n",
    "src/orders/graphql.rs": "use crate::payouts::graphql::Payout;\npub struct Order;\n",
    "src/payouts/mod.rs": "pub mod graphql;\npub mod service;\n",
    "src/payouts/graphql.rs": (
        "use super::{\n    service::{self, run},\n};\n"
        "pub struct Payout(crate::orders::graphql::Order);\n"
        "fn go() { service::run(); self::helper(); super::super::auth::viewer::Role::Admin; }\n"
        "fn helper() {}\n"
    ),
    "src/payouts/service.rs": "use crate::auth::Role;\npub fn run() { let _: Vec<crate::auth::viewer::Role>; }\n",
}
SELFTEST_CLEAN_EDGES = {
    ("src/main.rs", "src/auth/mod.rs"),
    ("src/main.rs", "src/payouts/service.rs"),
    ("src/auth/mod.rs", "src/auth/viewer.rs"),
    ("src/orders/graphql.rs", "src/payouts/graphql.rs"),
    ("src/payouts/graphql.rs", "src/payouts/service.rs"),
    ("src/payouts/graphql.rs", "src/orders/graphql.rs"),
    ("src/payouts/graphql.rs", "src/auth/viewer.rs"),
    ("src/payouts/service.rs", "src/auth/mod.rs"),
    ("src/payouts/service.rs", "src/auth/viewer.rs"),
}


def _write_tree(base: Path, files: dict[str, str]):
    for rel, text in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")


def _edge_set(crate: Crate) -> set[tuple[str, str]]:
    return {(a, b) for a in crate.files for b in crate.edges[a]}


def self_test() -> int:
    failures = []

    def expect(what, got, want):
        if got != want:
            failures.append(f"{what}:\n    got:  {got!r}\n    want: {want!r}")

    toks = [t.text for t in lex("let s = r##\"a \"# b\"##; let c = '\\''; x::<'a>; // y::z\n/* a /* b */ c */ q")]
    expect("lexer", toks, ["let", "s", "=", ";", "let", "c", "=", ";", "x", "::", "<", "'a", ">", ";", "q"])

    script = Path(__file__).resolve()
    with tempfile.TemporaryDirectory(prefix="check-layers-") as tmp:
        for name, files, want_edges, want_violations, want_allowed, want_rc in [
            ("bad", SELFTEST_BAD, SELFTEST_BAD_EDGES, SELFTEST_BAD_VIOLATIONS, [["src/x/graphql.rs", "src/y/graphql.rs"]], 1),
            ("rules", SELFTEST_RULES, None, SELFTEST_RULES_VIOLATIONS, [], 1),
            ("clean", SELFTEST_CLEAN, SELFTEST_CLEAN_EDGES, [], [["src/orders/graphql.rs", "src/payouts/graphql.rs"]], 0),
        ]:
            base = Path(tmp) / name
            _write_tree(base, files)
            crate = Crate(base)
            report = check(crate)
            if want_edges is not None:
                expect(f"{name}: edges", sorted(_edge_set(crate)), sorted(want_edges))
            expect(f"{name}: violations", [v.text for v in report.violations], want_violations)
            expect(f"{name}: allowed cycles", report.allowed_cycles, want_allowed)
            run = subprocess.run(
                [sys.executable, str(script), "--root", str(base)], capture_output=True, text=True, check=False
            )
            expect(f"{name}: exit code", run.returncode, want_rc)
            last = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
            expect(f"{name}: last line", last, "layers: ok" if want_rc == 0 else f"layers: {len(want_violations)} violations")
        # the rules tree without the files a refactor has not written yet: those rules stay quiet
        base = Path(tmp) / "partial"
        partial = {k: v for k, v in SELFTEST_RULES.items() if k not in ("src/state.rs", "src/domain/mod.rs", "src/jobs/runner.rs")}
        _write_tree(base, partial)
        expect("partial: violations", [v.text for v in check(Crate(base)).violations], [SELFTEST_RULES_VIOLATIONS[0]])

    if failures:
        print("check-layers self-test: FAILED", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        return 1
    print("check-layers self-test: ok")
    return 0


# ---------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent, help="repo root")
    out = parser.add_mutually_exclusive_group()
    out.add_argument("--dot", action="store_true", help="print the file graph as Graphviz DOT")
    out.add_argument("--mermaid", action="store_true", help="print the module graph as Mermaid `graph TD`")
    out.add_argument("--self-test", action="store_true", help="run the checker on small fake trees")
    parser.add_argument("--include-tests", action="store_true", help="also count #[cfg(test)] items")
    args = parser.parse_args(argv)

    if args.self_test:
        return self_test()
    if not (args.root / "src").is_dir():
        print(f"check-layers: no src/ under {args.root}", file=sys.stderr)
        return 2
    crate = Crate(args.root, include_tests=args.include_tests)
    report = check(crate)
    if args.dot:
        print_dot(crate, report)
        return 0
    if args.mermaid:
        print_mermaid(crate)
        return 0
    print_report(report)
    return 0 if not report.violations else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `--dot | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
