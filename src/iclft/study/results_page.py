"""`iclft results`: docs/results.md from finished studies: claims checked, tables, figures, tuning, wall times.

Every number on the page comes from the studies' stored records (through `aggregates.aggregate`), their stored
cells (what each condition is, its options) and timing files (wall times, rounded, in the provenance section).
A claim takes its rows from the first study given that ran it, and its row names that study. The hand-written
notes (--notes) are prose without figures (`check_notes`), included verbatim. Figures are the studies' report
figures, copied next to the output. The same stored studies give the same page, byte for byte.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iclft.errors import UserError
from iclft.io import atomic_open, read_text
from iclft.study import claims as claimsmod
from iclft.study import test_time_report
from iclft.study.aggregates import Aggregate, aggregate, control_pairs, controls, shown
from iclft.study.report import write_report
from iclft.study.store import Store

# A figure in the notes: a token that starts with a digit (optionally after a sign, ~ or ±), outside code spans
# and links; `SmolLM2-135M`, `Gemma-3`, bf16, H200 start with a letter and are names, not figures. Allowed: an
# ordered-list marker, a section sign or issue number (§3, #22), a commit in backticks (seven to forty hex digits),
# and anything inside `backticks` that is not a bare number (config files, commands).
_COMMIT = re.compile(r"`[0-9a-f]{7,40}`")
_CODE = re.compile(r"`[^`]*`")
_LINK = re.compile(r"\]\([^)]*\)")
_FIGURE = re.compile(r"(?<![\w§#./-])[-+~±≈]?\d[\w.,%/:-]*")
_LIST = re.compile(r"^\s*\d+\.\s")
_BARE_NUMBER = re.compile(r"`\s*[-+~±≈]?\d[\d.,%\s]*(?:s|min|x)?\s*`")


@dataclass
class Loaded:
    """A finished study read back: its manifest, aggregates, conditions as run and store."""

    folder: Path
    study: dict[str, Any]
    aggs: list[Aggregate]
    ran: dict[tuple[str, str], claimsmod.Ran]
    store: Store

    @property
    def name(self) -> str:
        return self.study["name"]


def check_notes(text: str, path: str | Path) -> None:
    """Refuse notes that state a figure (one line naming the first): figures on the page come from records."""
    for n, line in enumerate(text.splitlines(), 1):
        line = _COMMIT.sub("`commit`", line)
        bare = _BARE_NUMBER.search(line)
        found = bare.group(0) if bare else None
        if found is None:
            m = _FIGURE.search(_LINK.sub("](link)", _CODE.sub("`code`", _LIST.sub("", line))))
            found = m.group(0) if m else None
        if found:
            raise UserError(f"{path}:{n}: the notes state a figure ({found!r}); numbers on the results page come "
                            f"from the stored records only: say it in words, or name the config in backticks")


def load(folder: str | Path) -> Loaded:
    """A finished study (every cell done), or a one-line error."""
    store = Store(folder)
    study = store.study()
    keys = store.done_cells()
    if len(keys) < len(study["cells"]):
        raise UserError(f"{folder}: {len(study['cells']) - len(keys)} of {len(study['cells'])} cells are not "
                        f"finished; run the study first")
    records = test_time_report.labelled([r for k in keys for r in store.records(k)])
    aggs = aggregate(records, study["config"]["scoring"]["normalizations"], control_pairs(study))
    ran = claimsmod.conditions_of(study, {k: store.cell(k) for k in keys})
    return Loaded(Path(folder), study, aggs, ran, store)


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _wall(s: Loaded) -> tuple[float, float]:
    """Wall time and estimated time of a study's cells, summed from their timing files (seconds)."""
    t = [s.store.timing(c["key"]) for c in s.study["cells"]]
    return sum(float(x.get("seconds", 0)) for x in t), sum(float(x.get("estimated_seconds", 0)) for x in t)


def verdicts(studies: list[Loaded]) -> list[tuple[claimsmod.Verdict, str]]:
    """Every claim's rows, each from the first study that ran it (with that study's name), in claim order; a
    claim no study ran is one "not run" row."""
    per = []
    for s in studies:
        primary = s.study["config"]["scoring"]["normalizations"][0]
        per.append((s.name, claimsmod.evaluate(s.aggs, primary, ran=s.ran)))
    order: dict[tuple, list[tuple[claimsmod.Verdict, str]]] = {}
    for name, vs in per:
        for v in vs:
            order.setdefault((v.model, v.claim.dataset, v.claim), [])
    for key, rows in order.items():
        for name, vs in per:
            mine = [v for v in vs if (v.model, v.claim.dataset, v.claim) == key and v.verdict != "not run"]
            if mine:
                rows += [(v, name) for v in mine]
                break
        else:
            rows.append((claimsmod.Verdict(key[2], "", "not run", model=key[0]), ""))
    # claim order: the studies' datasets in order of first appearance, PAPER order within a dataset
    return [row for rows in order.values() for row in rows]


def _claims_table(rows: list[tuple[claimsmod.Verdict, str]], models: bool) -> list[str]:
    head = "| dataset | split | paper's claim | conditions compared (as run) | our measurement | holds? | study |"
    lines = [head if not models else head.replace("| split |", "| model | split |"),
             "|---|---|---|---|---|---|---|" + ("---|" if models else "")]
    for v, study in rows:
        c = v.claim
        model = f" {v.model} |" if models else ""
        lines.append(f"| {c.dataset} |{model} {c.split} | {c.text} | {v.conditions or '—'} | {v.measured or '—'} | "
                     f"**{v.verdict}** | {study or '—'} |")
    return lines


def _tuning_tables(s: Loaded) -> list[str]:
    """Per dataset: validation accuracy of every tuned condition, per split and normalization."""
    lines: list[str] = []
    norms = s.study["config"]["scoring"]["normalizations"]
    conds = list(dict.fromkeys(c["condition"] for c in s.study["cells"]))
    for ds in dict.fromkeys(a.dataset for a in s.aggs):
        ctrl = controls(s.study, ds)
        mine = [a for a in s.aggs if a.dataset == ds]
        splits = list(dict.fromkeys(a.split for a in mine))
        table = {(a.split, a.condition, a.model, a.normalization): a for a in mine}
        models = list(dict.fromkeys(a.model for a in mine))
        by_model = "model | " if len(models) > 1 else ""
        lines += [f"#### {ds} (validation; n per split: "
                  + ", ".join(f"{sp} {next(a.counted for a in mine if a.split == sp)}" for sp in splits) + ")", "",
                  f"| condition | what it is | {by_model}normalization | " + " | ".join(splits) + " |",
                  "|---|---|---|" + ("---|" if by_model else "") + "---|" * len(splits)]
        for c in conds:
            what = s.ran[(ds, c)].name if (ds, c) in s.ran else "—"
            for m in models:
                for n in norms:
                    cells = [table.get((sp, c, m, n)) for sp in splits]
                    if any(cells):
                        lines.append(f"| {shown(c, ctrl)} | {what} | " + (f"{m} | " if by_model else "")
                                     + f"{n} | " + " | ".join(f"{a.accuracy:.2f}" if a else "" for a in cells) + " |")
        lines.append("")
    return lines


def _copy_figures(report_dir: Path, dest: Path, prefix: str) -> dict[str, str]:
    """Copy a study's figures into dest (the page's own folder); returns figure name -> file name there."""
    out = {}
    dest.mkdir(parents=True, exist_ok=True)
    for png in sorted((report_dir / "figures").glob("*.png")):
        target = dest / f"{prefix}-{png.name}"
        shutil.copyfile(png, target)
        out[png.name] = target.name
    return out


def _accuracy_section(s: Loaded, figdir: Path) -> list[str]:
    """A study's report body (tables, figures, audits), headings one level down, figures pointing at figdir."""
    report = (s.folder / "report.md").read_text(encoding="utf-8")
    body = "## " + report.split("\n## ", 1)[1].split("\n## Provenance")[0]
    for name, target in _copy_figures(s.folder, figdir, s.name).items():
        body = body.replace(f"(figures/{name})", f"({figdir.name}/{target})")
    return [f"## Accuracy per dataset: study `{s.name}` ({', '.join(s.study['config']['questions'])})", "",
            re.sub(r"^## ", "### ", body, flags=re.M).strip(), ""]


def _provenance(s: Loaded, kind: str) -> list[str]:
    report = (s.folder / "report.md").read_text(encoding="utf-8")
    wall, est = _wall(s)
    body = report.split("## Provenance", 1)[1].strip().splitlines()
    body = [line for line in body if not line.startswith("Total wall time")]
    return [f"### {kind} `{s.name}`", "", f"{len(s.study['cells'])} cells: {_minutes(wall)} of wall time in all "
            f"(the dry-run estimated {_minutes(est)}), summed from the cells' timing files.", "", *body, ""]


def write_results(studies: list[str | Path], out: str | Path, tuning: list[str | Path] = (),
                  notes: str | Path | None = None) -> Path:
    """Write the results page for finished studies (and tuning studies); returns its path."""
    if not studies:
        raise UserError("iclft results: name at least one finished study folder")
    note_text = read_text(notes, "notes file").rstrip() if notes else None
    if note_text is not None:
        check_notes(note_text, notes)
    out = Path(out)
    loaded = [load(f) for f in studies]
    tuned = [load(f) for f in tuning]
    for s in loaded + tuned:
        write_report(s.folder)
    rows = verdicts(loaded)
    counts = {k: sum(v.verdict == k for v, _ in rows) for k in ("yes", "direction only")}
    models = list(dict.fromkeys(m for s in loaded for m in s.study["config"]["models"]))
    lines = [f"# Results on {', '.join(models)}", "",
             "Generated by `iclft results` from the stored records of the studies below; do not edit by hand (edit "
             "the notes file, which holds no figures).", ""]
    for s in loaded:
        cfg = s.study["config"]
        norms = cfg["scoring"]["normalizations"]
        lines.append(f"- study `{s.name}`: config hash `{s.study['hash']}`; models {', '.join(cfg['models'])}; "
                     f"seeds {cfg['seeds']}; questions: {', '.join(cfg['questions'])}; headline normalization "
                     f"`{norms[0]}` (all of {', '.join(norms)} in the study's aggregates.csv)")
    lines += [f"- claim rows that hold: {counts['yes']} of {len(rows)}; right direction but within noise: "
              f"{counts['direction only']}", "",
              "## The paper's claims, checked", "",
              "Verdicts: **yes** = beyond 2 standard errors in the claimed direction (for *near chance*: within "
              "them); **direction only** = claimed direction within noise; **no** = not. ± is the standard error "
              "clustered by source (n questions in k sources: the people, items or passages they are about; "
              "Laplace-corrected where every source agrees); two conditions on the same questions are judged by "
              "their paired difference (its clustered standard error). A "
              "claim is judged on every condition that is what it names (kind, and whether it is a CONTROL: reads "
              "the dataset's answers or world), whatever its label, in the first study listed above that ran it "
              "(column *study*); *conditions compared* says what each one is as it ran: which documents ICL "
              "reads and in which prompt format, how FT and pretrained score.", ""]
    lines += _claims_table(rows, len(models) > 1) + [""]
    if note_text is not None:
        lines += [note_text, ""]
    figdir = out.parent / (out.stem + "-figures")
    if figdir.is_dir():
        for stale in figdir.glob("*.png"):
            stale.unlink()
    for s in loaded:
        lines += _accuracy_section(s, figdir)
    for t in tuned:
        lines += [f"## Tuning runs: `{t.name}` on {', '.join(t.study['config']['models'])} (validation only)",
                  "", f"Config hash `{t.study['hash']}`. Worlds built with their own seed, so no test question of "
                  "the studies above is ever read.", ""]
        lines += _tuning_tables(t)
    lines += ["## Provenance and wall times", "",
              "Wall times are as the cells' timing files recorded them on the machine that ran each study.", ""]
    lines += [line for s in loaded for line in _provenance(s, "Study")]
    lines += [line for t in tuned for line in _provenance(t, "Tuning study")]
    with atomic_open(out) as f:
        f.write("\n".join(lines).rstrip() + "\n")
    return out
