"""Ground truth of the synthetic datasets: their world models and the facts their training data implies.

Only controls and measurements read it: the `ft_aug_oracle` control (oracle facts), the `verified`
augmentation filter (a control: it keeps what the world judges true) and the augmentation audit (a report, never
training data). `tests/test_truth_boundary.py` checks that nothing else imports it, so no method can use answers.

Each dataset's truth lives beside its generator (`reversals_truth`, `syllogisms_truth`, `celebrities_truth`,
`semantic/truth`; an imported reversal-curse release: `reversal_curse_truth`) and exposes
    logic(dataset) -> Logic | None           parse a sentence into a statement of the world and judge it
    oracle_facts(dataset) -> [[Variant]]     per fact the training documents imply but do not state, its
                                             training-style phrasings (prompt or None, text)
A `Logic` parses a sentence into a statement (None: not a statement of that world, e.g. a lead-in sentence or
words outside its vocabulary), judges it ("true" | "false" | "unverifiable") and decides whether a set of
statements alone entails another. Other datasets (derivatoids, a user's corpus)
have no world model (`logic_for` returns None).

`world_judge(dataset)` wraps the logic into one function, sentence -> "true" | "false" | "unverifiable" |
"unparsed" (None when the dataset has no world model): what the audit records for each sentence.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Hashable, Iterable
from typing import Literal, Protocol

from iclft.datasets.schema import Dataset

Verdict = Literal["true", "false", "unverifiable"]
Judgement = Literal["true", "false", "unverifiable", "unparsed"]
Statement = Hashable
Variant = tuple[str | None, str]  # (prompt or None, text): a Document's prompt and text

TRUTHS: dict[str, str] = {
    "reversals": "iclft.datasets.reversals_truth",
    "syllogisms": "iclft.datasets.syllogisms_truth",
    "celebrities": "iclft.datasets.celebrities_truth",
    "semantic": "iclft.datasets.semantic.truth",
    "import_layout": "iclft.datasets.reversal_curse_truth",  # an imported Berglund et al. release
}

_MARKER = re.compile(r"^(?:[-*\u2022]\s*|\d+[.)]\s+|a:\s*|answer:\s*)")
_PREFIX = re.compile(r"^the relationships? between .*? (?:are|is):\s*")
# reasoning-trace lead-ins before a plain statement ("This document says that X are Y.")
_LEAD = re.compile(r"^(?:(?:so|therefore|thus|hence|and|also),?\s+)?(?:(?:this|the) (?:document|text|article) "
                   r"(?:says|states|tells us|shows)|i (?:learned|know)|we (?:learn|know)|it follows|this means) that\s+")


def sentences(text: str) -> list[str]:
    """Sentences split at every line break and every . ! ? before whitespace (no abbreviation guessing:
    statements of these worlds never contain one, and each statement is judged on its own)."""
    return [s for s in (" ".join(p.split()) for p in re.split(r"(?<=[.!?])\s+|\s*\n\s*", text)) if s]


def normalize(sentence: str) -> str:
    """Lower case, single spaces, no list marker / 'A:' / syllogism preamble / reasoning lead-in ("this
    document says that", "so", "I learned that"), no end punctuation."""
    text = " ".join(sentence.lower().split())
    text = _MARKER.sub("", text)
    return _LEAD.sub("", _PREFIX.sub("", text)).rstrip(".!;").strip()


class Logic(Protocol):
    name: str

    def parse(self, sentence: str) -> Statement | None: ...

    def verdict(self, statement: Statement) -> Verdict: ...

    def entailed_by(self, premises: Iterable[Statement], target: Statement) -> bool: ...


def generator_of(dataset: Dataset) -> str:
    """The short name of the builder that made a dataset ('' when unknown)."""
    return str(dataset.meta.get("generator", "")).rsplit(".", 1)[-1]


def _truth(dataset: Dataset):
    name = generator_of(dataset)
    return importlib.import_module(TRUTHS[name]) if name in TRUTHS else None


def logic_for(dataset: Dataset) -> Logic | None:
    """The world model of a built synthetic dataset (from its meta and training data), or None."""
    truth = _truth(dataset)
    return truth.logic(dataset) if truth is not None else None


def oracle_facts(dataset: Dataset) -> list[list[Variant]] | None:
    """Per fact the training documents imply but do not state, its training-style phrasings; None when the
    dataset has no world to derive them from."""
    truth = _truth(dataset)
    return truth.oracle_facts(dataset) if truth is not None and truth.logic(dataset) is not None else None


def units(logic: Logic | None, text: str) -> list[str]:
    """A text's sentences as the world judges them (its logic's own splitter when it has one)."""
    split = getattr(logic, "sentences", None)
    return split(text) if split else sentences(text)


def judge_sentence(logic: Logic, sentence: str) -> tuple[Judgement, Statement | None]:
    """(verdict, statement) of one sentence; "unparsed" when it is no statement of the world."""
    st = logic.parse(sentence)
    return ("unparsed", None) if st is None else (logic.verdict(st), st)


def world_judge(dataset: Dataset) -> Callable[[str], Judgement] | None:
    """sentence -> "true" | "false" | "unverifiable" | "unparsed" in the dataset's world (None: no world model).
    Built once per dataset (parsing the training data); each call judges one sentence."""
    logic = logic_for(dataset)
    if logic is None:
        return None

    def judge(sentence: str) -> Judgement:
        return judge_sentence(logic, sentence)[0]

    return judge
