"""English words for the rules that read text: word tokens, a crude stem, closed-class and relation words,
comparative opposites, and the vocabulary a faithful restatement of a source may use.

    words, stem          lowercased word tokens; one common suffix off ("directed", "director" -> "direct")
    FUNCTION_WORDS       articles, pronouns, auxiliaries, prepositions, conjunctions, quantifiers
    RELATION_WORDS       words that relate a source's facts without adding one ("include", "kind", "called")
    OPPOSITES            comparative opposites ("softer" <-> "harder")
    Vocabulary           the words (and stems) some source texts license; `new_words` lists the others
    COMMON_ZIPF          a capitalized word this common starting a sentence is not part of a name

Used by augmentation's filters, the probe writer and the imported release's world; it imports nothing of iclft.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TOKEN = re.compile(r"[^\W_][\w'\u2019-]*")

# Closed-class English words: articles, pronouns, auxiliaries, prepositions, conjunctions, quantifiers.
FUNCTION_WORDS = frozenset("""
a an the this that these those such what which who whom whose where when why how whether
i me my mine we us our ours you your yours he him his she her hers it its they them their theirs one ones
someone somebody something anyone anything everyone everything nobody nothing itself themselves himself herself
is am are was were be been being do does did done doing have has had having will would shall should can could
may might must not no nor n't cannot
of in on at by for with about against between into through during before after above below to from up down out
off over under again further then once here there all any both each few more most other some own same so than
too very just also only even still yet as until while because if or and but either neither
less least fewer fewest many much several every another further
""".split())

# Words a restatement may use to relate its source's facts without adding one: relations, converses, naming.
RELATION_WORDS = frozenset("""
include includes included including contain contains contained containing
kind kinds type types sort sorts example examples member members instance instances category categories group
part parts belong belongs belonged
compared comparison compare relative relation related
known called named name names person people someone thing things who whose
true fact facts case way ways
able ability
""".split())

# Base adjectives and their opposites; comparative forms (-er, -ier, doubled consonant) are derived.
_PAIRS = """
large small big small long short tall short high low heavy light bright dim bright dark fast slow quick slow
old young old new strong weak loud quiet loud soft warm cold hot cold warm cool hard soft wide narrow broad narrow
deep shallow thick thin wet dry rich poor clean dirty rough smooth sharp dull happy sad early late near far
expensive cheap common rare safe dangerous easy hard full empty good bad dense sparse fat thin hungry full
healthy sick brave timid calm wild friendly hostile kind cruel noisy quiet clever stupid smart dumb
fresh stale sweet sour tight loose thick thin rich poor fierce gentle
""".split()
_IRREGULAR = {"good": ("better", "best"), "bad": ("worse", "worst"), "far": ("farther", "farthest"),
              "many": ("more", "most"), "little": ("less", "least")}


def _forms(adjective: str) -> set[str]:
    """An adjective with its comparative and superlative forms (regular English spelling rules)."""
    if adjective in _IRREGULAR:
        return {adjective, *_IRREGULAR[adjective]}
    a = adjective
    if a.endswith("e"):
        stem = a[:-1]
    elif a.endswith("y") and len(a) > 2 and a[-2] not in "aeiou":
        stem = a[:-1] + "i"
    elif len(a) >= 3 and a[-1] not in "aeiouwxy" and a[-2] in "aeiou" and a[-3] not in "aeiou":
        stem = a + a[-1]
    else:
        stem = a
    return {a, stem + "er", stem + "est"}


def _opposites() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for a, b in zip(_PAIRS[::2], _PAIRS[1::2]):
        fa, fb = _forms(a), _forms(b)
        for w in fa:
            table.setdefault(w, set()).update(fb)
        for w in fb:
            table.setdefault(w, set()).update(fa)
    for a, b in (("more", "less"), ("more", "fewer"), ("most", "least"), ("most", "fewest")):
        table.setdefault(a, set()).add(b)
        table.setdefault(b, set()).add(a)
    return {w: frozenset(v) for w, v in table.items()}


OPPOSITES = _opposites()
_SUFFIXES = ("ations", "ation", "ions", "ion", "ers", "ors", "ings", "ing", "ies", "ied", "ed", "er", "or", "es",
             "s", "ly", "e", "y")


def words(text: str) -> list[str]:
    """Lowercased word tokens (possessive 's removed; hyphenated words split)."""
    out = []
    for t in _TOKEN.findall(text):
        t = t.lower().replace("\u2019", "'")
        t = t[:-2] if t.endswith("'s") else t
        out.extend(p for p in re.split(r"[-']", t) if p)
    return out


def stem(word: str) -> str:
    """A crude stem: one common suffix off, keeping at least 3 letters ("directed", "director" -> "direct")."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _same(a: str, b: str) -> bool:
    """Two stems of one word: equal, or sharing a prefix of 4+ letters that leaves at most 3 letters of the shorter
    ("built" ~ "builder", "compos" ~ "composit")."""
    if a == b:
        return True
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n >= 4 and n >= min(len(a), len(b)) - 3


class Vocabulary:
    """The words a faithful restatement of some source texts may use."""

    def __init__(self, texts: Iterable[str]) -> None:
        ws = {w for t in texts for w in words(t)}
        self.words = ws | {o for w in ws for o in OPPOSITES.get(w, ())}
        self.stems = {stem(w) for w in self.words}
        self._by_prefix: dict[str, list[str]] = {}
        for s in self.stems:
            self._by_prefix.setdefault(s[:4], []).append(s)

    def allows(self, word: str) -> bool:
        if word in FUNCTION_WORDS or word in RELATION_WORDS or word in self.words:
            return True
        s = stem(word)
        return s in self.stems or any(_same(s, t) for t in self._by_prefix.get(s[:4], ()))


def new_words(sentence: str, vocabulary: Vocabulary) -> list[str]:
    """The content words of `sentence` that its source does not license (empty: faithful)."""
    return list(dict.fromkeys(w for w in words(sentence) if not vocabulary.allows(w)))


COMMON_ZIPF = 5.0  # a capitalized word this common starting a sentence is not part of a name ("The", "When")
