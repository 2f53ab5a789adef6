"""Pronounceable nonsense words ("femp", "glon", "zarple") that are not English words.

A word is built from English onsets, vowels and codas, in one of a few syllable shapes, kept if it has
4-5 letters and neither it nor its plural / singular form appears in wordfreq's English list
(`zipf_frequency(w, "en") > 0` means some real usage). A `Vocab` never returns the same word twice.
Whether a word is used as a plural noun is the dataset's business.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from wordfreq import zipf_frequency

ONSETS = (
    "b", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "y", "z",
    "bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "kl", "pl", "pr", "sh", "sk", "sl",
    "sm", "sn", "sp", "st", "sw", "th", "tr", "tw",
)  # fmt: skip
VOWELS = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "u", "ai", "ee", "oa", "oo", "ou", "ea")
CODAS = (
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "t", "x", "z", "ck", "ff", "ft", "ld", "lk", "lm",
    "lp", "lt", "mp", "nd", "nk", "nt", "pt", "rb", "rd", "rk", "rm", "rn", "rp", "rt", "sk", "sp",
    "st", "sh", "th", "zz",
)  # fmt: skip
SIMPLE_ONSETS = tuple(o for o in ONSETS if len(o) == 1)
SIMPLE_VOWELS = ("a", "e", "i", "o", "u")
SIMPLE_CODAS = tuple(c for c in CODAS if len(c) == 1)
MEDIAL_ONSETS = tuple(o for o in SIMPLE_ONSETS if o not in "hjwy")  # second syllables: no "egyil", "izwul"
MEDIAL_CODAS = ("b", "d", "g", "l", "m", "n", "p", "r", "s", "t")  # first syllables' codas: no "ixboz"
MIN_LEN, MAX_LEN = 4, 5
MAX_TRIES = 100_000


def _shapes(rng: random.Random) -> str:
    """One candidate: a closed syllable (femp, glon, troff) or two light syllables (rony, zarple, abmes)."""
    c = rng.choice
    shape = rng.random()
    if shape < 0.6:  # (C)CV(C)C; a long vowel takes a single-consonant coda (feek, not "lailt")
        vowel = c(VOWELS)
        return c(ONSETS) + vowel + c(CODAS if len(vowel) == 1 else SIMPLE_CODAS)
    if shape < 0.85:  # CV.CV(C): rony, doket
        return c(SIMPLE_ONSETS) + c(SIMPLE_VOWELS) + c(MEDIAL_ONSETS) + c(SIMPLE_VOWELS) + c(("", *SIMPLE_CODAS))
    # VC.CVC: abmes, ulfin
    return c(SIMPLE_VOWELS) + c(MEDIAL_CODAS) + c(MEDIAL_ONSETS) + c(SIMPLE_VOWELS) + c(SIMPLE_CODAS)


def related_forms(word: str) -> list[str]:
    """The word plus the inflections a dataset may print: plural, and singular if it ends in s."""
    forms = [word, word + "s", word + "es"]
    if word.endswith("s"):
        forms.append(word[:-1])
    if word.endswith("es"):
        forms.append(word[:-2])
    if word.endswith("y"):
        forms.append(word[:-1] + "ies")
    return forms


def is_real_word(word: str) -> bool:
    """True if wordfreq has any English usage for the word or a related form."""
    return any(zipf_frequency(f, "en") > 0 for f in related_forms(word))


class Vocab:
    """A seeded source of distinct nonsense words: `Vocab(seed).words(5)`.

    The seed may be a string, so each dataset can draw its own words: `Vocab(f"reversals:{seed}")`.
    `exclude` adds words never to return (e.g. words already used elsewhere in a dataset).
    """

    def __init__(self, seed: int | str = 0, exclude: Iterable[str] = ()) -> None:
        self._rng = random.Random(f"iclft.vocab:{seed}")
        self._used: set[str] = {w.lower() for w in exclude}
        self.issued: list[str] = []

    def word(self) -> str:
        """A new word, never returned before by this Vocab."""
        for _ in range(MAX_TRIES):
            w = _shapes(self._rng)
            if not MIN_LEN <= len(w) <= MAX_LEN or w in self._used:
                continue
            self._used.add(w)  # rejected or issued: never try again
            if is_real_word(w):
                continue
            self.issued.append(w)
            return w
        raise RuntimeError("vocabulary exhausted")  # not reachable at the sizes datasets use

    def words(self, n: int) -> list[str]:
        return [self.word() for _ in range(n)]


def token_costs(words: Iterable[str], tokenizer: Any, leading_space: bool = True) -> dict[str, Any]:
    """Tokens per word in a tokenizer, as the words appear mid-sentence (after a space by default).

    Returns {"tokenizer", "n_words", "mean", "min", "max", "histogram": {"1": n, "2": n, ...}}.
    """
    words = list(words)
    counts = [len(tokenizer.encode((" " if leading_space else "") + w, add_special_tokens=False)) for w in words]
    hist = Counter(counts)
    return {
        "tokenizer": getattr(tokenizer, "name_or_path", type(tokenizer).__name__),
        "leading_space": leading_space,
        "n_words": len(words),
        "mean": round(sum(counts) / len(counts), 3) if counts else 0.0,
        "min": min(counts, default=0),
        "max": max(counts, default=0),
        "histogram": {str(k): hist[k] for k in sorted(hist)},
    }
