"""Aggregates of stored records: accuracy per (dataset, model, question set, split, condition, normalization).

Accuracy of a (dataset, model, questions part, split, condition) is the mean over its (sub-type, seed) groups of
each group's accuracy (as in the paper: sub-types weigh alike). Its error bar is one rule everywhere: the standard
error clustered by the unit that varies (Miller 2024, "Adding Error Bars to Evals", arXiv 2411.00640), the source a
question is about (its first fact: a person, an item, a passage; within a seed), each question on its own where it
names none. Questions about one person succeed or fail together, so counting them as independent would shrink the
bar. Where every cluster agrees (an accuracy of 0 or 1) the spread measures nothing, and the bar is the
Laplace-corrected binomial over the clusters, sqrt(p(1-p)/k) with p = (k*acc+1)/(k+2), so it still shows doubt.
`p_correct`: the mean probability of the correct choice(s), the scores softmaxed over the choices (less variance
than accuracy, the same reference's advice for multiple choice), with the same clustered error. `outcomes` keeps
each question's correctness, weight and cluster, so that two cells on the same questions are compared by their
paired difference (`paired_error`). Chance is the mean over questions of correct/choices.
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iclft.io import atomic_open

CSV_FIELDS = ("dataset", "model", "part", "split", "condition", "control", "normalization", "accuracy", "se",
              "groups", "questions", "clusters", "correct", "chance", "subtypes", "p_correct", "p_correct_se")
MODE_JOIN = "+"  # a test-time mode's records aggregate as CONDITION+MODE (`study.test_time_report`)
ERROR_BARS = ("error bars: ±1 standard error clustered by source (the person, item or passage a question is about; "
              "Laplace-corrected where every source agrees); n questions in k sources")
Outcome = tuple[float, float, Any]  # a question's (correctness, weight in the accuracy, cluster)


def source(record: dict[str, Any]) -> str | None:
    """What a question is about, for clustering: its first fact (a person, an item, a passage), if it names one."""
    facts = record.get("facts") or [None]
    return facts[0]


def cluster_of(record: dict[str, Any]) -> tuple[Any, ...]:
    """A record's cluster: its source within its seed (another seed is another world), else the question alone."""
    return (record["seed"], source(record) or f"question:{record['id']}")


def clustered_se(values: Sequence[float], weights: Sequence[float], clusters: Sequence[Any]) -> float:
    """The cluster-robust standard error of the weighted mean sum(w*x) (weights summing to 1): the spread of the
    clusters' summed deviations, with the small-sample factor k/(k-1); the Laplace floor where it is 0."""
    mean = sum(w * x for w, x in zip(weights, values))
    per: dict[Any, float] = defaultdict(float)
    for x, w, c in zip(values, weights, clusters):
        per[c] += w * (x - mean)
    k = len(per)
    var = sum(d * d for d in per.values()) * (k / (k - 1) if k > 1 else 1.0)
    return math.sqrt(var) if var > 1e-18 else laplace_se(abs(mean), k)


def laplace_se(rate: float, k: int) -> float:
    """Binomial standard error over `k` units with a Laplace correction, sqrt(p(1-p)/k), p = (k*rate+1)/(k+2)."""
    k = max(k, 1)
    p = (k * rate + 1) / (k + 2)
    return math.sqrt(p * (1 - p) / k)


@dataclass
class Aggregate:
    dataset: str
    model: str
    part: str
    split: str
    condition: str
    normalization: str
    accuracy: float
    se: float | None  # clustered (module docstring); None: not computed (the Laplace floor stands in)
    groups: int
    questions: int
    correct: int
    chance: float
    subtypes: int = 0  # distinct sub-types among the groups (0: not counted)
    control: bool = False  # the condition's cells read the dataset's answers or world
    clusters: int = 0  # sources the questions are about (0: not counted: every question its own)
    p_correct: float | None = None
    p_correct_se: float | None = None
    outcomes: dict[tuple[Any, str], Outcome] = field(default_factory=dict, repr=False, compare=False)

    @property
    def sources(self) -> int:
        """Clusters the error bar counts (questions, where none were counted)."""
        return self.clusters or self.questions

    @property
    def error(self) -> float:
        """The error bar: the clustered standard error (the Laplace floor where it was not computed)."""
        return self.se if self.se is not None else laplace_se(self.accuracy, self.sources)

    @property
    def counted(self) -> str:
        """n questions and, where they cluster, k sources: "n=30, k=6"."""
        return f"n={self.questions}" + (f", k={self.clusters}" if self.clusters and self.clusters < self.questions
                                        else "")

    def row(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "outcomes"}
        d["accuracy"] = f"{self.accuracy:.6f}"
        d["se"] = "" if self.se is None else f"{self.se:.6f}"
        d["chance"] = f"{self.chance:.6f}"
        d["control"] = "CONTROL" if self.control else ""
        for key in ("p_correct", "p_correct_se"):
            d[key] = "" if d[key] is None else f"{d[key]:.6f}"
        return d


def paired_error(a: Aggregate, b: Aggregate) -> float | None:
    """The clustered standard error of accuracy(a) - accuracy(b) from their per-question differences, where the two
    were scored on the same questions with the same weights (None otherwise: compare them as independent)."""
    if not a.outcomes or a.outcomes.keys() != b.outcomes.keys():
        return None
    keys = sorted(a.outcomes, key=str)
    if any(a.outcomes[k][1:] != b.outcomes[k][1:] for k in keys):
        return None
    return clustered_se([a.outcomes[k][0] - b.outcomes[k][0] for k in keys], [a.outcomes[k][1] for k in keys],
                        [a.outcomes[k][2] for k in keys])


def correct_probability(record: dict[str, Any], normalization: str) -> float | None:
    """The probability of the record's correct choice(s), its scores under `normalization` softmaxed over the
    choices (None where the record does not carry what that normalization needs)."""
    if record.get("test_time") == "both" and normalization != "sum":
        return None  # both's stored scores are its `sum` ones (its other normalizations pick from two modes)
    logprobs = record.get("logprobs")
    if logprobs is None:
        return None
    counts = {"mean": record.get("n_tokens"), "char": record.get("n_chars")}.get(normalization)
    if normalization == "sum":
        scores = logprobs
    elif counts is not None:
        scores = [lp / max(n, 1) for lp, n in zip(logprobs, counts)]
    elif normalization == "calibrated" and record.get("calibration") is not None:
        scores = [lp - c for lp, c in zip(logprobs, record["calibration"])]
    else:
        return None
    top = max(scores)
    exps = [math.exp(x - top) for x in scores]
    return sum(exps[i] for i in record["correct_choices"]) / sum(exps)


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
    cells: dict[tuple, dict[tuple, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    chance: dict[tuple, list[float]] = defaultdict(list)
    for r in records:
        base = (r["dataset"], r["model"], r["part"], r["split"], r["condition"])
        chance[base].append(len(r["correct_choices"]) / r["n_choices"])
        for n in norms:
            if r["correct"].get(n) is not None:
                cells[(*base, n)][(r["subtype"], r["seed"])].append(r)
    out = []
    for key, groups in cells.items():
        k = len(groups)
        rows = [(r, 1.0 / (k * len(g))) for g in groups.values() for r in g]  # sub-type x seed groups weigh alike
        values = [float(bool(r["correct"][key[5]])) for r, _ in rows]
        weights = [w for _, w in rows]
        clusters = [cluster_of(r) for r, _ in rows]
        mean = sum(w * x for w, x in zip(weights, values))
        probs = [correct_probability(r, key[5]) for r, _ in rows]
        p_mean = p_se = None
        if all(p is not None for p in probs):
            p_mean = sum(w * p for w, p in zip(weights, probs))
            p_se = clustered_se(probs, weights, clusters)
        ch = chance[key[:5]]
        outcomes = {(r["seed"], r["id"]): (x, w, c) for (r, w), x, c in zip(rows, values, clusters)}
        out.append(Aggregate(*key, mean, clustered_se(values, weights, clusters), k, len(rows), int(sum(values)),
                             sum(ch) / len(ch), len({st for st, _ in groups}),
                             (key[0], key[4].partition(MODE_JOIN)[0]) in control, len(set(clusters)), p_mean, p_se,
                             outcomes))
    return out


def write_csv(path: Path, aggs: list[Aggregate]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for a in aggs:
        w.writerow(a.row())
    with atomic_open(path) as f:
        f.write(buf.getvalue())
