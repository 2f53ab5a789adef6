"""The paper's claims as checkable statements about a study's aggregates ("paper's claim | ours | holds?").

A claim compares two conditions on one split (`greater`: a above b), or one condition with chance
(`above_chance`, `near_chance`, `not_above_chance`: near or below it). Uncertainty is a question-level
standard error with a Laplace correction, sqrt(p(1-p)/n) with p = (correct+1)/(n+2), so an accuracy of 0
or 1 on few questions still carries doubt; the group standard error of the report is used instead when it
is larger. Verdicts: "yes" (the difference is beyond 2 combined standard errors in the claimed direction;
for near_chance, within them; for not_above_chance, not beyond them above chance), "direction only" (the
claimed direction, within noise), "no" (otherwise), "not run" (a condition or split the study does not have).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from iclft.study.report import Aggregate

Kind = Literal["greater", "above_chance", "near_chance", "not_above_chance"]
Z = 2.0


@dataclass(frozen=True)
class Claim:
    dataset: str
    split: str
    kind: Kind
    a: str  # condition label
    b: str | None = None  # the compared condition (greater)
    text: str = ""  # the paper's claim in words


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    measured: str  # e.g. "icl 0.65 ± 0.08 vs ft 0.20 ± 0.07"
    verdict: str


def _c(dataset: str, split: str, kind: Kind, a: str, b: str | None, text: str) -> Claim:
    return Claim(dataset, split, kind, a, b, text)


AUG = "ft_aug_local"
GLOBAL = "ft_aug_global"
ORACLE = "ft_aug_oracle"  # controls: the ceiling of augmentation and a perfect verifier, never the method
VERIFIED = "ft_aug_verified"

# The claims of paper-notes.md, per dataset and split, against the quick study's condition labels.
PAPER: list[Claim] = [
    _c("reversals", "reversal", "greater", "icl", "ft", "ICL reverses trained facts better than FT"),
    _c("reversals", "reversal", "near_chance", "ft", None, "FT alone does not reverse (near chance)"),
    _c("reversals", "reversal", "greater", AUG, "ft", "augmented FT reverses better than FT"),
    _c("reversals", "reversal", "greater", ORACLE, "ft",
       "CONTROL (oracle): FT on correct reversals reverses better than FT (the ceiling)"),
    _c("syllogisms", "syllogism", "greater", "icl", "ft", "ICL draws syllogistic conclusions better than FT"),
    _c("syllogisms", "syllogism", "greater", AUG, "ft", "augmented FT beats FT on syllogisms"),
    _c("syllogisms", "syllogism", "greater", GLOBAL, "ft", "globally augmented FT beats FT on syllogisms"),
    _c("celebrities", "p2d", "above_chance", "ft", None, "FT learns the trained direction (name -> description)"),
    _c("celebrities", "p2d_reverse", "not_above_chance", "ft", None,
       "reversal curse: FT no better than chance on the reverse (paper: ~0, it prefers names seen as completions)"),
    _c("celebrities", "p2d_reverse", "greater", "icl", "ft", "ICL beats FT on the reversed direction"),
    _c("celebrities", "p2d_reverse", "greater", AUG, "ft", "augmented FT beats FT on the reversed direction"),
    _c("celebrities", "p2d_reverse", "greater", VERIFIED, "ft",
       "CONTROL (verified): the model's own restatements that are true beat FT on the reversed direction"),
    _c("celebrities", "p2d_reverse", "greater", ORACLE, "ft",
       "CONTROL (oracle): FT on correct reversals beats FT on the reversed direction (the ceiling)"),
    _c("semantic", "rephrased", "above_chance", "ft", None, "FT learns the trained facts (rephrased)"),
    _c("semantic", "reversal", "above_chance", "ft", None, "inside a coherent structure FT reverses above chance"),
    _c("semantic", "reversal", "greater", "icl", "ft", "ICL beats FT on reversals"),
    _c("semantic", "syllogism", "greater", "icl", "ft", "ICL beats FT on syllogisms"),
    _c("semantic", "category_holdout", "greater", "icl", "ft", "ICL beats FT on category holdouts"),
    _c("semantic", "reversal", "greater", GLOBAL, "ft", "augmented FT beats FT on reversals"),
    _c("derivatoids", "compositional", "greater", "icl", "ft", "ICL composes held-out rule combinations better"),
    _c("derivatoids", "in_distribution", "above_chance", "ft", None, "FT learns the trained rule combinations"),
]
PRETRAINED = "pretrained: near chance (no contamination)"


def standard_error(a: Aggregate) -> float:
    return max(a.question_se, a.se or 0.0)


def _fmt(label: str, a: Aggregate) -> str:
    return f"{label} {a.accuracy:.2f} ± {standard_error(a):.2f} (n={a.questions})"


def judge(claim: Claim, table: dict[tuple[str, str], Aggregate]) -> Verdict:
    """The verdict of one claim given aggregates keyed by (split, condition)."""
    a = table.get((claim.split, claim.a))
    b = table.get((claim.split, claim.b)) if claim.b else None
    if a is None or (claim.kind == "greater" and b is None):
        return Verdict(claim, "", "not run")
    if claim.kind == "greater":
        diff = a.accuracy - b.accuracy
        noise = Z * math.hypot(standard_error(a), standard_error(b))
        measured = f"{_fmt(claim.a, a)} vs {_fmt(claim.b, b)}"
    else:
        diff = a.accuracy - a.chance
        noise = Z * standard_error(a)
        measured = f"{_fmt(claim.a, a)}; chance {a.chance:.2f}"
    if claim.kind == "near_chance":
        verdict = "yes" if abs(diff) <= noise else "no"
        if verdict == "no" and diff < 0:
            verdict = "no (below chance)"
    elif claim.kind == "not_above_chance":
        verdict = "yes" if diff <= noise else "no"
    else:
        verdict = "yes" if diff > noise else "direction only" if diff > 0 else "no"
    return Verdict(claim, measured, verdict)


def evaluate(aggs: list[Aggregate], normalization: str, part: str = "test",
             claims: list[Claim] | None = None) -> list[Verdict]:
    """Every claim (and pretrained-near-chance on every split) for each model of the aggregates."""
    out = []
    sel = [a for a in aggs if a.normalization == normalization and a.part == part]
    for model in dict.fromkeys(a.model for a in sel):
        mine = [a for a in sel if a.model == model]
        for dataset in dict.fromkeys(a.dataset for a in mine):
            table = {(a.split, a.condition): a for a in mine if a.dataset == dataset}
            todo = [c for c in (claims if claims is not None else PAPER) if c.dataset == dataset]
            splits = dict.fromkeys(a.split for a in mine if a.dataset == dataset)
            todo += [_c(dataset, s, "near_chance", "pretrained", None, PRETRAINED) for s in splits]
            out += [judge(c, table) for c in todo]
    return out
