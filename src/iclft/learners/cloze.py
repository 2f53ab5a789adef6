"""`ft_aug_cloze`: fine-tune on the documents plus fill-in-the-blank questions written from them by rules (no model).

For each training document, its sentences' names, numbers and dates (the probe generator's spans,
`iclft.datasets.probes`) are blanked one at a time and asked as

    Question: Which date fills the blank? "Luther had published his German translation of the New Testament in ___, ..."
    Answer: 1522

one prompt/completion example each (loss on the answer only), at most `per_document` a document, spread over its
sentences (seeded). It practises recalling a document's facts in question-answer form, the form the test asks
in, without a generator: zero generated tokens, so it costs only the extra training steps. The documents alone
decide the questions; none is a test or validation question's text (`oracle.states_a_question`; a probe dataset's
`reversed` split asks in this very form, and those questions are dropped).

`documents: PATH` writes the questions from other documents instead (`corpus.placebo_documents`: as many as the
training documents; `iclft:squad-placebo` is shipped): a PLACEBO, a control, with the same form and about as many
questions but none of the training documents' facts. What the recipe gains over it is knowledge; what the placebo
gains over plain FT is the question-answer form (docs/knowledge.md measures both).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from iclft import tokens
from iclft.augment.diversity import measure
from iclft.cells import Exposure, Job
from iclft.datasets.corpus import placebo_documents
from iclft.datasets.probes import blank_question, known_names, spans, usable
from iclft.datasets.schema import Dataset, Document
from iclft.framing import DEFAULT_INSTRUCTION, Format
from iclft.learners import Condition
from iclft.learners.finetune import FTOptions, Training
from iclft.learners.oracle import question_statements, states_a_question
from iclft.text import split_sentences

DEFAULT_PER_DOCUMENT = 6


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ft: FTOptions = Field(default_factory=FTOptions, description="fine-tuning options (as for `ft`)")
    per_document: int = Field(DEFAULT_PER_DOCUMENT, ge=1, description="questions at most per document")
    budget: float | None = Field(None, gt=0, description="instead of per_document: questions per document up to "
                                 "this multiple of the training documents' mean tokens (recipes matched by tokens)")
    documents: str | None = Field(None, description="write the questions from these documents instead (a folder "
                                  "of .txt/.md, a JSONL, or iclft:squad-placebo): the PLACEBO, a control, the question "
                                  "form without the training documents' facts")
    seed: int = Field(0, description="added to the cell's seed: which spans are asked")
    format: Format = "plain"
    instruction: str = DEFAULT_INSTRUCTION

    def resolved(self, device: str | None) -> Options:
        return self.model_copy(update={"ft": self.ft.resolved(device)})


def document_questions(doc: Document) -> list[list[tuple[str, str]]]:
    """Per usable sentence of a document, (prompt, answer) for each of its spans that can be blanked."""
    known = known_names(doc.text)
    out = []
    for sentence in split_sentences(doc.text):
        if usable(sentence):
            asked = [blank_question(sentence, s) for s in spans(sentence, known)]
            if asked := [a for a in asked if a is not None]:
                out.append(asked)
    return out


def cloze_documents(ds: Dataset, per_document: int, seed: int, source: Sequence[Document] | None = None,
                    tokens: tuple[Any, int] | None = None) -> list[Document]:
    """At most `per_document` questions per training document (or per `source` document), round-robin over its
    sentences (seeded order); none is the text of one of `ds`'s questions. `tokens` (tokenizer, budget): instead,
    the questions that fit in `budget` tokens a document (at least one)."""
    banned = question_statements(ds)
    added = []
    for doc in ds.train if source is None else source:
        rng = random.Random(f"cloze:{doc.id}:{seed}")
        per_sentence = [rng.sample(qs, len(qs)) for qs in document_questions(doc)]
        dealt = [qs[r] for r in range(max(map(len, per_sentence), default=0)) for qs in per_sentence if r < len(qs)]
        kept = [(p, a) for p, a in dealt if not states_a_question(f"{p} {a}", banned)]
        kept = kept[:per_document] if tokens is None else _within(kept, *tokens)
        added += [Document(id=f"cloze/{doc.id}/{i}", text=f"{p} {a}", prompt=p, facts=doc.facts)
                  for i, (p, a) in enumerate(kept)]
    return added


def _within(asked: list[tuple[str, str]], tok: Any, budget: int) -> list[tuple[str, str]]:
    """The leading questions whose tokens fit in `budget` (the first always)."""
    out, spent = [], 0
    for (p, a), n in zip(asked, tokens.count(tok, [f"{p} {a}" for p, a in asked])):
        if out and spent + n > budget:
            break
        out.append((p, a))
        spent += n
    return out


@dataclass
class ClozeTraining(Training):
    """Fine-tuning on the documents plus the questions; the questions are stored as the `augmented` artifact (each
    with the document it was written from) and measured (`augment.diversity`: the report's generated corpus)."""

    written_from: list[Document] = field(default_factory=list)
    added: list[Document] = field(default_factory=list)

    def expose(self, job: Job) -> Exposure:
        exposure = super().expose(job)
        rows = [{"id": d.id, "text": d.text, "source": d.id.removeprefix("cloze/").rpartition("/")[0]}
                for d in self.added]
        exposure.artifacts["augmented"] = rows
        exposure.artifacts["corpus"] = measure(rows, {d.id: d.text for d in self.written_from})
        return exposure


def plan(job: Job, opts: Options) -> ClozeTraining:
    source = placebo_documents(opts.documents, job.dataset.train) if opts.documents else None
    budget = None if opts.budget is None else (
        tokens.tokenizer(job.model), tokens.budget_tokens(job.model, [d.text for d in job.dataset.train], opts.budget))
    added = cloze_documents(job.dataset, opts.per_document, opts.seed + job.seed, source, budget)
    info = {"cloze_questions": len(added), "original_documents": len(job.dataset.train),
            **({"placebo_documents": len(source)} if source is not None else {})}
    return ClozeTraining(job, [*job.dataset.train, *added], opts.ft, opts.format, opts.instruction, info,
                         list(job.dataset.train if source is None else source), added)


CONDITION = Condition(
    name="ft_aug_cloze",
    description="fine-tune on the documents plus fill-in-the-blank questions about their names, numbers and dates, "
                "written by rules (no model)",
    options=Options,
    plan=plan,
    trains=True,
)
