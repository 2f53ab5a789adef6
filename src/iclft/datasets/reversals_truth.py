"""Ground truth of `reversals` (see `iclft.datasets.truth`; only controls and the audit read it).

Statements "X are more F than Y" over the dataset's comparatives ("the X", "X is" accepted). true: a training fact or
its converse ("Y are less F than X"); false: contradicts one (the same pair on the same feature, opposite order, or
"X are more F than X"); unverifiable: any other pair / feature.

Oracle facts: each stated fact's converse, "The glon are less dangerous than the femp." (the dataset writes bare
nouns: "glon are ..." would be a test statement; lead-ins are left out: each is a training example of its own under
sentence splitting, and says nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from iclft.datasets.schema import Dataset
from iclft.datasets.truth import Statement, Variant, Verdict, normalize, sentences


class ReversalLogic:
    """Statements (x, feature, polarity, y): polarity +1 for the feature's first comparative, -1 for its converse."""

    name = "reversals"

    def __init__(self, features: dict[str, Sequence[str]], vocab: Iterable[str], facts: Iterable[str]) -> None:
        self.comparatives = {c: (f, pol) for f, pair in features.items() for c, pol in zip(pair, (1, -1))}
        self.vocab = set(vocab)
        alt = "|".join(sorted(map(re.escape, self.comparatives), key=len, reverse=True))
        self.pattern = re.compile(rf"(?:the )?(\S+) (?:are|is) ({alt}) than (?:the )?(\S+)")
        self.facts = {self.key(s) for text in facts for sent in sentences(text)
                      if (s := self.parse(sent)) is not None}

    def parse(self, sentence: str) -> Statement | None:
        m = self.pattern.fullmatch(normalize(sentence))
        if not m or m[1] not in self.vocab or m[3] not in self.vocab:
            return None
        feature, pol = self.comparatives[m[2]]
        return (m[1], feature, pol, m[3])

    @staticmethod
    def key(s: Any) -> tuple:
        """The statement with polarity +1 (its converse when stated with the converse comparative)."""
        x, f, pol, y = s
        return (x, f, 1, y) if pol == 1 else (y, f, 1, x)

    def verdict(self, statement: Statement) -> Verdict:
        x, f, pol, y = statement  # type: ignore[misc]
        if self.key(statement) in self.facts:
            return "true"
        if x == y or self.key((x, f, -pol, y)) in self.facts:
            return "false"
        return "unverifiable"

    def entailed_by(self, premises: Iterable[Statement], target: Statement) -> bool:
        return self.key(target) in {self.key(p) for p in premises}


def logic(dataset: Dataset) -> ReversalLogic:
    from iclft.datasets.reversals import FEATURES

    texts = [d.text for d in dataset.train]
    features = dataset.meta.get("features") or {f: list(p) for f, p in FEATURES.items()}
    vocab = dataset.meta.get("vocab") or {w for t in texts for w in t.lower().split()}
    return ReversalLogic(features, vocab, texts)


def oracle_facts(dataset: Dataset) -> list[list[Variant]]:
    world = logic(dataset)
    comparative = {(f, pol): c for c, (f, pol) in world.comparatives.items()}
    stated = dict.fromkeys(st for d in dataset.train for s in sentences(d.text) if (st := world.parse(s)) is not None)
    out = []
    for x, f, pol, y in stated:  # type: ignore[misc]
        if (y, f, -pol, x) in stated:
            continue  # both directions trained
        out.append([(None, f"The {y} are {comparative[(f, -pol)]} than the {x}.")])
    return out
