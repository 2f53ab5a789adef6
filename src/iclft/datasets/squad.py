"""The knowledge-injection example: 40 SQuAD v1.1 passages with their questions (CC BY-SA 4.0; data/squad/README.md).

Imported exactly as `iclft data import-qa data/squad/passages.json` would (`iclft.datasets.qa_import`): each passage a
training document, each question a 4-way choice among answers of its kind from the other passages; `heldaside`
passages are not trained (their questions are the forgetting CONTROL), `validation_documents` passages are trained
but their questions go to validation (tune there, never on test).
"""

from __future__ import annotations

from importlib import resources

from pydantic import BaseModel, ConfigDict, Field

from iclft.datasets.qa_import import N_CHOICES, import_qa
from iclft.datasets.schema import Dataset

DESCRIPTION = "Knowledge injection: 40 SQuAD passages (CC BY-SA 4.0) with 190 questions; 4-way choice."
VERSION = 1


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    heldaside: int = Field(8, ge=0, description="passages not trained: their questions check forgetting")
    validation_documents: int = Field(4, ge=0, description="trained passages whose questions go to validation")
    choices: int = Field(N_CHOICES, ge=2, description="choices per question (the answer + distractors)")


def passages_file():
    """The packaged SEAL/SPA-layout file."""
    return resources.files("iclft.datasets").joinpath("data/squad/passages.json")


def build(seed: int, params: Params) -> Dataset:
    with resources.as_file(passages_file()) as path:
        ds = import_qa(path, seed=seed, validation_documents=params.validation_documents,
                       heldaside=params.heldaside, n_choices=params.choices)
    ds.name = "squad"
    ds.meta.pop("params", None)  # the registry records this builder's params
    return ds
