"""The semantic-structure benchmark (Lampinen et al. 2025, dataset 4): a category hierarchy in nonsense words.

Build: read the English hierarchy (hierarchy.yaml: ~110 animal, plant and object categories with
properties and relations), keep all of it or (scale < 1 / n_categories) whole root-to-leaf paths of it,
hold out a few leaf categories, replace every content word with a nonsense word, write articles and QA
examples stating the given facts, then questions in four splits (see questions.py), dealt disjointly
into test and validation. The checker proves every question sound before anything is returned.

meta.json carries "gloss" (nonsense word -> English, for debugging only: no English content word
reaches train or test text), "world" (the given facts as triples, the relations' wordings and the
word kinds: `World.load(folder)` reads it back) and "holdout" (the held-out categories).
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field

from iclft.datasets.schema import Dataset
from iclft.datasets.semantic import documents, hierarchy, questions
from iclft.datasets.semantic.questions import check, problems
from iclft.datasets.semantic.world import World

DESCRIPTION = "Semantic structure: ~110-category hierarchy in nonsense words; rephrased/reversal/syllogism/holdout."
VERSION = 1

__all__ = ["DESCRIPTION", "VERSION", "Params", "World", "build", "check", "problems"]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = Field(1.0, gt=0, le=1, description="fraction of the hierarchy's categories to keep")
    n_categories: int | None = Field(None, ge=8, description="categories to keep (overrides scale)")
    documents_per_category: float = Field(20.0, gt=0, description="articles per category (paper: 2,200 / 110)")
    qa_per_category: float = Field(2.0, ge=0, description="QA training examples per category")
    holdout_fraction: float = Field(0.08, ge=0, le=0.5, description="categories held out (only their parent)")
    n_choices: int = Field(4, ge=2, le=8, description="choices per question")
    validation_fraction: float = Field(0.2, ge=0, lt=1, description="items per sub-type that go to validation")
    max_per_subtype: int = Field(200, ge=1, description="items per sub-type in test (and in validation)")
    wordings_per_item: int = Field(1, ge=1, description="templates each item is asked in, where its relation has "
                                   "that many of the item's kind (more test questions, same training)")
    min_sentences: int = Field(4, ge=1, description="shortest article, in sentences")
    max_sentences: int = Field(20, ge=1, description="longest article, in sentences")
    hierarchy: str | None = Field(None, description="a hierarchy YAML file of the packaged file's shape")


def build(seed: int, params: Params) -> Dataset:
    rng = random.Random(f"semantic:{seed}")
    h = hierarchy.load(params.hierarchy)
    n = params.n_categories or round(len(h.parent) * params.scale)
    selected = hierarchy.select(h, max(n, 8), rng)
    held_out_en = hierarchy.holdout(h, selected, max(1, round(len(selected) * params.holdout_fraction)), rng)
    world, gloss = hierarchy.to_nonsense(h, selected, held_out_en, seed)
    english = {v: k for k, v in gloss.items()}
    held_out = [english[c] for c in held_out_en]

    n_topics = len(selected) - len(held_out)
    train = documents.articles(world, held_out, max(n_topics, round(params.documents_per_category * len(selected))), rng,
                               params.min_sentences, max(params.min_sentences, params.max_sentences))
    train += documents.qa_examples(world, held_out, round(params.qa_per_category * n_topics), rng)
    test, validation = questions.build_questions(world, held_out, rng, params.n_choices, params.validation_fraction,
                                                 params.max_per_subtype, params.wordings_per_item)
    check(world, [*test, *validation])
    meta = {"gloss": gloss, "world": world.to_dict(), "holdout": held_out, "vocab": sorted(gloss),
            "categories": len(selected), "facts": len(world.facts)}  # fmt: skip
    return Dataset(name="semantic", train=train, test=test, validation=validation, meta=meta)
