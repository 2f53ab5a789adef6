"""Budget curves: accuracy against the written-token budget, per split, for every recipe family a study ran at
several budgets (a condition's `budgets:` list: points LABEL-bB, `study.config._budget_points`).

The budget is a recipe's written tokens per document as a multiple of the training documents' mean tokens, the same
for every family (model-written recipes, rule-written cloze questions, their placebos), so recipes are compared at
equal tokens, not equal counts. Each point is its own cell (the dry run prices it); the figure has a panel per split,
log x, error bars as every table's, ICL and FT dashed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iclft.study.aggregates import Aggregate
from iclft.study.config_source import BUDGET_SEP
from iclft.study.figures import budget_curves


def families(options: dict[tuple[str, str], dict[str, Any]], dataset: str) -> dict[str, dict[float, str]]:
    """Per recipe family of a dataset, its points: budget -> condition label (`options`: (dataset, label) -> the
    cell's stored options)."""
    out: dict[str, dict[float, str]] = {}
    for (ds, label), opts in options.items():
        budget = opts.get("budget")
        if ds == dataset and budget is not None and BUDGET_SEP in label:
            out.setdefault(label.rsplit(BUDGET_SEP, 1)[0], {})[float(budget)] = label
    return {f: dict(sorted(points.items())) for f, points in out.items() if len(points) > 1}


def lines(options: dict[tuple[str, str], dict[str, Any]], table: dict[tuple[str, str], Aggregate],
          splits: list[str], dataset: str, title: str, references: dict[str, str | None], ctrl: set[str],
          figure: Path) -> list[str]:
    """A dataset's budget table and figure (empty without a family of two or more budgets)."""
    found = families(options, dataset)
    if not found:
        return []
    budgets = sorted({b for points in found.values() for b in points})
    curves: dict[str, dict[str, list[tuple[float, float, float]]]] = {}
    rows = []
    for family, points in found.items():
        shown_family = f"{family} (CONTROL)" if any(label in ctrl for label in points.values()) else family
        curves[shown_family] = {s: [(b, a.accuracy, a.error) for b, label in points.items()
                                    if (a := table.get((s, label))) is not None] for s in splits}
        for s in splits:
            cells = [table.get((s, points[b])) if b in points else None for b in budgets]
            rows.append(f"| {shown_family} | {s} | " + " | ".join(
                "–" if a is None else f"{a.accuracy:.2f} ± {a.error:.2f}" for a in cells) + " |")
    refs = {f"{name} (`{label}`)": {s: table[(s, label)].accuracy for s in splits if (s, label) in table}
            for name, label in references.items() if label}
    budget_curves(figure, title, splits, curves, refs)
    head = ("Budget curves: accuracy against the written-token budget (tokens per document, as a multiple of the "
            "documents' mean tokens; the same for every recipe), ± as above.")
    return [head, "", "| recipe | split | " + " | ".join(f"{b:g}x" for b in budgets) + " |",
            "|---|---|" + "---|" * len(budgets), *rows, "", f"![{dataset} budget curves](figures/{figure.name})", ""]
