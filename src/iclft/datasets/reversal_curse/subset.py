"""A CPU-sized subset of a reversal-curse layout: a seeded sample of people per group and of training row positions
per direction, the test, randomized and validation_prompts rows following the people kept (docs/reversal-curse.md
for the sizes chosen)."""

from __future__ import annotations

import random

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
    leading_name,
    positions_in_person,
    template_of,
)
from iclft.errors import UserError


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
    positions = {f: positions_in_person(layout[f], people) for f in TRAIN_FILES}
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
            t = template_of(b, person)
            owner[(t, b.completion.strip())] = person
            completion.setdefault((t, person), b.completion)
    out = []
    for r in rows:
        person = prompt_person[r.prompt.strip()]
        by_name = leading_name(r.completion)
        if by_name is not None and by_name in people.group:
            other, t = by_name, None
        else:
            t = template_of(Row(r.prompt, "", r.where), person)
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
