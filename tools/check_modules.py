#!/usr/bin/env python3
"""Structure checks of the library crate (run by scripts/test.sh):

- no import cycle among its modules (`use crate::…` and `super::…` paths, tests excluded);
- no source file over 600 lines, in any crate, unless listed in LONG_FILES with the reason.

Exits 1 with the offending cycle or files.
"""
import collections
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
LIBRARY = os.path.join(ROOT, "crates/nodecell/src")
MAX_LINES = 600
# path (from the repo root) -> why it must be longer
LONG_FILES = {}


def modules():
    mods = {}
    for root, _, files in os.walk(LIBRARY):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, f), LIBRARY)[:-3]
            if rel.endswith("/mod"):
                rel = rel[:-4]
            if rel in ("lib", "kafel") or rel.startswith("bin/"):
                continue
            with open(os.path.join(root, f)) as fh:
                # What only tests use does not count.
                mods[rel.replace("/", "::")] = fh.read().split("#[cfg(test)]")[0]
    return mods


def edges(mods):
    out = collections.defaultdict(set)
    for m, src in mods.items():
        parent = m.rsplit("::", 1)[0] if "::" in m else None
        for path in re.findall(r"crate::([a-z_]+(?:::[a-z_]+)*)", src):
            parts = path.split("::")
            for i in range(len(parts), 0, -1):
                target = "::".join(parts[:i])
                if target in mods:
                    if target != m and not m.startswith(target + "::"):
                        out[m].add(target)
                    break
        for name in re.findall(r"\bsuper::([a-z_]+)", src):
            if parent:
                target = parent + "::" + name
                out[m].add(target if target in mods else parent)
    return out


def find_cycle(graph):
    state = {}

    def visit(n, path):
        state[n] = "open"
        for nb in sorted(graph.get(n, ())):
            if state.get(nb) == "open":
                return path[path.index(nb):] + [nb]
            if nb not in state:
                found = visit(nb, path + [nb])
                if found:
                    return found
        state[n] = "done"
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n, [n])
            if found:
                return found
    return None


def main():
    problems = []
    graph = edges(modules())
    # Submodules may use their parent (a module and its children are one unit); between
    # top-level modules, and between siblings, there must be no cycle.
    top = collections.defaultdict(set)
    for a, bs in graph.items():
        for b in bs:
            ta, tb = a.split("::")[0], b.split("::")[0]
            if ta != tb:
                top[ta].add(tb)
    for g, what in ((top, "top-level modules"), (graph, "modules")):
        cycle = find_cycle(g)
        if cycle:
            problems.append(f"import cycle among {what}: {' -> '.join(cycle)}")
    for root, _, files in os.walk(os.path.join(ROOT, "crates")):
        for f in files:
            if f.endswith(".rs"):
                p = os.path.join(root, f)
                rel = os.path.relpath(p, ROOT)
                with open(p) as fh:
                    n = sum(1 for _ in fh)
                if n > MAX_LINES and rel not in LONG_FILES:
                    problems.append(f"{rel}: {n} lines (over {MAX_LINES}; split it or list why)")
    if problems:
        print("\n".join(problems))
        return 1
    print(f"modules: no import cycle among {len(graph)} modules; no file over {MAX_LINES} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main())
