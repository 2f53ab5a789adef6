"""The paper's claims as checkable statements about a study's aggregates ("paper's claim | ours | holds?").

A claim compares two conditions on one split (`greater`: a above b; `within`: a and b within noise; `reaches`: a
not below b beyond noise), or one condition with chance
(`above_chance`, `near_chance`, `not_above_chance`: near or below it). A claim names what its conditions *are*
(`Select`: a condition kind, and whether it is a control, i.e. reads the dataset's answers or world), never a
label: every condition of a study that matches is judged, whatever the study calls it, so a study with its own
labels gets its verdicts and a relabelled control is never scored as the method. Uncertainty is the report's:
the standard error clustered by source (`aggregates`: questions about one person or passage count as one unit,
Laplace-corrected where every source agrees); two conditions scored on the same questions are compared by their
paired difference (its clustered standard error: the noise both share cancels), other pairs by the two errors
combined. Verdicts: "yes" (the difference is beyond 2 standard errors in the claimed direction; for
near_chance, within them; for not_above_chance, not beyond them above chance), "direction only" (the claimed
direction, within noise), "no" (otherwise), "not run" (no condition or split of the study matches).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from iclft.datasets.schema import FORGETTING_SPLIT
from iclft.study.aggregates import MODE_JOIN, Aggregate, paired_error

Kind = Literal["greater", "within", "reaches", "above_chance", "near_chance", "not_above_chance"]
Z = 2.0


@dataclass(frozen=True)
class Select:
    """The conditions a claim compares: condition kind `kind`, controls or not (reading the answers or world)."""

    kind: str
    control: bool = False

    def matches(self, c: Ran) -> bool:
        return c.kind == self.kind and c.control == self.control


@dataclass(frozen=True)
class Ran:
    """A condition as a study ran it on one dataset (from its stored cells): label, kind, options, info."""

    label: str
    kind: str
    control: bool = False
    options: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    info: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def name(self) -> str:
        """What the condition is, in words, from its options: e.g. "ICL (BM25, 256 tokens; chat format)"."""
        return ("CONTROL: " if self.control else "") + describe(self.kind, self.options, self.info)


def _fmt_name(fmt: str | None) -> str:
    return {"chat": "; chat format", "plain": "; plain text", None: ""}.get(fmt, f"; format {fmt}")


def describe(kind: str, options: dict[str, Any], info: dict[str, Any]) -> str:
    """A condition kind with the options that say what the model reads (the prompt format as run, when stored)."""
    if MODE_JOIN in kind:  # a test-time mode of an exposure: "FT (full; plain text), scored by channel"
        base, _, mode = kind.partition(MODE_JOIN)
        return f"{describe(base, options, info)}, scored by {mode}"
    fmt = _fmt_name(info.get("format", options.get("format")))
    if kind == "icl":
        budget = options.get("budget")
        sel = {"all": "all documents",
               "subsample": f"a random {options.get('fraction', 0):g} of the documents",
               "budget": f"first {budget} tokens of documents" if budget else "documents filling the window",
               "relevant": f"BM25, {budget} tokens" if budget else "BM25, filling the window",
               }.get(options.get("selection", "all"), str(options.get("selection")))
        return f"ICL ({sel}{fmt})"
    ft = options.get("ft", options)
    tuned = "LoRA" if ft.get("lora") else "full"
    if kind == "pretrained":
        return f"pretrained (no context{fmt})"
    if kind == "ft":
        return f"FT ({tuned}{fmt})"
    if kind.startswith("ft_aug_") and kind != "ft_aug_oracle":
        modes = " + ".join(m for m in ("local", "global") if m in options) or kind.removeprefix("ft_aug_")
        verified = any((options.get(m) or {}).get("verified") for m in ("local", "global"))
        extra = "".join(f"; {x}" for x in (generator_name(kind, options), placebo_name(options)) if x)
        return f"augmented FT ({modes}{', world-verified' if verified else ''}; {tuned}{fmt}{extra})"
    if kind == "ft_aug_oracle":
        return f"oracle FT (correct augmentations from the dataset's logic; {tuned}{fmt})"
    return kind


def generator_name(kind: str, options: dict[str, Any]) -> str:
    """Who wrote a recipe's text: "written by the exposed model", "written by gemma3-270m", "written by NAME at URL"
    ("" for a recipe written by rules: cloze)."""
    if kind == "ft_aug_cloze" or not kind.startswith("ft_aug_"):
        return ""
    spec = options.get("generator")
    if not spec:
        return "written by the exposed model"
    if spec.get("kind") == "openai":
        return f"written by {spec.get('api_model')} at {spec.get('base_url')}"
    return f"written by {spec.get('model')}"


def placebo_name(options: dict[str, Any]) -> str:
    return f"PLACEBO: from {options['documents']}" if options.get("documents") else ""


@dataclass(frozen=True)
class Claim:
    dataset: str
    split: str
    kind: Kind
    a: Select
    b: Select | None = None  # the compared condition (greater)
    text: str = ""  # the paper's claim in words


@dataclass(frozen=True)
class Verdict:
    claim: Claim
    measured: str  # e.g. "icl 0.65 ± 0.08 (n=40) vs ft 0.20 ± 0.07 (n=40)"
    verdict: str
    conditions: str = ""  # the matched conditions as they ran, e.g. "icl = ICL (BM25, 256 tokens; chat format)"
    model: str = ""


def _c(dataset: str, split: str, kind: Kind, a: Select, b: Select | None, text: str) -> Claim:
    return Claim(dataset, split, kind, a, b, text)


ICL, FT, PRE = Select("icl"), Select("ft"), Select("pretrained")
AUG = Select("ft_aug_local")  # the method: the model's own restatements, no answers read
GLOBAL = Select("ft_aug_global")
ORACLE = Select("ft_aug_oracle", control=True)  # controls: the ceiling of augmentation and a perfect verifier
VERIFIED = Select("ft_aug_local", control=True)

# The claims of paper-notes.md, per dataset and split.
PAPER: list[Claim] = [
    _c("reversals", "reversal", "greater", ICL, FT, "ICL reverses trained facts better than FT"),
    _c("reversals", "reversal", "near_chance", FT, None, "FT alone does not reverse (near chance)"),
    _c("reversals", "reversal", "greater", AUG, FT, "augmented FT reverses better than FT"),
    _c("reversals", "reversal", "greater", ORACLE, FT,
       "CONTROL (oracle): FT on correct reversals reverses better than FT (the ceiling)"),
    _c("reversals", "reversal", "greater", VERIFIED, FT,
       "CONTROL (verified): the model's own restatements that are true reverse better than FT"),
    _c("syllogisms", "syllogism", "greater", ICL, FT, "ICL draws syllogistic conclusions better than FT"),
    _c("syllogisms", "syllogism", "greater", AUG, FT, "augmented FT beats FT on syllogisms"),
    _c("syllogisms", "syllogism", "greater", GLOBAL, FT, "globally augmented FT beats FT on syllogisms"),
    _c("syllogisms", "syllogism", "greater", ORACLE, FT,
       "CONTROL (oracle): FT on correct conclusions beats FT on syllogisms (the ceiling)"),
    _c("celebrities", "p2d", "above_chance", FT, None, "FT learns the trained direction (name -> description)"),
    _c("celebrities", "p2d_reverse", "not_above_chance", FT, None,
       "reversal curse: FT no better than chance on the reverse (paper: ~0, it prefers names seen as completions)"),
    _c("celebrities", "p2d_reverse", "greater", ICL, FT, "ICL beats FT on the reversed direction"),
    _c("celebrities", "p2d_reverse", "greater", AUG, FT, "augmented FT beats FT on the reversed direction"),
    _c("celebrities", "p2d_reverse", "greater", VERIFIED, FT,
       "CONTROL (verified): the model's own restatements that are true beat FT on the reversed direction"),
    _c("celebrities", "p2d_reverse", "greater", ORACLE, FT,
       "CONTROL (oracle): FT on correct reversals beats FT on the reversed direction (the ceiling)"),
    _c("semantic", "rephrased", "above_chance", FT, None, "FT learns the trained facts (rephrased)"),
    _c("semantic", "reversal", "above_chance", FT, None, "inside a coherent structure FT reverses above chance"),
    _c("semantic", "reversal", "greater", ICL, FT, "ICL beats FT on reversals"),
    _c("semantic", "syllogism", "greater", ICL, FT, "ICL beats FT on syllogisms"),
    _c("semantic", "category_holdout", "greater", ICL, FT, "ICL beats FT on category holdouts"),
    _c("semantic", "reversal", "greater", GLOBAL, FT, "augmented FT beats FT on reversals"),
    _c("semantic", "syllogism", "greater", ORACLE, FT,
       "CONTROL (oracle): FT on every entailed statement beats FT on syllogisms (the ceiling)"),
    _c("derivatoids", "compositional", "greater", ICL, FT, "ICL composes held-out rule combinations better"),
    _c("derivatoids", "in_distribution", "above_chance", FT, None, "FT learns the trained rule combinations"),
]
PRETRAINED = "pretrained: near chance (no contamination)"

# Test time (Lampinen et al. 2026's half of the question): a mode's records count as kind+mode (`ft+channel`).
# Judged for a dataset only when its study scored some mode beyond direct.
CHANNEL, BOTH, RECALL, THINK = Select("ft+channel"), Select("ft+both"), Select("ft+recall"), Select("ft+think")
TEST_TIME: list[Claim] = [
    _c("celebrities", "p2d_reverse", "greater", CHANNEL, FT, "after FT, channel answers the reversed direction above "
       "FT direct"),
    _c("celebrities", "d2p_reverse", "greater", CHANNEL, FT, "after FT, channel answers the reversed direction above "
       "FT direct"),
    _c("celebrities", "p2d_reverse", "greater", BOTH, FT, "after FT, both lifts the reversed direction"),
    _c("celebrities", "p2d", "within", BOTH, FT, "after FT, both keeps the trained direction (within 2 SE of direct)"),
    _c("celebrities", "d2p", "within", BOTH, FT, "after FT, both keeps the trained direction (within 2 SE of direct)"),
    _c("celebrities", "p2d_reverse", "reaches", RECALL, ICL, "after FT, recall reaches ICL's accuracy on reversals"),
    _c("reversals", "reversal", "greater", CHANNEL, FT, "after FT, channel reverses trained facts above FT direct"),
    _c("reversals", "reversal", "reaches", RECALL, ICL, "after FT, recall reaches ICL's accuracy on reversals"),
    _c("syllogisms", "syllogism", "greater", THINK, FT, "after FT, think helps syllogisms"),
    _c("semantic", "syllogism", "greater", THINK, FT, "after FT, think helps semantic inferences (syllogisms)"),
    _c("semantic", "reversal", "greater", CHANNEL, FT, "after FT, channel reverses above FT direct"),
]


# Thinking trained by reinforcement (Chaudhry, Thiagarajan, Lampinen 2026; `study.rl_report`): judged per split on the
# RL set (`SPLIT [RL set]`) and the held-out set (`SPLIT [held-out]`), the same exposure without RL as the control.
RL_THINK = Select("ft_think_rl+think")


def rl_thinking_claims(dataset: str, splits: list[str]) -> list[Claim]:
    """RL thinking's claims on a dataset's knowledge-set splits (`study.rl_report.set_split` names them)."""
    out = []
    for split in splits:
        if split.endswith("[RL set]"):
            out.append(_c(dataset, split, "greater", RL_THINK, FT, "RL thinking beats no thinking on the RL set"))
        elif split.endswith("[held-out]"):
            out.append(_c(dataset, split, "greater", RL_THINK, FT, "RL thinking beats no thinking on the held-out set"))
        if split.startswith(("reversal", "p2d_reverse", "d2p_reverse")):
            out.append(_c(dataset, split, "greater", ICL, RL_THINK, "on reversals, RL thinking stays below ICL"))
    return out


def standard_error(a: Aggregate) -> float:
    return a.error


def _fmt(label: str, a: Aggregate) -> str:
    return f"{label} {a.accuracy:.2f} ± {standard_error(a):.2f} ({a.counted})"


def judge(claim: Claim, table: dict[tuple[str, str], Aggregate], a: str | None = None,
          b: str | None = None) -> Verdict:
    """The verdict of one claim given aggregates keyed by (split, condition label), `a` and `b` the labels of the
    compared conditions (default: their kinds)."""
    a = a or claim.a.kind
    b = b or (claim.b.kind if claim.b else None)
    agg_a = table.get((claim.split, a))
    agg_b = table.get((claim.split, b)) if b else None
    if agg_a is None or (claim.b is not None and agg_b is None):
        return Verdict(claim, "", "not run")
    if claim.kind in ("greater", "within", "reaches"):
        diff = agg_a.accuracy - agg_b.accuracy
        paired = paired_error(agg_a, agg_b)
        noise = Z * (paired if paired is not None else math.hypot(standard_error(agg_a), standard_error(agg_b)))
        measured = f"{_fmt(a, agg_a)} vs {_fmt(b, agg_b)}"
        if paired is not None:
            measured += f"; paired difference {diff:+.2f} ± {paired:.2f}"
    else:
        diff = agg_a.accuracy - agg_a.chance
        noise = Z * standard_error(agg_a)
        measured = f"{_fmt(a, agg_a)}; chance {agg_a.chance:.2f}"
    if claim.kind == "within":
        verdict = "yes" if abs(diff) <= noise else "no"
    elif claim.kind == "reaches":
        verdict = "yes" if diff >= -noise else "no"
    elif claim.kind == "near_chance":
        verdict = "yes" if abs(diff) <= noise else "no"
        if verdict == "no" and diff < 0:
            verdict = "no (below chance)"
    elif claim.kind == "not_above_chance":
        verdict = "yes" if diff <= noise else "no"
    else:
        verdict = "yes" if diff > noise else "direction only" if diff > 0 else "no"
    return Verdict(claim, measured, verdict)


def _matches(select: Select, dataset: str, labels: list[str], ran: dict[tuple[str, str], Ran]) -> list[Ran]:
    """The conditions of `dataset` (in `labels` order) that are what `select` names; a label with nothing stored
    about it counts as its own kind, not a control."""
    out = [ran.get((dataset, label), Ran(label, label)) for label in labels]
    return [r for r in out if select.matches(r)]


def evaluate(aggs: list[Aggregate], normalization: str, part: str = "test", claims: list[Claim] | None = None,
             ran: dict[tuple[str, str], Ran] | None = None) -> list[Verdict]:
    """Every claim (and pretrained-near-chance on every split of a dataset of novel knowledge, i.e. one without a
    forgetting split: real documents may be known before training) for each model of the aggregates, judged on every
    condition of the study that matches it; `ran`: (dataset, label) -> what the condition is (`conditions_of`)."""
    ran = ran or {}
    out = []
    sel = [a for a in aggs if a.normalization == normalization and a.part == part]
    for model in dict.fromkeys(a.model for a in sel):
        mine = [a for a in sel if a.model == model]
        for dataset in dict.fromkeys(a.dataset for a in mine):
            table = {(a.split, a.condition): a for a in mine if a.dataset == dataset}
            labels = list(dict.fromkeys(a.condition for a in mine if a.dataset == dataset))
            tested = claims is None and any(MODE_JOIN in label for label in labels)  # some test-time mode
            todo = [c for c in (claims if claims is not None else PAPER + TEST_TIME * tested) if c.dataset == dataset]
            splits = dict.fromkeys(a.split for a in mine if a.dataset == dataset)
            if FORGETTING_SPLIT not in splits:  # real documents (a forgetting split): the model may know them
                todo += [_c(dataset, s, "near_chance", PRE, None, PRETRAINED) for s in splits]
            for c in todo:
                pairs = [(x, y) for x in _matches(c.a, dataset, labels, ran)
                         for y in (_matches(c.b, dataset, labels, ran) if c.b else [None])]
                pairs = [(x, y) for x, y in pairs if (c.split, x.label) in table
                         and (y is None or (c.split, y.label) in table)]
                if not pairs:
                    out.append(Verdict(c, "", "not run", model=model))
                for x, y in pairs:
                    v = judge(c, table, x.label, y.label if y else None)
                    names = "; ".join(f"`{r.label}` = {r.name}" for r in (x, y) if r is not None)
                    out.append(Verdict(c, v.measured, v.verdict, names, model))
    return out


def conditions_of(study: dict[str, Any], cells: dict[str, dict[str, Any]]) -> dict[tuple[str, str], Ran]:
    """What each (dataset, condition label) of a stored study is: kind and control from study.json, options and
    info (e.g. ICL's prompt format as run) from its first finished cell (`cells`: key -> the stored cell)."""
    from iclft.study.aggregates import controls

    out: dict[tuple[str, str], Ran] = {}
    for c in study["cells"]:
        key = (c["dataset"], c["condition"])
        if key in out or c["key"] not in cells:
            continue
        doc = cells[c["key"]]
        spec = doc.get("spec", {})
        options, info = spec.get("options", {}), doc.get("info", {})
        if options.get("format") == "auto" and "format" not in info and spec.get("model_path"):
            info = {**info, "format": _auto_format(spec["model_path"])}  # a cell stored before info named it
        kind = c.get("kind", spec.get("kind", c["condition"]))
        control = c["condition"] in controls(study, c["dataset"])
        out[key] = Ran(c["condition"], kind, control, options, info)
        for mode in (m for m in spec.get("test_time", {}) if m != "direct"):
            label = f"{c['condition']}{MODE_JOIN}{mode}"
            out[(c["dataset"], label)] = Ran(label, f"{kind}{MODE_JOIN}{mode}", control, options, info)
    return out


def _auto_format(model_path: str) -> str:
    """What `format: auto` ran as for a model (`framing.resolve_format` on its tokenizer and config); "auto" when
    they cannot be read here."""
    from iclft import tokens
    from iclft.errors import UserError
    from iclft.framing import resolve_format

    try:
        return resolve_format(tokens.weightless(model_path), "auto")
    except (OSError, ValueError, UserError):  # a model folder moved or not prepared on this machine
        return "auto"
