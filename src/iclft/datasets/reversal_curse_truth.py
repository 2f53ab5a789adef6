"""Ground truth of an imported reversal-curse release (see `iclft.datasets.truth`; only controls and the audit
read it), built only from what the importer recovered from the TRAINING rows (`reversal_curse.world.world_meta`,
stored in meta.json under "world"): each person's name, group and description texts, and the training templates.

The release's descriptions are model-written paraphrases whose wording changes from row to row ("the acclaimed
director of the virtual reality masterpiece ..." / "directed ..." / "directing ..."), and a model's restatements
change it more, so descriptions are not matched as phrases. Each person gets a *signature*: the stems (the
faithful filter's crude stem, `lexicon.stem`, cut to 5 letters: director / directed / directing ->
"direc") of the content words of their own description texts that at most a quarter of the people use (so
"first", "world", "renowned" carry little), weighted by rarity (log N / people using it). A sentence's description
is attributed to the person whose signature it matches clearly: at least MIN_STEMS of their stems (one shared word
is often chance, two distinctive ones rarely: the release's descriptions have 4-10 such words each) and a weight at
least MARGIN times the runner-up's; two people both at MIN_STEMS or more but without that margin is a "mixed"
statement. Words of any person's name never count as description words. The margin was set on the release-shaped
fixture (tests/berglund_release.py, whose people share roles, verbs and objects: harder than the real release): on
its held-out test rows, 2.0 left 30 of 89 correct statements unverifiable, 1.5 left 10 (full size: 372 of 2,383),
with no true statement judged false nor false one true at either. On the embedded model's own restatements (k=4,
whole documents, max 96 new tokens; unfiltered) of a 6-people-a-group x 4-paraphrases cut of a full-size fixture
release, 374 of 379 sentences were judged (98.7%: 216 true, 158 unverifiable, 0 false); the 5 unparsed were
fragments cut off at the token limit ("The lost archives of").

Names: a person's full name (any letter case), or a first name or surname that only one person of the release
has (as written, capitalized). A sentence that names a person is always a statement (never "unparsed").

Judgement: `CelebrityLogic`'s rules (generated celebrities): one name and one description -> true if the same
person's, false otherwise; a name or a description alone, or several of either -> unverifiable; direction d2p
when the description comes first.

Oracle facts: each person's untrained direction in training-style phrasings: p2d people get description -> name
rows (the d2p training templates recovered by alignment, filled with the person's most frequent trained
description as a noun phrase), d2p people name -> description rows (the p2d training prompts whose completions are
noun phrases, completed with theirs); a phrasing that would split into several statements is not written. The
both group has both.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from iclft.datasets.celebrities_truth import CelebrityLogic
from iclft.datasets.schema import Dataset
from iclft.datasets.truth import Statement, Variant
from iclft.lexicon import stem as crude_stem

MIN_STEMS = 2
MARGIN = 1.5
MAX_SHARE = 0.25  # a stem used by more than this share of the people is no one's signature
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'’-]*")
_STOP = frozenset(["the", "and", "who", "was", "were", "for", "with", "that", "this", "they", "their", "them", "are",
                   "has", "have", "had", "been", "being", "from", "into", "known", "also", "not", "but", "its", "his",
                   "her", "she", "him", "one", "once", "someone", "person", "people", "name", "called"])


def stem(word: str) -> str:
    """Lower case, possessive off, the faithful filter's crude stem (one common suffix), cut to 5 letters."""
    return crude_stem(re.sub(r"['’]s$", "", word.lower()).strip("'’-"))[:5]


class ReleaseLogic(CelebrityLogic):
    """Statements (name owner, description owner, direction) as `CelebrityLogic`, with names and descriptions found
    as the module docstring says."""

    name = "reversal-curse"

    def __init__(self, descriptions: dict[str, list[str]]) -> None:
        self.people = sorted(descriptions)
        self.names = {n.lower(): n for n in self.people}
        parts = Counter(w for n in self.people for w in set(n.split()))
        self.short = {w: n for n in self.people for w in n.split() if parts[w] == 1}
        self._name_words = {w.lower() for n in self.people for w in n.split()}
        used: dict[str, set[str]] = {}
        for person, texts in descriptions.items():
            for s, _ in self._content(" ".join(texts)):
                used.setdefault(s, set()).add(person)
        n = len(self.people)
        self.signature: dict[str, dict[str, float]] = {}  # stem -> {person: weight}
        for s, owners in used.items():
            if len(owners) <= max(1, MAX_SHARE * n):
                self.signature[s] = {p: math.log(n / len(owners)) for p in owners}

    def _content(self, text: str) -> list[tuple[str, int]]:
        out = []
        for m in _WORD.finditer(text):
            w = m.group(0)
            if w.lower().strip("'’-") in self._name_words or re.sub(r"['’]s$", "", w.lower()) in self._name_words:
                continue
            if len(w) < 3 or w.lower() in _STOP:
                continue
            out.append((stem(w), m.start()))
        return out

    def _named(self, sentence: str) -> dict[str, int]:
        """person -> first position of their full name (any case) or their unique first name / surname."""
        found: dict[str, int] = {}
        taken: list[tuple[int, int]] = []
        lower = sentence.lower()
        for key in sorted(self.names, key=len, reverse=True):
            for m in re.finditer(rf"(?<![\w-]){re.escape(key)}(?![\w-])", lower):
                taken.append(m.span())
                found.setdefault(self.names[key], m.start())
        for word, person in self.short.items():
            for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w-])", sentence):
                if not any(a <= m.start() < b for a, b in taken):
                    found.setdefault(person, m.start())
        return found

    def described(self, sentence: str) -> tuple[list[str], int]:
        """(people whose description the sentence states clearly: one, several (mixed) or none, position of the
        first signature word of the best one)."""
        score: dict[str, float] = {}
        count: Counter = Counter()
        first: dict[str, int] = {}
        for s, pos in {s: pos for s, pos in reversed(self._content(sentence))}.items():  # first positions
            for person, w in self.signature.get(s, {}).items():
                score[person] = score.get(person, 0.0) + w
                count[person] += 1
                first[person] = min(first.get(person, pos), pos)
        strong = sorted((p for p in score if count[p] >= MIN_STEMS), key=lambda p: (-score[p], p))
        if not strong:
            return [], -1
        best = strong[0]
        runner = max((score[p] for p in score if p != best), default=0.0)
        if score[best] >= MARGIN * runner:
            return [best], first[best]
        return strong, first[best]

    def parse(self, sentence: str) -> Statement | None:
        named = self._named(sentence)
        owners, where = self.described(sentence)
        if not named and not owners:
            return None
        if len(named) > 1 or len(owners) > 1:
            return ("", "", "mixed")
        person = next(iter(named), None)
        direction = "d2p" if person and owners and where < named[person] else "p2d"
        return (person, next(iter(owners), None), direction)


def logic(dataset: Dataset) -> ReleaseLogic | None:
    world = dataset.meta.get("world")
    if not isinstance(world, dict) or not world.get("descriptions"):
        return None  # imported before the importer recorded the world: re-import
    return ReleaseLogic(world["descriptions"])


def _groups(meta: dict[str, Any]) -> dict[str, str]:
    return {name: g for g, names in meta.get("people", {}).items() for name in names}


def main_description(texts: list[str]) -> str:
    """A person's description as a noun phrase: the most frequent of their texts once a lead ("being", "they
    are") and end punctuation are cut, noun phrases ("the ...") first on ties."""
    cut = [_LEAD.sub("", t.strip()).rstrip(".?!,") for t in texts]
    return min(set(cut), key=lambda t: (-cut.count(t), not _NOUN_PHRASE.match(t), t))


_LEAD = re.compile(r"^(?:being|they(?:'re| are| were)?)\s+", re.IGNORECASE)
_NOUN_PHRASE = re.compile(r"(?:the|a|an) ", re.IGNORECASE)


def oracle_facts(dataset: Dataset) -> list[list[Variant]]:
    world, rules = dataset.meta["world"], logic(dataset)
    assert rules is not None
    out = []
    for person, group in sorted(_groups(dataset.meta).items()):
        description = main_description(world["descriptions"][person])
        if group == "p2d":
            rows = [(pre + (description if pre else description[:1].upper() + description[1:]) + suf,
                     completion.replace("{name}", person))
                    for pre, suf, completion in world["templates"]["d2p"]]
        elif group == "d2p":
            rows = [(template.replace("{name}", person), f" {lead + ' ' if lead else ''}{description}.")
                    for template, lead in world["templates"]["p2d"] if lead is not None]
        else:
            continue
        variants = [(prompt, prompt + completion) for prompt, completion in dict.fromkeys(rows)]
        out.append([v for v in variants if len(rules.sentences(v[1])) == 1])
    return [vs for vs in out if vs]
