"""Short answers of a user's corpus: their kind, their normal form, and seeded distractors of the same kind.

Kinds (the `subtype` of knowledge questions), first matching rule wins:
    date     a month name, a year (1000-2099, optionally "AD"/"BC"/"s"), a century ("19th century"), a weekday
    number   any other answer with a digit, or one that starts with a number word ("three", "dozens")
    name     every word capitalised except small joiners ("of", "the", "de", "and", ...): "University of Chicago"
    other    everything else
Normal form (SQuAD's): lowercase, punctuation and the articles a/an/the removed, spaces collapsed.

Distractors for a question are drawn, seeded per question, from the other answers of the corpus (each normal form
once). Never a choice: a correct answer of the question, nor one that equals it after normalising, nor one whose
words contain all of its words or are all among them ("Broncos" for "Denver Broncos"), nor a duplicate. Answers of
the same kind come first, those of about the same length (words) first among them; when a kind has too few, the
nearest kinds fill in (number <-> date, name <-> other), then any answer.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Iterable, Sequence

KINDS = ("number", "date", "name", "other")
FALLBACK = {"number": ("date", "other", "name"), "date": ("number", "other", "name"),
            "name": ("other", "number", "date"), "other": ("name", "number", "date")}

_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec").split()
_DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
_DATE = re.compile(
    rf"\b(?:{'|'.join(_MONTHS + _DAYS)})\b\.?|\b1\d{{3}}s?\b|\b20\d{{2}}s?\b|\b\d{{1,4}}\s*(?:ad|bc|bce|ce)\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)[\s-]+centur(?:y|ies)\b|\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth"
    r"|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth"
    r"|twentieth|twenty-first)[\s-]+centur(?:y|ies)\b", re.IGNORECASE)
_NUMBER_WORDS = frozenset("""
zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen
eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand thousands million
millions billion billions trillion dozen dozens half quarter third thirds several
""".split())
JOINERS = frozenset("of the de du da del della der van von la le y &".split())
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans({c: " " for c in string.punctuation + "\u2013\u2014\u2018\u2019\u201c\u201d"})


def normalize(answer: str) -> str:
    """SQuAD's normal form: lowercase, no punctuation, no articles, single spaces."""
    return " ".join(_ARTICLES.sub(" ", answer.lower().translate(_PUNCT)).split())


def kind(answer: str) -> str:
    """The answer's kind (see the module docstring)."""
    text = answer.strip()
    if _DATE.search(text):
        return "date"
    words = text.translate(_PUNCT).split()
    if any(ch.isdigit() for ch in text) or (words and words[0].lower() in _NUMBER_WORDS):
        return "number"
    content = [w for w in words if w.lower() not in JOINERS or w[0].isupper()]
    if content and all(w[0].isupper() for w in content) and any(c.isalpha() for c in text):
        return "name"
    return "other"


def _clashes(candidate: str, corrects: Iterable[str]) -> bool:
    """True if `candidate` (normal form) could be read as one of the correct answers (normal forms)."""
    words = set(candidate.split())
    for c in corrects:
        other = set(c.split())
        if candidate == c or not words or not other or words <= other or other <= words:
            return True
    return False


class AnswerPool:
    """The distinct answers of a corpus by kind, in first-seen order; draws distractors for one question."""

    def __init__(self, answers: Iterable[str]) -> None:
        self.by_kind: dict[str, list[str]] = {k: [] for k in KINDS}
        seen: set[str] = set()
        for a in answers:
            a = a.strip()
            norm = normalize(a)
            if a and norm and norm not in seen:
                seen.add(norm)
                self.by_kind[kind(a)].append(a)

    def distractors(self, correct: Sequence[str], n: int, rng: random.Random) -> list[str]:
        """Up to `n` distractors for a question whose correct answers are `correct` (the first decides the kind)."""
        target = correct[0].strip()
        length = len(target.split())
        taken = [normalize(c) for c in correct]
        out: list[str] = []
        for k in (kind(target), *FALLBACK[kind(target)]):
            pool = list(self.by_kind[k])
            rng.shuffle(pool)
            pool.sort(key=lambda a: abs(len(a.split()) - length) > max(1, length // 2))  # similar length first
            for cand in pool:
                if len(out) == n:
                    return out
                norm = normalize(cand)
                if not _clashes(norm, taken):
                    out.append(cand)
                    taken.append(norm)
        return out


def choices_for(correct: str, pool: AnswerPool, n_choices: int, rng: random.Random,
                also_correct: Sequence[str] = ()) -> tuple[list[str], int]:
    """(choices with a leading space, index of the correct one): `correct` among `n_choices - 1` distractors,
    shuffled; fewer choices when the corpus has too few distinct answers."""
    wrong = pool.distractors([correct, *also_correct], n_choices - 1, rng)
    choices = [" " + correct.strip(), *(" " + w for w in wrong)]
    rng.shuffle(choices)
    return choices, choices.index(" " + correct.strip())
