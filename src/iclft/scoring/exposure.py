"""Scores a condition's `Exposure`: questions grouped by the context they read, each group framed and scored once.

Every condition goes through here, so framing (plain | chat), batching, calibration and progress are the same
whether the knowledge came in context or through fine-tuning.
"""

from __future__ import annotations

from collections.abc import Sequence

from iclft.cells import Exposure, Job
from iclft.datasets.schema import Question
from iclft.framing import frame
from iclft.scoring.likelihood import QuestionScore, score_questions


def score_framed(job: Job, lm, questions: Sequence[Question], documents: str, fmt: str,
                 instruction: str) -> list[QuestionScore]:
    """Frame, then score with the job's batch size and calibration, reporting progress per question."""
    context, framed = frame(lm, fmt, documents, questions, instruction)
    return score_questions(
        lm, framed, context, batch_size=job.batch_size, batch_tokens=job.batch_tokens,
        calibrate=job.calibrate, progress=job.reporter.advance
    )


def score_in_contexts(job: Job, exposure: Exposure, asked: Sequence[tuple[str, Question]]) -> list[QuestionScore]:
    """Each (context, question) scored after its context, framed as the exposure frames; questions sharing a context
    are scored together (in first-seen order) and share its KV cache."""
    groups: dict[str, list[int]] = {}
    for k, (documents, _) in enumerate(asked):
        groups.setdefault(documents, []).append(k)
    out: list = [None] * len(asked)
    for documents, ks in groups.items():
        scores = score_framed(job, exposure.lm, [asked[k][1] for k in ks], documents, exposure.format,
                              exposure.instruction)
        for k, s in zip(ks, scores):
            out[k] = s
    return out


def context_of(exposure: Exposure, question: Question) -> str:
    """The documents the exposure gives a question ("" for none)."""
    return exposure.context(question) if exposure.context else ""


def score_exposure(job: Job, exposure: Exposure, questions: Sequence[Question]) -> list[QuestionScore]:
    """Each question's score after the exposure's context (questions sharing a context share its KV cache)."""
    return score_in_contexts(job, exposure, [(context_of(exposure, q), q) for q in questions])
