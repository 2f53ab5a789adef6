"""Ground truth of `syllogisms` (see `iclft.datasets.truth`; only controls and the audit read it).

Statements "All|Some|No X are Y" and "Some X are not Y". Terms of one training item: true if valid (true in every
Venn model of the item's premises, with the dataset's semantics), false if true in none (inconsistent with the
premises), else unverifiable; terms of different items: unverifiable (the data says nothing linking them). A
leading "The relationships between ... are:" is ignored.

Oracle facts: each item's valid conclusions linking its outer terms, "The relationships between a, b and c are:
All a are c." (three terms, as training items; test prompts name two).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable

from iclft.datasets.schema import Dataset
from iclft.datasets.syllogisms import holds, models, sentence, valid_conclusions
from iclft.datasets.truth import Statement, Variant, Verdict, normalize, sentences


def _holds(statement: tuple[str, str, str], model) -> bool:
    q, a, b = statement
    if q == "Some-not":
        return any(a in r and b not in r for r in model)
    return holds(statement, model)


class SyllogismLogic:
    """Statements (quantifier, subject, predicate); quantifier All | Some | No | Some-not."""

    name = "syllogisms"
    pattern = re.compile(r"(all|some|no) (\S+) are (not )?(\S+)")

    def __init__(self, premises: Iterable[tuple[str, str, str]], existential_import: bool = False) -> None:
        self.existential_import = existential_import
        self.item_of: dict[str, int] = {}
        self.items: list[list[tuple[str, str, str]]] = []
        for p in premises:
            ids = {self.item_of[t] for t in p[1:] if t in self.item_of}
            if ids:
                i = min(ids)
            else:
                i = len(self.items)
                self.items.append([])
            self.items[i].append(p)
            for t in p[1:]:
                self.item_of[t] = i

    @classmethod
    def from_documents(cls, texts: Iterable[str], existential_import: bool = False) -> SyllogismLogic:
        """Premises from training items: the sentences after "The relationships between ... are:"."""
        premises = []
        for text in texts:
            for sent in sentences(text):
                m = cls.pattern.fullmatch(normalize(sent))
                if m and (st := cls._statement(m))[0]:
                    premises.append(st)
        return cls(premises, existential_import)

    @staticmethod
    def _statement(m: re.Match) -> tuple[str, str, str]:
        q = {"all": "All", "some": "Some", "no": "No"}[m[1]]
        if m[3]:
            if q != "Some":
                return ("", "", "")  # "All X are not Y" is ambiguous: not a statement we judge
            q = "Some-not"
        return (q, m[2], m[4])

    def parse(self, sentence: str) -> Statement | None:
        m = self.pattern.fullmatch(normalize(sentence))
        if not m or m[2] not in self.item_of or m[4] not in self.item_of:
            return None
        st = self._statement(m)
        return st if st[0] else None

    def _truth(self, premises: list[tuple[str, str, str]], target: tuple[str, str, str]) -> tuple[bool, bool]:
        """(true in every model of the premises, true in some model)."""
        terms = sorted({t for p in [*premises, target] for t in p[1:]})
        ms = [m for m in models(terms, self.existential_import) if all(_holds(p, m) for p in premises)]
        values = [_holds(target, m) for m in ms]
        return all(values), any(values)

    def verdict(self, statement: Statement) -> Verdict:
        q, a, b = statement  # type: ignore[misc]
        if self.item_of[a] != self.item_of[b]:
            return "unverifiable"
        valid, consistent = self._truth(self.items[self.item_of[a]], (q, a, b))
        return "true" if valid else "false" if not consistent else "unverifiable"

    def entailed_by(self, premises: Iterable[Statement], target: Statement) -> bool:
        item = self.item_of[target[1]]  # type: ignore[index]
        same = [p for p in premises if self.item_of[p[1]] == item and self.item_of[p[2]] == item]  # type: ignore[index]
        return self._truth(same, target)[0]  # type: ignore[arg-type]


def logic(dataset: Dataset) -> SyllogismLogic:
    ei = bool(dataset.meta.get("params", {}).get("existential_import", False))
    return SyllogismLogic.from_documents([d.text for d in dataset.train], ei)


def oracle_facts(dataset: Dataset) -> list[list[Variant]]:
    world = logic(dataset)
    out = []
    for premises in world.items:
        terms = sorted({t for p in premises for t in p[1:]})
        counts = {t: sum(t in p[1:] for p in premises) for t in terms}
        s, p = [t for t in terms if counts[t] == 1] or terms[:2]
        valid = valid_conclusions(premises, s, p, world.existential_import)
        out.append([(None, f"The relationships between {a}, {b} and {c} are: {sentence(v)}")
                    for v in valid for a, b, c in itertools.permutations(terms)])
    return out
