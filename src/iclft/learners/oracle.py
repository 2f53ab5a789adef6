"""`ft_aug_oracle`, a CONTROL (never the method): fine-tuning on the documents plus correct augmentations.

The ceiling of augmentation: what a perfect augmenter could add from the training documents alone. The
dataset's own logic writes the facts the training documents imply but do not state, in training-style
phrasings, as many as the self-augmented conditions add (`count`, or `ratio` x the training documents;
default 2.0: ft_aug_local on the quick study kept 210 sentences for 120 reversal documents and 216 for 96
celebrity documents, ~1.75-2.25x). Each oracle document is one statement (one training example). The union
is fine-tuned with the shared recipe (`finetune.prepare_finetuned`).

    reversals    each stated fact's converse, "The glon are less dangerous than the femp." (the dataset writes
                 bare nouns: "glon are ..." would be a test statement; lead-ins are left out: each is a
                 training example of its own under sentence splitting, and says nothing)
    syllogisms   each item's valid conclusions linking its outer terms, "The relationships between a, b and
                 c are: All a are c." (three terms, as training items; test prompts name two)
    semantic     every statement the world entails through inheritance (1+ isa steps: the syllogism and
                 category-holdout facts) in a forward (training) wording; object-first (reversal) wordings
                 are test-only templates, so reversals are not added
    celebrities  each person's untrained direction: p2d people get description -> name rows, d2p people
                 name -> description rows, written with the training paraphrase templates (prompt +
                 completion, as training rows; test templates are disjoint); the both group has both already

No test leakage: besides the phrasings above, any phrasing that is, or has a sentence that is, the text of a
test or validation question with any of its choices (lower case, spaces and end punctuation aside) is
dropped before dealing. Dealing is round-robin over the facts (seeded order), each round taking the next
phrasing of each fact, so the facts are covered evenly; when every phrasing is used the rounds repeat. Every added sentence is true in the
dataset's world (`augment.worlds`); the cell's `audit` artifact shows it, as for ft_aug_*.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field

from iclft import precision
from iclft.augment.audit import audit
from iclft.augment.worlds import ReversalLogic, SyllogismLogic, logic_for, sentences
from iclft.datasets.schema import Dataset, Document
from iclft.errors import UserError
from iclft.learners import Condition, Estimate, Job
from iclft.learners.finetune import FTOptions, prepare_finetuned, train_size
from iclft.learners.prompting import DEFAULT_INSTRUCTION, Format

DEFAULT_RATIO = 2.0
Variant = tuple[str | None, str]  # (prompt or None, text): a Document's prompt and text


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


# ---------------------------------------------------------------- facts per dataset: phrasings of each


def _reversals(ds: Dataset) -> list[list[Variant]]:
    logic = logic_for(ds)
    assert isinstance(logic, ReversalLogic)
    comparative = {(f, pol): c for c, (f, pol) in logic.comparatives.items()}
    stated = dict.fromkeys(st for d in ds.train for s in sentences(d.text) if (st := logic.parse(s)) is not None)
    out = []
    for x, f, pol, y in stated:  # type: ignore[misc]
        if (y, f, -pol, x) in stated:
            continue  # both directions trained
        out.append([(None, f"The {y} are {comparative[(f, -pol)]} than the {x}.")])
    return out


def _syllogisms(ds: Dataset) -> list[list[Variant]]:
    from iclft.datasets.syllogisms import sentence, valid_conclusions

    logic = logic_for(ds)
    assert isinstance(logic, SyllogismLogic)
    out = []
    for premises in logic.items:
        terms = sorted({t for p in premises for t in p[1:]})
        counts = {t: sum(t in p[1:] for p in premises) for t in terms}
        s, p = [t for t in terms if counts[t] == 1] or terms[:2]
        valid = valid_conclusions(premises, s, p, logic.existential_import)
        out.append([(None, f"The relationships between {a}, {b} and {c} are: {sentence(v)}")
                    for v in valid for a, b, c in itertools.permutations(terms)])
    return out


def _semantic(ds: Dataset) -> list[list[Variant]]:
    from iclft.datasets.semantic.world import World

    world = World.from_dict(ds.meta["world"])
    out = []
    for c in world.categories:
        for s, r, o in world.entailed(c):
            if world.steps(s, r, o) >= 1:
                rel = world.relations[r]
                out.append([(None, rel.render(t, s, o) + ".") for t in rel.forward])
    return out


def _celebrities(ds: Dataset) -> list[list[Variant]]:
    from iclft.datasets import celebrities

    people = celebrities.people_of(ds.meta)
    if not people:
        raise UserError(f"ft_aug_oracle: dataset {ds.name!r} was not built by the celebrities generator "
                        f"(an imported layout): its people's descriptions are unknown")
    t = celebrities.templates()
    out = []
    for group, person in people.values():
        if group == "p2d":
            rows = [celebrities.d2p_text(person, tpl) for tpl in t["d2p_train"]]
        elif group == "d2p":
            rows = [celebrities.p2d_text(person, tpl) for tpl in t["p2d_train"]]
        else:
            continue
        out.append([(prompt, prompt + completion) for prompt, completion in rows])
    return out


FACTS = {"reversals": _reversals, "syllogisms": _syllogisms, "semantic": _semantic, "celebrities": _celebrities}


def _generator(ds: Dataset) -> str:
    name = str(ds.meta.get("generator", "")).rsplit(".", 1)[-1]
    if name not in FACTS or (name == "semantic" and "world" not in ds.meta):
        raise UserError(f"ft_aug_oracle: no oracle for dataset {ds.name!r} (generator {name or 'unknown'}); "
                        f"it needs one of {', '.join(FACTS)} built by iclft (restrict the condition with datasets: [...])")
    return name


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
             for vs in FACTS[_generator(ds)](ds)]
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


def _documents(job: Job, opts: Options) -> list[Document]:
    return oracle_documents(job.dataset, opts.size(job.dataset), opts.seed + job.seed)


def prepare(job: Job, opts: Options):
    added = _documents(job, opts)
    info = {"control": True, "oracle_documents": len(added), "original_documents": len(job.dataset.train),
            "oracle_facts": len(phrasings(job.dataset))}
    prepared = prepare_finetuned(job, list(job.dataset.train) + added, opts.ft, opts.format, opts.instruction,
                                 info=info)
    prepared.artifacts["augmented"] = [{"id": d.id, "text": d.text, "source": "oracle"} for d in added]
    prepared.artifacts["audit"] = audit(job.dataset, prepared.artifacts["augmented"], examples=3)
    return prepared


def estimate(job: Job, opts: Options) -> Estimate:
    from iclft.learners import tokens

    added = _documents(job, opts)
    _, steps, train = train_size(job.model, list(job.dataset.train) + added, opts.ft)
    score = tokens.question_tokens(tokens.tokenizer(job.model), job.questions)
    return Estimate(train_tokens=train, train_steps=steps, score_tokens=score,
                    precision=precision.resolve(opts.ft.precision, job.device))


CONDITION = Condition(
    name="ft_aug_oracle",
    description="CONTROL, not the method: fine-tune on the documents plus correct restatements and inferences "
                "written by the dataset's own logic (the ceiling of augmentation; reversals, syllogisms, "
                "semantic, celebrities)",
    options=Options,
    prepare=prepare,
    estimate=estimate,
    trains=True,
    control=True,
)
