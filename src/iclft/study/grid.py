"""The study grid: a config expanded into cells, dataset x model x condition x seed.

A cell's key names its labels and a hash of everything that determines its records (data content, model,
options with device-dependent defaults resolved, seed, scoring), so an edited config never reuses stale results.
A cell's work is planned once (`plan`): the dry run prices the very plan the run exposes. `Shard.parse("i/n")` selects
cells i, i+n, i+2n, ... (0 <= i < n): a Slurm job array runs one shard a job.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from iclft import learners, models
from iclft.cells import Estimate, Job, Work
from iclft.datasets.schema import Dataset, Question
from iclft.errors import UserError
from iclft.io import dumps
from iclft.scoring.modes import DIRECT, parse_modes
from iclft.study.config import Study
from iclft.study.rates import Rates


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
    questions: list[tuple[str, Question]]  # (test|validation, question), in scoring order
    modes: dict[str, BaseModel] = field(default_factory=lambda: {DIRECT: parse_modes(None, "")[DIRECT]})
    work: Work | None = None  # the condition's plan for this cell, made once (`plan`)
    estimate: Estimate | None = None
    seconds: float = 0.0
    rates: Rates | None = None  # what the estimate was priced with (the run's ETA uses them too)

    @property
    def control(self) -> bool:
        """Whether the cell is a control whatever its label: it reads the dataset's answers or world, or it is a
        PLACEBO (`learners.Condition.is_control`)."""
        return self.learner.is_control(self.options)

    @property
    def label(self) -> str:
        return f"{self.dataset}/{self.condition}/{self.model}/seed{self.seed}"


@dataclass
class Grid:
    """A study expanded into its cells, with each model's parameter count once priced (`cost.estimate`)."""

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


def expand(study: Study) -> Grid:
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
                modes = test_time_modes(study, c, d.label)
                for seed in cfg.seeds:
                    ds, content = build_dataset(study, d.label, seed, built)
                    questions = [(part, q) for part in cfg.questions
                                 for q in (ds.test if part == "test" else ds.validation)]
                    if not questions:
                        raise UserError(f"dataset {d.label!r} has no {' or '.join(cfg.questions)} questions")
                    if list(modes) != [DIRECT]:
                        from iclft.scoring.channel import check_served

                        check_served(d.label, ds.train, [q for _, q in questions], modes)
                    spec = {
                        "dataset": d.label, "data": content, "model": m.label, "model_path": m.path,
                        "dtype": dtype, "condition": c.label, "kind": c.kind,
                        "options": opts.model_dump(mode="json"), "seed": seed,
                        "scoring": cfg.scoring.model_dump(mode="json"), "questions": cfg.questions,
                    }
                    if list(modes) != [DIRECT]:  # a direct-only cell keeps the key it had before modes existed
                        spec["test_time"] = {m: o.model_dump(mode="json") for m, o in modes.items()}
                    key = f"{d.label}.{c.label}.{m.label}.s{seed}.{_digest(spec)[:8]}"
                    job = Job(dataset=ds, model=m.path, seed=seed, questions=[q for _, q in questions],
                              batch_size=cfg.scoring.batch_size, batch_tokens=cfg.scoring.batch_tokens,
                              calibrate=cfg.scoring.calibrate, chunk=cfg.scoring.chunk,
                              device=cfg.device, dtype=dtype, placement=m.placement)
                    cells.append(Cell(len(cells), d.label, m.label, c.label, seed, c.kind, learners.get(c.kind), opts,
                                      key, spec, job, questions, modes))
    return Grid(study, cells)


def test_time_modes(study: Study, condition: Any, dataset: str) -> dict[str, BaseModel]:
    """The test-time modes a condition's cells on a dataset are scored in (`Study.modes_for`; default: direct)."""
    value, where = study.modes_for(condition, dataset)
    return parse_modes(value, f"{study.source}: {where}")


def plan(cell: Cell) -> Work:
    """The cell's work plan, made once (tokenizers and caches, no weights): estimated by the dry run, exposed by
    the run."""
    if cell.work is None:
        cell.work = cell.learner.plan(cell.job, cell.options)
    return cell.work


@dataclass(frozen=True)
class Shard:
    """Cells i, i+n, i+2n, ... of a grid (0 <= i < n)."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str | None) -> Shard | None:
        """`i/n` as a shard (None: no sharding); a bad value is one error line."""
        if text is None:
            return None
        try:
            i, n = (int(x) for x in text.split("/"))
        except ValueError:
            raise UserError(f"bad --shard {text!r}: expected i/n, e.g. 0/4") from None
        if n < 1 or not 0 <= i < n:
            raise UserError(f"bad --shard {text!r}: need 0 <= i < n")
        return cls(i, n)

    def holds(self, cell: Cell) -> bool:
        return cell.index % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def mine(grid: Grid, shard: Shard | None) -> list[Cell]:
    """The cells of one shard (all of them without sharding)."""
    return [c for c in grid.cells if shard is None or shard.holds(c)]
