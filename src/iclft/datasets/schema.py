"""The dataset format every iclft dataset shares, with validation and JSONL io.

A dataset is a folder:
    train.jsonl       Documents: {"id", "text", "facts"?, "prompt"?}
    test.jsonl        Questions: {"id", "split", "subtype", "prompt", "choices", "answer", "facts"?, "accepted"?}
    validation.jsonl  optional, same schema as test.jsonl: the questions to tune on (never tune on test)
    meta.json         {"generator", "version", "seed", "params", "counts", ...}
All files are plain JSON lines, so `datasets.load_dataset("json", data_files=...)` reads them too.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iclft.errors import UserError
from iclft.io import read_json, read_models, write_json, write_jsonl

FORMAT_VERSION = 1
# Questions about documents no condition trains on (what the base model may know already): reports show how much of
# what the pretrained model answered there each fine-tuned condition still answers (a forgetting check, a CONTROL).
FORGETTING_SPLIT = "heldaside"


class Document(BaseModel):
    """One training document. `prompt`, when set, is a prefix of `text`: FT puts loss on the rest only."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    facts: list[str] = Field(default_factory=list)
    prompt: str | None = None

    @model_validator(mode="after")
    def _prompt_is_prefix(self) -> Document:
        if self.prompt is not None and not self.text.startswith(self.prompt):
            raise ValueError("prompt must be a prefix of text")
        return self

    @property
    def completion(self) -> str:
        return self.text[len(self.prompt) :] if self.prompt is not None else self.text


class Question(BaseModel):
    """A multiple-choice question; the choices are never shown to the model, only scored as continuations.

    `answer` is the index of the correct choice (optional only for ad-hoc scoring); `accepted` lists any
    other choices that are also correct (e.g. equivalent conclusions of a syllogism).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str = Field(min_length=1)
    prompt: str
    choices: list[str] = Field(min_length=1)
    answer: int | None = None
    split: str = "test"
    subtype: str = ""
    facts: list[str] = Field(default_factory=list)
    accepted: list[int] = Field(default_factory=list)

    @model_validator(mode="after")
    def _indices_in_range(self) -> Question:
        n = len(self.choices)
        if any(not c for c in self.choices):
            raise ValueError("choices must be non-empty strings")
        if self.answer is not None and not 0 <= self.answer < n:
            raise ValueError(f"answer {self.answer} is out of range for {n} choices")
        if any(not 0 <= a < n for a in self.accepted):
            raise ValueError(f"accepted index out of range for {n} choices")
        if self.accepted and self.answer is None:
            raise ValueError("accepted needs answer")
        return self

    @property
    def correct_choices(self) -> frozenset[int]:
        """Every choice index counted correct."""
        return frozenset([] if self.answer is None else [self.answer, *self.accepted])

    def is_correct(self, pred: int) -> bool | None:
        return None if self.answer is None else pred in self.correct_choices


class Dataset(BaseModel):
    """A whole dataset in memory."""

    model_config = ConfigDict(extra="forbid")
    name: str
    train: list[Document]
    test: list[Question]
    validation: list[Question] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)

    def counts(self) -> dict[str, Any]:
        """Counts per file, and per split and sub-type of the questions."""

        def by_split(qs: list[Question]) -> dict[str, dict[str, int]]:
            out: dict[str, dict[str, int]] = {}
            for (split, sub), n in sorted(Counter((q.split, q.subtype) for q in qs).items()):
                out.setdefault(split, {})[sub] = n
            return out

        return {
            "train": len(self.train),
            "test": len(self.test),
            "validation": len(self.validation),
            "test_splits": by_split(self.test),
            "validation_splits": by_split(self.validation),
        }

    def check(self) -> None:
        """Structural checks beyond each row's own validation; raises UserError."""
        if not self.train:
            raise UserError(f"dataset {self.name!r}: train.jsonl has no documents")
        if not self.test:
            raise UserError(f"dataset {self.name!r}: test.jsonl has no questions")
        for label, rows in (("train", self.train), ("test", self.test), ("validation", self.validation)):
            dup = [i for i, n in Counter(r.id for r in rows).items() if n > 1]
            if dup:
                raise UserError(f"dataset {self.name!r}: duplicate id {dup[0]!r} in {label}.jsonl")
        for q in (*self.test, *self.validation):
            if q.answer is None:
                raise UserError(f"dataset {self.name!r}: question {q.id!r} has no answer")

    def save(self, folder: str | Path) -> Path:
        """Write the dataset folder (each file atomically); meta gets the format version and counts."""
        self.check()
        folder = Path(folder)
        write_jsonl(folder / "train.jsonl", self.train)
        write_jsonl(folder / "test.jsonl", self.test)
        if self.validation:
            write_jsonl(folder / "validation.jsonl", self.validation)
        else:
            (folder / "validation.jsonl").unlink(missing_ok=True)
        meta = {"name": self.name, "format_version": FORMAT_VERSION, **self.meta, "counts": self.counts()}
        write_json(folder / "meta.json", meta)
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> Dataset:
        """Read and validate a dataset folder; any problem is one UserError naming file and line."""
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"{folder}: not a dataset folder (no such directory)")
        meta_path = folder / "meta.json"
        meta = read_json(meta_path) if meta_path.exists() else {}
        if not isinstance(meta, dict):
            raise UserError(f"{meta_path}: expected a JSON object")
        valid_path = folder / "validation.jsonl"
        ds = cls(
            name=str(meta.get("name", folder.name)),
            train=read_models(folder / "train.jsonl", Document),
            test=read_models(folder / "test.jsonl", Question),
            validation=read_models(valid_path, Question) if valid_path.exists() else [],
            meta={k: v for k, v in meta.items() if k not in ("name", "counts")},
        )
        ds.check()
        return ds
