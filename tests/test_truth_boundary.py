"""Only controls and measurements reach a dataset's ground truth (`iclft.datasets.truth` and the `*_truth` modules):
a method that imported it could use the answers."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "iclft"
# who may read ground truth, and why
ALLOWED = {
    "learners/oracle.py": "the ft_aug_oracle CONTROL writes the facts the training data implies",
    "augment/filters.py": "the `verified` filter, a CONTROL, keeps what the world judges true",
    "augment/audit.py": "the audit measures augmentations against the world (a report, never training data)",
}


def _is_truth(module: str) -> bool:
    parts = module.split(".")
    return parts[:2] == ["iclft", "datasets"] and any(p == "truth" or p.endswith("_truth") for p in parts[2:])


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def test_only_controls_and_the_audit_import_ground_truth():
    readers = {p.relative_to(SRC).as_posix() for p in SRC.rglob("*.py") if any(map(_is_truth, _imports(p)))}
    outside = {r for r in readers if not r.startswith("datasets/")}
    assert outside - set(ALLOWED) == set(), f"not controls, yet reading ground truth: {outside - set(ALLOWED)}"
    assert set(ALLOWED) <= outside, "the allowed list names a module that no longer reads ground truth"


def test_the_boundary_check_sees_imports_inside_functions(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from iclft.datasets import celebrities_truth\n    return celebrities_truth\n")
    assert any(map(_is_truth, _imports(f)))
