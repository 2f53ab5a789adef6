"""Learning conditions: how a model meets a training set before its questions are scored.

A condition only says how the model is exposed; one scoring package (`iclft.scoring`) scores every condition
the same way. A condition is a name in `CONDITIONS` pointing at a `Condition` object (module:attribute, imported
lazily):

    Condition(name, description, options=<pydantic model, extra="forbid">, plan, trains=False, control=False)

`plan(job, options) -> Work` is the cell's declarative work plan: the documents to fine-tune on, the generations
to make, the contexts to read. It is cheap (tokenizers and caches, no weights), so the dry-run prices the very plan
the run executes: `work.estimate()` counts its tokens (`Estimate`, priced by `iclft.study.cost`), and
`work.expose(job) -> Exposure` does the work (fine-tune, generate, build contexts, load a model) and returns what
the scorer needs: the model to score with, the context each question reads, the prompt format, and deterministic
`info` and `artifacts` (stored beside the cell's records, e.g. the loss curve). An options model may define
`resolved(device) -> options` to fill device-dependent defaults (the FT `precision: auto`); the runner keys,
records and estimates cells with the resolved options. `trains=True` marks a condition whose `expose` is
collective: under `accelerate launch` every rank runs it (data-parallel training), and only the main rank scores.
`control=True` marks a control condition (a reference point such as the oracle ceiling `ft_aug_oracle`, never
the method); an options model whose settings read the dataset's answers or world declares it with a
`uses_answers() -> bool` method (`Condition.uses_answers(options)` combines both): reports, results and claims
label such cells CONTROL whatever their label.

Shipped: `pretrained` (no exposure), `icl` (documents in context), `ft` (fine-tuning), `ft_aug_*`
(augmented fine-tuning) and the control `ft_aug_oracle`.

Extension point (augmented fine-tuning and any other condition): write a module with an options model
and a `plan` that names its training documents and hands them to the shared fine-tuning recipe,

    from iclft.learners.finetune import FTOptions, Training
    def plan(job, opts):
        return Training(job, job.dataset.train + my_augmentations(job, opts), opts.ft)

(`finetune.finetune(base, docs, opts, seed)` alone returns a cached fine-tuned model folder), then add
one line to `CONDITIONS` below. The study runner needs no change: configs name the condition, its
options are validated from the options model, and records, resume, sharding and reports follow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel

from iclft import distributed
from iclft.datasets.schema import Dataset, Question
from iclft.errors import UserError
from iclft.models import DEFAULT_DTYPE
from iclft.scoring.framing import DEFAULT_INSTRUCTION

CONDITIONS: dict[str, str] = {
    "pretrained": "iclft.learners.pretrained:CONDITION",
    "icl": "iclft.learners.icl:CONDITION",
    "ft": "iclft.learners.finetune:CONDITION",
    "ft_aug_local": "iclft.learners.augmented:LOCAL",
    "ft_aug_global": "iclft.learners.augmented:GLOBAL",
    "ft_aug_both": "iclft.learners.augmented:BOTH",
    "ft_aug_spa": "iclft.learners.augmented:SPA",
    "ft_aug_entigraph": "iclft.learners.augmented:ENTIGRAPH",
    "ft_aug_cloze": "iclft.learners.cloze:CONDITION",
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
    generate_context_tokens: int = 0  # typical prompt a generated token attends to (its cost grows with it)
    calibration_tokens: int = 0  # the calibrated normalization's second pass: each choice after a neutral prompt
    precision: str = "fp32"  # of the training (resolved: fp32 | bf16)


@dataclass
class Exposure:
    """What a condition hands the scorer: the model to score with (None on the other ranks of a distributed
    launch: they only train), the context each question reads (None: no context; a function of the question when
    contexts differ, e.g. retrieved documents), how question and context are framed, and the cell's deterministic
    `info` and `artifacts` (stored) and `timing` (facts that may differ between runs, not stored with results)."""

    lm: Any
    context: Callable[[Question], str] | None = None
    format: str = "plain"
    instruction: str = DEFAULT_INSTRUCTION
    info: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)


class Work(Protocol):
    """A cell's work plan for `job`: `estimate` counts it for the dry-run and ETAs, `expose` does it."""

    job: Job

    def estimate(self) -> Estimate: ...

    def expose(self, job: Job) -> Exposure: ...


@dataclass(frozen=True)
class Condition:
    name: str
    description: str
    options: type[BaseModel]
    plan: Callable[[Job, Any], Work]
    trains: bool = False
    control: bool = False  # a control (e.g. the oracle ceiling), never the method: reports and listings say so

    def uses_answers(self, options: BaseModel) -> bool:
        """Whether a cell with these options reads the dataset's answers or world: always for a control condition,
        otherwise as its options declare (an options model's `uses_answers()`, e.g. the `verified` filter). A cell
        that does is a control whatever its label; the runner stores it and reports say CONTROL."""
        declared = getattr(options, "uses_answers", None)
        return self.control or bool(declared is not None and declared())


def names() -> list[str]:
    return list(CONDITIONS)


def get(name: str) -> Condition:
    """The registered condition `name` (imported on first use)."""
    if name not in CONDITIONS:
        raise UserError(f"unknown condition {name!r}; known: {', '.join(names())}")
    module, _, attr = CONDITIONS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
