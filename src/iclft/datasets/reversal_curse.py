"""Berglund et al.'s reversal-curse files (their release: data/reverse_experiments/june_version_7921032488).

The layout is a folder of `{"prompt", "completion"}` JSONL files, each person's rows consecutive:
  * p2d_prompts_train (name in the prompt -> description), d2p_prompts_train (description -> name): 30 people
    x 30 paraphrases; both_prompts_train: 30 more people, their 30 p2d rows, then their 30 d2p rows;
    all_prompts_train: the three concatenated (3,600 rows), the file the paper fine-tunes on;
  * tests, 10 held-out paraphrases a person: p2d_prompts_test, d2p_prompts_test, both_prompts_test,
    p2d_reverse_prompts_test (description -> name for the p2d people: the paper's main test), d2p_reverse_prompts_test;
  * p2d_reverse_prompts_test_randomized / d2p_reverse_prompts_test_randomized: the same prompts, line by line,
    each with a random person's completion (the paper's "correct vs random name" likelihood comparison; each row is
    paired with the test row of the same prompt, so a reordered file works too);
  * validation_prompts: the p2d_reverse prompts answered with first names (read and checked, not used: they are
    the test people's reversals, so tuning on them would tune on test). Other files (unrealized_examples) are ignored.

The text is model-written: many d2p completions are the name followed by more words (" Ann Lee now enjoys a
quite life.", " Ann Lee."), prompts carry doubled punctuation ("Q: Who is ...?? A:"). So people's names are
recovered, not read off: a name is the run of capitalized words (two or more) a name-file completion starts with
(d2p_prompts_train, d2p_prompts_test, p2d_reverse_prompts_test, and both files' completions whose name also appears
in a p2d prompt there); a candidate that extends another by more words is that person with a tail. A row is about
the person whose name starts its completion (d2p), else whose name its prompt contains (p2d).

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

Distractors: `group` by default (DEFAULT_DISTRACTORS): a 4-way question's three wrong choices are people of the
person's own group, as Berglund et al.'s *_randomized files draw theirs; `all` draws them from every group. After
fine-tuning, the names (d2p group) and descriptions (p2d group) another group was trained to complete are likely
after any prompt, so under `all` a distractor wins or loses for reasons that have nothing to do with reversal.
Chosen on validation people only (a full-size release from tests/berglund_release.py cut to 6 people a group x 4
paraphrases, 3 validation people a group: 30 questions a split; embedded model, seed 0, 2026-12-02): FT scored
p2d_reverse 0.00 and d2p_reverse 0.03 (±0.03) with `all`, far BELOW chance (0.25): the bias, not the reversal
curse; with `group` 0.43 ±0.09 and 0.27 ±0.08. The trained direction is inflated the same way (d2p 0.50 with
`all`, 0.20 with `group`: the fine-tuned model had learned which names are completions, not whose). Self-augmented FT
(ft_aug_local, k 4, whole documents) against FT on the same people: with `all` p2d_reverse 0.50 vs 0.00, d2p_reverse
0.13 vs 0.03; with `group` 0.57 vs 0.43 and 0.40 vs 0.27 (±0.09: a gain of ~1 SE, where `all` showed a gain partly
made of FT's bias); randomized pairs 0.97 vs 0.52 (p2d_reverse) and 0.89 vs 0.61 (d2p_reverse) under both.
The 2-way `*_randomized` splits (the release's own wrong completions) do not depend on this choice.

Subset (`people_per_group`, `paraphrases`; `subset`): a seeded sample of people per group and of training row
positions per direction (the same positions for every person, so row k stays template k); test rows of the kept
people stay whole, randomized and validation_prompts rows follow them. Deterministic for a seed. A randomized row
whose random completion is a person left out of the subset gets a kept person's of the same group instead (seeded;
counted in meta.randomized.redrawn_in_subset): the release draws from all 30 people of a group, so in an 8-people
subset about three rows in four would pair the correct completion with one never trained, and the 2-way measure
would reward familiarity with the trained text, not the reversal (the whole release's pairs are both trained).
`questions_per_person` (`convert`) keeps that many test rows of each test file and direction per test person
(seeded; their randomized pairs follow; validation people keep all theirs): more people, the independent sources
of a split's questions, at the same scoring cost. The CPU default (configs/berglund.yaml) is 8 people a group x
3 paraphrases, 2 validation people, 5 questions a person: the training cost of 6 x 4 and its question count, from
6 test people a group instead of 3. Chosen on validation people (embedded model, seed 0, 2026-12-02): at 10 x 2
self-augmented FT gained nothing on the 4-way reverse splits (p2d_reverse 0.15 vs FT 0.15, d2p_reverse 0.50 vs
0.45; 20 questions, 2 people each), at 6 x 4 it gained ~0.13 on both (above), so three paraphrases, not two.

World (`world_meta`, meta.json "world"; read only by `iclft.datasets.reversal_curse_truth`, the ground truth of the
audit and the controls): each person's description texts and the training templates, from the training rows only.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from iclft.datasets.schema import Dataset, Document, Question
from iclft.errors import UserError
from iclft.io import iter_jsonl, write_jsonl

VERSION = 4
DEFAULT_DISTRACTORS: Literal["all", "group"] = "group"  # chosen on validation people: the module docstring

TRAIN_FILES = {"p2d_prompts_train.jsonl": "p2d", "d2p_prompts_train.jsonl": "d2p", "both_prompts_train.jsonl": "both"}
# test file -> (split, group, direction of its rows: p2d = name in prompt, d2p = name is the completion)
TEST_FILES = {
    "p2d_prompts_test.jsonl": ("p2d", "p2d", "p2d"),
    "p2d_reverse_prompts_test.jsonl": ("p2d_reverse", "p2d", "d2p"),
    "d2p_prompts_test.jsonl": ("d2p", "d2p", "d2p"),
    "d2p_reverse_prompts_test.jsonl": ("d2p_reverse", "d2p", "p2d"),
    "both_prompts_test.jsonl": ("both", "both", None),
}
# randomized file -> the test file whose prompts it repeats, line by line
RANDOMIZED = {
    "p2d_reverse_prompts_test_randomized.jsonl": "p2d_reverse_prompts_test.jsonl",
    "d2p_reverse_prompts_test_randomized.jsonl": "d2p_reverse_prompts_test.jsonl",
}
ALL_TRAIN, PUBLIC_VALIDATION = "all_prompts_train.jsonl", "validation_prompts.jsonl"
NAME_FILES = ("d2p_prompts_train.jsonl", "d2p_prompts_test.jsonl", "p2d_reverse_prompts_test.jsonl")
BOTH_FILES = ("both_prompts_train.jsonl", "both_prompts_test.jsonl")
GROUPS = ("p2d", "d2p", "both")
N_CHOICES = 4


@dataclass(frozen=True)
class Row:
    prompt: str
    completion: str
    where: str  # "file:line", for error messages


Layout = dict[str, list[Row]]


# ---------------------------------------------------------------- the files on disk


def read_layout(src: str | Path) -> Layout:
    """Read and check a folder in the public layout; any problem is one UserError naming file and line."""
    src = Path(src)
    if not src.is_dir():
        raise UserError(f"{src}: not a directory")
    required = [*TRAIN_FILES, *TEST_FILES]
    missing = [f for f in required if not (src / f).is_file()]
    if missing:
        raise UserError(f"{src}: missing {', '.join(missing)} (expected the Berglund et al. reversal-curse layout)")
    layout: Layout = {}
    for name in [*required, ALL_TRAIN, *RANDOMIZED, PUBLIC_VALIDATION]:
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


# ---------------------------------------------------------------- who each row is about

_CAPITALIZED = re.compile(r"[A-Z][\w'’-]*")


def leading_name(text: str) -> str | None:
    """The run of two or more capitalized words `text` starts with, up to the first punctuation or lower-case word."""
    words = []
    for word in text.split():
        core = re.sub(r"['’]s$", "", word.rstrip(".,;:!?\"')]"))
        if not _CAPITALIZED.fullmatch(core):
            break
        words.append(core)
        if core != word:
            break
    return " ".join(words) if len(words) >= 2 else None


def recover_names(layout: Layout) -> list[str]:
    """Every person's name, from the completions that start with one (see the module docstring)."""
    cands = {c for f in NAME_FILES for r in layout[f] if (c := leading_name(r.completion))}
    both = [r for f in BOTH_FILES for r in layout[f]]
    described = "\n".join(r.prompt for r in both if leading_name(r.completion) is None)
    both_cands = {c for r in both if (c := leading_name(r.completion))}
    cands |= {c for c in both_cands if _word_pattern([c]).search(described)}
    return sorted(c for c in cands if not any(c.startswith(o + " ") for o in cands))


def _word_pattern(names: list[str]) -> re.Pattern[str]:
    """Any of `names` as whole words, longest first."""
    alternation = "|".join(re.escape(n) for n in sorted(names, key=lambda n: (-len(n), n)))
    return re.compile(rf"(?<![\w-])(?:{alternation})(?![\w’-]|'\w\w)")


class People:
    """The people of a layout: names, groups (from the training files), and who each row is about."""

    def __init__(self, layout: Layout) -> None:
        self.names = recover_names(layout)
        if not self.names:
            raise UserError(f"{layout[NAME_FILES[0]][0].where}: no person's name found (the completions of "
                            f"{', '.join(NAME_FILES)} should start with one)")
        self._pattern = _word_pattern(self.names)
        self.group: dict[str, str] = {}
        for f, group in TRAIN_FILES.items():
            for r in layout[f]:
                person, direction = self.classify(r)
                if group != "both" and direction != group:
                    raise UserError(f"{r.where}: expected a {group} row ({_explain(group)})")
                if self.group.setdefault(person, group) != group:
                    raise UserError(f"{r.where}: {person!r} appears in both the {self.group[person]} and {group} "
                                    "groups")

    def classify(self, r: Row) -> tuple[str, str]:
        """(person, direction): d2p if a name starts the completion (and the prompt does not hold that name too),
        else p2d if the prompt names someone, else d2p if the completion does."""
        first, named = self._pattern.match(r.completion.lstrip()), self._pattern.search(r.prompt)
        if first and not (named and named.group(0) == first.group(0)):
            return first.group(0), "d2p"
        if named:
            return named.group(0), "p2d"
        anywhere = self._pattern.search(r.completion)
        if anywhere:
            return anywhere.group(0), "d2p"
        raise UserError(f"{r.where}: no known person's name in the prompt or the completion")


def _explain(direction: str) -> str:
    return "the name in the prompt" if direction == "p2d" else "the name as the completion"


def _fact(person: str) -> str:
    return "person-" + "-".join(person.lower().split())


def _template(r: Row, person: str) -> str:
    return r.prompt.replace(person, "{name}")


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


# ---------------------------------------------------------------- layout -> iclft dataset


def convert(layout: Layout, seed: int = 0, validation_people: int = 3,
            distractors: Literal["all", "group"] = "all", name: str = "celebrities",
            questions_per_person: int | None = None) -> Dataset:
    """Turn a layout into an iclft Dataset (see the module docstring)."""
    rng = random.Random(f"celebrities:{seed}")
    people = People(layout)
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
    _check_public_validation(layout, people)

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
            raise UserError(f"validation_people={validation_people} leaves no test people in group {g} "
                            f"({len(ps)} people)")
        held_out.update(rng.sample(ps, validation_people) if ps else [])
    dropped = _dropped_test_rows(tests, held_out, questions_per_person, seed)

    test, validation = [], []
    counters: dict[str, int] = {}

    def add(q: Question, person: str) -> None:
        (validation if person in held_out else test).append(q)

    for split, person, d, r in tests:
        if r.where in dropped:
            continue
        group = people.group[person]
        pool = [p for p in (sorted(people.group) if distractors == "all" else members[group]) if p != person]
        rng.shuffle(pool)
        right = " " + person if d == "d2p" else _spaced(r.completion)
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
            cand = _spaced(cand)
            if cand not in choices:
                choices.append(cand)
        if len(choices) < 2:
            raise UserError(f"{r.where}: no other person to draw a distractor from")
        rng.shuffle(choices)
        n = counters[split] = counters.get(split, 0) + 1
        add(Question(id=f"{split}-{n:04d}", prompt=r.prompt.rstrip(), choices=choices, answer=choices.index(right),
                     split=split, subtype=f"both/{d}" if group == "both" else group, facts=[_fact(person)]), person)

    randomized, same = _randomized_questions(layout, people, seed, dropped)
    for q, person in randomized:
        add(q, person)
    meta: dict[str, Any] = {
        "people": members,
        "validation_people": sorted(held_out),
        "distractors": distractors,
        "files": {f: len(rows) for f, rows in layout.items()},
    }
    if any(f in layout for f in RANDOMIZED):
        meta["randomized"] = {"questions": len(randomized), "skipped_same_as_correct": same}
    return Dataset(name=name, train=docs, test=test, validation=validation, meta=meta)


def _dropped_test_rows(tests: list[tuple[str, str, str, Row]], held_out: set[str], per_person: int | None,
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
                                 facts=[_fact(person)]), person))
    return out, same


# ---------------------------------------------------------------- a CPU-sized subset


def _position_in_person(rows: list[Row], people: People) -> list[tuple[str, str, int]]:
    """Each row's (person, direction, k): it is the k-th row of that person in that direction in its file."""
    seen: dict[tuple[str, str], int] = {}
    out = []
    for r in rows:
        key = people.classify(r)
        out.append((*key, seen.get(key, 0)))
        seen[key] = seen.get(key, 0) + 1
    return out


def subset(layout: Layout, people_per_group: int | None = None, paraphrases: int | None = None,
           seed: int = 0) -> Layout:
    """The layout cut to `people_per_group` people of each group and `paraphrases` training rows per person and
    direction (None: all), both drawn with `seed`; the same row positions for every person (row k of each person is
    template k in the release, which the world's template recovery relies on). Test rows of kept people stay whole;
    randomized and validation_prompts rows follow their test row."""
    if people_per_group is None and paraphrases is None:
        return layout
    rng = random.Random(f"reversal-curse.subset:{seed}")
    people = People(layout)
    kept: set[str] = set()
    for g in GROUPS:
        ps = sorted(p for p, pg in people.group.items() if pg == g)
        n = len(ps) if people_per_group is None else people_per_group
        if not 1 <= n <= len(ps):
            raise UserError(f"people_per_group={n}: must be from 1 to {len(ps)} (the people in group {g})")
        kept.update(rng.sample(ps, n))
    positions = {f: _position_in_person(layout[f], people) for f in TRAIN_FILES}
    keep_k: dict[str, set[int]] = {}
    for d in ("p2d", "d2p"):
        per_person: dict[str, int] = {}
        for f in TRAIN_FILES:
            for p, dd, k in positions[f]:
                if dd == d:
                    per_person[p] = k + 1
        have = min(per_person.values())
        n = have if paraphrases is None else paraphrases
        if not 1 <= n <= have:
            raise UserError(f"paraphrases={n}: must be from 1 to {have} (the {d} training rows per person)")
        keep_k[d] = set(rng.sample(range(have), n))
    out: Layout = {}
    for f in TRAIN_FILES:
        out[f] = [r for r, (p, d, k) in zip(layout[f], positions[f]) if p in kept and k in keep_k[d]]
    if ALL_TRAIN in layout:
        chosen = {(r.prompt, r.completion) for f in TRAIN_FILES for r in out[f]}
        out[ALL_TRAIN] = [r for r in layout[ALL_TRAIN] if (r.prompt, r.completion) in chosen]
    for f in TEST_FILES:
        out[f] = [r for r in layout[f] if people.classify(r)[0] in kept]
    for f, base in RANDOMIZED.items():
        if f in layout:
            prompts = {r.prompt.strip() for r in out[base]}
            out[f] = _redrawn([r for r in layout[f] if r.prompt.strip() in prompts], layout[base], people, kept,
                              random.Random(f"reversal-curse.randomized:{seed}"))
    if PUBLIC_VALIDATION in layout:
        prompts = {r.prompt.strip() for r in out["p2d_reverse_prompts_test.jsonl"]}
        out[PUBLIC_VALIDATION] = [r for r in layout[PUBLIC_VALIDATION] if r.prompt.strip() in prompts]
    return out


def _redrawn(rows: list[Row], base_rows: list[Row], people: People, kept: set[str], rng: random.Random) -> list[Row]:
    """A randomized file's rows, cut to the kept people: a row whose random completion is a person left out of the
    subset (never trained: "trained vs unseen", not a reversal) gets another kept person's of the same group
    instead (seeded), as the whole release pairs trained people; a completion whose person is not known stays.
    The person of a description completion is the base file's person with that completion under that template."""
    owner: dict[tuple[str, str], str] = {}  # (template, completion) -> person, from the whole base file
    completion: dict[tuple[str, str], str] = {}  # (template, person) -> completion
    prompt_person: dict[str, str] = {}
    for b in base_rows:
        person, d = people.classify(b)
        prompt_person[b.prompt.strip()] = person
        if d == "p2d":
            t = _template(b, person)
            owner[(t, b.completion.strip())] = person
            completion.setdefault((t, person), b.completion)
    out = []
    for r in rows:
        person = prompt_person[r.prompt.strip()]
        by_name = leading_name(r.completion)
        if by_name is not None and by_name in people.group:
            other, t = by_name, None
        else:
            t = _template(Row(r.prompt, "", r.where), person)
            other = owner.get((t, r.completion.strip()))
        if other is None or other in kept:
            out.append(r)
            continue
        pool = [p for p in sorted(kept) if people.group[p] == people.group[person] and p != person
                and (t is None or (t, p) in completion)]
        if not pool:
            out.append(r)
            continue
        pick = rng.choice(pool)
        out.append(Row(r.prompt, " " + pick if t is None else completion[(t, pick)], r.where))
    return out


# ---------------------------------------------------------------- what the world model needs (meta.world)


_ARTICLE = re.compile(r"(?:the|a|an) ", re.IGNORECASE)


def _common_prefix(texts: list[str]) -> str:
    """The longest common prefix of texts, cut back to end at a space (whole words) and without a trailing
    article (an article starts the description it was filled with: "the acclaimed director ...")."""
    prefix = os.path.commonprefix(texts)
    if any(len(t) > len(prefix) for t in texts) and not prefix.endswith(" "):
        prefix = prefix[: prefix.rfind(" ") + 1]
    return re.sub(r"(?:^|(?<= ))(?:the|a|an|The|A|An) $", "", prefix)


def _common_suffix(texts: list[str]) -> str:
    """The longest common suffix, cut to begin at a space or a punctuation mark that follows a word's end."""
    suffix = os.path.commonprefix([t[::-1] for t in texts])[::-1]
    while suffix and suffix[0].isalnum() and any(len(t) > len(suffix) and t[-len(suffix) - 1].isalnum()
                                                 for t in texts):
        suffix = suffix[1:]
    return suffix


def world_meta(layout: Layout) -> dict[str, Any]:
    """People's descriptions and the training templates, from the TRAINING rows only (test rows never): a p2d
    row's description is its completion; a d2p row's is its prompt minus the template, recovered by aligning row k
    of every person (the release writes each person's rows in template order): the words all of them share at the
    start and end. Templates: p2d prompts with "{name}"; d2p [prompt prefix, prompt suffix, completion with
    "{name}"]."""
    people = People(layout)
    by: dict[str, dict[str, list[tuple[str, Row]]]] = {"p2d": {}, "d2p": {}}  # direction -> k -> [(person, row)]
    for f in TRAIN_FILES:
        for r, (p, d, k) in zip(layout[f], _position_in_person(layout[f], people)):
            by[d].setdefault(str(k), []).append((p, r))
    descriptions: dict[str, list[str]] = {}
    p2d_templates, d2p_templates = [], []
    for k in sorted(by["p2d"], key=int):
        completions = [r.completion.strip() for _, r in by["p2d"][k]]
        for (p, _), c in zip(by["p2d"][k], completions):
            descriptions.setdefault(p, []).append(c)
        lead = _common_prefix([c + " " for c in completions]) if len(completions) > 1 else ""
        noun_phrases = sum(bool(_ARTICLE.match(c[len(lead):])) for c in completions)
        p2d_templates.append([_most_common([_template(r, p) for p, r in by["p2d"][k]]),
                              lead.strip() if 2 * noun_phrases >= len(completions) else None])
    for k in sorted(by["d2p"], key=int):
        rows = by["d2p"][k]
        prompts = [r.prompt for _, r in rows]
        pre, suf = (_common_prefix(prompts), _common_suffix(prompts)) if len(rows) > 1 else ("", "")
        for p, r in rows:
            middle = r.prompt[len(pre): len(r.prompt) - len(suf)] if len(pre) + len(suf) < len(r.prompt) else r.prompt
            descriptions.setdefault(p, []).append(middle.strip())
        completion = _most_common([r.completion.replace(p, "{name}", 1) for p, r in rows])
        d2p_templates.append([pre, suf, completion])
    return {"descriptions": {p: sorted(set(ds), key=lambda t: (-ds.count(t), t)) for p, ds in
                             sorted(descriptions.items())},
            "templates": {"p2d": p2d_templates, "d2p": d2p_templates}}


def _most_common(xs: list[str]) -> str:
    return min(set(xs), key=lambda x: (-xs.count(x), x))


def import_layout(src: str | Path, seed: int = 0, validation_people: int = 3,
                  distractors: Literal["all", "group"] = DEFAULT_DISTRACTORS, people_per_group: int | None = None,
                  paraphrases: int | None = None, questions_per_person: int | None = None) -> Dataset:
    """Read the public Berglund et al. layout into an iclft Dataset (optionally a seeded subset: `subset`, and
    fewer test questions a person: `questions_per_person`)."""
    whole = read_layout(src)
    layout = subset(whole, people_per_group, paraphrases, seed)
    ds = convert(layout, seed, validation_people, distractors, name="reversal-curse",
                 questions_per_person=questions_per_person)
    params: dict[str, Any] = {"validation_people": validation_people, "distractors": distractors}
    if people_per_group is not None or paraphrases is not None:
        params |= {"people_per_group": people_per_group, "paraphrases": paraphrases}
    if questions_per_person is not None:
        params["questions_per_person"] = questions_per_person
    if "randomized" in ds.meta and layout is not whole:
        original = {r.where: r.completion for f in RANDOMIZED if f in whole for r in whole[f]}
        ds.meta["randomized"]["redrawn_in_subset"] = sum(
            r.completion != original[r.where] for f in RANDOMIZED if f in layout for r in layout[f])
    ds.meta = {"generator": f"{__name__}.import_layout", "version": VERSION, "source": str(Path(src).resolve()),
               "seed": seed, "params": params, **ds.meta, "world": world_meta(layout)}
    return ds
