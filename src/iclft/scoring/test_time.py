"""Test-time modes: what an exposed model does with a question after the exposure, each mode scored on its own.

    direct    P(choice | question): the scoring every condition has (`score_exposure`), unchanged
    channel   each choice verified in the trained form (`scoring.channel`)
    both      direct and channel summed as log-probabilities over the choices (`scoring.channel`)
    recall    the exposed model's recollections of each choice, then the question as in ICL (`scoring.generated`)
    think     a reasoning trace, then the question (`scoring.generated`)

One exposure serves every mode: a fine-tuned model is trained once and scored in each; `both` reuses direct's and
channel's scores.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from iclft.cells import Exposure, Job
from iclft.datasets.schema import Question
from iclft.generation.cache import GenerationCache
from iclft.scoring.channel import Templates, channel_questions, distinct, score_both, score_channel
from iclft.scoring.exposure import score_exposure
from iclft.scoring.generated import score_generated
from iclft.scoring.modes import DIRECT, BothOptions, ChannelOptions, GeneratedContextOptions, ModeScore, RecallOptions


def score_modes(job: Job, exposure: Exposure, questions: Sequence[Question], modes: dict[str, BaseModel],
                normalizations: Sequence[str], cache: GenerationCache | None = None) -> dict[str, list[ModeScore]]:
    """Every mode's scores of the same questions (`both` reuses direct's and channel's: each is scored once)."""
    direct: list[ModeScore] = []
    if DIRECT in modes or "both" in modes:
        direct = [ModeScore(s) for s in score_exposure(job, exposure, questions)]
    channels: dict[int, list[ModeScore]] = {}  # by max_statements

    def channel(opts: ChannelOptions) -> list[ModeScore]:
        if opts.max_statements not in channels:
            channels[opts.max_statements] = score_channel(job, exposure, questions, opts)
        return channels[opts.max_statements]

    out: dict[str, list[ModeScore]] = {}
    for mode, opts in modes.items():
        if mode == DIRECT:
            out[mode] = direct
        elif isinstance(opts, BothOptions):
            out[mode] = score_both([d.score for d in direct], channel(opts), opts, normalizations)
        elif isinstance(opts, ChannelOptions):
            out[mode] = channel(opts)
        elif isinstance(opts, GeneratedContextOptions):
            out[mode] = score_generated(job, exposure, questions, opts, cache)
    return out


def predictions(score: ModeScore, normalizations: Sequence[str]) -> dict[str, int]:
    """The predicted choice under each normalization (`both`: from its combined scores)."""
    combined_scores = score.extra.get("scores")
    if combined_scores is None:
        return {n: score.score.pred(n) for n in normalizations}
    return {n: max(range(len(v)), key=lambda i: (v[i], -i)) for n, v in combined_scores.items()}


def mode_tokens(job: Job, modes: dict[str, BaseModel]) -> tuple[int, int]:
    """(tokens scored, tokens generated) the modes beyond `direct` add to a cell, for the dry run: channel's
    distinct statements (once, however many questions and modes read them), and for recall and think the generated
    tokens plus the questions scored again after them (generation prompts and contexts not counted: prefills)."""
    from iclft import tokens

    tok = tokens.tokenizer(job.model)
    scored = generated = 0
    statements = {o.max_statements for o in modes.values() if isinstance(o, ChannelOptions)}
    if statements:
        templates = Templates(job.dataset.train)
        for limit in statements:
            once, _ = distinct([("", sq) for q in job.questions for sq in channel_questions(q, templates, limit)[1]])
            scored += tokens.question_tokens(tok, [sq for _, sq in once])
    for opts in modes.values():
        if isinstance(opts, GeneratedContextOptions):
            per_question = sum(len(q.choices) if isinstance(opts, RecallOptions) else 1 for q in job.questions)
            generated += per_question * opts.samples * opts.max_new_tokens
            scored += opts.samples * (tokens.question_tokens(tok, job.questions)
                                      + per_question * opts.max_new_tokens)
    return scored, generated
