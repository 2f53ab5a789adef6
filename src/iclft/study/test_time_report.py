"""Test-time modes in a report: each mode's records kept apart from `direct`, as their own rows.

A record scored in a mode other than `direct` carries `test_time: MODE`. Aggregated, it counts under the label
`CONDITION+MODE` (e.g. `ft+channel`), so it is never mixed with the condition's direct records, and claims name it
by kind the same way (`ft+channel`). The accuracy tables and gaps read direct records only (`direct`); the
test-time section shows, per dataset, model and question set, every exposure in every mode it was scored in.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from iclft.io import atomic_open
from iclft.study.aggregates import CSV_FIELDS, MODE_JOIN, Aggregate, aggregate, ordered, shown
from iclft.study.figures import accuracy_bars


def mode_label(condition: str, mode: str) -> str:
    return f"{condition}{MODE_JOIN}{mode}"


def direct(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records scored as every condition is (no test-time mode)."""
    return [r for r in records if "test_time" not in r]


def labelled(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every record, a mode's under its `CONDITION+MODE` label."""
    return [r if "test_time" not in r else {**r, "condition": mode_label(r["condition"], r["test_time"])}
            for r in records]


def has_modes(records: list[dict[str, Any]]) -> bool:
    return any("test_time" in r for r in records)


def _text(a: Aggregate | None) -> str:
    if a is None:
        return "–"
    return f"{a.accuracy:.2f} ± {a.error:.2f} ({a.counted})"


def _forms(records: list[dict[str, Any]], label: str) -> str:
    """How a mode's questions were formed (channel: trained | generic), counted."""
    counts: dict[str, int] = {}
    for r in records:
        if r["condition"] == label and "form" in r:
            counts[r["form"]] = counts.get(r["form"], 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "–"


def section(records: list[dict[str, Any]], study: dict[str, Any], primary: str, control: set[tuple[str, str]],
            root: Path) -> list[str]:
    """The report's test-time section and `test_time.csv` (empty when no record has a mode)."""
    if not has_modes(records):
        return []
    rows = labelled(records)
    aggs = aggregate(rows, None, control)
    write_csv(root / "test_time.csv", aggs)
    lines = ["## Test time", "",
             "Each exposure scored in each test-time mode it names (`CONDITION+MODE`; plain labels are `direct`), "
             f"under `{primary}` normalization: accuracy ± its error bar (as in the tables above), n questions and k sources they are about. "
             "`form`: how channel's questions were verified (trained: the training documents' own wording; generic: "
             "the choice, then the question). Modes are in `iclft conditions`; every aggregate is in "
             "`test_time.csv`.", ""]
    for ds in ordered(r["dataset"] for r in records if "test_time" in r):  # datasets scored in some mode
        ctrl = {c for d, c in control if d == ds}
        for model in ordered(r["model"] for r in rows if r["dataset"] == ds):
            for part in ordered(r["part"] for r in rows if (r["dataset"], r["model"]) == (ds, model)):
                mine = [r for r in rows if (r["dataset"], r["model"], r["part"]) == (ds, model, part)]
                lines += _table(mine, [a for a in aggs if (a.dataset, a.model, a.part, a.normalization)
                                       == (ds, model, part, primary)], ctrl, root, f"{ds}-{model}-{part}")
    return lines


def _table(records: list[dict[str, Any]], aggs: list[Aggregate], ctrl: set[str], root: Path, name: str) -> list[str]:
    """Rows: exposure and mode; columns: splits; and a figure of the same."""
    labels = ordered(r["condition"] for r in records)
    splits = ordered(r["split"] for r in records)
    table = {(a.split, a.condition): a for a in aggs}
    ds = records[0]["dataset"]
    figure = f"{name}-test-time.png"
    accuracy_bars(root / "figures" / figure, f"{ds}: {records[0]['model']}, {records[0]['part']}, test time",
                  splits, labels, table, ctrl)
    lines = [f"### {ds} — {records[0]['model']} ({records[0]['part']}): test time", "",
             "| exposure+mode | " + " | ".join(splits) + " | form |", "|---|" + "---|" * (len(splits) + 1)]
    for label in labels:
        lines.append(f"| {shown(label, ctrl)} | " + " | ".join(_text(table.get((s, label))) for s in splits)
                     + f" | {_forms(records, label)} |")
    chance = [next((a.chance for a in aggs if a.split == s), float("nan")) for s in splits]
    lines += ["| chance | " + " | ".join(f"{c:.2f}" for c in chance) + " | |", "",
              f"![{ds} test time](figures/{figure})", ""]
    return lines


def write_csv(path: Path, aggs: list[Aggregate]) -> None:
    """Aggregates with the test-time mode as its own column (`direct` for plain labels)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=("test_time", *CSV_FIELDS), lineterminator="\n")
    w.writeheader()
    for a in aggs:
        row = a.row()
        condition, _, mode = a.condition.partition(MODE_JOIN)
        w.writerow({**row, "condition": condition, "test_time": mode or "direct"})
    with atomic_open(path) as f:
        f.write(buf.getvalue())
