"""The "knowledge" dataset layout shared by `iclft data import-qa` and `iclft data probes`: a user's documents
(train.jsonl, text exactly as given, facts = [document id]) and questions about them (facts = [source id]).

`assemble` splits the documents, seeded: `heldaside` documents are not trained (their questions go to test.jsonl
as split "heldaside", a CONTROL for knowledge the base model may already have; their texts are kept in
meta["heldaside_documents"]); `validation_documents` trained documents have their questions in validation.jsonl;
every other document's questions go to test.jsonl with the split they were made with.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from iclft.datasets.schema import FORGETTING_SPLIT, Dataset, Document, Question
from iclft.errors import UserError


@dataclass(frozen=True)
class Item:
    """A question before it gets its id and place: the document it is about, its split and the rest."""

    doc_id: str
    split: str
    subtype: str
    prompt: str
    choices: list[str]
    answer: int


def assemble(name: str, documents: Sequence[Document], items: Sequence[Item], seed: int, validation_documents: int,
             heldaside: int, meta: dict[str, Any]) -> Dataset:
    """The dataset of `documents` and `items` (see the module docstring); `meta` is completed and kept."""
    asked = sorted({it.doc_id for it in items}, key=[d.id for d in documents].index)
    if heldaside + validation_documents >= len(asked):
        raise UserError(f"--heldaside {heldaside} and --validation-documents {validation_documents} leave no test "
                        f"document ({len(asked)} documents have questions)")
    rng = random.Random(f"knowledge:{seed}")
    held = set(rng.sample(asked, heldaside))
    valid = set(rng.sample([d for d in asked if d not in held], validation_documents))
    test: list[Question] = []
    validation: list[Question] = []
    counters: dict[str, int] = {}
    for it in items:
        split = FORGETTING_SPLIT if it.doc_id in held else it.split
        n = counters[split] = counters.get(split, 0) + 1
        q = Question(id=f"{split}-{n:04d}", prompt=it.prompt, choices=it.choices, answer=it.answer, split=split,
                     subtype=it.subtype, facts=[it.doc_id])
        (validation if it.doc_id in valid else test).append(q)
    train = [Document(id=d.id, text=d.text, facts=[d.id]) for d in documents if d.id not in held]
    meta = {**meta, "kind": "knowledge", "seed": seed,
            "validation_documents": [d for d in asked if d in valid]}
    if held:
        meta["forgetting_split"] = FORGETTING_SPLIT
        meta["heldaside_documents"] = {d.id: d.text for d in documents if d.id in held}
    return Dataset(name=name, train=train, test=test, validation=validation, meta=meta)
