"""Seeded sampling helpers shared by the dataset generators."""

from __future__ import annotations

import random


def spread_sample(rng: random.Random, groups: list[str], k: int) -> set[int]:
    """k indices, taken round-robin over the groups (in first-seen order), randomly within each group."""
    pools: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        pools.setdefault(g, []).append(i)
    for pool in pools.values():
        rng.shuffle(pool)
    queues, out = list(pools.values()), set()
    k = min(k, len(groups))
    while len(out) < k:
        for pool in queues:
            if pool and len(out) < k:
                out.add(pool.pop())
    return out
