"""The report's sections beyond the accuracy tables: the ICL-FT gap and each method's share of it, the augmentation
audit, generation costs and provenance."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from iclft.datasets.schema import FORGETTING_SPLIT
from iclft.io import atomic_open
from iclft.study import gaps as gap_accounting
from iclft.study.aggregates import controls, shown
from iclft.study.store import Store


def _share_text(s: gap_accounting.Share) -> str:
    if s.share is None:
        return "–"
    interval = f" [{s.low:.2f}, {s.high:.2f}]" if s.low is not None else " [interval n/a]"
    return f"{s.share:.2f}{interval}"


def gap_lines(gaps: list[gap_accounting.Gap], ctrl: set[str]) -> list[str]:
    """The share of the ICL-FT gap each fine-tuned method closes, per split; the forgetting check below it."""
    if not gaps:
        return []
    methods = list(dict.fromkeys(s.condition for g in gaps if not g.forgetting for s in g.shares))
    first = gaps[0]
    clustered = first.clusters < first.questions
    unit = "sources (questions resampled by the document or person they are about)" if clustered else "questions"
    lines = [(f"Share of the gap between ICL (`{first.icl}`) and FT (`{first.ft}`) each method closes, measured "
              "from FT (a recipe with a PLACEBO is measured from FT+placebo too, in the table above), "
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


def _audit_row(cell: dict[str, Any], label: str, audit: dict[str, Any], study: dict[str, Any]) -> str:
    """One audited text set: an augmentation, or what a test-time mode wrote (`CONDITION+MODE`)."""
    v, cov = audit["verdicts"], audit["coverage"].get("all", {})
    rate = audit["hallucination_rate"]
    covered = ", ".join(f"{m} {cov[m]}" for m in ("verbatim", "stated", "entailed") if m in cov)
    dropped = ", ".join(f"{mode} {reason} {n}" for mode, f in audit.get("filters", {}).items()
                        for reason, n in f["dropped"].items() if n)
    if cell["condition"] in controls(study, cell["dataset"]):
        label = shown(label, {label})
    return (f"| {cell['dataset']} | {label} | {audit['sentences']} | {v['true']} | "
            f"{v['false']} | {v['unverifiable']} | {v['unparsed']} | "
            f"{'n/a' if rate is None else f'{rate:.0%}'} | "
            f"{cov.get('questions', 0)}: {covered} | {dropped or '-'} |")


def audits(store: Store, study: dict[str, Any], keys: list[str]) -> list[str]:
    """The augmentation audit of every augmented cell: truth of the generated sentences, test coverage."""
    rows = []
    for k in keys:
        cell = next(c for c in study["cells"] if c["key"] == k)
        found = [(cell["condition"], store.artifact(k, "audit"))]
        found += [(f"{cell['condition']}+{mode}", a) for mode, a in (store.artifact(k, "test_time_audit") or {}).items()]
        rows += [_audit_row(cell, label, audit, study) for label, audit in found if audit]
    if not rows:
        return []
    return ["## Augmentation audit", "",
            "Generated sentences judged in each dataset's world (`iclft.augment.audit`): hallucination rate = false / "
            "(true + false + unverifiable); coverage = test questions whose correct statement the augmentations "
            "contain verbatim, state, or entail; dropped = sentences the augmentation's filters removed, by reason "
            "(docs/augmentation.md).", "",
            "| dataset | condition | sentences | true | false | unverifiable | unparsed | hallucination | "
            "test questions: covered | dropped |", "|---|---|---|---|---|---|---|---|---|---|", *rows, ""]


def generation_costs(store: Store, study: dict[str, Any], keys: list[str]) -> list[str]:
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


def provenance(store: Store, study: dict[str, Any], keys: list[str]) -> list[str]:
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
