"""Knowledge over its placebo, the headline of a recipe that trains on written text.

A PLACEBO is the same recipe with `documents:` naming a corpus outside the study (`learners.is_placebo`): the same
form and budget, none of the study's facts. What a recipe gains over plain FT mixes knowledge with form (the
question-answer format, more steps); what it gains over its placebo is knowledge. For every (recipe, placebo) pair
of a dataset (same condition kind, the same options but `documents`), per split: the two accuracies, the gain with
the standard error of the paired difference on the same questions (clustered by source, `aggregates.paired_error`),
whether it is beyond 2 of them, and the share of the ICL gap it closes measured from FT+placebo,
(recipe - placebo) / (ICL - placebo), beside the usual share from FT, each with its bootstrap interval
(`gaps.share_between`).
"""

from __future__ import annotations

from typing import Any

from iclft.datasets.schema import FORGETTING_SPLIT
from iclft.study.aggregates import Aggregate, paired_error, shown
from iclft.study.gaps import share_between

Z = 2.0


def pairs(study: dict[str, Any], options: dict[tuple[str, str], dict[str, Any]], dataset: str) -> list[tuple[str, str]]:
    """(recipe, placebo) labels of a dataset: a placebo cell and a non-placebo cell of the same kind whose options
    differ only in `documents` (`options`: (dataset, label) -> the cell's stored options)."""
    kinds = {c["condition"]: c.get("kind", c["condition"]) for c in study["cells"] if c["dataset"] == dataset}

    def rest(label: str) -> dict[str, Any]:
        return {k: v for k, v in options.get((dataset, label), {}).items() if k != "documents"}

    placebos = [c for c in kinds if options.get((dataset, c), {}).get("documents")]
    return [(r, p) for p in placebos for r in kinds
            if r != p and kinds[r] == kinds[p] and not options.get((dataset, r), {}).get("documents")
            and rest(r) == rest(p)]


def _share(value: tuple[float | None, float | None, float | None]) -> str:
    point, low, high = value
    if point is None:
        return "–"
    return f"{point:.2f}" + (f" [{low:.2f}, {high:.2f}]" if low is not None else "")


def lines(study: dict[str, Any], options: dict[tuple[str, str], dict[str, Any]], records: list[dict[str, Any]],
          table: dict[tuple[str, str], Aggregate], splits: list[str], dataset: str, icl: str | None, ft: str | None,
          primary: str, ctrl: set[str]) -> list[str]:
    """The headline table of one dataset, model and question set (`table`: (split, label) -> its aggregate)."""
    found = [(r, p) for r, p in pairs(study, options, dataset) if any((s, r) in table for s in splits)]
    if not found:
        return []
    out = [f"**Knowledge over its placebo** (the headline of a recipe): each recipe against its PLACEBO, the same "
           f"recipe written from documents outside the study. gain = recipe - placebo on the same questions ± the "
           f"standard error of the paired difference (clustered by source); *beyond 2 SE*: the gain is knowledge, "
           f"not form. Shares of the ICL (`{icl}`) gap: from FT+placebo, (recipe - placebo) / (ICL - placebo), and "
           f"from FT (`{ft}`), (recipe - FT) / (ICL - FT), 95% bootstrap intervals over sources.", "",
           "| split | recipe | placebo | recipe accuracy | placebo accuracy | gain over placebo | beyond 2 SE? | "
           "share from FT+placebo | share from FT |", "|---|---|---|---|---|---|---|---|---|"]
    for recipe, placebo in found:
        for split in splits:
            a, b = table.get((split, recipe)), table.get((split, placebo))
            if a is None or b is None:
                continue
            gain = a.accuracy - b.accuracy
            se = paired_error(a, b)
            se = se if se is not None else (a.error ** 2 + b.error ** 2) ** 0.5
            verdict = "yes" if gain > Z * se else "no (below)" if gain < -Z * se else "no"
            here = [r for r in records if r["split"] == split]
            seed = f"{dataset}/{split}/{recipe}"
            none = (None, None, None)
            gap = split != FORGETTING_SPLIT  # documents nothing trained on: no gap to close, only forgetting
            from_placebo = share_between(here, primary, icl, placebo, recipe, seed) if icl and gap else none
            from_ft = share_between(here, primary, icl, ft, recipe, seed) if icl and ft and gap else none
            out.append(f"| {split} | `{recipe}` | {shown(placebo, ctrl)} | {a.accuracy:.2f} ± {a.error:.2f} | "
                       f"{b.accuracy:.2f} ± {b.error:.2f} | {gain:+.2f} ± {se:.2f} ({a.counted}) | {verdict} | "
                       f"{_share(from_placebo)} | {_share(from_ft)} |")
    return out + [""]

