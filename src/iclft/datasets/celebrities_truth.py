"""Ground truth of `celebrities` (see `iclft.datasets.truth`; only controls and the audit read it).

Every person's name and description (the generator's, regenerated from the dataset's seed and params; a description
is mentioned by its "<verb> <object>" or "<gerund> <object>" phrase, which every form of it contains). A sentence
with one known name and one known description: true if they are the same person's, false otherwise (a name with
another person's description); its direction is d2p (description first: a reversal for the p2d group) or p2d. A
name or a description alone, or several of either: unverifiable. Negations are not read ("X is not ..." counts as
stated). An imported layout (Berglund et al.'s files) has no world here: `logic` returns None.

Oracle facts: each person's untrained direction: p2d people get description -> name rows, d2p people name ->
description rows, written with the training paraphrase templates (prompt + completion, as training rows; test
templates are disjoint); the both group has both already.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from iclft.datasets import celebrities
from iclft.datasets.schema import Dataset
from iclft.datasets.truth import Statement, Variant, Verdict


class CelebrityLogic:
    """Statements (name owner, description owner, direction): owners are people's names (None: not mentioned);
    direction "d2p" when the description comes before the name, else "p2d"."""

    name = "celebrities"

    def __init__(self, descriptions: dict[str, Sequence[str]]) -> None:
        """descriptions: person's name -> the phrases that identify their description (any letter case)."""
        self.names = {n.lower(): n for n in descriptions}
        self.phrases = {ph.lower(): n for n, phs in descriptions.items() for ph in phs}

    @staticmethod
    def _find(text: str, keys: Iterable[str]) -> dict[str, int]:
        """key -> first position, for every key found as whole words (longest first, no overlaps)."""
        found: dict[str, int] = {}
        taken: list[tuple[int, int]] = []
        for key in sorted(keys, key=len, reverse=True):
            for m in re.finditer(rf"(?<!\w){re.escape(key)}(?!\w)", text):
                if not any(a < m.end() and m.start() < b for a, b in taken):
                    taken.append(m.span())
                    found.setdefault(key, m.start())
        return found

    def parse(self, sentence: str) -> Statement | None:
        text = " ".join(sentence.lower().split())
        names, descs = self._find(text, self.names), self._find(text, self.phrases)
        people = {self.names[k] for k in names}
        owners = {self.phrases[k] for k in descs}
        if not people and not owners:
            return None
        if len(people) > 1 or len(owners) > 1:
            return ("", "", "mixed")
        direction = "d2p" if people and owners and min(descs.values()) < min(names.values()) else "p2d"
        return (next(iter(people), None), next(iter(owners), None), direction)

    @staticmethod
    def sentences(text: str) -> list[str]:
        """Sentences split at . ! and line breaks, not at ?: a question and its answer ("Who built X? The answer
        is Y.", "Ever heard of Y? They're ...") pair a description with a name, as training rows do."""
        return [s for s in (" ".join(p.split()) for p in re.split(r"(?<=[.!])\s+|\s*\n\s*", text)) if s]

    def verdict(self, statement: Statement) -> Verdict:
        person, owner, _ = statement  # type: ignore[misc]
        if not person or not owner:
            return "unverifiable"
        return "true" if person == owner else "false"

    def entailed_by(self, premises: Iterable[Statement], target: Statement) -> bool:
        """A name-description pairing entails itself in either direction (identity is symmetric)."""
        person, owner, _ = target  # type: ignore[misc]
        return bool(person) and person == owner and any(p[0] == person and p[1] == owner  # type: ignore[index]
                                                         for p in premises)


def logic(dataset: Dataset) -> CelebrityLogic | None:
    people = celebrities.people_of(dataset.meta)
    if not people:
        return None
    return CelebrityLogic({n: (p.forms["past"], p.forms["ger"]) for n, (_, p) in people.items()})


def oracle_facts(dataset: Dataset) -> list[list[Variant]]:
    people = celebrities.people_of(dataset.meta) or {}
    t = celebrities.templates()
    out = []
    for group, person in people.values():
        if group == "p2d":
            rows = [celebrities.d2p_text(person, tpl) for tpl in t["d2p_train"]]
        elif group == "d2p":
            rows = [celebrities.p2d_text(person, tpl) for tpl in t["p2d_train"]]
        else:
            continue
        out.append([(prompt, prompt + completion) for prompt, completion in rows])
    return out
