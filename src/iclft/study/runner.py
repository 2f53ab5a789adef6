"""The study grid: dataset x model x condition x seed, each cell run, scored in chunks and stored.

Cells run in grid order; a cell's key names its labels and a hash of everything that determines its
records (data content, model, options, seed, scoring), so an edited config never reuses stale results.
`shard=(i, n)` runs cells i, i+n, i+2n, ... (0 <= i < n). Under `accelerate launch`, every rank runs
the fine-tuning of training conditions (data parallel) and only rank 0 scores and writes.
"""

from __future__ import annotations

import hashlib
import platform
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from iclft import distributed, learners, models, precision
from iclft.datasets.schema import Dataset, Question
from iclft.errors import UserError
from iclft.io import dumps
from iclft.learners import Estimate, Job
from iclft.study import cost
from iclft.study.config import Study
from iclft.study.store import Store

@dataclass
class Cell:
    index: int
    dataset: str
    model: str
    condition: str
    seed: int
    kind: str
    learner: learners.Condition  # the condition `kind` names
    options: BaseModel
    key: str
    spec: dict[str, Any]
    job: Job
    parts: list[tuple[str, Question]]  # (test|validation, question), in scoring order
    estimate: Estimate | None = None
    seconds: float = 0.0
    rates: cost.Rates | None = None  # what the estimate was priced with (the run's ETA uses them too)

    @property
    def control(self) -> bool:
        """Whether the cell reads the dataset's answers or world (a control whatever its label)."""
        return self.learner.uses_answers(self.options)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.condition}/{self.model}/seed{self.seed}"


@dataclass
class Grid:
    """A study expanded into its cells (the runner's plan; not `iclft.augment`'s generation plan)."""

    study: Study
    cells: list[Cell]
    params: dict[str, int] = field(default_factory=dict)  # model label -> parameter count


# ------------------------------------------------------------------ building the grid


def _limit(questions: list[Question], limit: int | None, seed: int) -> list[Question]:
    """Keep at most `limit` questions per (split, sub-type), chosen with `seed`, in their original order."""
    if limit is None:
        return questions
    groups: dict[tuple[str, str], list[int]] = {}
    for i, q in enumerate(questions):
        groups.setdefault((q.split, q.subtype), []).append(i)
    rng = random.Random(seed)
    keep = {i for idx in groups.values() for i in (idx if len(idx) <= limit else rng.sample(idx, limit))}
    return [q for i, q in enumerate(questions) if i in keep]


def _digest(obj: Any) -> str:
    return hashlib.sha256(dumps(obj).encode()).hexdigest()


def build_dataset(study: Study, label: str, seed: int, cache: dict) -> tuple[Dataset, str]:
    """A dataset of the study for a cell seed (built once), and a hash of its content."""
    spec = next(d for d in study.datasets if d.label == label)
    ds_seed = spec.seed if spec.seed is not None else seed
    if (label, ds_seed) not in cache:
        if spec.path is not None:
            ds = Dataset.load(spec.path)
        else:
            from iclft.datasets import registry

            ds = registry.build(spec.builder, seed=ds_seed, params=spec.params)
        ds.test = _limit(ds.test, spec.limit, ds_seed)
        ds.validation = _limit(ds.validation, spec.limit, ds_seed)
        content = _digest({k: [r.model_dump(mode="json") for r in getattr(ds, k)]
                           for k in ("train", "test", "validation")})
        cache[(label, ds_seed)] = (ds, content)
    return cache[(label, ds_seed)]


def resolved(opts: BaseModel, device: str | None) -> BaseModel:
    """A cell's options with device-dependent defaults resolved (see `iclft.learners`)."""
    resolve = getattr(opts, "resolved", None)
    return resolve(device) if resolve is not None else opts


def plan(study: Study) -> Grid:
    """Expand the grid (dataset x model x condition x seed) into cells with their keys and jobs."""
    cfg = study.config
    cells: list[Cell] = []
    built: dict = {}
    for d in study.datasets:
        for m in study.models:
            dtype = models.resolve_dtype(m.dtype, cfg.device)  # `auto` resolved: it is part of the cell's key
            for c in study.conditions:
                if not c.applies_to(d.label):
                    continue
                opts = resolved(study.options_for(c, d.label), cfg.device)
                for seed in cfg.seeds:
                    ds, content = build_dataset(study, d.label, seed, built)
                    parts = [(p, q) for p in cfg.questions for q in (ds.test if p == "test" else ds.validation)]
                    if not parts:
                        raise UserError(f"dataset {d.label!r} has no {' or '.join(cfg.questions)} questions")
                    spec = {
                        "dataset": d.label, "data": content, "model": m.label, "model_path": m.path,
                        "dtype": dtype, "condition": c.label, "kind": c.kind,
                        "options": opts.model_dump(mode="json"), "seed": seed,
                        "scoring": cfg.scoring.model_dump(mode="json"), "questions": cfg.questions,
                    }
                    key = f"{d.label}.{c.label}.{m.label}.s{seed}.{_digest(spec)[:8]}"
                    job = Job(dataset=ds, model=m.path, seed=seed, questions=[q for _, q in parts],
                              batch_size=cfg.scoring.batch_size, batch_tokens=cfg.scoring.batch_tokens,
                              calibrate=cfg.scoring.calibrate, chunk=cfg.scoring.chunk,
                              device=cfg.device, dtype=dtype, placement=m.placement)
                    cells.append(Cell(len(cells), d.label, m.label, c.label, seed, c.kind, learners.get(c.kind), opts,
                                      key, spec, job, parts))
    return Grid(study, cells)


# ------------------------------------------------------------------ estimates


def estimate(p: Grid, cells: list[Cell] | None = None, pricing: cost.Pricing | None = None) -> None:
    """Fill each cell's work estimate and its seconds, priced by `pricing` (default: the reference machine's
    rates; `cost.Pricing(measured=True)` times this machine). Cells that do not train are priced with the rates of
    the precision their study's training resolves to, so one measurement serves a model and dtype."""
    pricing = pricing or cost.Pricing(measured=False)
    todo = cells if cells is not None else p.cells
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in todo:
        cell.estimate = cell.learner.plan(cell.job, cell.options).estimate()
        if cell.model not in p.params:
            p.params[cell.model] = cost.parameter_count(cell.job.model)
        groups.setdefault((cell.job.model, cell.job.dtype), []).append(cell)
    for (model, dtype), group in groups.items():
        trained = {c.estimate.precision for c in group if c.estimate.train_steps}
        first = sorted(trained)[0] if trained else precision.resolve("auto", p.study.config.device)
        generate = any(c.estimate.generate_tokens for c in group)
        rates = {prec: pricing.rates(model, dtype, prec, train=prec in trained, generate=generate)
                 for prec in sorted(trained | {first})}
        for c in group:
            c.rates = rates.get(c.estimate.precision, rates[first])
            c.seconds = cost.cell_seconds(c.estimate, p.params[c.model], dtype, c.rates)


# ------------------------------------------------------------------ running


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise UserError(f"bad --shard {text!r}: expected i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise UserError(f"bad --shard {text!r}: need 0 <= i < n")
    return i, n


def record(cell: Cell, part: str, q: Question, score, normalizations: list[str]) -> dict[str, Any]:
    """The stored result of one question in one cell."""
    preds = {n: score.pred(n) for n in normalizations}
    rec = {
        "cell": cell.key, "dataset": cell.dataset, "model": cell.model, "condition": cell.condition,
        "seed": cell.seed, "part": part, "id": q.id, "split": q.split, "subtype": q.subtype,
        "answer": q.answer, "correct_choices": sorted(q.correct_choices), "n_choices": len(q.choices),
        "logprobs": score.logprobs, "n_tokens": score.n_tokens, "n_chars": score.n_chars,
        "context_tokens": score.context_tokens, "pred": preds,
        "correct": {n: q.is_correct(p) for n, p in preds.items()},
    }
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


def study_manifest(p: Grid) -> dict[str, Any]:
    return {
        "name": p.study.config.name,
        "hash": p.study.hash,
        "config": p.study.normalized(),
        "cells": [{"key": c.key, "dataset": c.dataset, "model": c.model, "condition": c.condition,
                   "kind": c.kind, "seed": c.seed, "control": c.control} for c in p.cells],
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


def run_cell(cell: Cell, store: Store, normalizations: list[str], job: Job | None = None) -> dict[str, Any] | None:
    """Plan and expose the condition, score the missing chunks, mark the cell done. Returns its timing.
    `job`: the cell's job with its run-time hooks (default: the planned one)."""
    from iclft.scoring.exposure import score_exposure

    t0 = time.time()
    job = job or cell.job
    exposure = cell.learner.plan(job, cell.options).expose(job)
    if not job.is_main:
        return None
    t_prep = time.time() - t0
    store.clean_partial(cell.key)
    done = store.done_chunks(cell.key)
    chunk = job.chunk
    chunks = [cell.parts[i : i + chunk] for i in range(0, len(cell.parts), chunk)]
    todo = [i for i in range(len(chunks)) if i not in done]
    job.reporter.start("scoring", sum(len(chunks[i]) for i in todo))
    for i in todo:
        scores = score_exposure(job, exposure, [q for _, q in chunks[i]])
        store.write_chunk(cell.key, i, [record(cell, part, q, s, normalizations)
                                        for (part, q), s in zip(chunks[i], scores)])
    timing = {"seconds": round(time.time() - t0, 3), "prepare_seconds": round(t_prep, 3),
              "estimated_seconds": round(cell.seconds, 1), "resumed_chunks": len(done),
              **exposure.timing}
    info = dict(exposure.info)
    cell_doc = {"key": cell.key, "spec": cell.spec, "control": cell.control, "info": info,
                "records": len(cell.parts), "chunks": len(chunks), "versions": versions()}
    store.finish_cell(cell.key, cell_doc, dict(exposure.artifacts), timing)
    return timing


def run(p: Grid, out: Path, shard: tuple[int, int] | None = None, log=None, show_progress: bool = True) -> list[Cell]:
    """Run this shard's unfinished cells; returns the cells that ran."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    from iclft.progress import console

    log = log or (lambda msg: console.print(msg, highlight=False))
    store = Store(out)
    main = distributed.is_main()
    if main:
        store.write_study(study_manifest(p))
    mine = [c for c in p.cells if shard is None or c.index % shard[1] == shard[0]]
    pending = [c for c in mine if not store.is_done(c.key)]
    if not main:  # other ranks only join the data-parallel fine-tuning
        pending = [c for c in pending if c.learner.trains]
    norms = list(p.study.config.scoring.normalizations)
    loader = _ModelCache()
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn())
    with Progress(*columns, console=console, disable=not (show_progress and main)) as bar:
        overall = bar.add_task("study", total=max(sum(c.seconds for c in pending), 1.0))
        inner = bar.add_task("", total=1)
        planned = 0.0
        for n, cell in enumerate(pending, 1):
            weights = cost.phase_seconds(cell.estimate or Estimate(),
                                         p.params.get(cell.model, int(cost.REFERENCE_PARAMS)), cell.job.dtype, cell.rates)
            reporter = _Reporter(bar, overall, inner, weights, f"[{n}/{len(pending)}] {cell.label}")
            job = replace(cell.job, reporter=reporter, log=log if main else (lambda msg: None), loader=loader)
            if cell.learner.trains:
                loader.release()
            timing = run_cell(cell, store, norms, job)
            planned += cell.seconds
            bar.update(overall, completed=planned)
            if timing is not None:
                log(f"[{n}/{len(pending)}] {cell.label}: done in {cost.fmt_seconds(timing['seconds'])} "
                    f"(estimated {cost.fmt_seconds(cell.seconds)})")
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
