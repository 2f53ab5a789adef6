"""From a generation's raw text to sentences worth training on, recording every drop and why.

Parsing: the text is read line by line and stops at a line that echoes a prompt header ("Statement:",
"New document:", ...: the model starting another example); list markers ("- ", "1. ", "a) ") are removed,
and each line is split into sentences with `iclft.text.split_sentences`.

Filtering, first matching rule wins (the rules needing no model; `iclft.augment.filters` and the pipeline add
the model's own verification and the ground-truth control after these):
    empty           no letter or digit (or the generation was empty)
    truncated       no end punctuation (. ! ? maybe followed by a quote or bracket), or the last sentence
                    of a generation that was cut by max_new_tokens
    ungrounded      (step `grounded`) names fewer distinct entities of its source (see `extract_entities`; local:
                    the item restated, global: the document) than `grounded` asks, capped at the number the
                    source has; a source with no entities cannot be judged, so this rule is skipped for it
    leak            mentions an entity of the prompt's own examples that the corpus never uses (the model
                    copying the few-shot examples: "dax are a type of blick")
    unfaithful      (step `faithful`) uses a content word its source does not license (`lexicon.new_words`)
    contradiction   (step `consistent`) its source with one side of a reversal changed (`filters.contradicts`)
    copy            (step `dedupe`) the same as a sentence of the source document (ignoring case, punctuation,
                    spacing)
    duplicate       (step `dedupe`) the same as an augmentation already kept for this source document

Free prose (the spa and entigraph families: study notes, discussions, text about two entities) is judged a whole
generation at a time (`judge_prose`): its text up to an echoed prompt header, and, when max_new_tokens cut it, up to
its last complete sentence. Rules, first match wins: empty, truncated (nothing complete left), repetitive
(degenerate: a sentence of 4+ words said twice, or fewer than REPEAT_SHARE of its 4-word runs distinct),
ungrounded (entigraph: does not name both entities of its pair; spa: names fewer distinct entities of the document
than `grounded`), leak (also a number of the prompt's examples that the corpus never uses: "42 kilometres"), copy
(COPY_SHARE or more of its 4-word runs are the document's: a copy with a word or two changed), duplicate. `faithful` and `consistent` do not apply: prose that explains, applies or
discusses a document uses words it does not, and the converse check reads one-sentence reversals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from wordfreq import zipf_frequency

from iclft.augment.filters import contradicts
from iclft.lexicon import Vocabulary, new_words
from iclft.text import split_sentences
from iclft.vocab import related_forms

RULES = ("empty", "truncated", "repetitive", "ungrounded", "leak", "unfaithful", "contradiction", "copy", "duplicate")
RARE_ZIPF = 3.0  # rarer than ~1 use per million words: made-up words, most names
REPEAT_SHARE = 0.5  # prose: a generation with fewer distinct 4-word runs than this share of them repeats itself
COPY_SHARE = 0.9  # prose: a generation with this share of its 4-word runs in the document is a copy of it
PROPER_ZIPF = 5.5  # capitalized mid-sentence and below this: a name ("Paris", "Marie"), not "The"

_ECHO = re.compile(
    r"^\s*(statement|sentence|text|new document|document|documents you have read)\s*\d*\s*:", re.IGNORECASE)
_BULLET = re.compile(r"^\s*(?:[-*\u2022\u00b7]+|\(?\d{1,3}[.)]|\(?[a-z][.)])\s+")
_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*$")
_WORD = re.compile(r"[^\W\d_][\w'\u2019-]*")
_NUMBER = re.compile(r"\d+")


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
    return set(entity_map(text, rare_zipf, names))


def entity_map(text: str, rare_zipf: float = RARE_ZIPF, names: bool = True) -> dict[str, str]:
    """Each form of each entity of a text (plural, singular) -> the entity as written."""
    return {f: e for e in sorted(extract_entities(text, rare_zipf, names)) for f in related_forms(e)}


def normalize(sentence: str) -> str:
    """Lowercase letters and digits with single spaces: the form compared for copies and duplicates."""
    return " ".join(re.sub(r"[^\w\s]", " ", sentence.lower()).split())


def _mentioned(sentence: str, forms: dict[str, str]) -> set[str]:
    """The entities (values of `forms`) that a sentence names."""
    return {forms[w] for w in map(_norm_word, _WORD.findall(sentence)) if w in forms}


@dataclass
class ItemSource:
    """What one generation restates or links (local: the item; global: the document and its context): the
    entities a sentence must name (`grounded`) and the words it may use (`faithful`)."""

    entities_of: str  # the text whose entities ground a sentence
    vocabulary_of: str  # the text whose words a faithful sentence may use
    rare_zipf: float = RARE_ZIPF
    entities: dict[str, str] = field(init=False)
    vocabulary: Vocabulary = field(init=False)

    def __post_init__(self) -> None:
        self.entities = entity_map(self.entities_of, self.rare_zipf)
        self.vocabulary = Vocabulary([self.vocabulary_of])


@dataclass
class SourceFilter:
    """The filter state for one source document: its sentences, its entities, what was kept so far.
    `grounded`: distinct source entities a sentence must name (0: off); `faithful`, `consistent`, `dedupe`: steps
    on or off."""

    text: str
    rare_zipf: float = RARE_ZIPF
    foreign: frozenset[str] = frozenset()  # entity forms that must not appear (see `leak`)
    grounded: int = 1
    faithful: bool = False
    consistent: bool = False
    dedupe: bool = True
    originals: set[str] = field(init=False)
    entities: set[str] = field(init=False)
    entity_names: dict[str, str] = field(init=False)  # each form of each entity -> the entity
    kept: set[str] = field(init=False, default_factory=set)

    @property
    def runs(self) -> set[tuple[str, ...]]:
        """The document's 4-word runs (prose copies)."""
        if self._runs is None:
            self._runs = set(_runs(self.text))
        return self._runs

    def __post_init__(self) -> None:
        self._runs: set[tuple[str, ...]] | None = None
        self.originals = {normalize(s) for s in split_sentences(self.text)} | {normalize(self.text)}
        self.entity_names = entity_map(self.text, self.rare_zipf)
        self.entities = set(self.entity_names)

    def mentions(self, sentence: str, words: set[str] | frozenset[str]) -> bool:
        return any(_norm_word(w) in words for w in _WORD.findall(sentence))

    def reason(self, sentence: str, cut: bool = False, item: ItemSource | None = None) -> str | None:
        """Why `sentence` is dropped (a RULES entry), or None to keep it; kept ones are remembered.
        `cut`: it ends a generation stopped by max_new_tokens; `item`: what the generation restates (default:
        the whole document)."""
        norm = normalize(sentence)
        if not norm:
            return "empty"
        if cut or not _END.search(sentence):
            return "truncated"
        item = item or ItemSource(self.text, self.text, self.rare_zipf)
        need = min(self.grounded, len(set(item.entities.values())))
        if need and len(_mentioned(sentence, item.entities)) < need:
            return "ungrounded"
        if self.foreign and self.mentions(sentence, self.foreign):
            return "leak"
        if self.faithful and new_words(sentence, item.vocabulary):
            return "unfaithful"
        if self.consistent and contradicts(sentence, split_sentences(item.entities_of), item.entities):
            return "contradiction"
        if self.dedupe and norm in self.originals:
            return "copy"
        if self.dedupe and norm in self.kept:
            return "duplicate"
        self.kept.add(norm)
        return None


def judge(sentences: Iterable[str], source: SourceFilter, cut: bool,
          item: ItemSource | None = None) -> list[tuple[str, str | None]]:
    """(sentence, drop reason or None) for each sentence of one generation, in order."""
    sentences = list(sentences)
    if not sentences:
        return [("", "empty")]
    last = len(sentences) - 1
    return [(s, source.reason(s, cut=cut and i == last, item=item)) for i, s in enumerate(sentences)]


def prose_of(text: str, cut: bool) -> str:
    """A prose generation's text: up to a line echoing a prompt header; when `cut` by max_new_tokens, its last line
    trimmed to its last complete sentence (dropped if none)."""
    lines: list[str] = []
    for line in text.splitlines():
        if _ECHO.match(line):
            break
        lines.append(line.rstrip())
    while lines and not lines[-1].strip():
        lines.pop()
    if cut and lines:
        ends = list(re.finditer(r"[.!?][\"'\u201d\u2019)\]]*(?=\s|$)", lines[-1]))
        lines[-1] = lines[-1][:ends[-1].end()] if ends else ""
    return "\n".join(lines).strip()


def _runs(text: str) -> list[tuple[str, ...]]:
    words = normalize(text).split()
    return [tuple(words[i:i + 4]) for i in range(len(words) - 3)]


def repetitive(text: str) -> bool:
    """Degenerate repetition: a sentence of 4+ words said twice, or fewer than REPEAT_SHARE of the text's 4-word runs
    distinct (8 runs at least)."""
    said = [normalize(s) for line in text.splitlines() for s in split_sentences(_BULLET.sub("", line))]
    said = [s for s in said if len(s.split()) >= 4]
    if len(said) != len(set(said)):
        return True
    runs = _runs(text)
    return len(runs) >= 8 and len(set(runs)) < REPEAT_SHARE * len(runs)


def judge_prose(text: str, source: SourceFilter, cut: bool, names: Sequence[str] = ()) -> tuple[str, str | None]:
    """(the generation's text, drop reason or None) for one prose generation (see the module docstring); `names`:
    what it must name (entigraph: its two entities); kept texts are remembered for `duplicate`."""
    body = prose_of(text, cut and not echoes_prompt(text))
    if not normalize(body):
        return body, "truncated" if normalize(text) else "empty"
    if repetitive(body):
        return body, "repetitive"
    if source.grounded:
        lower = body.lower()
        if names and not all(n.lower() in lower for n in names):
            return body, "ungrounded"
        need = min(source.grounded, len(set(source.entity_names.values())))
        if not names and need and len(_mentioned(body, source.entity_names)) < need:
            return body, "ungrounded"
    if source.foreign and (source.mentions(body, source.foreign) or set(_NUMBER.findall(body)) & source.foreign):
        return body, "leak"
    norm = normalize(body)
    runs = _runs(body)
    if source.dedupe and (norm in normalize(source.text) or (runs and sum(
            r in source.runs for r in runs) >= COPY_SHARE * len(runs))):
        return body, "copy"
    if source.dedupe and norm in source.kept:
        return body, "duplicate"
    source.kept.add(norm)
    return body, None
