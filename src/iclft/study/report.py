"""`iclft report DIR`: aggregates, figures in the paper's style and report.md, from stored records only.

How an accuracy and its error bar are computed is `iclft.study.aggregates`; the figures are `study.figures`, the
sections beyond the accuracy tables (gap, audit, generation cost, provenance) `study.report_sections`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iclft.errors import UserError
from iclft.io import atomic_open
from iclft.study import budget_report, placebo, rl_report, test_time_report
from iclft.study import gaps as gap_accounting
from iclft.study.aggregates import Aggregate, aggregate, control_pairs, controls, ordered, shown, write_csv
from iclft.study.claims import generator_name, placebo_name
from iclft.study.corpus_stats import lines as corpus_lines
from iclft.study.figures import accuracy_bars, loss_curves
from iclft.study.report_sections import audits, gap_lines, generation_costs, provenance, write_gaps_csv
from iclft.study.store import Store


def _cell_text(a: Aggregate | None) -> str:
    if a is None:
        return "–"
    return f"{a.accuracy:.2f} ± {a.error:.2f}"


def _probability_lines(splits: list[str], conds: list[str], table: dict[tuple[str, str], Aggregate],
                       ctrl: set[str]) -> list[str]:
    """The same table as the probability of the correct choice (± clustered), where every record carries it."""
    cells = {k: a for k, a in table.items() if a.p_correct is not None}
    if not cells:
        return []
    out = ["", "p(correct): | split | " + " | ".join(shown(c, ctrl) for c in conds) + " |",
           "|---|" + "---|" * len(conds)]
    for split in splits:
        vals = [cells.get((split, c)) for c in conds]
        out.append(f"| {split} | " + " | ".join("–" if a is None else f"{a.p_correct:.2f} ± {a.p_correct_se:.2f}"
                                                 for a in vals) + " |")
    return out


def _recipe_lines(study: dict[str, Any], options: dict[tuple[str, str], dict[str, Any]], ds: str, conds: list[str],
                  ctrl: set[str]) -> list[str]:
    """Who wrote each recipe's text (the exposed model: augmentation; a stronger model: distillation) and which
    recipes are placebos, so the same recipe with two generators reads side by side."""
    kinds = {c["condition"]: c.get("kind", c["condition"]) for c in study["cells"] if c["dataset"] == ds}
    said = [(c, ", ".join(x for x in (generator_name(kinds.get(c, c), options.get((ds, c), {})),
                                      placebo_name(options.get((ds, c), {}))) if x)) for c in conds]
    said = [(c, what) for c, what in said if what]
    return ["Recipes: " + "; ".join(f"{shown(c, ctrl)}: {what}" for c, what in said) + ".", ""] if said else []


def write_report(out: str | Path) -> Path:
    """Write report.md, aggregates.csv and figures/ into the study folder; returns report.md's path."""
    store = Store(out)
    study = store.study()
    cfg = study["config"]
    keys = store.done_cells()
    if not keys:
        raise UserError(f"{out}: no finished cells to report yet")
    stored = [r for k in keys for r in store.records(k)]
    records = test_time_report.direct(stored)
    norms = list(cfg["scoring"]["normalizations"])
    primary = norms[0]
    aggs = aggregate(records, norms, control_pairs(study))
    gaps = gap_accounting.gaps(records, study["cells"], primary, control_pairs(study))
    root = Path(out)
    write_csv(root / "aggregates.csv", aggs)
    write_gaps_csv(root / "gaps.csv", gaps)
    lines = [f"# Study `{study['name']}`", "",
             f"{len(keys)} of {len(study['cells'])} cells finished; {len(stored)} records. "
             f"Accuracy under `{primary}` normalization (the mean over sub-types and seeds); ± is the standard error "
             f"clustered by source: the person, item or passage a question is about (Miller 2024, arXiv "
             f"2411.00640), Laplace-corrected where every source agrees. `n (k)`: questions and the sources they "
             f"are about; `p(correct)`: the mean probability of the correct choice (less noisy than accuracy). "
             f"Every aggregate for every normalization is in `aggregates.csv`.", ""]
    for ds in ordered(r["dataset"] for r in records):
        for model in ordered(r["model"] for r in records if r["dataset"] == ds):
            lines += _model_section(store, study, keys, records, aggs, gaps, ds, model, primary)
            lines += corpus_lines(store, study, keys, ds, model)
    if labels := controls(study):
        lines += ["CONTROL: a condition whose cells read the dataset's answers or world, or a PLACEBO (a recipe written "
                  "from documents outside the study): a reference point, never the method: "
                  f"{', '.join(sorted(labels))}.", ""]
    lines += test_time_report.section(stored, study, primary, control_pairs(study), root)
    lines += rl_report.section(store, study, keys, stored, primary, control_pairs(study), root)
    lines += audits(store, study, keys)
    lines += generation_costs(store, study, keys)
    lines += provenance(store, study, keys)
    path = root / "report.md"
    with atomic_open(path) as f:
        f.write("\n".join(lines) + "\n")
    return path


def _model_section(store: Store, study: dict[str, Any], keys: list[str], records: list[dict[str, Any]],
                   aggs: list[Aggregate], gaps: list[gap_accounting.Gap], ds: str, model: str,
                   primary: str) -> list[str]:
    """One dataset and model: a table, a figure and the gap lines per question set, then the loss curves."""
    figdir = Path(store.root) / "figures"
    ctrl = controls(study, ds)
    cond_order = ordered(c["condition"] for c in study["cells"])  # grid order (JSON keys are sorted)
    options = {(c["dataset"], c["condition"]): store.cell(c["key"]).get("spec", {}).get("options", {})
               for c in study["cells"] if c["dataset"] == ds and c["key"] in keys}
    lines: list[str] = []
    for part in ordered(r["part"] for r in records if r["dataset"] == ds and r["model"] == model):
        sel = [a for a in aggs if (a.dataset, a.model, a.part, a.normalization) == (ds, model, part, primary)]
        splits = ordered(r["split"] for r in records if (r["dataset"], r["model"], r["part"]) == (ds, model, part))
        conds = [c for c in cond_order if any(a.condition == c for a in sel)]
        table = {(a.split, a.condition): a for a in sel}
        name = f"{ds}-{model}-{part}.png"
        accuracy_bars(figdir / name, f"{ds}: {model}, {part}", splits, conds, table, ctrl)
        lines += [f"## {ds} — {model} ({part})", "",
                  "| split | " + " | ".join(shown(c, ctrl) for c in conds) + " | chance | n (k) |",
                  "|---|" + "---|" * (len(conds) + 2)]
        for split in splits:
            first = next(a for a in sel if a.split == split)
            lines.append(f"| {split} | " + " | ".join(_cell_text(table.get((split, c))) for c in conds)
                         + f" | {first.chance:.2f} | {first.questions} ({first.sources}) |")
        lines += _probability_lines(splits, conds, table, ctrl)
        lines += ["", f"![{ds}](figures/{name})", ""]
        here = [r for r in records if (r["dataset"], r["model"], r["part"]) == (ds, model, part)]
        mine = [g for g in gaps if (g.dataset, g.model, g.part) == (ds, model, part)]
        icl, ft = (mine[0].icl, mine[0].ft) if mine else (None, None)  # the references gap accounting chose
        lines += _recipe_lines(study, options, ds, conds, ctrl)
        lines += placebo.lines(study, options, here, table, splits, ds, icl, ft, primary, ctrl)
        lines += budget_report.lines(options, table, splits, ds, f"{ds}: {model}, {part}", {"ICL": icl, "FT": ft},
                                     ctrl, figdir / f"{ds}-{model}-{part}-budget.png")
        lines += gap_lines(mine, ctrl)
    curves = {}
    for k in keys:
        cell = next(c for c in study["cells"] if c["key"] == k)
        if (cell["dataset"], cell["model"]) == (ds, model):
            loss = store.artifact(k, "loss")
            if loss:
                curves[f"{shown(cell['condition'], ctrl)} seed {cell['seed']}"] = loss
    if curves:
        name = f"{ds}-{model}-loss.png"
        loss_curves(figdir / name, f"{ds} ({model}): fine-tuning loss", curves)
        lines += [f"![{ds} loss](figures/{name})", ""]
    return lines
