"""Reversal-curse data (Berglund et al. 2024): invented celebrities and their descriptions.

Two sources, one converter:
  * `import_layout(src)` reads the public layout (a folder of `{"prompt", "completion"}` JSONL files:
    p2d/d2p/both_prompts_train, p2d/d2p/p2d_reverse/d2p_reverse/both_prompts_test, optionally
    all_prompts_train and validation_prompts);
  * `build(seed, params)` invents people with the same structure: 3 groups (p2d: trained name ->
    description only; d2p: description -> name only; both), 30 training paraphrase templates per
    direction, 10 held-out test templates per direction, so the default training set is 3,600 rows.

Training documents are prompt/completion pairs (Document.prompt = prompt, text = prompt + completion).
Test questions are 4-way: the right completion vs 3 drawn (seeded) from other people. Splits follow the
files: "p2d" and "d2p" (trained direction, new templates), "p2d_reverse" (description prompt -> name,
for p2d people: the paper's main test), "d2p_reverse" and "both"; the sub-type is the person's group
("both/p2d" or "both/d2p" in the both split, by direction). A name's distractors are other people's
names; a description's distractors are other people's completions under the same template when they
exist (so they fit the prompt's grammar), else any of their descriptions.
`distractors="all"` (default) draws from all people, as the paper ("3 random wrong celebrity names"):
names seen as completions in training then compete, which is why plain FT scores ~0 on p2d_reverse;
"group" draws from the person's own group only.

Validation: `validation_people` people per group (seeded) keep their training rows, but their test
questions go to validation.jsonl. The public validation_prompts.jsonl is read and checked but not used:
it asks the test people's reversals (with first-name answers), so tuning on it would tune on test.

Invented names are "<uncommon first name> <compound surname>", the surname kept only if wordfreq has
never seen it, so no famous real person has the name.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from wordfreq import zipf_frequency

from iclft.datasets.schema import Dataset, Document, Question
from iclft.errors import UserError
from iclft.io import iter_jsonl, write_jsonl
from iclft.vocab import Vocab

DESCRIPTION = "Reversal curse: invented celebrities, name<->description; 4-way choice (Berglund et al. layout)."
VERSION = 1

TRAIN_FILES = {"p2d_prompts_train.jsonl": "p2d", "d2p_prompts_train.jsonl": "d2p", "both_prompts_train.jsonl": "both"}
# test file -> (split, group, direction of its rows: p2d = name in prompt, d2p = name is the completion)
TEST_FILES = {
    "p2d_prompts_test.jsonl": ("p2d", "p2d", "p2d"),
    "p2d_reverse_prompts_test.jsonl": ("p2d_reverse", "p2d", "d2p"),
    "d2p_prompts_test.jsonl": ("d2p", "d2p", "d2p"),
    "d2p_reverse_prompts_test.jsonl": ("d2p_reverse", "d2p", "p2d"),
    "both_prompts_test.jsonl": ("both", "both", None),
}
ALL_TRAIN, PUBLIC_VALIDATION = "all_prompts_train.jsonl", "validation_prompts.jsonl"
NAME_FILES = ("d2p_prompts_train.jsonl", "p2d_reverse_prompts_test.jsonl", "d2p_prompts_test.jsonl")
GROUPS = ("p2d", "d2p", "both")
N_CHOICES = 4


@dataclass(frozen=True)
class Row:
    prompt: str
    completion: str
    where: str  # "file:line", for error messages


Layout = dict[str, list[Row]]


# ---------------------------------------------------------------- the public layout on disk


def read_layout(src: str | Path) -> Layout:
    """Read and check a public-layout folder; any problem is one UserError naming file and line."""
    src = Path(src)
    if not src.is_dir():
        raise UserError(f"{src}: not a directory")
    required = [*TRAIN_FILES, *TEST_FILES]
    missing = [f for f in required if not (src / f).is_file()]
    if missing:
        raise UserError(f"{src}: missing {', '.join(missing)} (expected the Berglund et al. reversal-curse layout)")
    layout: Layout = {}
    for name in [*required, ALL_TRAIN, PUBLIC_VALIDATION]:
        path = src / name
        if not path.is_file():
            continue
        rows = []
        for n, obj in iter_jsonl(path):
            prompt, completion = obj.get("prompt"), obj.get("completion")
            for key, value in (("prompt", prompt), ("completion", completion)):
                if not isinstance(value, str) or not value.strip():
                    raise UserError(f"{path}:{n}: {key!r} must be a non-empty string")
            rows.append(Row(prompt, completion, f"{path}:{n}"))
        if not rows and name in required:
            raise UserError(f"{path}: no rows")
        layout[name] = rows
    return layout


def write_layout(layout: Layout, folder: str | Path) -> Path:
    """Write a layout as the public files (one {"prompt", "completion"} a line)."""
    folder = Path(folder)
    for name, rows in layout.items():
        write_jsonl(folder / name, ({"prompt": r.prompt, "completion": r.completion} for r in rows))
    return folder


# ---------------------------------------------------------------- layout -> iclft dataset


def _fact(person: str) -> str:
    return "person-" + "-".join(person.lower().split())


class _People:
    """Who each row is about, and in which direction, from the names the layout's files reveal."""

    def __init__(self, layout: Layout) -> None:
        self.names = {r.completion.strip() for f in NAME_FILES for r in layout[f]}
        # the both group's names only show as completions of its own files: short capitalized completions
        # that also occur in one of its prompts
        both = layout["both_prompts_train.jsonl"]
        prompts = "\n".join(r.prompt for r in both)
        self.names |= {c for c in (r.completion.strip() for r in both) if _looks_like_name(c) and c in prompts}
        self._by_length = sorted(self.names, key=lambda n: (-len(n), n))
        self.group: dict[str, str] = {}
        for f, group in TRAIN_FILES.items():
            for r in layout[f]:
                person, direction = self.classify(r)
                if group != "both" and direction != group:
                    raise UserError(f"{r.where}: expected a {group} row ({_explain(group)})")
                if self.group.setdefault(person, group) != group:
                    raise UserError(f"{r.where}: {person!r} appears in both the {self.group[person]} and {group} groups")

    def classify(self, r: Row) -> tuple[str, str]:
        """(person, direction): d2p if the completion is a name, else p2d with the name found in the prompt."""
        completion = r.completion.strip()
        if completion in self.names:
            return completion, "d2p"
        for name in self._by_length:
            if name in r.prompt:
                return name, "p2d"
        raise UserError(f"{r.where}: no known person's name in the prompt or as the completion")


def _looks_like_name(text: str) -> bool:
    words = text.split()
    return 1 <= len(words) <= 4 and all(w[0].isupper() and w.replace("-", "").replace("'", "").isalpha() for w in words)


def _explain(direction: str) -> str:
    return "the name in the prompt" if direction == "p2d" else "the name as the completion"


def _template(r: Row, person: str) -> str:
    return r.prompt.replace(person, "{name}")


def convert(layout: Layout, seed: int = 0, validation_people: int = 3,
            distractors: Literal["all", "group"] = "all", name: str = "celebrities") -> Dataset:
    """Turn a layout into an iclft Dataset with 4-way questions (see the module docstring)."""
    rng = random.Random(f"celebrities:{seed}")
    people = _People(layout)
    train_rows = layout.get(ALL_TRAIN) or [r for f in TRAIN_FILES for r in layout[f]]
    docs = []
    for i, r in enumerate(train_rows):
        person, _ = people.classify(r)
        if person not in people.group:
            raise UserError(f"{r.where}: {person!r} is in no group's training file")
        docs.append(Document(id=f"train-{i:05d}", prompt=r.prompt, text=r.prompt + r.completion, facts=[_fact(person)]))

    # test rows, classified and checked against their file's split
    tests: list[tuple[str, str, str, Row]] = []  # (split, person, direction, row)
    for f, (split, group, direction) in TEST_FILES.items():
        for r in layout[f]:
            person, d = people.classify(r)
            if direction is not None and d != direction:
                raise UserError(f"{r.where}: expected {_explain(direction)} in {f}")
            if people.group.get(person) != group:
                raise UserError(f"{r.where}: {person!r} is not in the {group} group's training file")
            tests.append((split, person, d, r))

    # description pools: by template (for grammatical fit), and any description per person (fallback)
    by_template: dict[str, dict[str, str]] = {}
    any_desc: dict[str, list[str]] = {}
    for r in [*train_rows, *(t[3] for t in tests)]:
        person, d = people.classify(r)
        if d == "p2d":
            by_template.setdefault(_template(r, person), {}).setdefault(person, r.completion)
            any_desc.setdefault(person, []).append(r.completion)

    members = {g: sorted(p for p, pg in people.group.items() if pg == g) for g in GROUPS}
    held_out: set[str] = set()
    for g, ps in members.items():
        if ps and validation_people >= len(ps):
            raise UserError(f"validation_people={validation_people} leaves no test people in group {g} ({len(ps)} people)")
        held_out.update(rng.sample(ps, validation_people) if ps else [])

    test, validation = [], []
    counters: dict[str, int] = {}
    for split, person, d, r in tests:
        group = people.group[person]
        pool = [p for p in (sorted(people.group) if distractors == "all" else members[group]) if p != person]
        rng.shuffle(pool)
        right = r.completion if r.completion.startswith(" ") else " " + r.completion
        choices = [right]
        for other in pool:
            if len(choices) == N_CHOICES:
                break
            if d == "d2p":
                cand = " " + other
            elif other in by_template.get(_template(r, person), {}):
                cand = by_template[_template(r, person)][other]
            elif any_desc.get(other):
                cand = rng.choice(any_desc[other])
            else:
                continue
            cand = cand if cand.startswith(" ") else " " + cand
            if cand not in choices:
                choices.append(cand)
        if len(choices) < 2:
            raise UserError(f"{r.where}: no other person to draw a distractor from")
        rng.shuffle(choices)
        n = counters[split] = counters.get(split, 0) + 1
        q = Question(id=f"{split}-{n:04d}", prompt=r.prompt.rstrip(), choices=choices, answer=choices.index(right),
                     split=split, subtype=f"both/{d}" if group == "both" else group, facts=[_fact(person)])
        (validation if person in held_out else test).append(q)

    meta: dict[str, Any] = {
        "people": members,
        "validation_people": sorted(held_out),
        "distractors": distractors,
        "files": {f: len(rows) for f, rows in layout.items()},
    }
    return Dataset(name=name, train=docs, test=test, validation=validation, meta=meta)


def import_layout(src: str | Path, seed: int = 0, validation_people: int = 3,
                  distractors: Literal["all", "group"] = "all") -> Dataset:
    """Read the public Berglund et al. layout into an iclft Dataset."""
    ds = convert(read_layout(src), seed, validation_people, distractors, name="reversal-curse")
    ds.meta = {"generator": f"{__name__}.import_layout", "version": VERSION, "source": str(Path(src).resolve()),
               "seed": seed, "params": {"validation_people": validation_people, "distractors": distractors},
               **ds.meta}
    return ds


# ---------------------------------------------------------------- our own generator


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
