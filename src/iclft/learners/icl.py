"""The `icl` condition: the training documents as context, then the question.

Selection of documents (order is seeded when `shuffle`, else the dataset's):
    all        every document; a context longer than the model's window is an error
    subsample  a seeded `fraction` of them (the paper used 1/8 for its largest sets)
    budget     documents in seeded order while they fit `budget` tokens (default and upper bound:
               the window less room for the format's wrapping and the longest question)
    relevant   per question, documents ranked by BM25 (bm25s) against its prompt, filling the budget;
               questions with the same selection share one context (and its KV cache)
    source     per question, the documents it was written from (sharing a fact with it: a passage's questions
               name the passage), filling the budget: gold retrieval, a CONTROL (where the answer is, is part
               of the answer: a reversal question's facts name the person who is its answer)
Documents are joined with blank lines; `format` (plain | chat | auto) is described in `prompting`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from iclft import tokens
from iclft.cells import Estimate, Exposure, Job
from iclft.context import fill_budget
from iclft.datasets.schema import Document, Question
from iclft.errors import UserError
from iclft.framing import DEFAULT_INSTRUCTION, SEPARATOR, Format, frame, resolve_format
from iclft.learners import Condition

_MARGIN = 8  # tokens kept free for tokenization differences at document joins


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Format = "auto"
    instruction: str = DEFAULT_INSTRUCTION
    selection: Literal["all", "subsample", "budget", "relevant", "source"] = "all"
    fraction: float = Field(0.125, gt=0, le=1, description="share of documents kept by 'subsample'")
    budget: int | None = Field(None, gt=0,
                               description="document tokens for 'budget'/'relevant'/'source' (default: all that fit)")
    shuffle: bool = Field(True, description="present documents in a seeded order (else the dataset's order)")

    def uses_answers(self) -> bool:
        """`source` reads which documents each question was written from: gold retrieval, a control."""
        return self.selection == "source"


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
    """A cell's contexts, planned with the tokenizer alone (the dry-run prices this plan, the run exposes it)."""

    job: Job
    lm: Any  # weightless: tokenizer, chat template and window
    opts: Options
    docs: list[Document]
    order: list[int]  # seeded presentation order
    sizes: list[int]
    capacity: int
    chosen: list[int] | None  # the shared selection, or None for per-question ('relevant', 'source')
    index: Any = None  # bm25s retriever for 'relevant', built on first use

    def text(self, chosen: Sequence[int]) -> str:
        keep = set(chosen)
        return SEPARATOR.join(self.docs[i].text for i in self.order if i in keep)

    def relevant(self, q: Question) -> tuple[int, ...]:
        import bm25s

        if self.index is None:
            self.index = bm25s.BM25()
            self.index.index(bm25s.tokenize([d.text for d in self.docs], stopwords="en", show_progress=False),
                             show_progress=False)
        query = bm25s.tokenize([q.prompt], stopwords="en", show_progress=False, return_ids=False)[0]
        scores = self.index.get_scores(query) if query else [0.0] * len(self.docs)
        rank_of = {d: r for r, d in enumerate(self.order)}
        ranked = sorted(range(len(self.docs)), key=lambda i: (-float(scores[i]), rank_of[i]))
        return tuple(sorted(self.fill(ranked)))

    def source(self, q: Question) -> tuple[int, ...]:
        """The documents sharing a fact with `q`, in presentation order, filling the budget."""
        facts = set(q.facts)
        return tuple(sorted(self.fill([i for i in self.order if facts.intersection(self.docs[i].facts)])))

    def fill(self, ranked: Sequence[int]) -> list[int]:
        """Documents in ranked order while the joined text fits the capacity (checked exactly)."""
        sep = tokens.count(self.lm.tokenizer, [SEPARATOR])[0]
        chosen = fill_budget(ranked, self.sizes, sep, self.capacity)
        while chosen and tokens.count(self.lm.tokenizer, [self.text(chosen)])[0] > self.capacity:
            chosen.pop()
        return chosen

    def context(self, q: Question) -> str:
        """The documents question `q` reads."""
        if self.chosen is not None:
            return self.text(self.chosen)
        return self.text(self.source(q) if self.opts.selection == "source" else self.relevant(q))

    def estimate(self) -> Estimate:
        """Context tokens once per scoring chunk ('relevant': once per question, at most the budget; 'source': once
        per distinct source)."""
        qs = self.job.questions or self.job.dataset.test
        question_tokens = tokens.question_tokens(self.lm.tokenizer, qs)
        if self.opts.selection == "source":
            texts = [self.text(sel) for sel in dict.fromkeys(self.source(q) for q in qs)]
            sizes = tokens.count(self.lm.tokenizer, texts) if texts else [0]
            return Estimate(score_tokens=question_tokens + sum(sizes), context_tokens=max(sizes),
                            prefill_tokens=sum(sizes))
        if self.chosen is None:
            prefill = len(qs) * self.capacity
            return Estimate(score_tokens=question_tokens + prefill, context_tokens=self.capacity,
                            prefill_tokens=prefill)
        ctx = tokens.count(self.lm.tokenizer, [self.text(self.chosen)])[0]
        prefill = ctx * math.ceil(len(qs) / self.job.chunk)
        return Estimate(score_tokens=question_tokens + prefill, context_tokens=ctx, prefill_tokens=prefill)

    def expose(self, job: Job) -> Exposure:
        if self.chosen is None:
            info = {"selection": self.opts.selection, "capacity": self.capacity}
        else:
            info = {"selection": self.opts.selection, "documents": len(self.chosen or [])}
        info["format"] = resolve_format(self.lm, self.opts.format)  # `auto` as run: reports name the prompt format
        return Exposure(job.load(), self.context, self.opts.format, self.opts.instruction, info=info)


def plan(job: Job, opts: Options) -> InContext:
    """Everything but the per-question 'relevant' ranking: sizes, capacity, and the shared selection."""
    lm = tokens.weightless(job.model)
    docs = list(job.dataset.train)
    sizes = tokens.count(lm.tokenizer, [d.text for d in docs])
    order = _order(len(docs), job.seed, opts.shuffle)
    reserve = _reserve(lm, opts.format, opts.instruction, job.questions or job.dataset.test)
    window = lm.max_length
    capacity = min(opts.budget or window, window - reserve)
    if capacity <= 0:
        raise UserError(f"ICL: no room for documents in the {window}-token window of model {lm.name!r}")
    work = InContext(job, lm, opts, docs, order, sizes, capacity, chosen=None)
    if opts.selection == "budget":
        work.chosen = work.fill(order)
    elif opts.selection == "subsample":
        k = max(1, round(opts.fraction * len(docs)))
        work.chosen = sorted(random.Random(job.seed + 1).sample(range(len(docs)), k))
    elif opts.selection == "all":
        work.chosen = list(range(len(docs)))
    _check_fits(work, job.dataset.name)
    return work


def _check_fits(work: InContext, dataset: str) -> None:
    if work.chosen is None or work.opts.selection == "budget":
        return
    n = tokens.count(work.lm.tokenizer, [work.text(work.chosen)])[0]
    if n > work.capacity:
        raise UserError(
            f"ICL context for dataset {dataset!r} is {n} tokens, over the {work.capacity} that fit beside the "
            f"questions in the {work.lm.max_length}-token window of model {work.lm.name!r}; use selection: "
            f"budget, relevant or subsample (with a smaller fraction)"
        )


CONDITION = Condition(
    name="icl",
    description="training documents in context (all | subsample | budget | relevant | source), then the question",
    options=Options,
    plan=plan,
)
