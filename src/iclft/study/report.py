"""`iclft report DIR`: aggregates, figures in the paper's style and report.md, from stored records only.

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

from iclft.datasets.schema import FORGETTING_SPLIT
from iclft.errors import UserError
from iclft.io import atomic_open
from iclft.study import gaps as gap_accounting
from iclft.study.store import Store

CSV_FIELDS = ("dataset", "model", "part", "split", "condition", "control", "normalization", "accuracy", "se",
              "groups", "questions", "correct", "chance", "subtypes")
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


def _ordered(values: Iterable[str]) -> list[str]:
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
    norms = normalizations or _ordered(n for r in records for n in r["correct"])
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
                             (key[0], key[4]) in control))
    return out


def write_csv(path: Path, aggs: list[Aggregate]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for a in aggs:
        w.writerow(a.row())
    with atomic_open(path) as f:
        f.write(buf.getvalue())


# ------------------------------------------------------------------ figures


def _figure_bars(path: Path, title: str, splits: list[str], conditions: list[str],
                 table: dict[tuple[str, str], Aggregate], control: set[str] = frozenset()) -> None:
    """Accuracy per split grouped by condition, standard-error bars (`Aggregate.error`, said in a caption),
    dashed chance line per split; controls hatched and labelled as controls."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10").colors
    width = 0.8 / max(len(conditions), 1)
    per_split = max(0.35 * len(conditions), 1.1)
    fig, ax = plt.subplots(figsize=(max(3.5, 1.0 + per_split * len(splits)), 3.4), dpi=120)
    for j, cond in enumerate(conditions):
        xs, ys, es = [], [], []
        for i, split in enumerate(splits):
            a = table.get((split, cond))
            if a is not None:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(a.accuracy)
                es.append(math.nan if a.error is None else a.error)
        ax.bar(xs, ys, width * 0.92, yerr=es, capsize=3, label=shown(cond, control), color=colors[j % len(colors)],
               hatch="//" if cond in control else None, error_kw={"elinewidth": 1})
    for i, split in enumerate(splits):
        ch = [a.chance for (s, _), a in table.items() if s == split]
        if ch:
            ax.hlines(ch[0], i - 0.45, i + 0.45, colors="black", linestyles="dashed", linewidth=1,
                      label="chance" if i == 0 else None)
    single = {s for (s, _), a in table.items() if a.one_subtype}
    ax.set_xticks(range(len(splits)), [s.replace("_", "\n") + ("*" if s in single else "") for s in splits])
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    caption = ERROR_BARS if single else ERROR_BARS.split(";")[0]
    fig.text(0.01, -0.02, caption, fontsize=7, ha="left", va="top", wrap=True)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", bbox_inches="tight")
    plt.close(fig)


def _figure_losses(path: Path, title: str, curves: dict[str, list[dict[str, float]]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=120)
    for label, curve in curves.items():
        ax.plot([c["step"] for c in curve], [c["loss"] for c in curve], label=label, linewidth=1)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    with atomic_open(path, "wb") as f:
        fig.savefig(f, format="png", bbox_inches="tight")
    plt.close(fig)


# ------------------------------------------------------------------ report.md


def _cell_text(a: Aggregate | None) -> str:
    if a is None:
        return "–"
    return f"{a.accuracy:.2f}" + (f" ± {a.error:.2f}" if a.error is not None else "") + ("*" if a.one_subtype else "")


def write_report(out: str | Path) -> Path:
    """Write report.md, aggregates.csv and figures/ into the study folder; returns report.md's path."""
    store = Store(out)
    study = store.study()
    cfg = study["config"]
    keys = store.done_cells()
    if not keys:
        raise UserError(f"{out}: no finished cells to report yet")
    records = [r for k in keys for r in store.records(k)]
    norms = list(cfg["scoring"]["normalizations"])
    primary = norms[0]
    aggs = aggregate(records, norms, control_pairs(study))
    gaps = gap_accounting.gaps(records, study["cells"], primary, control_pairs(study))
    root = Path(out)
    write_csv(root / "aggregates.csv", aggs)
    write_gaps_csv(root / "gaps.csv", gaps)
    figdir = root / "figures"
    cond_order = _ordered(c["condition"] for c in study["cells"])  # grid order (JSON keys are sorted)
    lines = [f"# Study `{study['name']}`", "",
             f"{len(keys)} of {len(study['cells'])} cells finished; {len(records)} records. "
             f"Accuracy under `{primary}` normalization; ± is the standard error over sub-types and seeds, or "
             f"(marked *) for a split with one sub-type the binomial standard error over questions "
             f"(Laplace-corrected); "
             f"every aggregate for every normalization is in `aggregates.csv`.", ""]
    for ds in _ordered(r["dataset"] for r in records):
        ctrl = controls(study, ds)
        for model in _ordered(r["model"] for r in records if r["dataset"] == ds):
            for part in _ordered(r["part"] for r in records if r["dataset"] == ds and r["model"] == model):
                sel = [a for a in aggs if (a.dataset, a.model, a.part, a.normalization) == (ds, model, part, primary)]
                splits = _ordered(r["split"] for r in records
                                  if (r["dataset"], r["model"], r["part"]) == (ds, model, part))
                conds = [c for c in cond_order if any(a.condition == c for a in sel)]
                table = {(a.split, a.condition): a for a in sel}
                name = f"{ds}-{model}-{part}.png"
                _figure_bars(figdir / name, f"{ds}: {model}, {part}", splits, conds, table, ctrl)
                lines += [f"## {ds} — {model} ({part})", "",
                          "| split | " + " | ".join(shown(c, ctrl) for c in conds) + " | chance |",
                          "|---|" + "---|" * (len(conds) + 1)]
                for split in splits:
                    ch = next(a.chance for a in sel if a.split == split)
                    lines.append(f"| {split} | " + " | ".join(_cell_text(table.get((split, c))) for c in conds)
                                 + f" | {ch:.2f} |")
                lines += ["", f"![{ds}](figures/{name})", ""]
                lines += _gap_lines([g for g in gaps if (g.dataset, g.model, g.part) == (ds, model, part)], ctrl)
            curves = {}
            for k in keys:
                cell = next(c for c in study["cells"] if c["key"] == k)
                if (cell["dataset"], cell["model"]) == (ds, model):
                    loss = store.artifact(k, "loss")
                    if loss:
                        curves[f"{shown(cell['condition'], ctrl)} seed {cell['seed']}"] = loss
            if curves:
                name = f"{ds}-{model}-loss.png"
                _figure_losses(figdir / name, f"{ds} ({model}): fine-tuning loss", curves)
                lines += [f"![{ds} loss](figures/{name})", ""]
    if labels := controls(study):
        lines += ["CONTROL: a condition whose cells read the dataset's answers or world (a reference point, never the "
                  f"method): {', '.join(sorted(labels))}.", ""]
    lines += _audits(store, study, keys)
    lines += _generation_costs(store, study, keys)
    lines += _provenance(store, study, keys)
    path = root / "report.md"
    with atomic_open(path) as f:
        f.write("\n".join(lines) + "\n")
    return path


def _share_text(s: gap_accounting.Share) -> str:
    if s.share is None:
        return "–"
    interval = f" [{s.low:.2f}, {s.high:.2f}]" if s.low is not None else " [interval n/a]"
    return f"{s.share:.2f}{interval}"


def _gap_lines(gaps: list[gap_accounting.Gap], ctrl: set[str]) -> list[str]:
    """The share of the ICL-FT gap each fine-tuned method closes, per split; the forgetting check below it."""
    if not gaps:
        return []
    methods = list(dict.fromkeys(s.condition for g in gaps if not g.forgetting for s in g.shares))
    first = gaps[0]
    clustered = first.clusters < first.questions
    unit = "sources (questions resampled by the document or person they are about)" if clustered else "questions"
    lines = [(f"Share of the gap between ICL (`{first.icl}`) and FT (`{first.ft}`) each method closes, "
              f"(method - FT) / (ICL - FT), with a 95% bootstrap interval over {unit} (`iclft.study.gaps`; with few "
              "sources the interval is coarse); – where ICL is not above FT. Accuracies here are over the questions "
              "every condition answered, pooled (the table above averages sub-types)."), "",
             f"| split | questions{' (sources)' if clustered else ''} | "
             + " | ".join(f"`{c}`" for c in (first.pretrained or "pretrained", first.icl, first.ft))
             + " | " + " | ".join(f"{shown(m, ctrl)}: accuracy · share [95%]" for m in methods) + " |",
             "|---|---|---|---|---|" + "---|" * len(methods)]
    for g in gaps:
        if g.forgetting:
            continue
        by = {s.condition: s for s in g.shares}
        refs = [f"{g.accuracy[c]:.2f}" if c else "–" for c in (g.pretrained, g.icl, g.ft)]
        counted = f"{g.questions} ({g.clusters})" if g.clusters < g.questions else str(g.questions)
        lines.append(f"| {g.split} | {counted} | " + " | ".join(refs) + " | "
                     + " | ".join(f"{by[m].accuracy:.2f} · {_share_text(by[m])}" if m in by else "–" for m in methods)
                     + " |")
    for g in gaps:
        if not g.forgetting:
            continue
        knew = g.known if g.pretrained else "?"
        lines += ["", (f"Forgetting check (CONTROL): `{FORGETTING_SPLIT}` asks about documents nothing trained on; of "
                       f"its {g.questions} questions, the pretrained model answered {knew} correctly; the share of "
                       "those each fine-tuned condition still answers correctly (1.00: nothing forgotten):"), "",
                  "| condition | retained |", "|---|---|"]
        lines += [f"| {shown(s.condition, ctrl)} | {_share_text(s)} |" for s in g.shares] or ["| – | – |"]
    return lines + [""]


def write_gaps_csv(path: Path, gaps: list[gap_accounting.Gap]) -> None:
    """Every share (and retention, on the forgetting split) with its interval, one row each."""
    buf = io.StringIO()
    fields = ("dataset", "model", "part", "split", "condition", "control", "accuracy", "icl", "ft", "share",
              "low", "high", "measure", "questions", "clusters")
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for g in gaps:
        for s in g.shares:
            w.writerow({"dataset": g.dataset, "model": g.model, "part": g.part, "split": g.split,
                        "condition": s.condition, "control": "CONTROL" if s.control else "",
                        "accuracy": f"{s.accuracy:.6f}", "icl": f"{g.accuracy[g.icl]:.6f}",
                        "ft": f"{g.accuracy[g.ft]:.6f}",
                        **{k: "" if getattr(s, k) is None else f"{getattr(s, k):.6f}"
                           for k in ("share", "low", "high")},
                        "measure": "retained" if g.forgetting else "gap_share", "questions": s.questions,
                        "clusters": s.clusters})
    with atomic_open(path) as f:
        f.write(buf.getvalue())


def _audits(store: Store, study: dict[str, Any], keys: list[str]) -> list[str]:
    """The augmentation audit of every augmented cell: truth of the generated sentences, test coverage."""
    rows = []
    for k in keys:
        audit = store.artifact(k, "audit")
        if not audit:
            continue
        cell = next(c for c in study["cells"] if c["key"] == k)
        v, cov = audit["verdicts"], audit["coverage"].get("all", {})
        rate = audit["hallucination_rate"]
        covered = ", ".join(f"{m} {cov[m]}" for m in ("verbatim", "stated", "entailed") if m in cov)
        dropped = ", ".join(f"{mode} {reason} {n}" for mode, f in audit.get("filters", {}).items()
                            for reason, n in f["dropped"].items() if n)
        label = shown(cell["condition"], controls(study, cell["dataset"]))
        rows.append(f"| {cell['dataset']} | {label} | {audit['sentences']} | {v['true']} | "
                    f"{v['false']} | {v['unverifiable']} | {v['unparsed']} | "
                    f"{'n/a' if rate is None else f'{rate:.0%}'} | "
                    f"{cov.get('questions', 0)}: {covered} | {dropped or '-'} |")
    if not rows:
        return []
    return ["## Augmentation audit", "",
            "Generated sentences judged in each dataset's world (`iclft.augment.audit`): hallucination rate = false / "
            "(true + false + unverifiable); coverage = test questions whose correct statement the augmentations "
            "contain verbatim, state, or entail; dropped = sentences the augmentation's filters removed, by reason "
            "(docs/augmentation.md).", "",
            "| dataset | condition | sentences | true | false | unverifiable | unparsed | hallucination | "
            "test questions: covered | dropped |", "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]


def _generation_costs(store: Store, study: dict[str, Any], keys: list[str]) -> list[str]:
    """Every augmented cell's generation cost beside its label: generated tokens (per document: the most a document
    got, and the budget), generation seconds (cached generations as recorded when generated), outputs kept."""
    rows = []
    for k in keys:
        modes = store.cell(k).get("info", {}).get("augmentation")
        if not modes:
            continue
        cell = next(c for c in study["cells"] if c["key"] == k)
        seconds = store.timing(k).get("augment_seconds", {})
        label = shown(cell["condition"], controls(study, cell["dataset"]))
        for mode, a in modes.items():
            b = a.get("budget", {})
            budget = b.get("tokens_per_document") or "-"
            secs = f"{seconds[mode]:.1f}" if mode in seconds else "?"
            rows.append(f"| {cell['dataset']} | {label} | {cell['seed']} | {mode} | {a['prompts']} | "
                        f"{a['tokens']['completion']:,} | {b.get('spent_per_document_max', '?')} / {budget} | {secs} | "
                        f"{a['outputs']} |")
    if not rows:
        return []
    return ["## Generation cost", "",
            "Per augmented cell and family: prompts generated, tokens generated, the most one document got against "
            "the per-document budget (`tokens_per_document`), generation wall time in seconds (cached generations "
            "as recorded when first generated) and the outputs the filters kept.", "",
            "| dataset | condition | seed | family | prompts | generated tokens | per document: most / budget | "
            "generation (s) | outputs kept |", "|---|---|---|---|---|---|---|---|---|", *rows, ""]


def _provenance(store: Store, study: dict[str, Any], keys: list[str]) -> list[str]:
    cfg = study["config"]
    cells = {k: store.cell(k) for k in keys}
    versions = ", ".join(f"{k} {v}" for k, v in cells[keys[0]].get("versions", {}).items())
    specs = [c["spec"] for c in cells.values() if "spec" in c]
    resolved = {sp["model"]: sp["dtype"] for sp in specs if "dtype" in sp}  # `auto` as the cells ran it
    models = ", ".join(f"`{label}` = {m['path']} ({resolved.get(label, m['dtype'])})"
                       for label, m in cfg["models"].items())
    lines = ["## Provenance", "",
             f"- config hash: `{study['hash']}`",
             f"- versions: {versions}",
             f"- models: {models}",
             f"- seeds: {', '.join(str(s) for s in cfg['seeds'])}; questions: {', '.join(cfg['questions'])}; "
             f"normalizations: {', '.join(cfg['scoring']['normalizations'])}",
             "", "| cell | wall time (s) | estimated (s) | notes |", "|---|---|---|---|"]
    total = 0.0
    for k in keys:
        t = store.timing(k)
        info = cells[k].get("info", {})
        total += float(t.get("seconds", 0))
        notes = ", ".join(f"{n}={info[n]}" for n in ("examples", "steps", "documents") if n in info)
        if t.get("trained") is False:
            notes += ("; " if notes else "") + "cached model"
        if t.get("resumed_chunks"):
            notes += ("; " if notes else "") + f"resumed {t['resumed_chunks']} chunks"
        lines.append(f"| {k} | {t.get('seconds', '?')} | {t.get('estimated_seconds', '?')} | {notes} |")
    lines += ["", f"Total wall time of the cells: {total:.0f} s ({total / 60:.1f} min)."]
    return lines
