"""Thinking trained by reinforcement in a report: test accuracy on the RL set and on the held-out set, per split.

An `ft_think_rl` cell stores the facts its RL set holds (info `rl_facts`, seeded by `rl.split_seed`, the same for every
cell seed). Every record of the same dataset, whatever its condition or test-time mode, is placed by the facts its
question is about (`learners.rl_think.knowledge_set`): `SPLIT [RL set]` (all its facts there), `SPLIT [held-out]`
(none there); questions about both are left out (counted). So RL thinking (`ft_think_rl+think`) is read beside the same
exposure without RL (`ft`), with an untrained thought (`ft+think`), ICL and augmented FT, on the same questions. The
reward curve over GRPO steps is a figure; the claims (`claims.RL_THINKING`) are judged on these aggregates.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iclft.learners.knowledge_split import HELDOUT, MIXED, RL, knowledge_set
from iclft.learners.rl_think import NAME
from iclft.study import claims
from iclft.study.aggregates import aggregate, ordered, shown
from iclft.study.figures import loss_curves
from iclft.study.store import Store
from iclft.study.test_time_report import labelled

SET_NAMES = {RL: "RL set", HELDOUT: "held-out"}


def set_split(split: str, which: str) -> str:
    return f"{split} [{SET_NAMES[which]}]"


def _facts(store: Store, study: dict[str, Any], keys: list[str]) -> dict[str, frozenset[str]]:
    """Per dataset, the RL set of its first finished `ft_think_rl` cell."""
    out: dict[str, frozenset[str]] = {}
    for cell in study["cells"]:
        if cell["kind"] == NAME and cell["key"] in keys and cell["dataset"] not in out:
            out[cell["dataset"]] = frozenset(store.cell(cell["key"]).get("info", {}).get("rl_facts", []))
    return out


def placed(records: list[dict[str, Any]], facts: dict[str, frozenset[str]]) -> tuple[list[dict[str, Any]], int]:
    """Records of datasets with an RL set, their split renamed by knowledge set (mixed ones left out, counted)."""
    out, mixed = [], 0
    for r in labelled(records):
        rl = facts.get(r["dataset"])
        if rl is None:
            continue
        which = knowledge_set(r.get("facts", []), rl)
        if which == MIXED:
            mixed += 1
            continue
        out.append({**r, "split": set_split(r["split"], which)})
    return out, mixed


def section(store: Store, study: dict[str, Any], keys: list[str], stored: list[dict[str, Any]], primary: str,
            control: set[tuple[str, str]], root: Path) -> list[str]:
    """The report's RL-thinking section (empty without a finished `ft_think_rl` cell)."""
    facts = _facts(store, study, keys)
    if not facts:
        return []
    rows, mixed = placed(stored, facts)
    aggs = aggregate(rows, [primary], control)
    lines = ["## Thinking trained by reinforcement", "",
             f"Test accuracy (`{primary}`) ± its error bar, n and k (sources), on questions about the RL set's facts (RL trained on "
             "validation questions about them) and about the held-out facts (no RL); both sets were fine-tuned in. "
             f"`ft_think_rl+think` is RL thinking; `ft` the same exposure without RL; `ft+think` untrained thinking. "
             f"{mixed} records about facts of both sets are left out.", ""]
    for ds in ordered(r["dataset"] for r in rows):
        ctrl = {c for d, c in control if d == ds}
        for model in ordered(r["model"] for r in rows if r["dataset"] == ds):
            sel = [a for a in aggs if (a.dataset, a.model, a.part) == (ds, model, "test")]
            labels = ordered(a.condition for a in sel)
            splits = ordered(a.split for a in sel)
            table = {(a.split, a.condition): a for a in sel}
            lines += [f"### {ds} — {model}: RL set and held-out set (test)", "",
                      "| condition | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
            for label in labels:
                lines.append(f"| {shown(label, ctrl)} | " + " | ".join(
                    f"{a.accuracy:.2f} ± {a.error:.2f} ({a.counted})" if (a := table.get((s, label)))
                    else "–" for s in splits) + " |")
            lines += ["", "| claim | ours | holds? |", "|---|---|---|"]
            for claim in claims.rl_thinking_claims(ds, splits):
                v = claims.judge(claim, table)
                lines.append(f"| {claim.text} ({claim.split}) | {v.measured or '–'} | {v.verdict} |")
            lines.append("")
            curves = {f"seed {c['seed']}": [{"step": p["step"], "loss": p["reward"]} for p in store.artifact(
                c["key"], "rl") or []] for c in study["cells"]
                if c["kind"] == NAME and c["key"] in keys and (c["dataset"], c["model"]) == (ds, model)}
            if any(curves.values()):
                name = f"{ds}-{model}-rl-reward.png"
                loss_curves(root / "figures" / name, f"{ds} ({model}): GRPO reward", curves,
                            "reward (mean over samples)")
                lines += [f"![{ds} RL reward](figures/{name})", ""]
    return lines
