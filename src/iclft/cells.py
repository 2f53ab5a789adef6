"""The types every condition and the scorer share: one cell's inputs (`Job`), its work plan (`Work`), what that
work costs (`Estimate`) and what it hands the scorer (`Exposure`).

A cell is one (dataset, condition, model, seed). A condition plans a `Work` from the `Job`; `work.estimate()` counts
its tokens for the dry run and ETAs, and `work.expose(job)` does it (fine-tune, generate, build contexts) and returns
an `Exposure`, which `iclft.scoring.exposure` scores. Conditions (`iclft.learners`) and the scorer import this module;
it imports neither.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from iclft import distributed
from iclft.datasets.schema import Dataset, Question
from iclft.framing import DEFAULT_INSTRUCTION
from iclft.models import DEFAULT_DTYPE

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
