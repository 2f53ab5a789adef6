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
(augmented fine-tuning), the control `ft_aug_oracle`, and `ft_think_rl` (an FT exposure, then thinking trained by
reinforcement: `iclft.learners.rl_think`).

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
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from iclft.cells import Job, Work
from iclft.errors import UserError

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
    "ft_think_rl": "iclft.learners.rl_think:CONDITION",
}


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

    def is_control(self, options: BaseModel) -> bool:
        """A control whatever its label: it reads the answers or world (`uses_answers`), or it is a PLACEBO (a
        recipe's form written from documents outside the study: `documents:`)."""
        return self.uses_answers(options) or is_placebo(options)


def is_placebo(options: BaseModel) -> bool:
    """Whether these options make a recipe a PLACEBO (`documents:` names a corpus outside the study)."""
    return bool(getattr(options, "documents", None))


def names() -> list[str]:
    return list(CONDITIONS)


def get(name: str) -> Condition:
    """The registered condition `name` (imported on first use)."""
    if name not in CONDITIONS:
        raise UserError(f"unknown condition {name!r}; known: {', '.join(names())}")
    module, _, attr = CONDITIONS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
