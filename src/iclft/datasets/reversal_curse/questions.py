"""A reversal-curse layout turned into an iclft Dataset: training documents, 4-way questions, 2-way randomized ones.

Training documents keep the original prompt and completion (Document.text = prompt + completion). Each test row
becomes a 4-way question: the right completion vs 3 drawn (seeded) from other people, as the paper's "3 random
wrong celebrity names"; a name question's choices are bare names (" Ann Lee", whatever tail the file had),
a description's distractors are other people's completions under the same template when they exist (so they fit
the prompt's grammar), else any of their descriptions. `distractors="group"` draws from the person's own group.
Splits follow the files (p2d, d2p, p2d_reverse, d2p_reverse, both); the sub-type is the person's group ("both/p2d"
or "both/d2p" in the both split, by direction).

Each row of a *_randomized file also becomes a 2-way question in split `<split>_randomized` (e.g.
p2d_reverse_randomized): the correct completion vs the randomized one, so its accuracy is the share of questions
where P(correct completion) > P(randomized completion) by summed log-probability (chance 0.5), Berglund et al.'s
second measure per question (they compare the two files' mean log-probabilities). Rows whose random completion is
the correct one are skipped (counted in meta.randomized).

Validation: `validation_people` people per group (seeded) keep their training rows, but their questions (4-way
and randomized) go to validation.jsonl.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from iclft.datasets.reversal_curse.layout import (
    ALL_TRAIN,
    GROUPS,
    PUBLIC_VALIDATION,
    RANDOMIZED,
    TEST_FILES,
    TRAIN_FILES,
    Layout,
    People,
    Row,
    explain_direction,
    fact_id,
    leading_name,
    template_of,
)
from iclft.datasets.schema import Dataset, Document, Question
from iclft.errors import UserError

N_CHOICES = 4
TestRow = tuple[str, str, str, Row]  # (split, person, direction, row)


def _spaced(text: str) -> str:
    return text if text.startswith(" ") else " " + text


def _check_public_validation(layout: Layout, people: People) -> None:
    """validation_prompts.jsonl: each row a p2d_reverse test prompt answered with that person's first name."""
    first = {r.prompt.strip(): people.classify(r)[0].split()[0] for r in layout["p2d_reverse_prompts_test.jsonl"]}
    for r in layout.get(PUBLIC_VALIDATION, []):
        expected = first.get(r.prompt.strip())
        if expected is None:
            raise UserError(f"{r.where}: not one of p2d_reverse_prompts_test.jsonl's prompts")
        if r.completion.strip() != expected:
            raise UserError(f"{r.where}: completion {r.completion.strip()!r} is not the first name {expected!r}")


def convert(layout: Layout, seed: int = 0, validation_people: int = 3,
            distractors: Literal["all", "group"] = "all", name: str = "celebrities",
            questions_per_person: int | None = None) -> Dataset:
    """Turn a layout into an iclft Dataset (see the module docstring)."""
    rng = random.Random(f"celebrities:{seed}")
    people = People(layout)
    train_rows = layout.get(ALL_TRAIN) or [r for f in TRAIN_FILES for r in layout[f]]
    docs = _training_documents(train_rows, people)
    tests = _test_rows(layout, people)
    _check_public_validation(layout, people)
    descriptions = _Descriptions(people, [*train_rows, *(t[3] for t in tests)])
    members = {g: sorted(p for p, pg in people.group.items() if pg == g) for g in GROUPS}
    held_out = _held_out(members, validation_people, rng)
    dropped = _dropped_test_rows(tests, held_out, questions_per_person, seed)

    test, validation = [], []
    counters: dict[str, int] = {}
    for split, person, d, r in tests:
        if r.where in dropped:
            continue
        group = people.group[person]
        pool = [p for p in (sorted(people.group) if distractors == "all" else members[group]) if p != person]
        rng.shuffle(pool)
        right = " " + person if d == "d2p" else _spaced(r.completion)
        choices = _choices(r, person, d, right, pool, descriptions, rng)
        rng.shuffle(choices)
        n = counters[split] = counters.get(split, 0) + 1
        (validation if person in held_out else test).append(Question(
            id=f"{split}-{n:04d}", prompt=r.prompt.rstrip(), choices=choices, answer=choices.index(right),
            split=split, subtype=f"both/{d}" if group == "both" else group, facts=[fact_id(person)]))

    randomized, same = _randomized_questions(layout, people, seed, dropped)
    for q, person in randomized:
        (validation if person in held_out else test).append(q)
    meta: dict[str, Any] = {
        "people": members,
        "validation_people": sorted(held_out),
        "distractors": distractors,
        "files": {f: len(rows) for f, rows in layout.items()},
    }
    if any(f in layout for f in RANDOMIZED):
        meta["randomized"] = {"questions": len(randomized), "skipped_same_as_correct": same}
    return Dataset(name=name, train=docs, test=test, validation=validation, meta=meta)


def _training_documents(train_rows: list[Row], people: People) -> list[Document]:
    """A document per training row: its prompt and its prompt + completion, about its person."""
    docs = []
    for i, r in enumerate(train_rows):
        person, _ = people.classify(r)
        if person not in people.group:
            raise UserError(f"{r.where}: {person!r} is in no group's training file")
        docs.append(Document(id=f"train-{i:05d}", prompt=r.prompt, text=r.prompt + r.completion,
                             facts=[fact_id(person)]))
    return docs


def _test_rows(layout: Layout, people: People) -> list[TestRow]:
    """Every test row, classified and checked against its file's split, group and direction."""
    tests: list[TestRow] = []
    for f, (split, group, direction) in TEST_FILES.items():
        for r in layout[f]:
            person, d = people.classify(r)
            if direction is not None and d != direction:
                raise UserError(f"{r.where}: expected {explain_direction(direction)} in {f}")
            if people.group.get(person) != group:
                raise UserError(f"{r.where}: {person!r} is not in the {group} group's training file")
            tests.append((split, person, d, r))
    return tests


class _Descriptions:
    """The description pools distractors come from: by template (for grammatical fit), and any description per
    person (the fallback)."""

    def __init__(self, people: People, rows: list[Row]) -> None:
        self.by_template: dict[str, dict[str, str]] = {}
        self.any: dict[str, list[str]] = {}
        for r in rows:
            person, d = people.classify(r)
            if d == "p2d":
                self.by_template.setdefault(template_of(r, person), {}).setdefault(person, r.completion)
                self.any.setdefault(person, []).append(r.completion)


def _held_out(members: dict[str, list[str]], validation_people: int, rng: random.Random) -> set[str]:
    """The validation people: `validation_people` of each group (seeded), leaving some test people in each."""
    held_out: set[str] = set()
    for g, ps in members.items():
        if ps and validation_people >= len(ps):
            raise UserError(f"validation_people={validation_people} leaves no test people in group {g} "
                            f"({len(ps)} people)")
        held_out.update(rng.sample(ps, validation_people) if ps else [])
    return held_out


def _choices(r: Row, person: str, d: str, right: str, pool: list[str], descriptions: _Descriptions,
             rng: random.Random) -> list[str]:
    """The right completion, then up to N_CHOICES - 1 distinct wrong ones from the people of `pool`, in its order:
    a name question's bare names; a description's under the row's template when there is one, else any."""
    choices = [right]
    for other in pool:
        if len(choices) == N_CHOICES:
            break
        if d == "d2p":
            cand = " " + other
        elif other in descriptions.by_template.get(template_of(r, person), {}):
            cand = descriptions.by_template[template_of(r, person)][other]
        elif descriptions.any.get(other):
            cand = rng.choice(descriptions.any[other])
        else:
            continue
        cand = _spaced(cand)
        if cand not in choices:
            choices.append(cand)
    if len(choices) < 2:
        raise UserError(f"{r.where}: no other person to draw a distractor from")
    return choices


def _dropped_test_rows(tests: list[TestRow], held_out: set[str], per_person: int | None,
                       seed: int) -> set[str]:
    """The test rows (`Row.where`) that `questions_per_person` leaves out: each test person keeps `per_person`
    rows of each test file and direction (seeded; validation people keep all theirs); None keeps every row."""
    if per_person is None:
        return set()
    rows: dict[tuple[str, str, str], list[Row]] = {}
    for split, person, d, r in tests:
        if person not in held_out:
            rows.setdefault((split, person, d), []).append(r)
    have = min(len(rs) for rs in rows.values()) if rows else 0
    if not 1 <= per_person <= have:
        raise UserError(f"questions_per_person={per_person}: must be from 1 to {have} (the test rows per person, "
                        "file and direction)")
    rng = random.Random(f"reversal-curse.questions:{seed}")  # its own stream: the distractors' stays as it was
    kept = {r.where for key in sorted(rows) for r in rng.sample(rows[key], per_person)}
    return {r.where for rs in rows.values() for r in rs} - kept


def _randomized_questions(layout: Layout, people: People, seed: int,
                          dropped: set[str] = frozenset()) -> tuple[list[tuple[Question, str]], int]:
    """2-way questions: each test row's correct completion vs its *_randomized file's completion (none for a row
    in `dropped`), and how many rows were skipped because the randomized completion is the correct one."""
    rng = random.Random(f"celebrities.randomized:{seed}")  # its own stream: the 4-way questions stay as they were
    out, same = [], 0
    for f, base_file in RANDOMIZED.items():
        if f not in layout:
            continue
        by_prompt: dict[str, list[Row]] = {}  # the release repeats the prompts line by line; matched by text here
        for b in layout[base_file]:
            by_prompt.setdefault(b.prompt.strip(), []).append(b)
        split, group, _ = TEST_FILES[base_file]
        n = 0
        for r in layout[f]:
            if not by_prompt.get(r.prompt.strip()):
                raise UserError(f"{r.where}: the prompt matches no (remaining) row of {base_file}")
            b = by_prompt[r.prompt.strip()].pop(0)
            if b.where in dropped:
                continue
            person, d = people.classify(b)
            right = " " + person if d == "d2p" else _spaced(b.completion)
            wrong = " " + (leading_name(r.completion) or r.completion.strip()) if d == "d2p" else _spaced(r.completion)
            if wrong.strip() == right.strip():
                same += 1
                continue
            choices = [right, wrong]
            rng.shuffle(choices)
            n += 1
            out.append((Question(id=f"{split}_randomized-{n:04d}", prompt=b.prompt.rstrip(), choices=choices,
                                 answer=choices.index(right), split=f"{split}_randomized", subtype=group,
                                 facts=[fact_id(person)]), person))
    return out, same
