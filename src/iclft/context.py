"""Context selection shared by in-context learning and global augmentation."""

from __future__ import annotations

from collections.abc import Sequence


def fill_budget(order: Sequence[int], sizes: Sequence[int], sep: int, capacity: int) -> list[int]:
    """Documents taken in `order` while they fit `capacity` tokens (skipping ones too long to fit);
    `sep` tokens are charged between chosen documents."""
    chosen: list[int] = []
    used = 0
    for i in order:
        cost = sizes[i] + (sep if chosen else 0)
        if used + cost <= capacity:
            chosen.append(i)
            used += cost
    return chosen
