"""Gap accounting: how much of the gap between in-context learning and fine-tuning each method closes.

For every (dataset, model, questions part, split) with an ICL cell and an FT cell (the first of each kind in the
study's grid that is not a control, named in the table), each other fine-tuned condition `m` gets

    share(m) = (acc(m) - acc(FT)) / (acc(ICL) - acc(FT))

0: no better than plain fine-tuning, 1: as good as the documents in context (it can pass 1 or fall below 0). The
interval is a 95% percentile bootstrap (`RESAMPLES` resamples, seeded, so the page is reproducible), paired: one
resample of the questions scores every condition, each question's correctness averaged over seeds. Questions are
resampled in clusters by what they are about (their first fact: a passage, a person) when every record names one,
since questions about one document succeed or fail together; else one by one. A split where ICL is not above FT has
no gap to close: its share is not given. Accuracies are under the report's primary normalization.

Forgetting, a CONTROL: questions in the split `FORGETTING_SPLIT` are about documents no condition trained on (what
the base model may know already). Of those the pretrained model answers correctly, the share each fine-tuned
condition still answers correctly (1: nothing forgotten), with the same bootstrap.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from iclft import learners
from iclft.datasets.schema import FORGETTING_SPLIT
from iclft.study.aggregates import source

RESAMPLES = 2000
LEVEL = 0.95
ICL_KINDS = ("icl",)
FT_KIND = "ft"


@dataclass
class Share:
    """One method's share of one split's gap (or, on the forgetting split, its retention)."""

    dataset: str
    model: str
    part: str
    split: str
    condition: str
    control: bool
    accuracy: float
    share: float | None  # None: no gap (ICL not above FT) / nothing the pretrained model knew
    low: float | None
    high: float | None
    questions: int
    clusters: int


@dataclass
class Gap:
    """A split's reference points and every method's share of its gap."""

    dataset: str
    model: str
    part: str
    split: str
    icl: str
    ft: str
    pretrained: str | None
    accuracy: dict[str, float]  # condition -> accuracy on the questions every condition answered
    questions: int
    clusters: int
    shares: list[Share]
    known: int = 0  # forgetting split: questions the pretrained model answered correctly

    @property
    def forgetting(self) -> bool:
        return self.split == FORGETTING_SPLIT


def _interval(samples: np.ndarray) -> tuple[float | None, float | None]:
    finite = samples[np.isfinite(samples)]
    if finite.size < len(samples) / 2:  # the gap vanishes in most resamples: no interval worth giving
        return None, None
    tail = (1 - LEVEL) / 2 * 100
    return float(np.percentile(finite, tail)), float(np.percentile(finite, 100 - tail))


def _matrix(records: Sequence[dict[str, Any]], normalization: str, conditions: Sequence[str]
            ) -> tuple[list[str], np.ndarray, list[str]]:
    """(question ids, correctness [condition, question] averaged over seeds, cluster of each question), over the
    questions every condition answered."""
    got: dict[tuple[str, str], list[float]] = defaultdict(list)
    cluster: dict[str, str] = {}
    for r in records:
        c = r["correct"].get(normalization)
        if c is not None and r["condition"] in conditions:
            got[(r["condition"], r["id"])].append(float(c))
            cluster.setdefault(r["id"], source(r))
    ids = sorted({q for _, q in got})
    ids = [q for q in ids if all((c, q) in got for c in conditions)]
    m = np.array([[np.mean(got[(c, q)]) for q in ids] for c in conditions]).reshape(len(conditions), len(ids))
    clusters = [cluster[q] for q in ids]
    if any(c is None for c in clusters):
        clusters = ids
    return ids, m, clusters


def _resamples(clusters: list[str], seed: str) -> np.ndarray:
    """Bootstrap weights [resample, question]: clusters drawn with replacement, each question weighted by its
    cluster's draws."""
    names = sorted(set(clusters))
    index = {c: i for i, c in enumerate(names)}
    member = np.array([index[c] for c in clusters])
    rng = np.random.default_rng(list(seed.encode()))
    draws = rng.integers(0, len(names), size=(RESAMPLES, len(names)))
    counts = np.zeros((RESAMPLES, len(names)))
    np.add.at(counts, (np.arange(RESAMPLES)[:, None], draws), 1)
    return counts[:, member]


def _mean(weights: np.ndarray, row: np.ndarray) -> np.ndarray:
    total = weights.sum(axis=1)
    return np.where(total > 0, (weights * row).sum(axis=1) / np.maximum(total, 1e-12), np.nan)


def gaps(records: Sequence[dict[str, Any]], cells: Sequence[dict[str, Any]], normalization: str,
         control: set[tuple[str, str]] = frozenset()) -> list[Gap]:
    """Every split's gap accounting (see the module docstring). `cells`: study.json's cells (label -> kind, grid
    order); `control`: (dataset, condition) pairs that are controls."""
    out = []
    by_key: dict[tuple[str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_key[(r["dataset"], r["model"], r["part"], r["split"])].append(r)
    for (ds, model, part, split), recs in by_key.items():
        order = list(dict.fromkeys(c["condition"] for c in cells if c["dataset"] == ds and c["model"] == model))
        kind = {c["condition"]: c.get("kind", c["condition"]) for c in cells if c["dataset"] == ds}
        present = {r["condition"] for r in recs}
        order = [c for c in order if c in present]
        fair = [c for c in order if (ds, c) not in control]
        icl = next((c for c in fair if kind[c] in ICL_KINDS), None)
        ft = next((c for c in fair if kind[c] == FT_KIND), None)
        pretrained = next((c for c in fair if kind[c] == "pretrained"), None)
        if icl is None or ft is None:
            continue
        methods = [c for c in order if c != ft and kind[c] in learners.CONDITIONS and learners.get(kind[c]).trains]
        if not methods:
            continue
        refs = [c for c in (pretrained, icl, ft) if c is not None]
        conds = refs + methods
        ids, m, clusters = _matrix(recs, normalization, conds)
        if not ids:
            continue
        row = dict(zip(conds, m))
        acc = {c: float(row[c].mean()) for c in conds}
        w = _resamples(clusters, f"{ds}/{model}/{part}/{split}")
        sources = len(set(clusters))
        shares = []
        known = 0
        if split == FORGETTING_SPLIT:  # retention: every fine-tuned condition, the reference FT first
            knew = row[pretrained] >= 0.5 if pretrained is not None else np.zeros(len(ids), bool)
            known = int(knew.sum())
            for c in [ft, *methods] if knew.any() else []:
                low, high = _interval(_mean(w[:, knew], row[c][knew]))
                shares.append(Share(ds, model, part, split, c, (ds, c) in control, acc[c],
                                    float(row[c][knew].mean()), low, high, len(ids), sources))
        else:
            d = _mean(w, row[icl]) - _mean(w, row[ft])
            denom = acc[icl] - acc[ft]
            for c in methods:
                point = (acc[c] - acc[ft]) / denom if denom > 0 else None
                with np.errstate(divide="ignore", invalid="ignore"):
                    samples = np.where(d > 0, (_mean(w, row[c]) - _mean(w, row[ft])) / d, np.nan)
                low, high = _interval(samples) if point is not None else (None, None)
                shares.append(Share(ds, model, part, split, c, (ds, c) in control, acc[c], point, low, high,
                                    len(ids), sources))
        out.append(Gap(ds, model, part, split, icl, ft, pretrained, acc, len(ids), sources, shares, known))
    return out


def share_between(records: Sequence[dict[str, Any]], normalization: str, top: str, bottom: str, method: str,
                  seed: str) -> tuple[float | None, float | None, float | None]:
    """(share, low, high): (method - bottom) / (top - bottom) on the questions all three answered, with the module's
    paired, clustered bootstrap interval; None where top is not above bottom (no gap)."""
    conds = [top, bottom, method]
    ids, m, clusters = _matrix(records, normalization, conds)
    if not ids:
        return None, None, None
    row = dict(zip(conds, m))
    denom = float(row[top].mean() - row[bottom].mean())
    if denom <= 0:
        return None, None, None
    w = _resamples(clusters, seed)
    d = _mean(w, row[top]) - _mean(w, row[bottom])
    with np.errstate(divide="ignore", invalid="ignore"):
        samples = np.where(d > 0, (_mean(w, row[method]) - _mean(w, row[bottom])) / d, np.nan)
    low, high = _interval(samples)
    return float(row[method].mean() - row[bottom].mean()) / denom, low, high
