"""Aggregates of stored records: accuracy per (dataset, model, question set, split, condition, normalization).

Accuracy of a (dataset, model, questions part, split, condition) is the mean over its (sub-type, seed)
groups of each group's accuracy; `se` is the standard error over those groups (as in the paper: over
sub-types, and here seeds too). A split with one sub-type has no spread over sub-types to measure (and over
seeds alone the spread leaves out the questions' own noise), so its error bar (`Aggregate.error`) is the
question-level binomial standard error instead, Laplace-corrected (`question_se`) so that 0 or 1 on few
questions still shows doubt. Chance is the mean over questions of correct/choices.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iclft.io import atomic_open

CSV_FIELDS = ("dataset", "model", "part", "split", "condition", "control", "normalization", "accuracy", "se",
              "groups", "questions", "correct", "chance", "subtypes")
MODE_JOIN = "+"  # a test-time mode's records aggregate as CONDITION+MODE (`study.test_time_report`)
ERROR_BARS = ("error bars: ±1 standard error over sub-types (and seeds); * = one sub-type: binomial standard error "
              "over questions (Laplace-corrected)")


@dataclass
class Aggregate:
    dataset: str
    model: str
    part: str
    split: str
    condition: str
    normalization: str
    accuracy: float
    se: float | None
    groups: int
    questions: int
    correct: int
    chance: float
    subtypes: int = 0  # distinct sub-types among the groups (0: not counted)
    control: bool = False  # the condition's cells read the dataset's answers or world

    @property
    def question_se(self) -> float:
        """Binomial standard error over questions, sqrt(p(1-p)/n) with p = (correct+1)/(n+2) (never 0)."""
        p = (self.correct + 1) / (self.questions + 2)
        return math.sqrt(p * (1 - p) / max(self.questions, 1))

    @property
    def one_subtype(self) -> bool:
        return self.subtypes == 1

    @property
    def error(self) -> float | None:
        """The error bar: over sub-types and seeds, or over questions where the split has one sub-type."""
        return self.question_se if self.one_subtype else self.se

    def row(self) -> dict[str, Any]:
        d = self.__dict__.copy()
        d["accuracy"] = f"{self.accuracy:.6f}"
        d["se"] = "" if self.se is None else f"{self.se:.6f}"
        d["chance"] = f"{self.chance:.6f}"
        d["control"] = "CONTROL" if self.control else ""
        return d


def ordered(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _kind_is_control(kind: str) -> bool:
    from iclft import learners

    return kind in learners.CONDITIONS and learners.get(kind).control


def control_pairs(study: dict[str, Any]) -> set[tuple[str, str]]:
    """(dataset, condition label) of every control cell: it reads the dataset's answers or world, as the runner
    stored in study.json (`control`; a study stored before it was recorded: by condition kind)."""
    return {(c["dataset"], c["condition"]) for c in study["cells"]
            if c.get("control", _kind_is_control(c.get("kind", c["condition"])))}


def controls(study: dict[str, Any], dataset: str | None = None) -> set[str]:
    """The condition labels (of `dataset`, or of any) whose cells are controls (`control_pairs`)."""
    return {label for ds, label in control_pairs(study) if dataset in (None, ds)}


def shown(label: str, control: set[str]) -> str:
    """A condition label as tables and figures show it: controls say so."""
    return f"{label} (CONTROL)" if label in control else label


def aggregate(records: list[dict[str, Any]], normalizations: list[str] | None = None,
              control: set[tuple[str, str]] = frozenset()) -> list[Aggregate]:
    """Every aggregate of the records, for every normalization they carry; `control`: the (dataset, condition)
    pairs that are controls (`control_pairs`)."""
    if not records:
        return []
    norms = normalizations or ordered(n for r in records for n in r["correct"])
    cells: dict[tuple, dict[tuple, list[bool]]] = defaultdict(lambda: defaultdict(list))
    chance: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        base = (r["dataset"], r["model"], r["part"], r["split"], r["condition"])
        chance[base].append(len(r["correct_choices"]) / r["n_choices"])
        for n in norms:
            if r["correct"].get(n) is not None:
                cells[(*base, n)][(r["subtype"], r["seed"])].append(bool(r["correct"][n]))
    out = []
    for key, groups in cells.items():
        accs = [sum(g) / len(g) for g in groups.values()]
        k = len(accs)
        mean = sum(accs) / k
        se = math.sqrt(sum((a - mean) ** 2 for a in accs) / (k - 1)) / math.sqrt(k) if k > 1 else None
        n_q = sum(len(g) for g in groups.values())
        n_c = sum(sum(g) for g in groups.values())
        ch = chance[key[:5]]
        out.append(Aggregate(*key, mean, se, k, n_q, n_c, sum(ch) / len(ch), len({st for st, _ in groups}),
                             (key[0], key[4].partition(MODE_JOIN)[0]) in control))
    return out


def write_csv(path: Path, aggs: list[Aggregate]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for a in aggs:
        w.writerow(a.row())
    with atomic_open(path) as f:
        f.write(buf.getvalue())
