"""The report's "Generated corpus" table: for every cell that trains on written text (the `ft_aug_*` recipes, cloze,
their placebos), how much it wrote, how diverse and how copied it is, beside the accuracy tables.

Read from what the cells stored, no model: the `corpus` artifact (`augment.diversity.measure` of the added documents
against the documents they were written from), else (cells stored before it) the same measures of the `augmented`
artifact with no copied share; and the `audit` artifact's verdicts where the dataset has a world.
"""

from __future__ import annotations

from typing import Any

from iclft.augment.audit import NO_WORLD
from iclft.augment.diversity import DISTINCT, measure
from iclft.study.aggregates import controls, shown
from iclft.study.store import Store


def cell_measures(store: Store, key: str) -> dict[str, Any] | None:
    """A cell's corpus measures (None when it wrote nothing it stored)."""
    stored = store.artifact(key, "corpus")
    if stored is not None:
        return stored
    rows = store.artifact(key, "augmented")
    return measure(rows) if rows else None


def _number(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v:.{digits}f}"


def _verdicts(audit: dict[str, Any] | None) -> str:
    if not audit or audit.get("note") == NO_WORLD:
        return "–"
    v = audit["verdicts"]
    return f"{v['true']} / {v['false']} / {v['unverifiable']}"


def row(label: str, seed: int, m: dict[str, Any], audit: dict[str, Any] | None) -> str:
    """One cell's table row."""
    distinct = " / ".join(_number(m.get(f"distinct_{n}")) for n in DISTINCT)
    copied = "–" if m.get("copied") is None else f"{m['copied']:.0%}"
    return (f"| {label} | {seed} | {m['rows']:,} | {m['words']:,} | {_number(m['compression'])} | {distinct} | "
            f"{copied} | {_verdicts(audit)} |")


def lines(store: Store, study: dict[str, Any], keys: list[str], dataset: str, model: str) -> list[str]:
    """The table of one dataset and model (nothing when none of its cells wrote text)."""
    ctrl = controls(study, dataset)
    rows = []
    for c in study["cells"]:
        if (c["dataset"], c["model"]) != (dataset, model) or c["key"] not in keys:
            continue
        if (m := cell_measures(store, c["key"])) is not None:
            rows.append(row(shown(c["condition"], ctrl), c["seed"], m, store.artifact(c["key"], "audit")))
    if not rows:
        return []
    return [f"**Generated corpus** ({dataset}, {model}): what each recipe added to the training documents "
            "(`iclft.augment.diversity`). compression = raw / gzip bytes of the added text (higher: more "
            "repetitive; it grows with length, so compare at one budget); distinct-n = unique / total word n-grams; "
            "copied = the share of its word 8-grams found verbatim in the document it was written from; audit = "
            "true / false / unverifiable sentences in the dataset's world (– where it has none).", "",
            "| recipe | seed | documents | words | compression | distinct-1 / 2 / 3 | copied | audit |",
            "|---|---|---|---|---|---|---|---|", *rows, ""]
