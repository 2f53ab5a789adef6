"""Token counting for estimates and plans: the model's tokenizer alone (and its config), loaded once per process."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8)
def tokenizer(name_or_path: str):
    """The tokenizer of a registry model or model folder (no weights are loaded)."""
    from transformers import AutoTokenizer

    from iclft import models

    return AutoTokenizer.from_pretrained(models.resolve(name_or_path))


@lru_cache(maxsize=8)
def weightless(name_or_path: str):
    """A LoadedModel with the tokenizer and config but no weights: enough to plan contexts and count."""
    from types import SimpleNamespace

    from transformers import AutoConfig

    from iclft import models

    config = AutoConfig.from_pretrained(models.resolve(name_or_path))
    return models.LoadedModel(name_or_path, models.resolve(name_or_path), SimpleNamespace(config=config),
                              tokenizer(name_or_path))


def count(tok, texts: Sequence[str]) -> list[int]:
    """Token count of each text (no special tokens)."""
    return [len(ids) for ids in tok(list(texts), add_special_tokens=False)["input_ids"]] if texts else []


def question_tokens(tok, questions: Sequence[Any]) -> int:
    """Tokens the scorer runs for the questions alone (anything with `prompt` and `choices`, e.g. `Question`s): each
    prompt once and every choice once."""
    return sum(count(tok, [q.prompt + "".join(q.choices) for q in questions]))


def budget_tokens(model: str, texts: Sequence[str], budget: float) -> int:
    """A recipe's written tokens per document for a `budget` given as a multiple of the training documents' mean
    token count (`texts`; budget 2: twice a document's length), so recipes are matched by tokens, not by count."""
    counts = count(tokenizer(model), list(texts))
    return max(1, round(budget * sum(counts) / max(len(counts), 1)))
