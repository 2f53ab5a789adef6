"""`ft_aug_oracle`, a CONTROL (never the method): fine-tuning on the documents plus correct augmentations.

The ceiling of augmentation: what a perfect augmenter could add from the training documents alone. The
dataset's own logic writes the facts the training documents imply but do not state, in training-style
phrasings, as many as the self-augmented conditions add (`count`, or `ratio` x the training documents;
default 2.0: ft_aug_local on the quick study kept 210 sentences for 120 reversal documents and 216 for 96
celebrity documents, ~1.75-2.25x). Each oracle document is one statement (one training example). The union
is fine-tuned with the shared recipe (`finetune.Training`).

What each dataset's oracle writes is defined beside its generator (`oracle_facts` in `iclft.datasets.truth` and
the dataset's `*_truth` module): reversals get each stated fact's converse, syllogisms each item's valid conclusions,
the semantic world the statements inheritance entails, celebrities (generated or an imported release) each
person's untrained direction.

No test leakage: besides the phrasings above, any phrasing that is, or has a sentence that is, the text of a
test or validation question with any of its choices (lower case, spaces and end punctuation aside) is
dropped before dealing. Dealing is round-robin over the facts (seeded order), each round taking the next
phrasing of each fact, so the facts are covered evenly; when every phrasing is used the rounds repeat. Every added
sentence is true in the dataset's world (`iclft.datasets.truth`); the cell's `audit` artifact shows it, as for ft_aug_*.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from iclft.augment.audit import audit
from iclft.cells import Exposure, Job
from iclft.datasets.schema import Dataset, Document
from iclft.datasets.truth import TRUTHS, Variant, generator_of, oracle_facts, sentences
from iclft.errors import UserError
from iclft.framing import DEFAULT_INSTRUCTION, Format
from iclft.learners import Condition
from iclft.learners.finetune import FTOptions, Training

DEFAULT_RATIO = 2.0


class Options(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ft: FTOptions = Field(default_factory=FTOptions, description="fine-tuning options (as for `ft`)")
    count: int | None = Field(None, gt=0, description="oracle documents to add (overrides ratio)")
    ratio: float = Field(DEFAULT_RATIO, gt=0, description="oracle documents per training document")
    seed: int = Field(0, description="added to the cell's seed: order of facts and phrasings")
    format: Format = "plain"
    instruction: str = DEFAULT_INSTRUCTION

    def size(self, dataset: Dataset) -> int:
        return self.count if self.count is not None else max(1, round(self.ratio * len(dataset.train)))


def _facts(ds: Dataset) -> list[list[Variant]]:
    """The dataset's oracle facts (`iclft.datasets.truth`), or a one-line error naming why it has none."""
    facts = oracle_facts(ds)
    if facts is None:
        known = ", ".join(TRUTHS)
        stale = ": no world in its meta.json, rebuild or re-import it" if generator_of(ds) in TRUTHS else ""
        raise UserError(f"ft_aug_oracle: no oracle for dataset {ds.name!r} (generator {generator_of(ds) or 'unknown'}"
                        f"{stale}); it needs one of {known} built by iclft (restrict the condition with datasets: [...])")
    return facts


def plain(text: str) -> str:
    """Lower case, single spaces, no end punctuation (a preamble such as "The relationships between ... are:"
    is kept: it is part of a question's text)."""
    return " ".join(text.lower().split()).rstrip(".!;")


def question_statements(ds: Dataset) -> set[str]:
    """Every test and validation question's text (its prompt + each choice), `plain`."""
    return {plain(q.prompt + c) for q in (*ds.test, *ds.validation) for c in q.choices}


def states_a_question(text: str, banned: set[str]) -> bool:
    """Whether a text, or one of its sentences, is a question's text."""
    return any(plain(s) in banned for s in [text, *sentences(text)])


def phrasings(ds: Dataset) -> list[list[Variant]]:
    """Per implied fact, its training-style phrasings that state no test or validation question."""
    banned = question_statements(ds)
    facts = [[v for v in vs if not states_a_question(v[1], banned)]
             for vs in _facts(ds)]
    return [vs for vs in facts if vs]


def _deal(facts: list[list[Variant]], rng: random.Random) -> Iterator[Variant]:
    order = [rng.sample(vs, len(vs)) for vs in facts]
    rng.shuffle(order)
    for r in itertools.count():
        for vs in order:
            yield vs[r % len(vs)]


def oracle_documents(ds: Dataset, n: int, seed: int) -> list[Document]:
    """n oracle documents for a dataset (deterministic for a seed); UserError if it has none."""
    facts = phrasings(ds)
    if not facts:
        raise UserError(f"ft_aug_oracle: dataset {ds.name!r} implies no fact its training documents do not state")
    rng = random.Random(f"oracle:{ds.name}:{seed}")
    return [Document(id=f"oracle/{i:05d}", text=text, prompt=prompt)
            for i, (prompt, text) in enumerate(itertools.islice(_deal(facts, rng), n))]


@dataclass
class OracleTraining(Training):
    """Fine-tuning on the documents plus the oracle's; the added documents are stored and audited."""

    added: list[Document] = field(default_factory=list)

    def expose(self, job: Job) -> Exposure:
        exposure = super().expose(job)
        exposure.artifacts["augmented"] = [{"id": d.id, "text": d.text, "source": "oracle"} for d in self.added]
        exposure.artifacts["audit"] = audit(job.dataset, exposure.artifacts["augmented"], examples=3)
        return exposure


def plan(job: Job, opts: Options) -> OracleTraining:
    added = oracle_documents(job.dataset, opts.size(job.dataset), opts.seed + job.seed)
    info = {"control": True, "oracle_documents": len(added), "original_documents": len(job.dataset.train),
            "oracle_facts": len(phrasings(job.dataset))}
    return OracleTraining(job, list(job.dataset.train) + added, opts.ft, opts.format, opts.instruction, info, added)


CONDITION = Condition(
    name="ft_aug_oracle",
    description="CONTROL, not the method: fine-tune on the documents plus correct restatements and inferences "
                "written by the dataset's own logic (the ceiling of augmentation; reversals, syllogisms, "
                "semantic, celebrities)",
    options=Options,
    plan=plan,
    trains=True,
    control=True,
)
