"""Local generation with a shared-prefix KV cache and token-budget batches: same outputs as plain generation."""

from __future__ import annotations

import pytest

from iclft.generation.generator import Request, Sampling, generate
from iclft.generation.local import LocalGenerator
from iclft.generation.prefix import common_prefix, token_batches

SYSTEM = {"role": "system",
          "content": "You restate facts. Write two new sentences with the same meaning, one per line."}
ITEMS = ["Femp are more dangerous than glon.", "The wug lives near the big blue sea, far from the zept.", "Troff swim."]
GREEDY = Sampling(temperature=0.0, max_new_tokens=12)
REQUESTS = [Request.chat([SYSTEM, {"role": "user", "content": f"Statement: {t}"}], seed=i) for i, t in enumerate(ITEMS)]


def test_common_prefix_leaves_every_prompt_a_token():
    assert common_prefix([[1, 2, 3, 4], [1, 2, 3, 5, 6], [1, 2, 3, 4, 7]]) == 3
    assert common_prefix([[1, 2, 3], [1, 2, 3, 4]]) == 2  # the shorter prompt keeps its last token
    assert common_prefix([[1, 2], [3, 2]]) == 0
    assert common_prefix([[5, 6, 7]]) == 2
    assert common_prefix([]) == 0


def test_token_batches_respect_the_budget_and_the_row_cap():
    lengths = [10, 10, 12, 20, 25, 100]
    assert token_batches(lengths, extra=10, budget=80, max_rows=8) == [range(0, 3), range(3, 5), range(5, 6)]
    assert token_batches(lengths, extra=0, budget=10_000, max_rows=4) == [range(0, 4), range(4, 6)]
    assert token_batches([], extra=1, budget=1, max_rows=1) == []


class PrefillWidths:
    """Records (rows, tokens) of each forward pass that encodes more than one token per row."""

    def __init__(self, model) -> None:
        self.seen: list[tuple[int, int]] = []
        self.handle = model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:
            self.seen.append(tuple(ids.shape))

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.handle.remove()


def _texts(lm, sampling: Sampling, **options) -> tuple[list[str], list[tuple[int, int]]]:
    with PrefillWidths(lm.model) as widths:
        texts = [g.text for g in generate(LocalGenerator(lm, **options), REQUESTS, sampling)]
    return texts, widths.seen


@pytest.fixture(scope="module")
def greedy_alone(lm):
    """Greedy texts generated one prompt at a time without the prefix cache: the reference."""
    return _texts(lm, GREEDY, batch_size=1, prefix_cache=False)


def test_greedy_outputs_equal_with_and_without_the_prefix_cache(lm, greedy_alone):
    plain, plain_widths = greedy_alone
    cached, cached_widths = _texts(lm, GREEDY, batch_size=3)
    assert cached == plain and all(plain)
    prefix, tails = cached_widths[0], cached_widths[1:]
    assert prefix[0] == 1 and prefix[1] >= 20  # the system turn, encoded once
    longest = max(w for _, w in plain_widths)
    assert len(tails) == 1 and tails[0][0] == 3 and prefix[1] + tails[0][1] == longest


@pytest.mark.slow  # ~15-35 s; the prefix cache's equality tests below stay in the default suite
def test_token_budget_batches_equal_batch_size_one(lm, greedy_alone):
    plain, plain_widths = greedy_alone
    # rows x (prompt + 12 new tokens) <= 2 x (the longest prompt + 12): the two shorter prompts, then the longest
    width = max(w for _, w in plain_widths) + GREEDY.max_new_tokens
    budgeted, widths = _texts(lm, GREEDY, batch_size=8, batch_tokens=2 * width)
    assert budgeted == plain
    assert [rows for rows, _ in widths[1:]] == [2, 1]


@pytest.mark.slow  # ~10-18 s; greedy equality with and without the prefix cache stays in the default suite
def test_seeded_sampling_is_the_same_with_the_prefix_cache(lm):
    sampling = Sampling(temperature=1.0, max_new_tokens=8)
    reference, _ = _texts(lm, sampling, batch_size=1, prefix_cache=False)
    assert _texts(lm, sampling, batch_size=3)[0] == reference
    assert len(set(reference)) == len(reference)
