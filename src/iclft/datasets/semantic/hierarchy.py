"""The English hierarchy file: loading and validation, smaller sub-worlds, and the nonsense-word world.

`load()` reads hierarchy.yaml (or a user's file of the same shape) and checks it; `select()` keeps
root-to-leaf paths for a smaller world of the same depth; `holdout()` picks categories whose only
training fact will be their parent; `to_nonsense()` builds the World with every content word replaced.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from iclft.datasets.semantic.world import ISA, Fact, Relation, World
from iclft.errors import UserError
from iclft.io import read_text
from iclft.vocab import Vocab, is_real_word

MAX_OWN = 6


@dataclass
class Hierarchy:
    """An English hierarchy: parent links in file order, own (relation, object) pairs, word kinds."""

    relations: dict[str, Relation]
    parent: dict[str, str | None]
    own: dict[str, list[tuple[str, str]]]
    kinds: dict[str, str]

    def ancestors(self, c: str) -> list[str]:
        out = []
        while (p := self.parent[c]) is not None:
            out.append(p)
            c = p
        return out

    def children(self, c: str) -> list[str]:
        return [x for x, p in self.parent.items() if p == c]


def load(path: str | Path | None = None) -> Hierarchy:
    """Read and validate a hierarchy file (default: the packaged one); problems are a UserError."""
    if path is None:
        where, text = "hierarchy.yaml", resources.files(__package__).joinpath("hierarchy.yaml").read_text("utf-8")
    else:
        where, text = str(path), read_text(path, "hierarchy file")
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{where}: invalid YAML ({' '.join(str(e).split())})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("relations"), dict) or not isinstance(
        raw.get("categories"), dict
    ):
        raise UserError(f"{where}: expected mappings 'relations' and 'categories'")
    if ISA not in raw["relations"]:
        raise UserError(f"{where}: relations must define {ISA!r}")
    relations = {name: Relation.from_dict(name, d or {}) for name, d in raw["relations"].items()}
    return _validate(where, relations, raw["categories"])


def _validate(where: str, relations: dict[str, Relation], cats: dict[str, Any]) -> Hierarchy:
    parent: dict[str, str | None] = {}
    own: dict[str, list[tuple[str, str]]] = {}
    kinds: dict[str, str] = {}

    def kind(word: str, k: str, ctx: str) -> None:
        if kinds.setdefault(word, k) != k:
            raise UserError(f"{where}: {ctx}: {word!r} is used both as {kinds[word]} and as {k}")

    for name, d in cats.items():
        ctx = f"category {name!r}"
        if not isinstance(d, dict) or "parent" not in d:
            raise UserError(f"{where}: {ctx}: expected a mapping with a 'parent' key")
        if d["parent"] is not None and d["parent"] not in cats:
            raise UserError(f"{where}: {ctx}: unknown parent {d['parent']!r}")
        parent[str(name)] = d["parent"]
        kind(str(name), "category", ctx)
        own[name] = []
        for rel, objs in d.items():
            if rel == "parent":
                continue
            if rel not in relations or rel == ISA:
                raise UserError(f"{where}: {ctx}: unknown relation {rel!r}")
            if not isinstance(objs, list) or not all(isinstance(o, str) and o for o in objs):
                raise UserError(f"{where}: {ctx}: {rel} must be a list of words")
            own[name] += [(rel, o) for o in objs]
        if not 1 <= len(own[name]) <= MAX_OWN:
            raise UserError(f"{where}: {ctx}: needs 1-{MAX_OWN} own properties and relations, has {len(own[name])}")
    h = Hierarchy(relations, parent, own, kinds)
    for name in cats:
        _check_no_cycle(h, name, where)
        inherited = {p for a in h.ancestors(name) for p in own[a]}
        for rel, o in own[name]:
            allowed = relations[rel].object
            k = "category" if o in cats else next((x for x in allowed if x != "category"), "category")
            if k not in allowed:
                raise UserError(f"{where}: category {name!r}: {rel} takes {'/'.join(allowed)}, not {o!r}")
            kind(o, k, f"category {name!r}")
            if (rel, o) in inherited or own[name].count((rel, o)) > 1:
                raise UserError(f"{where}: category {name!r}: '{rel} {o}' is repeated (already inherited or listed)")
    for r in relations.values():
        if r.verb:
            kind(r.verb, "verb", f"relation {r.name!r}")
    return h


def _check_no_cycle(h: Hierarchy, c: str, where: str) -> None:
    seen, p = {c}, h.parent[c]
    while p is not None:
        if p in seen:
            raise UserError(f"{where}: category {c!r}: the parent links form a cycle")
        seen.add(p)
        p = h.parent[p]


def select(h: Hierarchy, n: int, rng: random.Random) -> list[str]:
    """About n categories, closed under parents: random leaves joined with their whole ancestor paths,
    so a small world keeps the full depth (and so the 1- and 2-step inferences). File order."""
    if n >= len(h.parent):
        return list(h.parent)
    leaves = [c for c in h.parent if not h.children(c)]
    rng.shuffle(leaves)
    chosen: set[str] = set()
    for leaf in leaves:
        path = {leaf, *h.ancestors(leaf)} - chosen
        if len(chosen) + len(path) <= n:
            chosen |= path
    return [c for c in h.parent if c in chosen]


def holdout(h: Hierarchy, selected: list[str], k: int, rng: random.Random) -> list[str]:
    """k leaves with a grandparent that no kept fact mentions as an object (so their parent link is
    their only training fact), at most one per parent. File order."""
    kept = set(selected)
    objects = {o for c in selected for _, o in h.own[c]}
    candidates = [
        c for c in selected
        if not any(x in kept for x in h.children(c)) and len(h.ancestors(c)) >= 2 and c not in objects
    ]  # fmt: skip
    rng.shuffle(candidates)
    chosen: list[str] = []
    for c in candidates:
        if len(chosen) < k and all(h.parent[x] != h.parent[c] for x in chosen):
            chosen.append(c)
    return [c for c in selected if c in chosen]


def to_nonsense(h: Hierarchy, selected: list[str], held_out: list[str], seed: int) -> tuple[World, dict[str, str]]:
    """The given facts with every English word replaced by a nonsense word; returns (world, gloss).

    Held-out categories keep only their parent link; a relation to a category outside the selection
    is dropped. Verbs of relations get a nonsense stem ending in a consonant and its participle stem+"ed".
    """
    kept = set(selected)
    english: list[tuple[str, str, str]] = []
    for c in selected:
        if h.parent[c] is not None:
            english.append((c, ISA, h.parent[c]))
        if c not in held_out:
            english += [(c, r, o) for r, o in h.own[c] if o in kept or h.kinds[o] != "category"]
    used = sorted({w for s, _, o in english for w in (s, o)})
    vocab = Vocab(f"semantic:{seed}")
    mapping = {w: vocab.word() for w in used}
    gloss = {mapping[w]: w for w in used}
    words = {mapping[w]: h.kinds[w] for w in used}
    relations = {}
    for name, rel in h.relations.items():
        if rel.verb:
            stem = vocab.word()
            while stem[-1] in "aeiouy" or is_real_word(stem + "ed"):
                stem = vocab.word()
            gloss[stem], gloss[stem + "ed"] = rel.verb, rel.participle or rel.verb
            rel = replace(rel, verb=stem, participle=stem + "ed")
        relations[name] = rel
    facts = [Fact(f"f{i:04d}", mapping[s], r, mapping[o]) for i, (s, r, o) in enumerate(english, 1)]
    return World(facts, relations, words), dict(sorted(gloss.items()))
