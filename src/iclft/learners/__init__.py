"""Learning conditions: how a model is exposed to a training set before its questions are scored.

A condition is a name in `CONDITIONS` pointing at a `Condition` object (module:attribute, imported lazily):

    Condition(name, description, options=<pydantic model, extra="forbid">, prepare, estimate=None, trains=False)

`prepare(job, options) -> Prepared` does the one-off work of a cell (fine-tune, build contexts, load a
model) and returns an object whose `score(questions)` scores any subset of the cell's questions (the
runner calls it per chunk, so a killed study resumes mid-cell), plus deterministic `info` and
`artifacts` (JSON written beside the cell's records, e.g. the loss curve). An options model may define
`resolved(device) -> options` to fill device-dependent defaults (the FT `precision: auto`); the runner keys,
records and estimates cells with the resolved options. `estimate(job, options)`
gives the tokens to train and to score for `iclft study --dry-run`. `trains=True` marks a condition
whose `prepare` is collective: under `accelerate launch` every rank runs it (data-parallel training),
and only the main rank scores. `control=True` marks a control condition (a reference point such as the
oracle ceiling `ft_aug_oracle`, never the method): `iclft conditions`, reports and results label it so.

Shipped: `pretrained` (no exposure), `icl` (documents in context), `ft` (fine-tuning), `ft_aug_*`
(augmented fine-tuning) and the control `ft_aug_oracle`.

Extension point (augmented fine-tuning and any other condition): write a module with an options model
and a `prepare` that builds its training documents and hands them to the shared fine-tuning recipe,

    from iclft.learners.finetune import FTOptions, prepare_finetuned
    def prepare(job, opts):
        docs = job.dataset.train + my_augmentations(job, opts)
        return prepare_finetuned(job, docs, opts.ft, info={"augmented": len(docs)})

(`finetune.finetune(base, docs, opts, seed)` alone returns a cached fine-tuned model folder), then add
one line to `CONDITIONS` below. The study runner needs no change: configs name the condition, its
options are validated from the options model, and records, resume, sharding and reports follow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from iclft import distributed
from iclft.datasets.schema import Dataset, Question
from iclft.errors import UserError
from iclft.models import DEFAULT_DTYPE

CONDITIONS: dict[str, str] = {
    "pretrained": "iclft.learners.pretrained:CONDITION",
    "icl": "iclft.learners.icl:CONDITION",
    "ft": "iclft.learners.finetune:CONDITION",
    "ft_aug_local": "iclft.learners.augmented:LOCAL",
    "ft_aug_global": "iclft.learners.augmented:GLOBAL",
    "ft_aug_both": "iclft.learners.augmented:BOTH",
    "ft_aug_oracle": "iclft.learners.oracle:CONDITION",
}


SCORE_CHUNK = 256  # default questions per scoring call (a study's `scoring.chunk`): a context is encoded once per chunk


class Reporter(Protocol):
    """Progress of the work inside a cell (training steps, questions scored)."""

    def start(self, description: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class _Silent:
    def start(self, description: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


@dataclass(frozen=True)
class Job:
    """Everything a condition needs for one cell: data, model, seed, scoring settings, and the run-time hooks
    (progress, log, shared model loader, whether this is the main process), given when the job is made: the
    runner plans cells with the defaults and runs each with `dataclasses.replace(job, reporter=..., ...)`."""

    dataset: Dataset
    model: str  # registry name or local Hugging Face folder
    seed: int
    questions: list[Question] = field(default_factory=list)  # what the cell scores (for estimates)
    batch_size: int | None = None  # questions per forward (None: no cap)
    batch_tokens: int | None = None  # tokens per forward (None: by device)
    calibrate: bool = False
    chunk: int = SCORE_CHUNK  # questions per scoring call
    device: str | None = None
    dtype: str = DEFAULT_DTYPE  # the scoring weights' dtype (the runner resolves `auto` before keying a cell)
    is_main: bool = field(default_factory=distributed.is_main)  # False on the other ranks of a distributed launch
    reporter: Reporter = field(default_factory=_Silent)
    log: Callable[[str], None] = lambda msg: None
    loader: Callable[..., Any] | None = None  # as models.load(name, device=, dtype=); may share loaded models
    placement: Any = None  # models.Placement: the model spread over devices (scoring, generation); None: one device

    def load(self, name_or_path: str | None = None):
        """The job's base model (through the shared loader when given) or another model folder."""
        from iclft import models

        load = self.loader if self.loader is not None and name_or_path is None else models.load
        return load(name_or_path or self.model, device=self.device, dtype=self.dtype, placement=self.placement)


@dataclass
class Estimate:
    """Work of one cell, for dry runs and ETAs: tokens trained (summed over steps) and tokens scored."""

    train_tokens: int = 0
    train_steps: int = 0
    score_tokens: int = 0
    context_tokens: int = 0  # typical context the scored tokens attend to (attention cost grows with it)
    prefill_tokens: int = 0  # of score_tokens, the contexts' own tokens (each context run once, as a prefill)
    generate_tokens: int = 0
    precision: str = "fp32"  # of the training (resolved: fp32 | bf16)


class Prepared(Protocol):
    """A cell ready to score: `info` and `artifacts` must be deterministic (they are stored); an optional
    `timing` dict holds facts that may differ between runs (e.g. whether a cached model was reused)."""

    info: dict[str, Any]
    artifacts: dict[str, Any]

    def score(self, questions: Sequence[Question]) -> list: ...


@dataclass(frozen=True)
class Condition:
    name: str
    description: str
    options: type[BaseModel]
    prepare: Callable[[Job, Any], Prepared]
    estimate: Callable[[Job, Any], Estimate] | None = None
    trains: bool = False
    control: bool = False  # a control (e.g. the oracle ceiling), never the method: reports and listings say so


def names() -> list[str]:
    return list(CONDITIONS)


def get(name: str) -> Condition:
    """The registered condition `name` (imported on first use)."""
    if name not in CONDITIONS:
        raise UserError(f"unknown condition {name!r}; known: {', '.join(names())}")
    module, _, attr = CONDITIONS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
