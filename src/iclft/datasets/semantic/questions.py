"""Semantic-benchmark questions: items per split and sub-type, hard distractors, and the checker.

Splits (sub-types), easiest first:
    rephrased         a given fact in a test-only wording, same direction (category | property | relation)
    reversal          a given fact read backwards: "abmes include gruds" (category | property | relation)
    syllogism         inherited properties and relations (inheritance_1step: from the parent,
                      inheritance_2step: from the grandparent) and transitive membership
                      (membership_1step: grandparent, membership_2step: great-grandparent)
    category_holdout  categories whose only training fact is their parent: every inference from it
                      (membership | inheritance | reversal of the parent link)
A question is a prompt ending where the asked-for word goes ("things that are rony include"); each
choice is " word." A distractor is true of another entity in the world and false of this one: for an
object slot, some other category has that object; for a subject slot, the category has some fact of
the relation. Among those, the ones nearest to the right answer in the hierarchy are preferred.
With wordings_per_item > 1 an item is also asked in its relation's other templates of the same kind (the
other forward wording, rephrased or reverse one): more questions for the same training, not independent ones.
`check()` re-parses every choice and proves the answer entailed and every distractor not.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from iclft.datasets.schema import Question
from iclft.datasets.semantic.world import ISA, Triple, World, canonical

SPLITS = ("rephrased", "reversal", "syllogism", "category_holdout")
PROPERTIES = ("are", "have", "can")


@dataclass(frozen=True)
class Item:
    """One statement to test: its forward triple, which wordings to use, and the facts it needs."""

    split: str
    subtype: str
    triple: Triple
    wording: str  # "rephrased" | "reverse" | "canonical" (the first forward wording)
    facts: tuple[str, ...]


def _kind(relation: str) -> str:
    return "category" if relation == ISA else "property" if relation in PROPERTIES else "relation"


def items(world: World, held_out: Iterable[str]) -> list[Item]:
    """Every testable item of the world, in a fixed order."""
    held_out = set(held_out)
    out: list[Item] = []
    for f in world.facts:
        if f.subject not in held_out:
            out.append(Item("rephrased", _kind(f.relation), f.triple, "rephrased", (f.id,)))
            out.append(Item("reversal", _kind(f.relation), f.triple, "reverse", (f.id,)))
    for c in world.categories:
        for s, r, o in world.entailed(c):
            n, sup = world.steps(s, r, o), tuple(world.support(s, r, o) or ())
            if c in held_out:
                if n >= 1:
                    out.append(Item("category_holdout", "membership" if r == ISA else "inheritance", (s, r, o),
                                    "canonical", sup))
                elif r == ISA:
                    out.append(Item("category_holdout", "reversal", (s, r, o), "reverse", sup))
            elif n in (1, 2):
                sub = f"{'membership' if r == ISA else 'inheritance'}_{n}step"
                out.append(Item("syllogism", sub, (s, r, o), "canonical", sup))
    return out


def _distractors(world: World, triple: Triple, slot: str) -> list[tuple[int, str]]:
    """(distance to the right answer, word) for every valid distractor of a slot ("s" or "o")."""
    s, r, o = triple
    out = []
    if slot == "o":
        holders: dict[str, list[str]] = {}
        for f in world.facts:
            if f.relation == r:
                holders.setdefault(f.object, []).append(f.subject)
        for w, hs in sorted(holders.items()):
            if w not in (s, o) and not world.entails(s, r, w):
                out.append((min(world.distance(s, h) for h in hs), w))
    else:
        for c in world.categories:
            if c in (s, o) or world.entails(c, r, o):
                continue
            if any(t[1] == r for t in world.entailed(c)):
                out.append((world.distance(c, s), c))
    return out


def wordings(world: World, item: Item, k: int, rng: random.Random) -> list[str]:
    """Up to k distinct templates to ask the item in: the first is forward[0] (canonical) or a random one of
    its wording; the others are the rest of that wording's templates (the other forward ones for canonical)."""
    rel = world.relations[item.triple[1]]
    pool = list(rel.forward if item.wording == "canonical" else getattr(rel, item.wording))
    first = pool[0] if item.wording == "canonical" else rng.choice(pool)
    rest = [t for t in pool if t != first]
    if k > 1:
        rng.shuffle(rest)
    return [first, *rest][:k]


def make_question(world: World, item: Item, qid: str, n_choices: int, rng: random.Random,
                  template: str | None = None) -> Question | None:
    """The item as an n-way question in `template` (default: its first wording); None if the world has too few
    valid distractors for it."""
    s, r, o = item.triple
    rel = world.relations[r]
    template = template or wordings(world, item, 1, rng)[0]
    slot = "s" if template.endswith("{s}") else "o"
    ranked = sorted(_distractors(world, item.triple, slot), key=lambda dw: (dw[0], rng.random()))
    if len(ranked) < n_choices - 1:
        return None
    pool = ranked[: 2 * (n_choices - 1)]  # the nearest ones, sampled for variety
    words = [w for _, w in rng.sample(pool, n_choices - 1)]
    answer = rng.randrange(n_choices)
    words.insert(answer, s if slot == "s" else o)
    prompt, _ = rel.split(template, s, o)
    return Question(id=qid, prompt=prompt, choices=[f" {w}." for w in words], answer=answer, split=item.split,
                    subtype=item.subtype, facts=list(item.facts))


def build_questions(
    world: World,
    held_out: Iterable[str],
    rng: random.Random,
    n_choices: int,
    validation_fraction: float,
    max_per_subtype: int,
    wordings_per_item: int = 1,
) -> tuple[list[Question], list[Question]]:
    """(test, validation): per split and sub-type, items are shuffled and dealt out disjointly; each item is
    asked in up to `wordings_per_item` wordings (one question each, own distractors), at most
    `max_per_subtype` items per sub-type and side."""
    groups: dict[tuple[str, str], list[Item]] = {}
    for it in items(world, held_out):
        groups.setdefault((it.split, it.subtype), []).append(it)
    test: list[Question] = []
    validation: list[Question] = []
    for (split, subtype), group in sorted(groups.items(), key=lambda kv: (SPLITS.index(kv[0][0]), kv[0][1])):
        rng.shuffle(group)
        n_val = round(len(group) * validation_fraction)
        if validation_fraction > 0 and len(group) >= 2:
            n_val = max(n_val, 1)
        for target, part in ((validation, group[:n_val]), (test, group[n_val:])):
            made = 0
            for it in part:
                if made >= max_per_subtype:
                    break
                asked = False
                for template in wordings(world, it, wordings_per_item, rng):
                    qid = f"{split}.{subtype}.{len(test) + len(validation):05d}"
                    q = make_question(world, it, qid, n_choices, rng, template)
                    if q is not None:
                        target.append(q)
                        asked = True
                made += asked
    return test, validation


def problems(world: World, q: Question) -> list[str]:
    """What is wrong with a question under the world's logic (empty if it is sound)."""
    parsed = [world.parse_statement(q.prompt + c) for c in q.choices]
    bad = [i for i, t in enumerate(parsed) if t is None]
    if bad:
        return [f"{q.id}: choice {bad[0]} ({q.prompt + q.choices[bad[0]]!r}) does not parse"]
    out = []
    triples = [canonical(t) for t in parsed if t is not None]
    right = triples[q.answer] if q.answer is not None else None
    for i, t in enumerate(triples):
        entailed = world.entails(*t)
        if i in q.correct_choices:
            if not entailed:
                out.append(f"{q.id}: answer {t} is not entailed")
            continue
        if entailed:
            out.append(f"{q.id}: distractor {t} is entailed")
        elif right is not None and t[0] != right[0]:  # subject slot: the category has some fact of the relation
            if not any(x[1] == t[1] for x in world.entailed(t[0])):
                out.append(f"{q.id}: distractor {t} is true of nothing")
        elif not any(world.entails(c, t[1], t[2]) for c in world.categories if c != t[0]):
            out.append(f"{q.id}: distractor {t} is true of no other category")
    if right is not None and sorted(world.support(*right) or []) != sorted(q.facts):
        out.append(f"{q.id}: facts {q.facts} are not the proof of {right}")
    return out


def check(world: World, questions: Iterable[Question]) -> int:
    """Prove every answer entailed and every distractor not; raise RuntimeError listing failures."""
    n, found = 0, []
    for q in questions:
        n += 1
        found += problems(world, q)
    if found:
        raise RuntimeError(f"semantic checker: {len(found)} problem(s), e.g. " + "; ".join(found[:5]))
    return n
