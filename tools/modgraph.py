#!/usr/bin/env python3
"""Print a crate's module graph from its `use` lines and report any cycle.

    python3 tools/modgraph.py [kernel/prelude/src]

Every `.rs` file under the source directory is a module (`sys/books.rs` is
`sys::books`, `sys/mod.rs` is `sys`). An edge A -> B is a `use crate::...`,
`use super::...` or `use self::...` statement in A (grouped forms such as
`use crate::{a, b::c}` included) or a `crate::...` path in A's code (comments
skipped), resolved to the longest module path it names. Only dependencies are
counted, so a parent's `mod child;` is no edge; a `pub use child::X` is.

Two views are printed:
  * layers: the crate root's modules (`sys`, `multiprocessing`, ...), bottom
    first, each with what it uses; any cycle among them;
  * modules: cycles between individual modules, leaving out edges between a
    module and its own ancestors (a `mod.rs` re-exporting its children and the
    children using the parent's re-exports is a facade, not a circle).

Exit status 1 when either view has a cycle. Python 3 standard library only.
"""

import os
import re
import sys

USE = re.compile(r"\buse\s+((?:crate|super|self)\b[^;]*|[a-z_][a-z0-9_]*::[^;]*);", re.S)
PATH = re.compile(r"\bcrate((?:::[a-z_][a-z0-9_]*)+)")


def module_name(src, path):
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("mod", "lib", "main"):
        rel = rel[:-1]
    return tuple(rel)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    lines = []
    for line in text.splitlines():
        # Drop `//` comments, but not inside string literals (good enough for use lines).
        cut = line.find("//")
        if cut >= 0 and line[:cut].count('"') % 2 == 0:
            line = line[:cut]
        lines.append(line)
    return "\n".join(lines)


def expand(tree):
    """`a::{b, c::{d, e}}` -> ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+", "", tree)
    depth = 0
    for i, ch in enumerate(tree):
        if ch == "{":
            if depth == 0:
                prefix, inner = tree[:i], tree[i + 1 : tree.rindex("}")]
                parts, depth2, start = [], 0, 0
                for j, c in enumerate(inner):
                    if c == "{":
                        depth2 += 1
                    elif c == "}":
                        depth2 -= 1
                    elif c == "," and depth2 == 0:
                        parts.append(inner[start:j])
                        start = j + 1
                parts.append(inner[start:])
                out = []
                for part in filter(None, parts):
                    for leaf in expand(part):
                        out.append(prefix + leaf if leaf != "self" else prefix.rstrip(":"))
                return out
            depth += 1
    return [re.sub(r"\bas\b.*$", "", tree)]


def inline_modules(code):
    """(start, end, name) of every `mod name { ... }` written inside a file."""
    spans = []
    for m in re.finditer(r"\bmod\s+([a-z_][a-z0-9_]*)\s*\{", code):
        depth, i = 0, m.end() - 1
        while i < len(code):
            if code[i] == "{":
                depth += 1
            elif code[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        spans.append((m.end(), i, m.group(1)))
    return spans


def resolve(segments, me, modules):
    """The longest module named by `segments`, read from module `me`."""
    if not segments:
        return None
    head = segments[0]
    if head == "crate":
        base, rest = (), segments[1:]
    elif head in ("super", "self"):
        base = me
        while segments and segments[0] in ("super", "self"):
            if segments[0] == "super":
                base = base[:-1]
            segments = segments[1:]
        rest = segments
    elif me + (head,) in modules:  # `use child::X` in a mod.rs
        base, rest = me, segments
    else:
        return None  # std, an external crate, a local item
    best = base if base in modules else None
    for n in range(1, len(rest) + 1):
        if base + tuple(rest[:n]) in modules:
            best = base + tuple(rest[:n])
    return best


def graph(src):
    files = {}
    for root, _, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                path = os.path.join(root, name)
                files[module_name(src, path)] = path
    modules = set(files)
    edges = {m: set() for m in modules}
    for me, path in files.items():
        with open(path, encoding="utf-8") as f:
            code = strip_comments(f.read())
        spans = inline_modules(code)
        found = []
        for use in USE.finditer(code):
            found.extend((use.start(), p) for p in expand(use.group(1)))
        blanked = USE.sub(lambda m: " " * len(m.group(0)), code)
        found.extend((m.start(), "crate" + m.group(1)) for m in PATH.finditer(blanked))
        for at, p in found:
            # Inside `mod tests { ... }`, `super` is the file's own module.
            here = me + tuple(n for (start, end, n) in spans if start <= at < end)
            target = resolve([s for s in p.split("::") if s], here, modules)
            if target is not None and target != me:
                edges[me].add(target)
    return modules, edges


def cycles(nodes, edges):
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def layers(nodes, edges):
    """(level, node) bottom first: level 0 uses nothing listed, level n uses
    something of level n-1 (cycles are broken by name to finish the list)."""
    order, level = [], {}
    remaining = set(nodes)
    while remaining:
        ready = sorted(n for n in remaining if edges[n] - {n} <= set(level))
        if not ready:
            ready = [sorted(remaining)[0]]
        for n in ready:
            level[n] = 1 + max((level.get(d, 0) for d in edges[n] - {n} if d in level), default=-1)
        for n in ready:
            order.append(n)
            remaining.discard(n)
    return sorted(((level[n], n) for n in order), key=lambda p: (p[0], p[1]))


def name(m):
    return "::".join(m) or "crate"


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "kernel", "prelude", "src"
    )
    modules, edges = graph(src)

    top = {m[:1] for m in modules}
    top_edges = {t: set() for t in top}
    for a, bs in edges.items():
        for b in bs:
            if a[:1] and b[:1] and a[:1] != b[:1]:
                top_edges[a[:1]].add(b[:1])
    top.discard(())
    top_edges.pop((), None)
    for t in top_edges:
        top_edges[t].discard(())

    print("layers (bottom first, by level; each uses only what -> lists):")
    for lvl, t in layers(top, top_edges):
        uses = ", ".join(sorted(name(u) for u in top_edges[t])) or "-"
        print(f"  {lvl}  {name(t):16} -> {uses}")
    layer_cycles = cycles(top, top_edges)

    inner = {
        a: {b for b in bs if a[: len(b)] != b and b[: len(a)] != a} for a, bs in edges.items()
    }
    module_cycles = cycles(modules, inner)

    print("\nsys's modules (bottom first) and what each uses:")
    sys_mods = {m for m in modules if m[:1] == ("sys",)}
    sys_edges = {m: {b for b in edges[m] if b in sys_mods} for m in sys_mods}
    for lvl, m in layers(sys_mods, sys_edges):
        outside = sorted(name(b) for b in edges[m] if b not in sys_mods)
        uses = ", ".join(sorted(name(u) for u in sys_edges[m]) + outside) or "-"
        print(f"  {lvl}  {name(m):22} -> {uses}")

    print()
    for label, found in (("layer", layer_cycles), ("module", module_cycles)):
        if found:
            for comp in found:
                print(f"{label} cycle: " + " <-> ".join(name(c) for c in comp))
        else:
            print(f"no {label} cycle")
    return 1 if layer_cycles or module_cycles else 0


if __name__ == "__main__":
    sys.exit(main())
