"""Probe questions generated from plain documents (`iclft data probes`): kinds of generalization as splits.

How each split is built and checked (docs/knowledge.md "How each split is built" says the same for users):
* sentences (`candidates`): each document is split into sentences (`iclft.text.split_sentences`); a sentence is
  used when it has 6-60 words and does not start with a pronoun or demonstrative ("It", "They", "This", ...).
* answer spans (`spans`): dates (a month with a day or year, years, decades, centuries), numbers (digits with their
  unit word: "3.5 million", "40%") and names (runs of capitalised words joined by "of", "the", "de", ...; a
  capitalised word starting a sentence only if the document capitalises it elsewhere or it starts a longer run; a
  lone nationality or creed word, "Canadian", "Lutheran", is no name).
  Distractors: the corpus's other spans (`iclft.datasets.answers`: same kind, seeded, never a span of the probe's
  own sentence nor equal to or part of the answer after normalising).
* recall, a CONTROL for memorisation: the sentence up to its last span with at least 6 words before it, scored as
  its continuation (the document's own words).
* reversed, asked from the other side: the sentence's first span that a name follows later in the sentence, blanked:
  `Question: Which name fills the blank? "___ was born in Warsaw."\nAnswer:`; the cue that came after the answer in
  the document now comes before it. Refused when a word of the answer also occurs in the rest of the sentence.
* rephrased, asked in other words: a generator (the embedded model by default, or an OpenAI-compatible endpoint) is
  shown worked examples and asked for one question about the sentence answered by its recall (or reversed) span,
  starting with the wh-word of the answer's kind. Up to `samples` candidates (greedy, then sampled; cached by
  `generation.cache`); the first passing `answer_of` and `check_question` is kept: one question ending in "?", 4-30 words;
  not "Who was <name>?"; its wh-phrase fits the answer's kind (if it gives the asked answer away but the sentence
  has exactly one other date or number fitting its wh-phrase, that span is the answer); no word of the answer in it; no run of COPY_RUN words of
  the sentence; every content word licensed by the document (`lexicon.new_words`, question words allowed);
  at least two content words shared with the sentence. Prompt `Question: <question>\nAnswer:`.
No model judges whether the answer is right in context: that would keep the questions the in-context model already
answers, biasing the ICL condition upward.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wordfreq import zipf_frequency

from iclft.datasets.answers import JOINERS, AnswerPool, choices_for, kind, normalize
from iclft.datasets.knowledge import Item, assemble
from iclft.datasets.schema import Dataset, Document
from iclft.errors import UserError
from iclft.generation.cache import GenerationCache, cached_generate
from iclft.generation.generator import Generator, Request, Sampling, derive_seed
from iclft.lexicon import COMMON_ZIPF, FUNCTION_WORDS, Vocabulary, new_words, words
from iclft.text import split_sentences

VERSION = 1
SPLITS = ("recall", "rephrased", "reversed")
MIN_WORDS, MAX_WORDS = 6, 60
MIN_PREFIX = 6  # words before a recall span
COPY_RUN = 5  # a rephrased question sharing this many consecutive words with its sentence is a near copy
GREEDY = Sampling(temperature=0.0, max_new_tokens=32)  # a question is 10-25 tokens
SAMPLED = Sampling(temperature=0.7, top_p=0.95, max_new_tokens=32)
_PRONOUNS = frozenset(["it", "its", "they", "their", "them", "he", "his", "him", "she", "her", "this", "these", "those",
                      "that", "there", "such", "both", "each"])
QUESTION_WORDS = frozenset(["what", "which", "who", "whom", "whose", "when", "where", "why", "how", "many", "much",
                            "year", "years", "date", "name", "named", "called", "number", "did", "does", "do", "was",
                            "were"])

_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
          r"|Jan\.|Feb\.|Aug\.|Sept?\.|Oct\.|Nov\.|Dec\.)")
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{3,4}}|\d{{1,2}}\s+{_MONTH}\s+\d{{3,4}}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?\b|{_MONTH}\s+\d{{4}}|(?:1\d|20)\d{{2}}s?"
    r"|\d{1,2}(?:st|nd|rd|th)[ -]centur(?:y|ies))(?![\w-])")
_NUMBER = re.compile(r"(?<![\w.])\$?\d(?:[\d,]*\d)?(?:\.\d+)?(?:\s*(?:%|percent|million|billion|thousand|hundred))?(?![\w])")
_WORD = re.compile(r"[\w'’.-]+")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str
    kind: str


# a capitalised word alone that names no thing: a nationality or creed ("Canadian", "Lutheran"), a company suffix
_NOT_A_NAME = re.compile(r"[A-Z][a-z]+(?:ian|ean|an|ish|ese|ic)|Inc|Ltd|Co|Corp")


def _names(sentence: str, known: frozenset[str] = frozenset()) -> list[Span]:
    """Runs of capitalised words (with joiners inside), see the module docstring. `known`: words the document
    capitalises mid-sentence, which are names at a sentence start too."""
    out: list[Span] = []
    run: list[re.Match[str]] = []

    def close() -> None:
        while run and run[-1].group(0).lower() in JOINERS:
            run.pop()
        if run:
            first = run[0]
            text = re.sub(r"(?:['’]s?|\.)$", "", sentence[first.start():run[-1].end()])
            w = first.group(0).strip("'’.")
            unsure = first.start() == 0 and w not in known  # "Barges on ...": a capital only for the sentence
            if not (len(run) == 1 and (unsure or w.lower() in FUNCTION_WORDS or _NOT_A_NAME.fullmatch(w))):
                out.append(Span(first.start(), first.start() + len(text), text, "name"))
        run.clear()

    for m in _WORD.finditer(sentence):
        token = m.group(0)
        gap = sentence[run[-1].end():m.start()] if run else " "
        if run and gap.strip():  # punctuation between words ends a name
            close()
        if m.start() == 0 and token not in known and zipf_frequency(token, "en") >= COMMON_ZIPF:
            continue  # "The", "In", "When" starting a sentence
        if token[0].isupper() and any(c.isalpha() for c in token):
            run.append(m)
        elif run and token.lower() in JOINERS and sum(r.group(0).lower() not in JOINERS for r in run) == 1:
            run.append(m)  # "University of Chicago", not "Joseph Strauss of the University"
        else:
            close()
    close()
    return out


def known_names(text: str) -> frozenset[str]:
    """The words a text capitalises after a sentence's first word."""
    return frozenset(m.group(0) for s in split_sentences(text) for m in _WORD.finditer(s)
                     if m.start() > 0 and m.group(0)[0].isupper())


def spans(sentence: str, known: frozenset[str] = frozenset()) -> list[Span]:
    """The answer spans of a sentence in order: dates, then numbers, then names, never overlapping."""
    found: list[Span] = []

    def free(s: int, e: int) -> bool:
        return all(e <= f.start or s >= f.end for f in found)

    for pattern, k in ((_DATE, "date"), (_NUMBER, "number")):
        for m in pattern.finditer(sentence):
            if free(m.start(), m.end()):
                found.append(Span(m.start(), m.end(), m.group(0), k))
    for s in _names(sentence, known):
        if free(s.start, s.end) and kind(s.text) == "name":
            found.append(s)
    return sorted(found, key=lambda s: s.start)


def askable(sentence: str, span: Span) -> bool:
    """A span can be blanked: it stands as whole words, after a space, and not inside a range ("1968–2012")."""
    before, after = sentence[span.start - 1:span.start], sentence[span.end:span.end + 1]
    return before == " " and after not in ("-", "–", "—", "/") and before not in ("-", "–", "—", "/")


def usable(sentence: str) -> bool:
    ws = sentence.split()
    return MIN_WORDS <= len(ws) <= MAX_WORDS and ws[0].lower().strip("\"'(") not in _PRONOUNS


def _content(text: str) -> set[str]:
    return {w for w in words(text) if w not in FUNCTION_WORDS and w not in QUESTION_WORDS}


def _longest_run(a: list[str], b: list[str]) -> int:
    best = 0
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b, 1):
            if x == y:
                cur[j] = prev[j - 1] + 1
                best = max(best, cur[j])
        prev = cur
    return best


_ASKS = {
    "date": re.compile(r"\b(?:when|(?:what|which) (?:year|date|month|day|decade|century))\b", re.IGNORECASE),
    "number": re.compile(r"\b(?:how (?:many|much|long|old|far|large|big|tall|high|fast)|(?:what|which) "
                         r"(?:number|percentage|amount))\b", re.IGNORECASE),
    # "what"/"which" only before a noun ("Which city"): "What was ...?" asks for anything
    "name": re.compile(r"\b(?:who|whom|whose|where|(?:what|which)(?! (?:year|date|month|day|decade|century|number|"
                       r"percentage|amount|is|was|are|were|did|does|do|has|had|happened|can|could|would)\b)(?!'s))\b",
                       re.IGNORECASE),
}


# "Who was Martin Luther?": asks for a description, not for a span of the sentence
_DEFINITION = re.compile(r"^(?:[Ww]ho|[Ww]hat)(?: is|'s| was| are| were) (?:the )?(?:[a-z]+ )?"
                         r"[A-Z][\w'’.-]*(?: (?:of )?[A-Z][\w'’.-]*)*\?$")


def asks_for(question: str, kind_: str) -> bool:
    """The question's wh-phrase fits an answer of this kind ("when" a date, "how many" a number, "who" a name)."""
    found = [k for k, pattern in _ASKS.items() if pattern.search(question)]
    return found == [kind_] or (kind_ == "name" and found == ["name"])


def _mentions(question: str, answer: str) -> bool:
    answer_words = set(normalize(answer).split()) - FUNCTION_WORDS
    return normalize(answer) in normalize(question) or bool(answer_words & set(normalize(question).split()))


def answer_of(question: str, target: Span, sentence_spans: Sequence[Span]) -> Span | None:
    """The span a question asks for: the one it was written for if it fits and is not given away, else the one
    span of the sentence that fits its wh-phrase and that it does not mention (the model asked about another)."""
    if _DEFINITION.match(question):
        return None
    if asks_for(question, target.kind) and not _mentions(question, target.text):
        return target
    fits = [s for s in sentence_spans if s.kind != "name" and asks_for(question, s.kind)
            and not _mentions(question, s.text)]  # "who" fits too many names to choose one
    return fits[0] if len(fits) == 1 else None


def check_question(candidate: str, sentence: str, answer: str, vocabulary: Vocabulary) -> str | None:
    """Why a generated question is refused (None: kept); see the module docstring."""
    lines = [ln.strip() for ln in candidate.strip().splitlines() if ln.strip()]
    if not lines:
        return "empty"
    q = re.sub(r"^(?:question|q)\s*:\s*", "", lines[0], flags=re.IGNORECASE).strip()
    n = len(q.split())
    if not q.endswith("?") or q.count("?") > 1 or not 4 <= n <= 30:
        return "not a question"
    if _mentions(q, answer):
        return "contains the answer"
    if _longest_run(normalize(q).split(), normalize(sentence).split()) >= COPY_RUN:
        return "near copy"
    if [w for w in new_words(q, vocabulary) if w not in QUESTION_WORDS]:
        return "ungrounded"
    if len(_content(q) & _content(sentence)) < 2:
        return "off topic"
    return None


def clean_question(candidate: str) -> str:
    line = next(ln.strip() for ln in candidate.strip().splitlines() if ln.strip())
    return re.sub(r"^(?:question|q)\s*:\s*", "", line, flags=re.IGNORECASE).strip()


SYSTEM = ("You write quiz questions. Given a sentence and an answer taken from it, write one question that the "
          "answer answers. Use your own words, not the sentence's; never put the answer in the question. "
          "Start the question as you are told. Reply with the question only.")
EXAMPLES = (
    ("The Golden Gate Bridge, which opened in 1937, spans the strait between San Francisco Bay and the Pacific.",
     "1937", "When did the Golden Gate Bridge open to traffic?"),
    ("Penicillin was discovered by Alexander Fleming while he was studying bacteria at a London hospital.",
     "Alexander Fleming", "Who found penicillin during his research on bacteria in London?"),
    ("The library holds roughly 4 million books, making it the largest collection in the region.",
     "4 million", "How many books are kept in the region's largest library?"),
    ("After the war the company moved its headquarters from Leeds to Manchester, where it still operates.",
     "Manchester", "Which city did the company move its main offices to after the war?"),
)


def opening(answer: str, kind_: str) -> str:
    """The words a question for this answer should start with."""
    if kind_ == "date":
        return "When"
    if kind_ == "number":
        return "What percentage" if "%" in answer or "percent" in answer else \
            "How much" if answer.startswith("$") else "How many"
    return "Who or Which"


def messages(sentence: str, answer: str, kind_: str) -> list[dict[str, str]]:
    """The chat asking a generator for a question about `sentence` answered by `answer`."""
    out = [{"role": "system", "content": SYSTEM}]
    for s, a, q in EXAMPLES:
        start = opening(a, kind(a)) if kind(a) != "name" else q.split()[0]
        out += [{"role": "user", "content": f"Sentence: {s}\nAnswer: {a}\nStart with: {start}"},
                {"role": "assistant", "content": q}]
    return [*out, {"role": "user", "content": f"Sentence: {sentence}\nAnswer: {answer}\n"
                                              f"Start with: {opening(answer, kind_)}"}]


def _blank_prompt(sentence: str, span: Span) -> str:
    what = {"name": "name", "date": "date", "number": "number"}[span.kind]
    blanked = sentence[:span.start] + "___" + sentence[span.end:]
    return f"Question: Which {what} fills the blank? \"{blanked}\"\nAnswer:"


def blankable(sentence: str, span: Span) -> bool:
    """A span a blank question may ask for: one that can be blanked, or the sentence's opening words."""
    return askable(sentence, span) or span.start == 0


def blank_question(sentence: str, span: Span) -> tuple[str, str] | None:
    """(the sentence with `span` blanked, asked as a question; its answer), or None where it cannot be blanked."""
    return (_blank_prompt(sentence, span), span.text) if blankable(sentence, span) else None


@dataclass
class Candidate:
    doc: str
    sentence: str
    spans: list[Span]
    recall: Span | None
    reversed: Span | None


def candidates(documents: Sequence[Document]) -> list[Candidate]:
    """Each usable sentence with its spans and its recall and reversed answers (see the module docstring)."""
    out = []
    for d in documents:
        known = known_names(d.text)
        for sentence in split_sentences(d.text):
            if not usable(sentence):
                continue
            ss = spans(sentence, known)
            recall = next((s for s in reversed(ss) if askable(sentence, s)
                           and len(sentence[:s.start].split()) >= MIN_PREFIX), None)
            rev = None
            for i, s in enumerate(ss):
                if not blankable(sentence, s):
                    continue
                rest = (sentence[:s.start] + " " + sentence[s.end:]).lower()
                later_name = any(t.kind == "name" for t in ss[i + 1:])
                if later_name and not (set(normalize(s.text).split()) - FUNCTION_WORDS) & set(normalize(rest).split()):
                    rev = s
                    break
            if recall or rev:
                out.append(Candidate(d.id, sentence, ss, recall, rev))
    return out


def generate_probes(documents: Sequence[Document], seed: int = 0, generator: Generator | None = None,
                    cache: GenerationCache | None = None, samples: int = 3, n_choices: int = 4,
                    validation_documents: int = 0, heldaside: int = 0, name: str = "probes",
                    source: str = "") -> Dataset:
    """A knowledge dataset of recall, rephrased (when a generator is given) and reversed probes."""
    cands = candidates(documents)
    pool = AnswerPool(s.text for c in cands for s in c.spans)
    vocab = {d.id: Vocabulary([d.text]) for d in documents}
    rephrased: dict[int, dict[Span, str]] = {}  # sentence -> answer span -> question
    drops: dict[str, int] = {}
    if generator is not None:
        targets = [(i, t) for i, c in enumerate(cands) for t in dict.fromkeys(x for x in (c.recall, c.reversed) if x)]
        todo = list(range(len(targets)))
        for k in range(samples):  # greedy first, then sampled retries for the targets still without a question
            sampling = GREEDY if k == 0 else SAMPLED
            requests = [Request.chat(messages(cands[targets[j][0]].sentence, targets[j][1].text, targets[j][1].kind),
                                     derive_seed(seed, cands[targets[j][0]].doc, targets[j][1].start, k))
                        for j in todo]
            gens, _, _ = cached_generate(generator, requests, sampling, cache)
            failed = []
            for j, g in zip(todo, gens):
                (i, target), c = targets[j], cands[targets[j][0]]
                q = clean_question(g.text) if g.text.strip() else ""
                span = answer_of(q, target, c.spans) if q else None
                why = "wrong kind of question" if span is None else check_question(q, c.sentence, span.text,
                                                                                  vocab[c.doc])
                if why is None and span is not None:
                    rephrased.setdefault(i, {}).setdefault(span, q)
                else:
                    drops[why] = drops.get(why, 0) + 1  # type: ignore[index]
                    failed.append(j)
            todo = failed
    items = []
    for i, c in enumerate(cands):
        own = [s.text for s in c.spans]
        made: list[tuple[str, Span, str]] = []
        if c.recall is not None:
            made.append(("recall", c.recall, c.sentence[:c.recall.start].rstrip()))
        for span, question in rephrased.get(i, {}).items():
            made.append(("rephrased", span, f"Question: {question}\nAnswer:"))
        if c.reversed is not None:
            made.append(("reversed", c.reversed, _blank_prompt(c.sentence, c.reversed)))
        for split, span, prompt in made:
            rng = random.Random(f"probes:{seed}:{c.doc}:{c.sentence}:{split}:{span.start}")
            choices, answer = choices_for(span.text, pool, n_choices, rng, also_correct=own)
            if len(choices) >= 2:
                items.append(Item(c.doc, split, span.kind, prompt, choices, answer))
    if not items:
        raise UserError(f"{source or 'documents'}: no sentence with a name, number or date to ask about")
    items.sort(key=lambda it: SPLITS.index(it.split))
    meta: dict[str, Any] = {
        "generator": f"{__name__}.generate_probes", "version": VERSION, "source": source,
        "params": {"choices": n_choices, "samples": samples, "validation_documents": validation_documents,
                   "heldaside": heldaside, "question_generator": generator.identity if generator else None},
        "rephrased_drops": dict(sorted(drops.items())),
    }
    return assemble(name, documents, items, seed, validation_documents, heldaside, meta)


def probes_from_path(path: str | Path, **kw: Any) -> Dataset:
    """`generate_probes` on a folder of .txt/.md files or a JSONL of {"id", "text"} (`datasets.corpus`)."""
    from iclft.datasets.corpus import load_documents

    path = Path(path)
    return generate_probes(load_documents(path, stem_ids=True), name=path.stem, source=path.name, **kw)
