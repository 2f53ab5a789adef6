"""World models of the synthetic datasets, for auditing generated text against the dataset's own logic.

A `Logic` parses a sentence into a statement of its world (None: not a statement of that world, e.g. a
lead-in sentence, or words outside the dataset's vocabulary), judges a statement ("true" | "false" |
"unverifiable"), and decides whether a set of statements alone entails another.

reversals   "X are more F than Y" over the dataset's comparatives ("the X", "X is" accepted). true: a training fact or its converse
            ("Y are less F than X"); false: contradicts one (the same pair on the same feature, opposite
            order, or "X are more F than X"); unverifiable: any other pair / feature.
syllogisms  "All|Some|No X are Y" and "Some X are not Y". Terms of one training item: true if valid
            (true in every Venn model of the item's premises, with the dataset's semantics), false if
            true in none (inconsistent with the premises), else unverifiable; terms of different items:
            unverifiable (the data says nothing linking them). A leading "The relationships between ...
            are:" is ignored.
semantic    any wording of the world's relations (World.parse_statement). true: entailed by the given
            facts (World.entails); false: not entailed. The world is closed: every category's facts are
            listed and inheritance is the only inference, so a statement it does not entail is false.
celebrities every person's name and description (the generator's, regenerated from the dataset's seed and params;
            a description is mentioned by its "<verb> <object>" or "<gerund> <object>" phrase, which every
            form of it contains). A sentence with one known name and one known description: true if they are
            the same person's, false otherwise (a name with another person's description); its direction is
            d2p (description first: a reversal for the p2d group) or p2d. A name or a description alone, or
            several of either: unverifiable. Negations are not read ("X is not ..." counts as stated).
Other datasets (derivatoids, an imported celebrities layout, a user's corpus): no world model (`logic_for`
returns None).

`world_judge(dataset)` wraps the logic into one function, sentence -> "true" | "false" | "unverifiable" |
"unparsed" (None when the dataset has no world model): what the audit records for each sentence.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, Literal, Protocol

from iclft.datasets.schema import Dataset

Verdict = Literal["true", "false", "unverifiable"]
Judgement = Literal["true", "false", "unverifiable", "unparsed"]
Statement = Hashable

_MARKER = re.compile(r"^(?:[-*\u2022]\s*|\d+[.)]\s+|a:\s*|answer:\s*)")
_PREFIX = re.compile(r"^the relationships? between .*? (?:are|is):\s*")
# reasoning-trace lead-ins before a plain statement ("This document says that X are Y.")
_LEAD = re.compile(r"^(?:(?:so|therefore|thus|hence|and|also),?\s+)?(?:(?:this|the) (?:document|text|article) "
                   r"(?:says|states|tells us|shows)|i (?:learned|know)|we (?:learn|know)|it follows|this means) that\s+")


def sentences(text: str) -> list[str]:
    """Sentences split at every line break and every . ! ? before whitespace (no abbreviation guessing:
    statements of these worlds never contain one, and each statement is judged on its own)."""
    return [s for s in (" ".join(p.split()) for p in re.split(r"(?<=[.!?])\s+|\s*\n\s*", text)) if s]


def normalize(sentence: str) -> str:
    """Lower case, single spaces, no list marker / 'A:' / syllogism preamble / reasoning lead-in ("this
    document says that", "so", "I learned that"), no end punctuation."""
    text = " ".join(sentence.lower().split())
    text = _MARKER.sub("", text)
    return _LEAD.sub("", _PREFIX.sub("", text)).rstrip(".!;").strip()


class Logic(Protocol):
    name: str

    def parse(self, sentence: str) -> Statement | None: ...

    def verdict(self, statement: Statement) -> Verdict: ...

    def entailed_by(self, premises: Iterable[Statement], target: Statement) -> bool: ...


# ------------------------------------------------------------------ reversals


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


# ------------------------------------------------------------------ syllogisms


def _holds(statement: tuple[str, str, str], model) -> bool:
    from iclft.datasets.syllogisms import holds

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
        from iclft.datasets.syllogisms import models

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


# ------------------------------------------------------------------ semantic


class SemanticLogic:
    """Statements are triples as written (reversals keep their inverse relation)."""

    name = "semantic"

    def __init__(self, world) -> None:
        self.world = world

    def parse(self, sentence: str) -> Statement | None:
        return self.world.parse_statement(normalize(sentence))

    def verdict(self, statement: Statement) -> Verdict:
        return "true" if self.world.entails(*statement) else "false"  # type: ignore[misc]

    def entailed_by(self, premises: Iterable[Statement], target: Statement) -> bool:
        from iclft.datasets.semantic.world import Fact, World, canonical

        facts = [Fact(f"p{i}", *canonical(p)) for i, p in enumerate(sorted(set(premises)))]  # type: ignore[arg-type]
        return World(facts, self.world.relations, dict(self.world.words)).entails(*target)  # type: ignore[misc]


# ------------------------------------------------------------------ celebrities


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


# ------------------------------------------------------------------ choice


def logic_for(dataset: Dataset) -> Logic | None:
    """The world model of a built synthetic dataset (from its meta and training data), or None."""
    generator = str(dataset.meta.get("generator", "")).rsplit(".", 1)[-1]
    texts = [d.text for d in dataset.train]
    if generator == "reversals":
        from iclft.datasets.reversals import FEATURES

        features = dataset.meta.get("features") or {f: list(p) for f, p in FEATURES.items()}
        vocab = dataset.meta.get("vocab") or {w for t in texts for w in t.lower().split()}
        return ReversalLogic(features, vocab, texts)
    if generator == "syllogisms":
        ei = bool(dataset.meta.get("params", {}).get("existential_import", False))
        return SyllogismLogic.from_documents(texts, ei)
    if generator == "semantic" and "world" in dataset.meta:
        from iclft.datasets.semantic.world import World

        return SemanticLogic(World.from_dict(dataset.meta["world"]))
    if generator == "celebrities":
        from iclft.datasets.celebrities import people_of

        people = people_of(dataset.meta)
        if people:
            return CelebrityLogic({n: (p.forms["past"], p.forms["ger"]) for n, (_, p) in people.items()})
    return None


def units(logic: Logic | None, text: str) -> list[str]:
    """A text's sentences as the world judges them (its logic's own splitter when it has one)."""
    split = getattr(logic, "sentences", None)
    return split(text) if split else sentences(text)


def judge_sentence(logic: Logic, sentence: str) -> tuple[Judgement, Statement | None]:
    """(verdict, statement) of one sentence; "unparsed" when it is no statement of the world."""
    st = logic.parse(sentence)
    return ("unparsed", None) if st is None else (logic.verdict(st), st)


def world_judge(dataset: Dataset):
    """sentence -> "true" | "false" | "unverifiable" | "unparsed" in the dataset's world (None: no world model).
    Built once per dataset (parsing the training data); each call judges one sentence."""
    logic = logic_for(dataset)
    if logic is None:
        return None

    def judge(sentence: str) -> Judgement:
        return judge_sentence(logic, sentence)[0]

    return judge
