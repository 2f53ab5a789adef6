"""The `pretrained` condition: no exposure to the training set; each question is scored with no context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from iclft.datasets.schema import Question
from iclft.learners import Condition, Estimate, Job
from iclft.learners.prompting import DEFAULT_INSTRUCTION, Format, score_framed


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Format = "plain"
    instruction: str = DEFAULT_INSTRUCTION


@dataclass
class NoContext:
    """Scores questions on a loaded model with no context (used by `pretrained` and after fine-tuning)."""

    job: Job
    lm: Any
    format: str
    instruction: str
    info: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)  # facts that may differ between runs (not stored)

    def score(self, questions: Sequence[Question]) -> list:
        return score_framed(self.job, self.lm, questions, "", self.format, self.instruction)


def prepare(job: Job, opts: Options) -> NoContext:
    return NoContext(job, job.load(), opts.format, opts.instruction)


def estimate(job: Job, opts: Options) -> Estimate:
    from iclft.learners import tokens

    return Estimate(score_tokens=tokens.question_tokens(tokens.tokenizer(job.model), job.questions))


CONDITION = Condition(
    name="pretrained",
    description="no exposure: questions scored with no context",
    options=Options,
    prepare=prepare,
    estimate=estimate,
)
