"""The layering of docs/architecture.md, checked on the source: every import (module-level, function-local or
type-only) goes to a unit listed above the importing one, no modules import each other in a cycle, and no source file
or function outgrows the map's limits. Pure AST reading: nothing is imported."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "iclft"
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    out = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the iclft modules it imports (`from iclft import models` is an import of iclft.models alone)."""

    def owner(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                for a in node.names:
                    targets.append(f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base)
            for t in targets:
                if t.split(".")[0] == "iclft" and (m := owner(t)) and m != name:
                    edges[name].add(m)
    return edges


def unit(module: str) -> str:
    """The layer unit a module belongs to: its top-level package or module (`iclft` for the package itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "iclft"


def layer_table() -> list[str]:
    """The units of docs/architecture.md's "Layers" table, top (lowest) first."""
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| [^|]+ \| `([\w.]+)` \|", section, flags=re.MULTILINE)


def cycles(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in nodes:
        if v not in index:
            visit(v)
    return found


def test_every_unit_is_in_the_map_once():
    order = layer_table()
    assert len(order) == len(set(order)), "a unit is listed twice in docs/architecture.md"
    present = {unit(m) for m in modules()}
    assert present - set(order) == set(), "units missing from the Layers table of docs/architecture.md"
    assert set(order) - present == set(), "the Layers table lists units that do not exist"


def test_imports_go_up_the_map_only():
    order = {u: i for i, u in enumerate(layer_table())}
    mods = modules()
    wrong = [f"{a} imports {b}" for a, targets in sorted(imports(mods).items()) for b in sorted(targets)
             if unit(a) != unit(b) and order[unit(b)] > order[unit(a)]]
    assert wrong == [], "imports against docs/architecture.md's layers:\n" + "\n".join(wrong)


def test_no_import_cycles_between_modules_or_units():
    mods = modules()
    edges = imports(mods)
    assert cycles(sorted(mods), edges) == []
    unit_edges: dict[str, set[str]] = defaultdict(set)
    for a, targets in edges.items():
        unit_edges[unit(a)] |= {unit(b) for b in targets if unit(b) != unit(a)}
    assert cycles(sorted(unit_edges), unit_edges) == []


def test_the_checks_see_a_cycle_and_an_upward_import():
    """The walk itself: a ring is found, and `from iclft import models` reads as an import of iclft.models."""
    assert cycles(["a", "b", "c"], {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]
    edges = imports(modules())
    assert "iclft.models" in edges["iclft.tokens"] and "iclft" not in edges["iclft.tokens"]
    assert "iclft.scoring.likelihood" in edges["iclft.augment.filters"]  # a function-local import counts


def test_files_and_functions_stay_short():
    long_files, long_functions = [], []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        if text.count("\n") > MAX_FILE_LINES:
            long_files.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert long_files == [] and long_functions == [], "\n".join(long_files + long_functions)
