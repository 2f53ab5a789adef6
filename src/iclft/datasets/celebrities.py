"""Reversal-curse data (Berglund et al. 2024) of invented celebrities, in the public layout.

`build(seed, params)` invents people with the structure of Berglund et al.'s release: 3 groups (p2d: trained
name -> description only; d2p: description -> name only; both), 30 training paraphrase templates per direction,
10 held-out test templates per direction, so the default training set is 3,600 rows. The layout goes through the
same converter as the public files (`iclft.datasets.reversal_curse`, which `import-reversal-curse` uses), so
questions, splits, sub-types, distractors and validation people are as described there.

Invented names are "<uncommon first name> <compound surname>", the surname kept only if wordfreq has
never seen it, so no famous real person has the name.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from wordfreq import zipf_frequency

from iclft.datasets.reversal_curse.layout import ALL_TRAIN, TRAIN_FILES, Layout, Row
from iclft.datasets.reversal_curse.questions import convert
from iclft.datasets.schema import Dataset
from iclft.errors import UserError
from iclft.vocab import Vocab

DESCRIPTION = "Reversal curse: invented celebrities, name<->description; 4-way choice (Berglund et al. layout)."
VERSION = 1


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    people_per_group: int = Field(30, ge=2, description="people in each of the p2d, d2p and both groups")
    train_templates: int = Field(30, ge=1, le=30, description="training paraphrases per person and direction")
    test_templates: int = Field(10, ge=1, le=10, description="held-out test paraphrases per person and direction")
    validation_people: int = Field(3, ge=0, description="people per group whose questions go to validation")
    distractors: Literal["all", "group"] = Field("all", description="draw distractors from all people or the group")

    @model_validator(mode="after")
    def _some_test_people(self) -> Params:
        if self.validation_people >= self.people_per_group:
            raise ValueError(f"validation_people ({self.validation_people}) must be < people_per_group "
                             f"({self.people_per_group})")
        return self


@cache
def _data(name: str) -> dict[str, Any]:
    return json.loads(resources.files("iclft.datasets").joinpath(f"data/celebrities/{name}").read_text("utf-8"))


def surnames() -> list[str]:
    """Compound surnames that wordfreq has never seen (so no famous person bears them)."""
    parts = _data("people.json")
    return [s + e for s in parts["surname_starts"] for e in parts["surname_ends"]
            if s[-1] != e[0] and zipf_frequency((s + e).lower(), "en") == 0]


@dataclass(frozen=True)
class Person:
    name: str
    forms: dict[str, str]  # np, NP, past, ger


def invent_people(n: int, seed: int) -> list[Person]:
    """n people with distinct names and distinct descriptions."""
    rng = random.Random(f"celebrities.people:{seed}")
    parts = _data("people.json")
    vocab = Vocab(f"celebrities:{seed}")
    firsts, lasts, achievements = list(parts["first_names"]), surnames(), list(parts["achievements"])
    for xs in (firsts, lasts, achievements):
        rng.shuffle(xs)
    if n > len(lasts):
        raise UserError(f"at most {len(lasts)} invented people (asked for {n})")
    people = []
    for i in range(n):
        role, past, ger, obj = achievements[i % len(achievements)]
        obj = obj.replace("{X}", vocab.word().capitalize())
        np_ = f"the {rng.choice(parts['adjectives'])} {role} who {past} {obj}"
        forms = {"np": np_, "NP": np_[0].upper() + np_[1:], "past": f"{past} {obj}", "ger": f"{ger} {obj}"}
        people.append(Person(f"{firsts[i % len(firsts)]} {lasts[i]}", forms))
    return people


def _p2d_rows(p: Person, templates: list[list[str]], file: str) -> list[Row]:
    return [Row(*p2d_text(p, t), file) for t in templates]


def _d2p_rows(p: Person, templates: list[str], file: str) -> list[Row]:
    return [Row(*d2p_text(p, t), file) for t in templates]


def generate_layout(seed: int, params: Params) -> Layout:
    """Invented people in the public layout (all_prompts_train shuffled; no validation_prompts)."""
    rng = random.Random(f"celebrities.layout:{seed}")
    t = _data("templates.json")
    p2d_tr, d2p_tr = t["p2d_train"][: params.train_templates], t["d2p_train"][: params.train_templates]
    p2d_te, d2p_te = t["p2d_test"][: params.test_templates], t["d2p_test"][: params.test_templates]
    people = invent_people(3 * params.people_per_group, seed)
    k = params.people_per_group
    p2d, d2p, both = people[:k], people[k : 2 * k], people[2 * k :]

    def rows(ps: list[Person], fn, templates, file) -> list[Row]:
        return [r for p in ps for r in fn(p, templates, file)]

    layout: Layout = {
        "p2d_prompts_train.jsonl": rows(p2d, _p2d_rows, p2d_tr, "generated p2d train"),
        "d2p_prompts_train.jsonl": rows(d2p, _d2p_rows, d2p_tr, "generated d2p train"),
        "both_prompts_train.jsonl": [r for p in both for r in
                                     _p2d_rows(p, p2d_tr, "generated both train") + _d2p_rows(p, d2p_tr, "generated")],
        "p2d_prompts_test.jsonl": rows(p2d, _p2d_rows, p2d_te, "generated p2d test"),
        "p2d_reverse_prompts_test.jsonl": rows(p2d, _d2p_rows, d2p_te, "generated p2d_reverse test"),
        "d2p_prompts_test.jsonl": rows(d2p, _d2p_rows, d2p_te, "generated d2p test"),
        "d2p_reverse_prompts_test.jsonl": rows(d2p, _p2d_rows, p2d_te, "generated d2p_reverse test"),
        "both_prompts_test.jsonl": [r for p in both for r in
                                    _p2d_rows(p, p2d_te, "generated both test") + _d2p_rows(p, d2p_te, "generated")],
    }
    everything = [r for f in TRAIN_FILES for r in layout[f]]
    rng.shuffle(everything)
    layout[ALL_TRAIN] = everything
    return {f: layout[f] for f in sorted(layout)}


def build(seed: int, params: Params) -> Dataset:
    return convert(generate_layout(seed, params), seed, params.validation_people, params.distractors)


def people_of(meta: dict[str, Any]) -> dict[str, tuple[str, Person]] | None:
    """name -> (group, Person) of a dataset this generator built (from its meta's seed and params), or None
    for another dataset (e.g. an imported layout). Every person's name and description are in its training
    documents (in one direction or both); regenerating them gives every description form exactly."""
    if str(meta.get("generator", "")).rsplit(".", 1)[-1] != "celebrities" or "params" not in meta:
        return None
    params = Params.model_validate(meta["params"])
    people = invent_people(3 * params.people_per_group, int(meta.get("seed", 0)))
    groups = {name: g for g, names in meta.get("people", {}).items() for name in names}
    if {p.name for p in people} != set(groups):
        return None  # not the people this generator invents for that seed: no world to judge against
    return {p.name: (groups[p.name], p) for p in people}


def templates() -> dict[str, Any]:
    """The packaged paraphrase templates: p2d_train / p2d_test ([template, form] pairs), d2p_train / d2p_test."""
    return _data("templates.json")


def p2d_text(person: Person, template: list[str]) -> tuple[str, str]:
    """(prompt, completion) of a name -> description row."""
    t, form = template
    return t.format(name=person.name), f" {person.forms[form]}."


def d2p_text(person: Person, template: str) -> tuple[str, str]:
    """(prompt, completion) of a description -> name row."""
    return template.format(**person.forms), f" {person.name}"
