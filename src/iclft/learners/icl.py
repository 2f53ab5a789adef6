"""The `icl` condition: the training documents as context, then the question.

Selection of documents (order is seeded when `shuffle`, else the dataset's):
    all        every document; a context longer than the model's window is an error
    subsample  a seeded `fraction` of them (the paper used 1/8 for its largest sets)
    budget     documents in seeded order while they fit `budget` tokens (default and upper bound:
               the window less room for the format's wrapping and the longest question)
    relevant   per question, documents ranked by BM25 (bm25s) against its prompt, filling the budget;
               questions with the same selection share one context (and its KV cache)
Documents are joined with blank lines; `format` (plain | chat | auto) is described in `prompting`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from iclft.context import fill_budget
from iclft.datasets.schema import Document, Question
from iclft.errors import UserError
from iclft.learners import Condition, Estimate, Job, tokens
from iclft.learners.prompting import DEFAULT_INSTRUCTION, SEPARATOR, Format, frame, resolve_format, score_framed

_MARGIN = 8  # tokens kept free for tokenization differences at document joins


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Format = "auto"
    instruction: str = DEFAULT_INSTRUCTION
    selection: Literal["all", "subsample", "budget", "relevant"] = "all"
    fraction: float = Field(0.125, gt=0, le=1, description="share of documents kept by 'subsample'")
    budget: int | None = Field(None, gt=0, description="document tokens for 'budget'/'relevant' (default: all that fit)")
    shuffle: bool = Field(True, description="present documents in a seeded order (else the dataset's order)")


def _order(n: int, seed: int, shuffle: bool) -> list[int]:
    order = list(range(n))
    if shuffle:
        random.Random(seed).shuffle(order)
    return order


def _reserve(lm, fmt: str, instruction: str, questions: Sequence[Question]) -> int:
    """Tokens needed beside the documents: the format's wrapping plus the longest prompt and choice."""
    head, framed = frame(lm, fmt, "", questions, instruction)
    longest = tokens.count(lm.tokenizer, [q.prompt + max(q.choices, key=len) for q in framed])
    return tokens.count(lm.tokenizer, [head])[0] + max(longest, default=0) + _MARGIN


@dataclass
class InContext:
    """A cell's prepared contexts; `score` groups questions by identical context."""

    job: Job
    lm: Any
    opts: Options
    docs: list[Document]
    order: list[int]  # seeded presentation order
    sizes: list[int]
    capacity: int
    chosen: list[int] | None  # the shared selection, or None for per-question ('relevant')
    index: Any = None  # bm25s retriever for 'relevant'
    info: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)

    def text(self, chosen: Sequence[int]) -> str:
        keep = set(chosen)
        return SEPARATOR.join(self.docs[i].text for i in self.order if i in keep)

    def relevant(self, q: Question) -> tuple[int, ...]:
        import bm25s

        query = bm25s.tokenize([q.prompt], stopwords="en", show_progress=False, return_ids=False)[0]
        scores = self.index.get_scores(query) if query else [0.0] * len(self.docs)
        rank_of = {d: r for r, d in enumerate(self.order)}
        ranked = sorted(range(len(self.docs)), key=lambda i: (-float(scores[i]), rank_of[i]))
        return tuple(sorted(self.fill(ranked)))

    def fill(self, ranked: Sequence[int]) -> list[int]:
        """Documents in ranked order while the joined text fits the capacity (checked exactly)."""
        sep = tokens.count(self.lm.tokenizer, [SEPARATOR])[0]
        chosen = fill_budget(ranked, self.sizes, sep, self.capacity)
        while chosen and tokens.count(self.lm.tokenizer, [self.text(chosen)])[0] > self.capacity:
            chosen.pop()
        return chosen

    def score(self, questions: Sequence[Question]) -> list:
        fmt, instr = self.opts.format, self.opts.instruction
        if self.chosen is not None:
            return score_framed(self.job, self.lm, questions, self.text(self.chosen), fmt, instr)
        groups: dict[tuple[int, ...], list[int]] = {}
        for k, q in enumerate(questions):
            groups.setdefault(self.relevant(q), []).append(k)
        out: list = [None] * len(questions)
        for chosen, ks in groups.items():
            scores = score_framed(self.job, self.lm, [questions[k] for k in ks], self.text(chosen), fmt, instr)
            for k, s in zip(ks, scores):
                out[k] = s
        return out


def _plan(job: Job, opts: Options, lm) -> InContext:
    """Everything but the per-question 'relevant' ranking: sizes, capacity, and the shared selection."""
    docs = list(job.dataset.train)
    tok = lm.tokenizer
    sizes = tokens.count(tok, [d.text for d in docs])
    order = _order(len(docs), job.seed, opts.shuffle)
    reserve = _reserve(lm, opts.format, opts.instruction, job.questions or job.dataset.test)
    window = lm.max_length
    capacity = min(opts.budget or window, window - reserve)
    if capacity <= 0:
        raise UserError(f"ICL: no room for documents in the {window}-token window of model {lm.name!r}")
    plan = InContext(job, lm, opts, docs, order, sizes, capacity, chosen=None)
    if opts.selection == "relevant":
        return plan
    if opts.selection == "budget":
        plan.chosen = plan.fill(order)
    elif opts.selection == "subsample":
        k = max(1, round(opts.fraction * len(docs)))
        plan.chosen = sorted(random.Random(job.seed + 1).sample(range(len(docs)), k))
    else:
        plan.chosen = list(range(len(docs)))
    return plan


def _check_fits(plan: InContext, dataset: str) -> None:
    if plan.chosen is None or plan.opts.selection == "budget":
        return
    n = tokens.count(plan.lm.tokenizer, [plan.text(plan.chosen)])[0]
    if n > plan.capacity:
        raise UserError(
            f"ICL context for dataset {dataset!r} is {n} tokens, over the {plan.capacity} that fit beside the "
            f"questions in the {plan.lm.max_length}-token window of model {plan.lm.name!r}; use selection: "
            f"budget, relevant or subsample (with a smaller fraction)"
        )


def prepare(job: Job, opts: Options) -> InContext:
    import bm25s

    plan = _plan(job, opts, job.load())
    _check_fits(plan, job.dataset.name)
    if opts.selection == "relevant":
        plan.index = bm25s.BM25()
        corpus = bm25s.tokenize([d.text for d in plan.docs], stopwords="en", show_progress=False)
        plan.index.index(corpus, show_progress=False)
        plan.info = {"selection": "relevant", "capacity": plan.capacity}
    else:
        plan.info = {"selection": opts.selection, "documents": len(plan.chosen or [])}
    plan.info["format"] = resolve_format(plan.lm, opts.format)  # `auto` as run: reports name the prompt format
    return plan


def estimate(job: Job, opts: Options) -> Estimate:
    """Context tokens once per scoring chunk ('relevant': once per question, at most the budget)."""
    lm = tokens.weightless(job.model)
    tok = lm.tokenizer
    plan = _plan(job, opts, lm)
    _check_fits(plan, job.dataset.name)
    qs = job.questions or job.dataset.test
    question_tokens = tokens.question_tokens(tok, qs)
    if plan.chosen is None:
        prefill = len(qs) * plan.capacity
        return Estimate(score_tokens=question_tokens + prefill, context_tokens=plan.capacity, prefill_tokens=prefill)
    ctx = tokens.count(tok, [plan.text(plan.chosen)])[0]
    prefill = ctx * math.ceil(len(qs) / job.chunk)
    return Estimate(score_tokens=question_tokens + prefill, context_tokens=ctx, prefill_tokens=prefill)


CONDITION = Condition(
    name="icl",
    description="training documents in context (all | subsample | budget | relevant), then the question",
    options=Options,
    prepare=prepare,
    estimate=estimate,
)
