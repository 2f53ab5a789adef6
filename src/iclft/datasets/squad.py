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


def passage_params(held: int, validating: int) -> type[BaseModel]:
    """The params of a packaged passages dataset, with its defaults: `held` passages held aside, `validating` trained
    passages whose questions are validation."""

    class Params(BaseModel):
        model_config = ConfigDict(extra="forbid")
        heldaside: int = Field(held, ge=0, description="passages not trained: their questions check forgetting")
        validation_documents: int = Field(validating, ge=0, description="trained passages whose questions go to "
                                                                        "validation")
        choices: int = Field(N_CHOICES, ge=2, description="choices per question (the answer + distractors)")

    return Params


Params = passage_params(held=8, validating=4)


def passages_file(name: str = "passages.json"):
    """A packaged SEAL/SPA-layout file of data/squad."""
    return resources.files("iclft.datasets").joinpath(f"data/squad/{name}")


def build_from(file: str, name: str, seed: int, params: BaseModel) -> Dataset:
    """Import a packaged passages file as the dataset `name`."""
    with resources.as_file(passages_file(file)) as path:
        ds = import_qa(path, seed=seed, validation_documents=params.validation_documents,
                       heldaside=params.heldaside, n_choices=params.choices)
    ds.name = name
    ds.meta.pop("params", None)  # the registry records this builder's params
    return ds


def build(seed: int, params: BaseModel) -> Dataset:
    return build_from("passages.json", "squad", seed, params)
