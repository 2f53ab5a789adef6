"""The knowledge example's tuning world: 27 other SQuAD v1.1 passages with their 157 questions (CC BY-SA 4.0;
data/squad/README.md), for choosing a recipe without reading a question of the example (`squad`).

None of its passages is one of the example's 40; they are the last 27 of the shipped placebo corpus
(`iclft:squad-placebo`), whose first 27, another 27 passages, are then this world's own placebo corpus (a placebo
takes a corpus's first documents, as many as the study trains on). Every question is asked (no validation or
held-aside passages by default): the whole world is validation for the example. configs/tuning/knowledge-recipes.yaml
searches recipes on it.
"""

from __future__ import annotations

from pydantic import BaseModel

from iclft.datasets.schema import Dataset
from iclft.datasets.squad import build_from, passage_params

DESCRIPTION = "Tuning world for the knowledge example: 27 other SQuAD passages (CC BY-SA 4.0), 157 questions."
VERSION = 1
Params = passage_params(held=0, validating=0)


def build(seed: int, params: BaseModel) -> Dataset:
    return build_from("tuning.json", "squad_tuning", seed, params)
