"""Filters that need no ground truth (faithful, self-verified) and the ground-truth control (verified).

faithful        a generated sentence adds no content word absent from its source: every word of it is a word
                of the source (same stem: "directed" ~ "director", "gruds" ~ "grud"), a function word
                (FUNCTION_WORDS), a word of the small relation vocabulary (RELATION_WORDS: "include", "kind",
                "known", "called", ...), or the comparative opposite of a source word ("softer" in the source
                allows "harder": OPPOSITES). Numbers count as content. Source: the item restated (local) or
                the document and the documents shown with it (global). It keeps "spib are harder than sirm"
                from "sirm are softer than spib" and drops "Seraphina Bramcombe is a British typographer".
consistent      a generated sentence is not its source with one side of a reversal changed (two names swapped,
                or one comparative turned into its opposite: that states the converse; `contradicts`).
self-verified   the model's own in-context judgement: a sentence is kept if reading its source first raises
                its log-likelihood by at least `threshold` nats per token over reading it without the source (after
                the source's words in alphabetical order, or nothing: `baseline_context`) (`SelfVerifier`, the
                shared-context scorer of `iclft.scoring.likelihood`: one context encode per source and baseline).
verified        a CONTROL (uses the answers): keeps only sentences that the dataset's world judges true
                (`world_judge`: `iclft.datasets.truth.logic_for`); never part of the proposed method.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from iclft.errors import UserError

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


def contradicts(sentence: str, source_sentences: Iterable[str], entities: Iterable[str]) -> bool:
    """True if `sentence` is a source sentence with exactly one side of a reversal changed, which states the converse
    of an asymmetric relation: two entities swapped ("spib are softer than sirm" from "sirm are softer than spib")
    or one word turned into its opposite ("sirm are harder than spib"). Both changes together make the reversal
    ("spib are harder than sirm"), which is kept. (Symmetric relations, "A met B", are rare in restatements.)"""
    names = {_form(e) for e in entities}
    c = words(sentence)
    for source in source_sentences:
        s = words(source)
        if len(s) != len(c):
            continue
        diff = [i for i, (a, b) in enumerate(zip(s, c)) if _form(a) != _form(b)]
        if len(diff) == 1 and c[diff[0]] in OPPOSITES.get(s[diff[0]], ()):
            return True
        if len(diff) == 2:
            i, j = diff
            if _form(c[i]) == _form(s[j]) and _form(c[j]) == _form(s[i]) and {_form(s[i]), _form(s[j])} <= names:
                return True
    return False


_COPULA = {"is": "are", "was": "were", "has": "have", "does": "do"}


def _form(word: str) -> str:
    """A word compared up to number: "is" ~ "are", "femps" ~ "femp"."""
    return _COPULA.get(word, word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)


BASELINES = ("words", "empty")
VERIFY_PROMPT = "Another true statement:"


def baseline_context(source: str, baseline: str) -> str:
    """What a sentence is read after when its source is not shown: nothing ("empty"), or the source's words in
    alphabetical order ("words": the names and vocabulary without the statements, so copying a name earns no gain)."""
    if baseline == "empty":
        return ""
    return " ".join(sorted(set(words(source)))) + "\n"


class SelfVerifier:
    """Per-token log-likelihood gain of sentences from reading their source in context (the model's own judgement).

    gain = (log p(sentence | source) - log p(sentence | baseline)) / tokens, each after VERIFY_PROMPT, by
    `iclft.scoring.likelihood.score_questions`: all sentences of one source are the choices of one question after one shared
    context. Baseline (`baseline_context`): the source's words in alphabetical order (default: measures what the
    statements add beyond their vocabulary) or nothing at all ("empty": copying the source's names scores high).
    """

    def __init__(self, lm: Any, threshold: float, baseline: str = "words", batch_size: int = 8) -> None:
        if baseline not in BASELINES:
            raise UserError(f"unknown self-verification baseline {baseline!r}; choose one of {', '.join(BASELINES)}")
        self.lm, self.threshold, self.baseline, self.batch_size = lm, threshold, baseline, batch_size

    def _per_token(self, context: str, sentences: list[str]) -> list[float]:
        from iclft.datasets.schema import Question
        from iclft.scoring.likelihood import score_questions

        q = Question(id="verify", prompt=VERIFY_PROMPT, choices=[" " + s for s in sentences])
        (r,) = score_questions(self.lm, [q], context=context, batch_size=self.batch_size)
        return [lp / max(n, 1) for lp, n in zip(r.logprobs, r.n_tokens)]

    def gains(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The gain of each (source, sentence) pair, in order."""
        by_source: dict[str, list[int]] = {}
        for i, (source, _) in enumerate(pairs):
            by_source.setdefault(source, []).append(i)
        out = [0.0] * len(pairs)
        for source, idx in sorted(by_source.items()):
            sentences = [pairs[i][1] for i in idx]
            read = self._per_token(source.strip() + "\n", sentences)
            base = self._per_token(baseline_context(source, self.baseline), sentences)
            for i, a, b in zip(idx, read, base):
                out[i] = a - b
        return out


def world_judge(dataset: Any) -> Callable[[str], str]:
    """The dataset's world as a sentence judge: "true" | "false" | "unverifiable" | "unparsed" (for the verified
    CONTROL); `truth.world_judge`, with a one-line error for a dataset that has no world model."""
    from iclft.datasets.truth import world_judge as judge_of

    judge = judge_of(dataset)
    if judge is None:
        raise UserError(f"dataset {dataset.name!r} has no world model: the verified control cannot judge its sentences")
    return judge
