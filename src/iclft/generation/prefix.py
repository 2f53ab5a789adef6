"""Local generation helpers: a KV cache of the prompts' shared prefix, and batches sized by tokens.

Augmentation prompts share a long head (instructions and few-shot turns, for global prompts often the
context too) and differ in a short tail. `common_prefix` finds the shared tokens, `PrefixCache` encodes them
once, and every batch starts from a copy of that cache, so only the tails are prefilled. A batch's rows are
laid out as prefix + padding + tail: positions come from the attention mask, so each row sees exactly the
tokens it would see alone.

`token_batches` groups prompts (sorted by length) so that rows x (prompt + new tokens) stays within a token
budget: many short prompts share a batch, long ones go a few at a time.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from iclft.models import input_device


def common_prefix(prompts: Sequence[Sequence[int]]) -> int:
    """Tokens at the head of every prompt, leaving each prompt at least one token of its own (0 if none)."""
    if not prompts:
        return 0
    first = prompts[0]
    n = min(len(p) for p in prompts) - 1
    for p in prompts[1:]:
        n = next((i for i in range(n) if p[i] != first[i]), n)
    return max(n, 0)


def token_batches(lengths: Sequence[int], extra: int, budget: int, max_rows: int) -> list[range]:
    """Consecutive runs of indices into `lengths` (ascending) with rows x (longest + extra) <= budget and at most
    max_rows rows; a prompt alone over the budget still gets a batch of its own."""
    batches: list[range] = []
    start = 0
    for i, n in enumerate(lengths):
        rows = i - start + 1
        if i > start and (rows > max_rows or rows * (n + extra) > budget):
            batches.append(range(start, i))
            start = i
    if start < len(lengths):
        batches.append(range(start, len(lengths)))
    return batches


class PrefixCache:
    """The key/value states of `ids`, computed once; `expand(rows)` gives a fresh cache for a batch."""

    def __init__(self, model: Any, ids: Sequence[int]) -> None:
        self.ids = list(ids)
        with torch.inference_mode():
            # logits for the last position only: the cache is what is kept (the vocabulary projection of every
            # prefix token would be thrown away)
            ids = torch.tensor([self.ids], device=input_device(model))
            out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        self._cache = out.past_key_values

    def __len__(self) -> int:
        return len(self.ids)

    def expand(self, rows: int) -> Any:
        """A copy of the cache with `rows` batch rows (generation appends to it; the original stays intact)."""
        cache = copy.deepcopy(self._cache)
        if rows > 1:
            cache.batch_repeat_interleave(rows)
        return cache


def fits_window(model: Any, length: int) -> bool:
    """Whether `length` tokens fit the model's sliding attention window (if any): past it, padding between a
    prefix and a tail would change which real tokens a row sees, so the prefix cache is not used."""
    window = getattr(model.config, "sliding_window", None)
    return not window or length <= window
