"""Running a study's grid: each pending cell planned and exposed, its questions scored chunk by chunk and stored.

Cells run in grid order. A cell's work plan (`cells.Work`, made once by `grid.plan`, the one the dry run priced) is exposed
(fine-tuning, generation, contexts) and scored by `iclft.scoring.exposure`; records go to the store one atomic chunk
at a time, so a study killed at any moment resumes with nothing lost or counted twice. Under `accelerate launch`,
every rank runs the exposure of training conditions (data parallel) and only rank 0 scores and writes.
"""

from __future__ import annotations

import platform
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from iclft import distributed, models
from iclft.cells import Estimate, Job
from iclft.datasets.schema import Question
from iclft.scoring.modes import DIRECT
from iclft.study import rates
from iclft.study.grid import Cell, Grid, Shard, mine, plan
from iclft.study.store import Store


def record(cell: Cell, part: str, q: Question, score, normalizations: list[str]) -> dict[str, Any]:
    """The stored result of one question in one cell (`part`: the question set it came from, test | validation)."""
    preds = {n: score.pred(n) for n in normalizations}
    rec = {
        "cell": cell.key, "dataset": cell.dataset, "model": cell.model, "condition": cell.condition,
        "seed": cell.seed, "part": part, "id": q.id, "split": q.split, "subtype": q.subtype,
        "answer": q.answer, "correct_choices": sorted(q.correct_choices), "n_choices": len(q.choices),
        "logprobs": score.logprobs, "n_tokens": score.n_tokens, "n_chars": score.n_chars,
        "context_tokens": score.context_tokens, "pred": preds,
        "correct": {n: q.is_correct(p) for n, p in preds.items()},
    }
    if q.facts:  # what the question is about (a passage, a person): gap intervals resample by it
        rec["facts"] = list(q.facts)
    if score.calibration is not None:
        rec["calibration"] = score.calibration
    return rec


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("iclft", "torch", "transformers", "accelerate", "peft", "bm25s"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            pass
    return out


def study_manifest(grid: Grid) -> dict[str, Any]:
    return {
        "name": grid.study.config.name,
        "hash": grid.study.hash,
        "config": grid.study.normalized(),
        "cells": [{"key": c.key, "dataset": c.dataset, "model": c.model, "condition": c.condition,
                   "kind": c.kind, "seed": c.seed, "control": c.control} for c in grid.cells],
    }


class _ModelCache:
    """Keeps the most recent base model loaded so consecutive cells on it load it once; keyed by everything
    the load depends on (path, device, dtype), so model labels sharing a path keep their own dtype."""

    def __init__(self) -> None:
        self.key: tuple | None = None
        self.lm = None

    def __call__(self, name: str, device: str | None = None, dtype: str = models.DEFAULT_DTYPE,
                 placement: models.Placement | None = None):
        if self.key != (name, device, dtype, placement):
            self.lm = None
            self.lm = models.load(name, device=device, dtype=dtype, placement=placement)
            self.key = (name, device, dtype, placement)
        return self.lm

    def release(self) -> None:
        """Free the model (before fine-tuning, which loads its own copy and optimizer state)."""
        self.key, self.lm = None, None


def mode_record(cell: Cell, part: str, q: Question, mode: str, scored, normalizations: list[str]) -> dict[str, Any]:
    """The stored result of one question scored in one test-time mode (direct: exactly `record`; the others say
    their mode, the form they were scored in and, for recall and think, the texts the model wrote)."""
    from iclft.scoring.test_time import predictions

    rec = record(cell, part, q, scored.score, normalizations)
    if mode == DIRECT:
        return rec
    preds = predictions(scored, normalizations)
    rec.update(pred=preds, correct={n: q.is_correct(p) for n, p in preds.items()}, test_time=mode,
               form=scored.form, statements=scored.statements)
    if "generated" in scored.extra:
        rec["generated"] = scored.extra["generated"]
    return rec


def generated_audit(cell: Cell, store: Store) -> dict[str, Any]:
    """Per generating mode, the audit of what the model wrote at test time against the dataset's world (every
    stored chunk's texts, so a resumed cell audits them all)."""
    from iclft.augment.audit import audit

    rows: dict[str, dict[str, dict[str, Any]]] = {}  # mode -> text -> row: a text several questions read, once
    for rec in store.records(cell.key):
        for s, pieces in enumerate(rec.get("generated", [])):
            seen = rows.setdefault(rec["test_time"], {})
            for k, text in enumerate(pieces):
                seen.setdefault(text, {"id": f"{rec['id']}/{rec['test_time']}/{s}.{k}", "text": text})
    return {mode: audit(cell.job.dataset, list(texts.values()), examples=3) for mode, texts in rows.items()}


def run_cell(cell: Cell, store: Store, normalizations: list[str], job: Job | None = None) -> dict[str, Any] | None:
    """Plan and expose the condition, score the missing chunks in every test-time mode, mark the cell done. Returns
    its timing. `job`: the cell's job with its run-time hooks (default: the planned one)."""
    from iclft.generation.cache import GenerationCache
    from iclft.scoring.test_time import score_modes

    t0 = time.time()
    job = job or cell.job
    exposure = plan(cell).expose(job)
    if not job.is_main:
        return None
    t_prep = time.time() - t0
    store.clean_partial(cell.key)
    done = store.done_chunks(cell.key)
    chunk = job.chunk
    chunks = [cell.questions[i : i + chunk] for i in range(0, len(cell.questions), chunk)]
    todo = [i for i in range(len(chunks)) if i not in done]
    job.reporter.start("scoring", sum(len(chunks[i]) for i in todo))
    for i in todo:
        scored = score_modes(job, exposure, [q for _, q in chunks[i]], cell.modes, normalizations, GenerationCache())
        store.write_chunk(cell.key, i, [mode_record(cell, part, q, mode, s, normalizations)
                                        for mode, scores in scored.items()
                                        for (part, q), s in zip(chunks[i], scores)])
    timing = {"seconds": round(time.time() - t0, 3), "prepare_seconds": round(t_prep, 3),
              "estimated_seconds": round(cell.seconds, 1), "resumed_chunks": len(done),
              **exposure.timing}
    info = dict(exposure.info)
    artifacts = dict(exposure.artifacts)
    if audits := generated_audit(cell, store):
        artifacts["test_time_audit"] = audits
    cell_doc = {"key": cell.key, "spec": cell.spec, "control": cell.control, "info": info,
                "records": len(cell.questions) * len(cell.modes), "chunks": len(chunks), "versions": versions()}
    store.finish_cell(cell.key, cell_doc, artifacts, timing)
    return timing


def run_grid(grid: Grid, out: Path, shard: Shard | None = None, log=None,
             show_progress: bool = True) -> list[Cell]:
    """Run this shard's unfinished cells; returns the cells that ran."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from iclft.progress import console

    log = log or (lambda msg: console.print(msg, highlight=False))
    store = Store(out)
    main = distributed.is_main()
    if main:
        store.write_study(study_manifest(grid))
    pending = [c for c in mine(grid, shard) if not store.is_done(c.key)]
    if not main:  # other ranks only join the data-parallel fine-tuning
        pending = [c for c in pending if c.learner.trains]
    norms = list(grid.study.config.scoring.normalizations)
    loader = _ModelCache()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not (show_progress and main)) as bar:
        overall = bar.add_task("study", total=max(sum(c.seconds for c in pending), 1.0))
        inner = bar.add_task("", total=1)
        planned = 0.0
        for n, cell in enumerate(pending, 1):
            params = grid.params.get(cell.model, int(rates.REFERENCE_PARAMS))
            weights = rates.phase_seconds(cell.estimate or Estimate(), params, cell.job.dtype, cell.rates)
            reporter = _Reporter(bar, overall, inner, weights, f"[{n}/{len(pending)}] {cell.label}")
            job = replace(cell.job, reporter=reporter, log=log if main else (lambda msg: None), loader=loader)
            if cell.learner.trains:
                loader.release()
            timing = run_cell(cell, store, norms, job)
            planned += cell.seconds
            bar.update(overall, completed=planned)
            if timing is not None:
                log(f"[{n}/{len(pending)}] {cell.label}: done in {rates.fmt_seconds(timing['seconds'])} "
                    f"(estimated {rates.fmt_seconds(cell.seconds)})")
    return pending


class _Reporter:
    """Drives the cell's bar and moves the study bar in proportion to the phase's estimated seconds."""

    def __init__(self, bar, overall, inner, weights: dict[str, float], label: str):
        self.bar, self.overall, self.inner, self.weights, self.label = bar, overall, inner, weights, label
        self.total, self.weight = 0, 0.0

    def start(self, description: str, total: int) -> None:
        self.total, self.weight = max(total, 1), self.weights.get(description, 0.0)
        self.bar.reset(self.inner, total=self.total, description=f"{self.label} {description}")

    def advance(self, n: int = 1) -> None:
        self.bar.advance(self.inner, n)
        self.bar.advance(self.overall, self.weight * n / self.total)
