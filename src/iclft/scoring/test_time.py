"""Test-time modes: what an exposed model does with a question after the exposure, each mode scored on its own.

    direct    P(choice | question): the scoring every condition has (`score_exposure`), unchanged
    channel   each choice verified in the trained form (`scoring.channel`)
    both      channel where the training documents verify the question, else direct (or the two summed)
    recall    the exposed model's recollections of each choice, then the question as in ICL (`scoring.generated`)
    think     a reasoning trace, then the question (`scoring.generated`)

One exposure serves every mode: a fine-tuned model is trained once and scored in each; `both` reuses direct's and
channel's scores, and alone scores only what its rule reads.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel

from iclft.cells import Exposure, Job
from iclft.datasets.schema import Question
from iclft.generation.cache import GenerationCache
from iclft.scoring.channel import (
    Templates,
    channel_questions,
    distinct,
    reads_every_question,
    score_both,
    score_channel,
)
from iclft.scoring.exposure import score_exposure
from iclft.scoring.generated import score_generated
from iclft.scoring.modes import (
    DIRECT,
    TRAINED,
    BothOptions,
    ChannelOptions,
    GeneratedContextOptions,
    ModeScore,
    RecallOptions,
)


def score_modes(job: Job, exposure: Exposure, questions: Sequence[Question], modes: dict[str, BaseModel],
                normalizations: Sequence[str], cache: GenerationCache | None = None) -> dict[str, list[ModeScore]]:
    """Every mode's scores of the same questions. Each question is scored once in direct and once a
    `max_statements` in channel, whichever modes read it: the modes that score every question first, then `both`
    what it still needs (its switch reads channel where the documents verify a question, direct elsewhere)."""
    everything = range(len(questions))
    templates = Templates(job.dataset.train) if any(isinstance(o, ChannelOptions) for o in modes.values()) else None
    direct: dict[int, ModeScore] = {}
    channels: dict[int, dict[int, ModeScore]] = {}  # max_statements -> question -> score

    def direct_of(indices: Sequence[int]) -> list[ModeScore]:
        missing = [i for i in indices if i not in direct]
        for i, s in zip(missing, score_exposure(job, exposure, [questions[i] for i in missing])):
            direct[i] = ModeScore(s)
        return [direct[i] for i in indices]

    def channel_of(opts: ChannelOptions, indices: Sequence[int]) -> list[ModeScore]:
        done = channels.setdefault(opts.max_statements, {})
        missing = [i for i in indices if i not in done]
        for i, s in zip(missing, score_channel(job, exposure, [questions[i] for i in missing], opts, templates)):
            done[i] = s
        return [done[i] for i in indices]

    def both(opts: BothOptions) -> list[ModeScore]:
        if reads_every_question(opts):  # the sum
            return score_both([d.score for d in direct_of(everything)], channel_of(opts, everything), opts,
                              normalizations)
        trained = [i for i in everything if templates.statements(questions[i], opts.max_statements)]
        verified = dict(zip(trained, channel_of(opts, trained)))
        other = [i for i in everything if i not in verified]
        plain = {i: d.score for i, d in zip(other, direct_of(other))}
        return score_both([plain.get(i) for i in everything], [verified.get(i) for i in everything], opts,
                          normalizations)

    if DIRECT in modes:
        direct_of(everything)
    for opts in modes.values():
        if isinstance(opts, ChannelOptions) and reads_every_question(opts):
            channel_of(opts, everything)
    out: dict[str, list[ModeScore]] = {}
    for mode, opts in modes.items():
        if mode == DIRECT:
            out[mode] = direct_of(everything)
        elif isinstance(opts, BothOptions):
            out[mode] = both(opts)
        elif isinstance(opts, ChannelOptions):
            out[mode] = channel_of(opts, everything)
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
    distinct statements (once, however many questions and modes read them; `both`'s switch alone: those of the
    questions the documents verify), and for recall and think the generated
    tokens plus the questions scored again after them (generation prompts and contexts not counted: prefills)."""
    from iclft import tokens

    tok = tokens.tokenizer(job.model)
    scored = generated = 0
    limits: dict[int, bool] = {}  # max_statements -> every question read in channel (not only those verified)
    for o in modes.values():
        if isinstance(o, ChannelOptions):
            limits[o.max_statements] = limits.get(o.max_statements, False) or reads_every_question(o)
    if limits:
        templates = Templates(job.dataset.train)
        for limit, whole in limits.items():
            plans = (channel_questions(q, templates, limit) for q in job.questions)
            once, _ = distinct([("", sq) for form, asked in plans if whole or form == TRAINED for sq in asked])
            scored += tokens.question_tokens(tok, [sq for _, sq in once])
    for opts in modes.values():
        if isinstance(opts, GeneratedContextOptions):
            per_question = sum(len(q.choices) if isinstance(opts, RecallOptions) else 1 for q in job.questions)
            generated += per_question * opts.samples * opts.max_new_tokens
            scored += opts.samples * (tokens.question_tokens(tok, job.questions)
                                      + per_question * opts.max_new_tokens)
    return scored, generated
