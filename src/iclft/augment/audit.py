"""Audit augmentations against a synthetic dataset's world model: hallucination rate and coverage.

    audit(dataset, rows) -> dict        rows: augmented documents {"id", "text", ...} (any number of files)

Each row's text is split into sentences (at every . ! ?: `truth.sentences`; celebrities: not at ?, so a
question and its answer stay one statement), and each sentence gets one verdict (see `iclft.datasets.truth` for each
dataset's definitions; `truth.world_judge` gives the same verdicts one sentence at a time):
    true          a statement of the world that its training facts entail
    false         a statement of the world that they contradict (hallucination)
    unverifiable  a statement of the world they neither entail nor contradict
    unparsed      not a statement of the world (a lead-in, other words, free prose)
hallucination_rate = false / (true + false + unverifiable): the share of checkable statements that are wrong.

Coverage, per test split: of the test questions, how many have a correct statement (prompt + a correct
choice) that the augmentations
    verbatim   contain word for word (normalized: case, spaces, list markers, end punctuation)
    stated     state as written, in any wording the parser reads (same subject first: the direction
               a reversal question asks for)
    entailed   entail, taken together as premises on their own (their true statements only; no
               training data): e.g. "femp are more dangerous than glon" entails the reversal question
               "glon are less dangerous than femp".
Datasets without a world model get verbatim coverage only, and a note.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from iclft.datasets.schema import Dataset, Question
from iclft.datasets.truth import Logic, judge_sentence, logic_for, normalize, units
from iclft.errors import UserError
from iclft.io import iter_jsonl, read_json

VERDICTS = ("true", "false", "unverifiable", "unparsed")
EXAMPLES = 5
NO_WORLD = "no world model for this dataset: truth not audited, verbatim coverage only"


def read_augmentations(path: str | Path) -> list[dict[str, Any]]:
    """Augmented documents from an `iclft augment` output (JSONL), a study cell's augmented.json, or a
    cell folder holding one."""
    path = Path(path)
    if path.is_dir():
        path = path / "augmented.json"
    if not path.is_file():
        raise UserError(f"{path}: no such augmentation file (give AUG.jsonl, a cell's augmented.json or its folder)")
    rows = read_json(path) if path.suffix == ".json" else [row for _, row in iter_jsonl(path)]
    if not isinstance(rows, list) or not all(isinstance(r, dict) and isinstance(r.get("text"), str) for r in rows):
        raise UserError(f"{path}: expected augmented documents with a 'text' each")
    return rows


def mode_of(row: dict[str, Any]) -> str:
    """local | global from an output id "<source>/<mode>/<n>", else "other"."""
    parts = str(row.get("id", "")).split("/")
    return parts[-2] if len(parts) >= 3 and parts[-2] in ("local", "global") else "other"


def targets(q: Question) -> list[str]:
    """The correct statements of a question: its prompt completed by each correct choice."""
    return [(q.prompt + q.choices[i]).strip() for i in sorted(q.correct_choices)]


def coverage(logic: Logic | None, questions: Sequence[Question], said: Sequence[str],
             true_statements: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Per split (and "all"): questions, and how many are covered verbatim / stated / entailed."""
    texts = {normalize(s) for s in said}
    stated = {st for s in said if logic and (st := logic.parse(s)) is not None}
    premises = list(dict.fromkeys(true_statements))
    out: dict[str, Counter] = defaultdict(Counter)
    for q in questions:
        ts = targets(q)
        parsed = [p for t in ts if logic and (p := logic.parse(t)) is not None]
        hits = {"verbatim": any(normalize(t) in texts for t in ts)}
        if logic is not None:
            hits["stated"] = any(p in stated for p in parsed)
            hits["entailed"] = any(logic.entailed_by(premises, p) for p in parsed)
        for split in (q.split, "all"):
            out[split]["questions"] += 1
            out[split].update({k: int(v) for k, v in hits.items()})
    keys = ("questions", "verbatim", "stated", "entailed") if logic else ("questions", "verbatim")
    return {split: {k: c[k] for k in keys} for split, c in sorted(out.items(), key=lambda kv: kv[0] == "all")}


def audit(dataset: Dataset, rows: Sequence[dict[str, Any]], examples: int = EXAMPLES) -> dict[str, Any]:
    """Verdict counts (overall and per mode), hallucination rate, examples, and test coverage."""
    logic = logic_for(dataset)
    counts: dict[str, Counter] = defaultdict(Counter)
    shown: dict[str, list[str]] = {v: [] for v in VERDICTS}
    seen: list[str] = []
    true_statements = []
    for row in rows:
        for sentence in units(logic, row["text"]):
            seen.append(sentence)
            verdict, st = judge_sentence(logic, sentence) if logic else ("unparsed", None)
            if verdict == "true":
                true_statements.append(st)
            for key in ("all", mode_of(row)):
                counts[key][verdict] += 1
            if len(shown[verdict]) < examples:
                shown[verdict].append(sentence)
    by_mode = {m: {v: counts[m][v] for v in VERDICTS} for m in sorted(counts) if m != "all"}
    total = {v: counts["all"][v] for v in VERDICTS}
    checkable = total["true"] + total["false"] + total["unverifiable"]
    report: dict[str, Any] = {
        "dataset": dataset.name,
        "world": logic.name if logic else None,
        "documents": len(rows),
        "sentences": len(seen),
        "verdicts": total,
        "by_mode": by_mode,
        "hallucination_rate": round(total["false"] / checkable, 6) if checkable else None,
        "coverage": coverage(logic, dataset.test, seen, true_statements),
        "examples": {v: shown[v] for v in VERDICTS if shown[v]},
    }
    if logic is None:
        report["note"] = NO_WORLD
    return report


def tables(report: dict[str, Any]) -> list[Any]:
    """Rich tables of a report: verdicts (overall and per mode), then coverage per split."""
    from rich.table import Table

    n = max(report["sentences"], 1)
    rate = report["hallucination_rate"]
    title = (f"{report['dataset']}: {report['sentences']} generated sentences in {report['documents']} documents; "
             f"hallucination rate {'n/a' if rate is None else f'{rate:.1%}'}")
    verdicts = Table("mode", *VERDICTS, title=title)
    for mode, counts in [("all", report["verdicts"]), *report["by_mode"].items()]:
        verdicts.add_row(mode, *(f"{counts[v]} ({counts[v] / n:.0%})" if mode == "all" else str(counts[v])
                                 for v in VERDICTS))
    keys = [k for k in ("verbatim", "stated", "entailed") if k in report["coverage"].get("all", {})]
    cover = Table("split", "questions", *keys, title="test questions whose correct statement the augmentations ...")
    for split, c in report["coverage"].items():
        q = max(c["questions"], 1)
        cover.add_row(split, str(c["questions"]), *(f"{c[k]} ({c[k] / q:.0%})" for k in keys))
    return [verdicts, cover]
