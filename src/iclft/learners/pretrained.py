"""The `pretrained` condition: no exposure to the training set; each question is scored with no context."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from iclft import tokens
from iclft.cells import Estimate, Exposure, Job
from iclft.framing import DEFAULT_INSTRUCTION, Format
from iclft.learners import Condition


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Format = "plain"
    instruction: str = DEFAULT_INSTRUCTION


@dataclass
class NoExposure:
    """The work of a `pretrained` cell: load the base model, score its questions."""

    job: Job
    opts: Options

    def estimate(self) -> Estimate:
        return Estimate(score_tokens=tokens.question_tokens(tokens.tokenizer(self.job.model), self.job.questions))

    def expose(self, job: Job) -> Exposure:
        return Exposure(job.load(), format=self.opts.format, instruction=self.opts.instruction)


CONDITION = Condition(
    name="pretrained",
    description="no exposure: questions scored with no context",
    options=Options,
    plan=NoExposure,
)
