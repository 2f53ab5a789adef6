"""Ground truth of `semantic` (see `iclft.datasets.truth`; only controls and the audit read it).

Statements: any wording of the world's relations (World.parse_statement). true: entailed by the given facts
(World.entails); false: not entailed. The world is closed: every category's facts are listed and inheritance is
the only inference, so a statement it does not entail is false.

Oracle facts: every statement the world entails through inheritance (1+ isa steps: the syllogism and
category-holdout facts) in a forward (training) wording; object-first (reversal) wordings are test-only templates,
so reversals are not added.
"""

from __future__ import annotations

from collections.abc import Iterable

from iclft.datasets.schema import Dataset
from iclft.datasets.semantic.world import Fact, World, canonical
from iclft.datasets.truth import Statement, Variant, Verdict, normalize


class SemanticLogic:
    """Statements are triples as written (reversals keep their inverse relation)."""

    name = "semantic"

    def __init__(self, world) -> None:
        self.world = world

    def parse(self, sentence: str) -> Statement | None:
        return self.world.parse_statement(normalize(sentence))

    def verdict(self, statement: Statement) -> Verdict:
        return "true" if self.world.entails(*statement) else "false"  # type: ignore[misc]

    def entailed_by(self, premises: Iterable[Statement], target: Statement) -> bool:
        facts = [Fact(f"p{i}", *canonical(p)) for i, p in enumerate(sorted(set(premises)))]  # type: ignore[arg-type]
        return World(facts, self.world.relations, dict(self.world.words)).entails(*target)  # type: ignore[misc]


def logic(dataset: Dataset) -> SemanticLogic | None:
    return SemanticLogic(World.from_dict(dataset.meta["world"])) if "world" in dataset.meta else None


def oracle_facts(dataset: Dataset) -> list[list[Variant]]:
    world = World.from_dict(dataset.meta["world"])
    out = []
    for c in world.categories:
        for s, r, o in world.entailed(c):
            if world.steps(s, r, o) >= 1:
                rel = world.relations[r]
                out.append([(None, rel.render(t, s, o) + ".") for t in rel.forward])
    return out
