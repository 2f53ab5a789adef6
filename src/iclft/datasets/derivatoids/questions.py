"""The questions of a derivatoids dataset: distractors picked so that no surface cue beats chance (`Chooser`), the
question printed from them (`question`), and the checker that recomputes every question (`check`)."""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

import sympy as sp
from sympy.core.function import AppliedUndef

from iclft.datasets.derivatoids.expressions import Item
from iclft.datasets.derivatoids.transform import Bug, Transform, combo, normal, shape, top, wrong_results
from iclft.datasets.schema import Question


def shuffled(e: sp.Expr, rng: random.Random) -> str:
    """e printed with the terms of every sum and the factors of every product in random order. sympy prints
    them alphabetically, which would tie a choice's first word to the (fixed) partner table."""
    if isinstance(e, (sp.Add, sp.Mul)):
        parts = [shuffled(a, rng) for a in e.args]
        if isinstance(e, sp.Mul):
            parts = [f"({p})" if isinstance(a, sp.Add) else p for a, p in zip(e.args, parts)]
        rng.shuffle(parts)
        return (" + " if isinstance(e, sp.Add) else "*").join(parts)
    if isinstance(e, AppliedUndef):
        return f"{e.func.__name__}({shuffled(e.args[0], rng)})"
    return str(e)


NAME = re.compile(r"\w+(?=\()")


def surface(question: sp.Expr, r: sp.Expr) -> tuple[float, ...]:
    """What anyone sees in a choice without knowing the rules: its length; its +, *, ( and digit counts (sympy
    writes A + A as 2*A, A*A as A**2); how many function names it shares with the question; how many names it
    has; whether its top-level operator is the question's."""
    text, names = str(r), Counter(NAME.findall(str(r)))
    shared = sum((names & Counter(NAME.findall(str(question)))).values())
    counts = [text.count(s) for s in "+*("] + [sum(ch.isdigit() for ch in text)]
    return len(text), *counts, shared, len(names), top(r) == top(question)


def cue_hits(looks: list[tuple[float, ...]], answer: int) -> list[float]:
    """For each surface feature, the chance that picking the choice with the most of it (then: the least)
    finds the answer, ties broken at random."""
    hits = []
    for k in range(len(looks[0])):
        for sign in (1, -1):
            values = [sign * v[k] for v in looks]
            hits.append((values[answer] == max(values)) / values.count(max(values)))
    return hits


class Candidate(NamedTuple):
    """A wrong result as the chooser sees it."""

    table: bool  # a misread table (else a wrong rule)
    unlike: int  # 0: the answer's shape; 1: as many terms or factors; 2: neither
    result: sp.Expr
    looks: tuple[float, ...]  # `surface`


MISSING = {False: 3.0, True: 1.0}  # the cost of no wrong rule (False), of no misread table (True) among the distractors


@dataclass
class Chooser:
    """Picks each question's distractors among the wrong results whose top-level operator is the answer's:
    alike in structure (the same shape, else as many terms or factors), at least one wrong rule and one
    misread table where there are, and, over each group of questions (split and label), such that picking by
    any surface feature finds the answer as often as chance. `tally` keeps each group's running excess of
    those cue hits over chance."""

    n_choices: int
    pool: int = 6  # candidates of each kind (wrong rule, misread table) tried together
    tally: dict[str, list[float]] = field(default_factory=dict)

    def pick(self, group: str, e: sp.Expr, right: sp.Expr, wrong: list[tuple[Bug, sp.Expr]],
             rng: random.Random) -> list[sp.Expr]:
        """n_choices - 1 distractors for the question on e, whose answer is `right`, among its wrong results."""
        same = [(bug.rule == "table", r) for bug, r in wrong if top(r) == top(right)]
        rng.shuffle(same)
        unlike = {r: 0 if shape(r) == shape(right) else 1 if len(r.args) == len(right.args) else 2 for _, r in same}
        pool = [Candidate(table, unlike[r], r, surface(e, r)) for kind in (True, False)
                for table, r in sorted((c for c in same if c[0] == kind), key=lambda c: unlike[c[1]])[: self.pool]]
        kinds, chance = {c.table for c in pool}, 1 / self.n_choices
        answer = Candidate(False, 0, right, surface(e, right))

        def hits(cs: tuple[Candidate, ...]) -> list[float]:
            return cue_hits([c.looks for c in (answer, *cs)], 0)

        tally = self.tally.setdefault(group, [0.0] * len(hits(())))

        def cost(cs: tuple[Candidate, ...]) -> float:
            missing = sum(MISSING[kind] for kind in kinds - {c.table for c in cs})
            return sum(c.unlike for c in cs) + missing + sum((t + h - chance) ** 2 for t, h in zip(tally, hits(cs)))

        best = min(itertools.combinations(pool, self.n_choices - 1), key=cost)
        self.tally[group] = [t + h - chance for t, h in zip(tally, hits(best))]
        return [c.result for c in best]


def make_question(t: Transform, item: Item, qid: str, split: str, rng: random.Random, chooser: Chooser,
              order: str = "shuffled") -> Question:
    """The question on item's expression: its result among distractors the chooser picks, in random order; each
    choice printed with its terms and factors shuffled, or canonically (`order`)."""
    e, right = item[0], t.apply(item[0])
    wrong = chooser.pick(qid[: qid.index(".") + 2], e, right, item[1], rng)  # group: split and label
    rng.shuffle(wrong)
    answer = rng.randrange(chooser.n_choices)
    results = [shuffled(r, rng) if order == "shuffled" else str(r) for r in wrong[:answer] + [right] + wrong[answer:]]
    return Question(id=qid, prompt=f"The {t.name} of {e} is", choices=[f" {r}." for r in results], answer=answer,
                    split=split, subtype=combo(e))


def check(t: Transform, questions: list[Question]) -> int:
    """Recompute every question: the answer must equal the transform, every other choice must be the result of
    one of its wrong applications (`bugs`), and no two choices may be equal. Raises RuntimeError on the first
    failure; returns the number checked."""
    prefix = f"The {t.name} of "
    for q in questions:
        if not (q.prompt.startswith(prefix) and q.prompt.endswith(" is")) or q.answer is None:
            raise RuntimeError(f"{q.id}: not a derivatoid question")
        e = t.parse(q.prompt[len(prefix) : -3])
        results = [normal(t.parse(c.strip().removesuffix("."))) for c in q.choices]
        if results[q.answer] != normal(t.apply(e)):
            raise RuntimeError(f"{q.id}: choice {q.answer} is not the transform ({t.apply(e)})")
        if len(set(results)) != len(results):
            raise RuntimeError(f"{q.id}: two choices are equal")
        wrong = {normal(r) for _, r in wrong_results(t, e)}
        if any(r not in wrong for i, r in enumerate(results) if i != q.answer):
            raise RuntimeError(f"{q.id}: a choice is no wrong application of the rules")
    return len(questions)
