"""The follow-up's split of knowledge (Chaudhry, Thiagarajan, Lampinen 2026): a dataset's facts, all fine-tuned in,
split seeded into an RL set and a held-out set; each question placed by the facts it is about. Light: no torch."""

from __future__ import annotations

import random
from collections.abc import Sequence

from iclft.datasets.schema import Dataset
from iclft.errors import UserError

RL, HELDOUT, MIXED = "rl", "heldout", "mixed"  # knowledge sets of a question


def rl_facts(dataset: Dataset, share: float, seed: int) -> frozenset[str]:
    """The RL set: a seeded `share` of every fact the dataset names (at least one, never all)."""
    every = sorted({f for d in dataset.train for f in d.facts}
                   | {f for q in (*dataset.test, *dataset.validation) for f in q.facts})
    if len(every) < 2:
        raise UserError(f"splitting knowledge: dataset {dataset.name!r} names {len(every)} fact(s); it needs 2")
    k = min(max(1, round(share * len(every))), len(every) - 1)
    return frozenset(random.Random(seed).sample(every, k))


def knowledge_set(facts: Sequence[str], rl: frozenset[str]) -> str:
    """`rl` when every fact of a question is in the RL set, `heldout` when none is, else `mixed`."""
    inside = [f in rl for f in facts]
    if inside and all(inside):
        return RL
    return HELDOUT if inside and not any(inside) else MIXED
