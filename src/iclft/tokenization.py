"""Boundary tokenization as lm-evaluation-harness does it, shared by scoring and fine-tuning.

lm-eval splits (context, continuation) into token ids by moving the context's trailing whitespace into the
continuation, encoding `context` and `context + continuation` separately, and taking the continuation's tokens
from the end of the whole: `encode_pair`.

With a long shared context (an ICL prompt of thousands of tokens) followed by many (prompt, choice) pairs, redoing
that for every choice re-tokenizes the whole context twice per choice. `encode_questions` gives the same ids while
tokenizing the shared context once: the context is cut at a word boundary `WINDOW_CHARS` characters or more before
its end, where its own tokenization splits (checked), and only the text from there on is re-tokenized per prompt and
choice. Tokenizers merge within words, never across a distant word boundary, so the ids equal the full
re-tokenization; the tests check this for every question of every dataset, and every call checks its first question
against `encode_pair` and falls back to full re-tokenization on any difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WINDOW_CHARS = 64  # the shared context's last characters re-tokenized with each prompt (at least)
_SPLIT_TRIES = 4  # earlier word boundaries tried when the context's tokenization does not split at one


def encode(tokenizer, text: str) -> list[int]:
    """Token ids of `text`, no special tokens."""
    return tokenizer.encode(text, add_special_tokens=False)


def _encode_many(tokenizer, texts: Sequence[str]) -> list[list[int]]:
    if not texts:
        return []
    return tokenizer(list(texts), add_special_tokens=False)["input_ids"]


def _move_space(context: str, continuation: str) -> tuple[str, str]:
    """lm-eval's rule: the context's trailing whitespace goes to the start of the continuation."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        return context[:-n_spaces], context[-n_spaces:] + continuation
    return context, continuation


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's split of (context, continuation) into token ids."""
    context, continuation = _move_space(context, continuation)
    whole = encode(tokenizer, context + continuation)
    ctx = encode(tokenizer, context)
    return ctx, whole[len(ctx) :]


@dataclass(frozen=True)
class SharedContext:
    """A shared context tokenized once, and where per-question re-tokenization starts.

    `ids` are the context's own tokens; `head` of them (the text before character `cut`) are the tokens every
    `context + prompt` starts with.
    """

    text: str
    ids: list[int]
    cut: int
    head: int


def shared_context(tokenizer, text: str) -> SharedContext:
    """Tokenize the context once and find a cut: a word boundary >= WINDOW_CHARS before its (stripped) end whose
    head and tail tokenize to `ids` split in two."""
    ids = encode(tokenizer, text) if text else []
    limit = len(text.rstrip()) - WINDOW_CHARS
    for _ in range(_SPLIT_TRIES):
        if limit <= 0:
            break
        cut = max(text.rfind(" ", 0, limit), text.rfind("\n", 0, limit))
        while cut > 0 and text[cut - 1].isspace():  # the start of a whitespace run
            cut -= 1
        if cut <= 0:
            break
        head = encode(tokenizer, text[:cut])
        if ids[: len(head)] == head and encode(tokenizer, text[cut:]) == ids[len(head) :]:
            return SharedContext(text, ids, cut, len(head))
        limit = cut - 1
    return SharedContext(text, ids, 0, 0)


def _encode_windowed(
    tokenizer, ctx: SharedContext, prompts: Sequence[str], choices: Sequence[Sequence[str]]
) -> list[tuple[list[int], list[list[int]]]]:
    """(prefix tokens after ctx.ids[:ctx.head], continuation tokens per choice) for each (prompt, choices)."""
    tail = ctx.text[ctx.cut :]
    firsts, wholes = [], []
    for prompt, cs in zip(prompts, choices):
        for c in cs:
            first, cont = _move_space(tail + prompt, c)
            firsts.append(first)
            wholes.append(first + cont)
    # The moved whitespace is the same for every choice of a question: one prefix encoding per question.
    starts = [0]
    for cs in choices:
        starts.append(starts[-1] + len(cs))
    prefix_ids = _encode_many(tokenizer, [firsts[s] for s in starts[:-1]])
    whole_ids = _encode_many(tokenizer, wholes)
    out = []
    for q, prefix in enumerate(prefix_ids):
        n = len(prefix)
        out.append((prefix, [whole_ids[k][n:] for k in range(starts[q], starts[q + 1])]))
    return out


def encode_questions(
    tokenizer, ctx: SharedContext, prompts: Sequence[str], choices: Sequence[Sequence[str]]
) -> list[tuple[list[int], list[list[int]]]]:
    """`encode_pair(ctx.text + prompt, choice)` for every question and choice, tokenizing the context once.

    Returns, per question, (its prefix tokens after the first `ctx.head` context tokens, its choices' tokens).
    """
    out = _encode_windowed(tokenizer, ctx, prompts, choices)
    if ctx.head and out:
        # A cheap check on the first question's first choice: on a difference, re-tokenize everything in full.
        prefix, conts = out[0]
        full_prefix, full_cont = encode_pair(tokenizer, ctx.text + prompts[0], choices[0][0])
        if full_prefix != ctx.ids[: ctx.head] + prefix or full_cont != conts[0]:
            return _encode_windowed(tokenizer, SharedContext(ctx.text, ctx.ids, 0, 0), prompts, choices)
    return out
