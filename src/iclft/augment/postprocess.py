"""From a generation's raw text to sentences worth training on, recording every drop and why.

Parsing: the text is read line by line and stops at a line that echoes a prompt header ("Statement:",
"New document:", ...: the model starting another example); list markers ("- ", "1. ", "a) ") are removed,
and each line is split into sentences with `iclft.text.split_sentences`.

Filtering, first matching rule wins:
    empty           no letter or digit (or the generation was empty)
    truncated       no end punctuation (. ! ? maybe followed by a quote or bracket), or the last sentence
                    of a generation that was cut by max_new_tokens
    off_vocabulary  mentions no entity of its source document (see `extract_entities`); a source with no
                    entities cannot be judged, so this rule is skipped for it
    leak            mentions an entity of the prompt's own examples that the corpus never uses (the model
                    copying the few-shot examples: "dax are a type of blick")
    copy            the same as a sentence of the source document (ignoring case, punctuation, spacing)
    duplicate       the same as an augmentation already kept for this source document
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from wordfreq import zipf_frequency

from iclft.text import split_sentences
from iclft.vocab import related_forms

REASONS = ("empty", "truncated", "off_vocabulary", "leak", "copy", "duplicate")
RARE_ZIPF = 3.0  # rarer than ~1 use per million words: made-up words, most names
PROPER_ZIPF = 5.5  # capitalized mid-sentence and below this: a name ("Paris", "Marie"), not "The"

_ECHO = re.compile(
    r"^\s*(statement|sentence|text|new document|document|documents you have read)\s*\d*\s*:", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u00b7]+|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")
_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")


def parse_output(text: str) -> list[str]:
    """The sentences of one generation (see the module docstring)."""
    out: list[str] = []
    for line in text.splitlines():
        if _ECHO.match(line):
            break
        out.extend(split_sentences(_BULLET.sub("", line)))
    return out


def echoes_prompt(text: str) -> bool:
    """True if the generation went on to echo a prompt header (so its end was not cut mid-sentence)."""
    return any(_ECHO.match(line) for line in text.splitlines())


def _norm_word(word: str) -> str:
    w = word.lower().replace("\u2019", "'")
    if w.endswith("'s"):
        w = w[:-2]
    return w.strip("'-")


def extract_entities(text: str, rare_zipf: float = RARE_ZIPF, names: bool = True) -> set[str]:
    """The words that name things in a text, lowercased: words of 3+ letters that are rare in English
    (wordfreq zipf below `rare_zipf`: nonsense words, most names), plus, with `names`, capitalized words
    not at the start of a sentence that are below PROPER_ZIPF (names such as "Paris")."""
    entities = set()
    for sentence in split_sentences(text):
        for i, word in enumerate(_WORD.findall(sentence)):
            w = _norm_word(word)
            if len(w) < 3:
                continue
            zipf = zipf_frequency(w, "en")
            if zipf < rare_zipf or (names and i > 0 and word[0].isupper() and zipf < PROPER_ZIPF):
                entities.add(w)
    return entities


def entity_forms(text: str, rare_zipf: float = RARE_ZIPF, names: bool = True) -> set[str]:
    """The entities of a text with their plural and singular forms, as matched in generated sentences."""
    return {f for e in extract_entities(text, rare_zipf, names) for f in related_forms(e)}


def normalize(sentence: str) -> str:
    """Lowercase letters and digits with single spaces: the form compared for copies and duplicates."""
    return " ".join(re.sub(r"[^\w\s]", " ", sentence.lower()).split())


@dataclass
class SourceFilter:
    """The filter state for one source document: its sentences, its entities, what was kept so far."""

    text: str
    rare_zipf: float = RARE_ZIPF
    foreign: frozenset[str] = frozenset()  # entity forms that must not appear (see `leak`)
    originals: set[str] = field(init=False)
    entities: set[str] = field(init=False)
    kept: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.originals = {normalize(s) for s in split_sentences(self.text)} | {normalize(self.text)}
        self.entities = entity_forms(self.text, self.rare_zipf)

    def mentions(self, sentence: str, words: set[str] | frozenset[str]) -> bool:
        return any(_norm_word(w) in words for w in _WORD.findall(sentence))

    def reason(self, sentence: str, cut: bool = False) -> str | None:
        """Why `sentence` is dropped (a REASONS entry), or None to keep it; kept ones are remembered.
        `cut`: it ends a generation stopped by max_new_tokens."""
        norm = normalize(sentence)
        if not norm:
            return "empty"
        if cut or not _END.search(sentence):
            return "truncated"
        if self.entities and not self.mentions(sentence, self.entities):
            return "off_vocabulary"
        if self.foreign and self.mentions(sentence, self.foreign):
            return "leak"
        if norm in self.originals:
            return "copy"
        if norm in self.kept:
            return "duplicate"
        self.kept.add(norm)
        return None


def judge(sentences: Iterable[str], source: SourceFilter, cut: bool) -> list[tuple[str, str | None]]:
    """(sentence, drop reason or None) for each sentence of one generation, in order."""
    sentences = list(sentences)
    if not sentences:
        return [("", "empty")]
    last = len(sentences) - 1
    return [(s, source.reason(s, cut=cut and i == last)) for i, s in enumerate(sentences)]
