"""`channel` and `both`: each choice verified in the trained form, and that verification combined with `direct`.

The trained form (`Templates.statements`) needs documents with a prompt and a completion, as reversal-curse data
has: a document whose prompt holds one of the question's choices, and whose completion the question's prompt states,
is a template. Each choice goes into the choice's slot, and the score of a choice is the mean over the question's
templates (at most `max_statements`, in training order) of the completion's log-likelihood after the filled prompt.
For "who is the person known for D?" (choices are names) the documents "Ever heard of P? They're D." give, for a
candidate N, "Ever heard of N? They're" + " D."; for "what is P known for?" (choices are descriptions) the documents
"Known for being D, the person in question is" + " P" give "Known for being D_i, the person in question is" + " P".
Where no completion is stated in the question (a test question that rewords the fact), the documents of the fact
the question tests (their shared `facts` id: the dataset's own link) are the templates; where those have no prompt,
their sentences of one fact are cut after the choice ("A: boox" + " are a type of onsed." for "onsed include").
A document whose completion names a choice is never a template: it would restate the answer after any filling.
Only the wording comes from the documents: every choice is scored in the same statements, so a model that never
learned the documents is at chance (the pretrained control). Where no training document has that shape, the
generic form: the choice, then the question (recorded as "generic").

`both` needs no knowledge of which direction was trained: the switch (default) takes channel where a training document
verifies the question in its wording, else direct; `rule: sum` turns each mode's scores into log-probabilities over
the choices (log-softmax) and sums them, channel's times `weight` (1: the product of the two posteriors).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from iclft.cells import Exposure, Job
from iclft.datasets.schema import Document, Question
from iclft.errors import UserError
from iclft.lexicon import FUNCTION_WORDS, stem, words
from iclft.scoring.exposure import context_of, score_in_contexts
from iclft.scoring.likelihood import NORMALIZATIONS, QuestionScore
from iclft.scoring.modes import GENERIC, MAX_STATEMENTS, TRAINED, BothOptions, ChannelOptions, ModeScore
from iclft.text import split_sentences

REWORDED = 0.6  # share of a completion's content stems a reworded question must state


@dataclass(frozen=True)
class Statement:
    """One verification of one question: the document's prompt with `slot` to fill by each choice, and the
    completion scored after it."""

    prompt: str
    slot: tuple[int, int]  # the span of the prompt a choice replaces
    completion: str
    capitalized: bool = False  # the slot starts a sentence: the choice's first letter is raised


def _core(text: str) -> str:
    """A choice or completion as matched inside other text: stripped of outer spaces and final punctuation."""
    return text.strip().rstrip(".,;:!?").strip()


def _find(needle: str, haystack: str) -> tuple[int, int] | None:
    """The first whole-word, case-insensitive occurrence of `needle` in `haystack`."""
    if not needle:
        return None
    m = re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack, flags=re.IGNORECASE)
    return m.span() if m else None


class Templates:
    """A dataset's training documents indexed by their completion, for `statements`."""

    def __init__(self, documents: Sequence[Document]) -> None:
        self.by_completion: dict[str, list[Document]] = {}
        self.order = {id(doc): i for i, doc in enumerate(documents)}
        for doc in documents:
            core = _core(doc.completion).lower()
            if doc.prompt is not None and core:
                self.by_completion.setdefault(core, []).append(doc)
        self.content = {core: _content(core) for core in self.by_completion}
        self.by_fact: dict[str, list[Document]] = {}
        for doc in documents:
            for fact in doc.facts:
                self.by_fact.setdefault(fact, []).append(doc)
        self._found: dict[tuple, list[Statement]] = {}  # statements() by what it reads of a question

    def _of_facts(self, question: Question) -> list[Document]:
        """The documents that state a fact the question tests (the dataset's own link), in training order."""
        linked = {id(d): d for fact in question.facts for d in self.by_fact.get(fact, [])}
        return sorted(linked.values(), key=lambda d: self.order[id(d)])

    def _stating(self, question: Question) -> list[Document]:
        """The documents whose completion the question's prompt states: word for word, else its first two words
        (a name followed by a tail), else (a test question that rewords the fact: "building the Stone Forest" for "who built the Stone Forest") the completions
        sharing the largest share, at least `REWORDED`, of their content words' stems with the prompt."""
        exact = [d for core, ds in self.by_completion.items() if _find(core, question.prompt) for d in ds]
        if exact:
            return exact
        leading = [d for core, ds in self.by_completion.items() if _find(_lead(core), question.prompt) for d in ds]
        if leading:  # a name with a tail ("Ann Lee continues to innovate."): the prompt names its first words
            return leading
        asked = _content(question.prompt)
        shares = {core: len(words & asked) / len(words) for core, words in self.content.items() if words}
        best = max(shares.values(), default=0.0)
        if best < REWORDED:
            return []
        return [d for core, share in shares.items() if share == best for d in self.by_completion[core]]

    def statements(self, question: Question, limit: int = MAX_STATEMENTS) -> list[Statement]:
        """The training documents that verify `question` in their own wording (see the module docstring), at most
        `limit`, in training order. Kept: a mode that asks which questions are verified, then scores them, finds
        them once."""
        key = (question.prompt, tuple(question.choices), tuple(question.facts), limit)
        if key not in self._found:
            self._found[key] = self._statements(question, limit)
        return self._found[key]

    def _statements(self, question: Question, limit: int) -> list[Statement]:
        cores = sorted((_core(c) for c in question.choices), key=len, reverse=True)  # names inside descriptions
        linked = self._of_facts(question)
        sources = (((d.prompt, d.completion) for d in self._stating(question)),
                   ((d.prompt, d.completion) for d in linked if d.prompt is not None),
                   self._sentences(question, linked, cores))
        for pairs in sources:
            out: list[Statement] = []
            for prompt, completion in pairs:
                span = next((sp for core in cores if (sp := _find(core, prompt))), None)
                if span and not any(_find(core, completion) for core in cores):  # else it restates the answer
                    out.append(Statement(prompt, span, completion, prompt[span[0]].isupper()))
                if len(out) >= limit:
                    break
            if out:
                return out
        return []

    @staticmethod
    def _sentences(question: Question, linked: Sequence[Document], cores: Sequence[str]):
        """(prompt, completion) cut from the sentences of the documents that state one fact, a fact the question
        tests: up to and including a choice, then the rest, where the rest says something the question asks about
        ("A: boox are a type of onsed." for "onsed include": "A: boox" + " are a type of onsed."). Documents of
        several facts are left out: their other sentences state other facts, which would verify a wrong choice."""
        asked = _content(question.prompt)
        for doc in (d for d in linked if len(d.facts) == 1):
            for sentence in split_sentences(doc.text):
                span = next((sp for core in cores if (sp := _find(core, sentence))), None)
                if span and _content(sentence[span[1]:]) & asked:
                    yield sentence[:span[1]], sentence[span[1]:]


def _lead(core: str) -> str:
    """A completion's first two words when both are content words (a name: "Ann Lee ..."), else ""."""
    first = core.split()[:2]
    return " ".join(first) if len(first) == 2 and not FUNCTION_WORDS & {w.lower() for w in first} else ""


def _content(text: str) -> frozenset[str]:
    """The stems of a text's content words (function words left out), for matching reworded facts."""
    return frozenset(stem(w) for w in (w.lower() for w in words(text)) if w not in FUNCTION_WORDS)


def filled(statement: Statement, choice: str) -> str:
    """The statement's prompt with `choice` in its slot."""
    text = _core(choice)
    if statement.capitalized and text:
        text = text[0].upper() + text[1:]
    a, b = statement.slot
    return statement.prompt[:a] + text + statement.prompt[b:]


def reads_every_question(options: ChannelOptions) -> bool:
    """Whether a mode reads every question in channel: `channel` and `both`'s sum do; `both`'s switch only those
    the training documents verify (direct answers the rest)."""
    return not isinstance(options, BothOptions) or options.rule == "sum"


def channel_questions(question: Question, templates: Templates,
                      limit: int = MAX_STATEMENTS) -> tuple[str, list[Question]]:
    """(form, scorer questions): one single-choice question per (statement, choice), or in the generic form one per
    choice (the choice, then the question's prompt)."""
    found = templates.statements(question, limit)
    if found:
        return TRAINED, [Question(id=f"{question.id}/s{s}/c{c}", prompt=filled(st, choice), choices=[st.completion])
                         for s, st in enumerate(found) for c, choice in enumerate(question.choices)]
    return GENERIC, [Question(id=f"{question.id}/c{c}", prompt=_core(choice), choices=[" " + question.prompt.strip()])
                     for c, choice in enumerate(question.choices)]


def check_served(dataset: str, train: Sequence[Document], questions: Sequence[Question],
                 modes: dict[str, object]) -> None:
    """Refuse, before anything runs, a `channel` or `both` with `generic: false` on questions the training documents
    cannot verify in their own wording (one line, naming the count and a question)."""
    strict = [m for m, o in modes.items() if isinstance(o, ChannelOptions) and not o.generic]
    if not strict:
        return
    templates = Templates(train)
    unserved = [q for q in questions if not templates.statements(q, 1)]  # served: one template at least
    if unserved:
        mode = strict[0]
        raise UserError(f"dataset {dataset!r} cannot serve test-time mode {mode!r} with generic: false: no training "
                        f"document verifies {len(unserved)} of its {len(questions)} questions in its own wording "
                        f"(e.g. {unserved[0].id!r}); allow the generic form (generic: true) or leave {mode} out")


def distinct(asked: Sequence[tuple[str, Question]]) -> tuple[list[tuple[str, Question]], list[int]]:
    """The distinct (context, statement, completion) of `asked`, and where each of `asked` is among them: a choice
    verified in the same statement by several questions (the templates of one fact ask with the same choices) is
    scored once."""
    index: dict[tuple[str, str, tuple[str, ...]], int] = {}
    once: list[tuple[str, Question]] = []
    where = []
    for context, q in asked:
        key = (context, q.prompt, tuple(q.choices))
        if key not in index:
            index[key] = len(once)
            once.append((context, q))
        where.append(index[key])
    return once, where


def score_channel(job: Job, exposure: Exposure, questions: Sequence[Question], options: ChannelOptions,
                  templates: Templates | None = None) -> list[ModeScore]:
    """Each question's choices scored by their verification statements, after the context the exposure gives the
    question itself (so an ICL cell reads the same documents as in `direct`). `templates`: the training documents'
    (made here if not given)."""
    if not questions:
        return []
    templates = templates or Templates(job.dataset.train)
    plans = [channel_questions(q, templates, options.max_statements) for q in questions]
    asked = [(context_of(exposure, q), sq) for q, (_, verifying) in zip(questions, plans) for sq in verifying]
    once, where = distinct(asked)
    scored = score_in_contexts(job, exposure, once)
    scores = (scored[k] for k in where)
    rows = {i: [next(scores) for _ in verifying] for i, (_, verifying) in enumerate(plans)}
    return [_channel_score(q, form, rows[i]) for i, (q, (form, _)) in enumerate(zip(questions, plans))]


def _channel_score(question: Question, form: str, rows: list[QuestionScore]) -> ModeScore:
    """A question's channel score from its statements' rows (statement-major, one row a choice)."""
    n = len(question.choices)
    per_statement = len(rows) // n

    def mean(values) -> list[float]:
        return [sum(values(rows[s * n + c]) for s in range(per_statement)) / per_statement for c in range(n)]

    calibration = mean(lambda r: r.calibration[0]) if rows[0].calibration is not None else None
    score = QuestionScore(question.id, mean(lambda r: r.logprobs[0]), [rows[c].n_tokens[0] for c in range(n)],
                          [rows[c].n_chars[0] for c in range(n)], rows[0].context_tokens, calibration)
    return ModeScore(score, form, per_statement if form == TRAINED else 0)


def _log_softmax(xs: Sequence[float]) -> list[float]:
    top = max(xs)
    total = top + math.log(sum(math.exp(x - top) for x in xs))
    return [x - total for x in xs]


def combined(direct: QuestionScore, channel: QuestionScore, normalization: str, weight: float) -> list[float]:
    """`both`'s per-choice score under a normalization: the two modes' log-probabilities over the choices, channel's
    weighted (weight 1: the product of the two posteriors)."""
    return [a + weight * b for a, b in zip(_log_softmax(direct.normalized(normalization)),
                                           _log_softmax(channel.normalized(normalization)))]


def score_both(direct: Sequence[QuestionScore | None], channel: Sequence[ModeScore | None], options: BothOptions,
               normalizations: Sequence[str]) -> list[ModeScore]:
    """`both` from the two modes' scores of the same questions (`BothOptions.rule`): logprobs under `sum`, and a
    prediction per normalization (`extra["scores"]`). The switch takes the chosen mode's score whole; it reads no
    direct score of a question channel verifies, and no channel score (None) of one it cannot."""
    norms = [n for n in dict.fromkeys([*normalizations, "sum"]) if n in NORMALIZATIONS]
    out = []
    for d, c in zip(direct, channel):
        if options.rule == "switch":
            verified = c is not None and c.form == TRAINED
            chosen = c.score if verified else d
            per_norm = {n: chosen.normalized(n) for n in norms}
            form, statements = (c.form, c.statements) if verified else (GENERIC, 0)
        else:
            chosen, form, statements = d, c.form, c.statements
            per_norm = {n: combined(d, c.score, n, options.weight) for n in norms}
        out.append(ModeScore(QuestionScore(chosen.id, per_norm["sum"], chosen.n_tokens, chosen.n_chars,
                                           chosen.context_tokens, chosen.calibration), form, statements,
                             {"scores": {n: v for n, v in per_norm.items() if n in normalizations}}))
    return out
