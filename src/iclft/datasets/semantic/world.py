"""The semantic world: given facts, what they entail, and the sentences that state them.

A fact is a triple (subject, relation, object) over a category hierarchy:
    ("gruds", "isa", "abmes")      gruds are a type of abmes        (membership; transitive)
    ("abmes", "are", "rony")       abmes are rony                   (property: are / have / can)
    ("abmes", "eats", "telk")      abmes blick telk                 (relation: eats / inhabits / ...)
Entailment (`World.entails`): membership is transitive; every property and relation of a category holds
for all its descendants (so gruds are rony); nothing else is inferred (no inheritance on the object side).
Inverses name the same fact read backwards: "include" is the inverse of "isa" (abmes include gruds), and
"~R" is the inverse of any relation R (("rony", "~are", "gruds") says gruds are rony).

`World.parse_statement(sentence)` maps a sentence in any wording of a relation (training, rephrased or
reversed, from the hierarchy file) back to its triple, so generated text can be audited against the logic.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from iclft.errors import UserError
from iclft.io import read_json

Triple = tuple[str, str, str]
ISA, INCLUDE = "isa", "include"
KINDS = ("category", "adjective", "noun", "verb")
WORDINGS = ("forward", "rephrased", "reverse")


def inverse(relation: str) -> str:
    """The relation read backwards: isa <-> include, R <-> ~R."""
    if relation == ISA:
        return INCLUDE
    if relation == INCLUDE:
        return ISA
    return relation[1:] if relation.startswith("~") else "~" + relation


def canonical(triple: Triple) -> Triple:
    """The forward form of a triple (inverse relations turned around)."""
    s, r, o = triple
    return (o, inverse(r), s) if r == INCLUDE or r.startswith("~") else triple


@dataclass(frozen=True)
class Fact:
    id: str
    subject: str
    relation: str
    object: str

    @property
    def triple(self) -> Triple:
        return (self.subject, self.relation, self.object)


@dataclass(frozen=True)
class Relation:
    """How a relation is written: wordings with {s} {o} {v} {vpp} placeholders, each ending in {s} or {o}."""

    name: str
    object: tuple[str, ...]
    forward: tuple[str, ...]
    rephrased: tuple[str, ...]
    reverse: tuple[str, ...]
    question: str
    verb: str | None = None
    participle: str | None = None

    @classmethod
    def from_dict(cls, name: str, d: Mapping[str, Any]) -> Relation:
        kinds = tuple(d.get("object", ()))
        if not kinds or any(k not in KINDS for k in kinds):
            raise UserError(f"relation {name!r}: object must list kinds from {', '.join(KINDS)}")
        wordings = {w: tuple(d.get(w, ())) for w in WORDINGS}
        for w, templates in wordings.items():
            if not templates:
                raise UserError(f"relation {name!r}: needs at least one {w} wording")
            for t in templates:
                if not re.search(r"\{[so]\}$", t) or "{s}" not in t or "{o}" not in t:
                    raise UserError(f"relation {name!r}: wording {t!r} must contain {{s}} and {{o}} and end in one")
                if ("{v}" in t or "{vpp}" in t) and not d.get("verb"):
                    raise UserError(f"relation {name!r}: wording {t!r} uses a verb but the relation has none")
        return cls(name=name, object=kinds, question=str(d.get("question", "")), verb=d.get("verb"),
                   participle=d.get("participle"), **wordings)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"object": list(self.object), "question": self.question}
        out.update({w: list(getattr(self, w)) for w in WORDINGS})
        if self.verb:
            out.update(verb=self.verb, participle=self.participle)
        return out

    def render(self, template: str, s: str, o: str) -> str:
        """A wording filled in; an opening function word gets a capital letter, nonsense words never do."""
        text = template.format(s=s, o=o, v=self.verb or "", vpp=self.participle or "")
        return text if template.startswith("{") else text[:1].upper() + text[1:]

    def split(self, template: str, s: str, o: str) -> tuple[str, str]:
        """(prompt, answer word) of a wording: the answer is its last placeholder."""
        text = self.render(template, s, o)
        answer = s if template.endswith("{s}") else o
        return text[: len(text) - len(answer)].rstrip(), answer


def default_relations() -> dict[str, Relation]:
    """The relations of the packaged hierarchy file, with English verbs (for hand-built worlds)."""
    raw = yaml.safe_load(resources.files(__package__).joinpath("hierarchy.yaml").read_text(encoding="utf-8"))
    return {name: Relation.from_dict(name, d) for name, d in raw["relations"].items()}


@dataclass
class World:
    """Given facts plus how to write them; answers `entails` and parses sentences back into triples.

    `words` maps every word (category, adjective, noun, verb) to its kind; missing words are inferred
    from the facts (subjects and isa objects are categories; other objects take their relation's first kind).
    """

    facts: list[Fact]
    relations: dict[str, Relation] = field(default_factory=default_relations)
    words: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in self.facts:
            if f.relation not in self.relations:
                raise UserError(f"fact {f.id}: unknown relation {f.relation!r}")
            self.words.setdefault(f.subject, "category")
            self.words.setdefault(f.object, "category" if f.relation == ISA else self.relations[f.relation].object[0])
        self._parents: dict[str, list[tuple[str, str]]] = {}
        self._own: dict[tuple[str, str], dict[str, str]] = {}
        for f in self.facts:
            if f.relation == ISA:
                self._parents.setdefault(f.subject, []).append((f.object, f.id))
            else:
                self._own.setdefault((f.subject, f.relation), {})[f.object] = f.id
        self._by_subject: dict[str, list[tuple[str, str]]] = {}
        for (c, r), objs in self._own.items():
            self._by_subject.setdefault(c, []).extend((r, o) for o in objs)
        self.by_id = {f.id: f for f in self.facts}
        self._lineage: dict[str, dict[str, list[str]]] = {}  # caches: the facts never change after construction
        self._entailed: dict[str, list[Triple]] = {}

    @classmethod
    def from_triples(cls, triples: Iterable[Triple], **kwargs: Any) -> World:
        """A world from plain triples (ids f0001, f0002, ... in order)."""
        return cls([Fact(f"f{i:04d}", *t) for i, t in enumerate(triples, 1)], **kwargs)

    # ------------------------------------------------------------------ logic
    @cached_property
    def categories(self) -> list[str]:
        return sorted(w for w, k in self.words.items() if k == "category")

    def lineage(self, category: str) -> dict[str, list[str]]:
        """The category and each of its ancestors -> the isa fact ids leading there (shortest first)."""
        if category not in self._lineage:
            self._lineage[category] = self._walk_up(category)
        return self._lineage[category]

    def _walk_up(self, category: str) -> dict[str, list[str]]:
        paths: dict[str, list[str]] = {category: []}
        queue = deque([category])
        while queue:
            c = queue.popleft()
            for parent, fid in self._parents.get(c, ()):
                if parent not in paths:
                    paths[parent] = paths[c] + [fid]
                    queue.append(parent)
        return paths

    def support(self, subject: str, relation: str, obj: str) -> list[str] | None:
        """The given facts a statement follows from (isa chain, then the property), or None if not entailed."""
        if relation not in self.relations and relation not in (INCLUDE,) and not relation.startswith("~"):
            raise UserError(f"unknown relation {relation!r}")
        s, r, o = canonical((subject, relation, obj))
        paths = self.lineage(s)
        if r == ISA:
            return paths[o] if o != s and o in paths else None
        for ancestor, path in paths.items():  # breadth-first: the nearest holder wins
            fid = self._own.get((ancestor, r), {}).get(o)
            if fid is not None:
                return path + [fid]
        return None

    def entails(self, subject: str, relation: str, obj: str) -> bool:
        return self.support(subject, relation, obj) is not None

    def steps(self, subject: str, relation: str, obj: str) -> int:
        """Number of isa links a statement's proof uses (0: a given fact), or -1 if not entailed."""
        sup = self.support(subject, relation, obj)
        is_membership = canonical((subject, relation, obj))[1] == ISA
        return -1 if sup is None else sum(self.by_id[f].relation == ISA for f in sup) - is_membership

    def objects(self, relation: str) -> list[str]:
        """Every object a given fact of this relation has (for isa: every category with a child)."""
        return sorted({f.object for f in self.facts if f.relation == relation})

    def entailed(self, category: str) -> list[Triple]:
        """Every statement (category, relation, object) the world entails, isa included."""
        if category not in self._entailed:
            out: set[Triple] = set()
            for ancestor in self.lineage(category):
                if ancestor != category:
                    out.add((category, ISA, ancestor))
                out.update((category, r, o) for r, o in self._by_subject.get(ancestor, ()))
            self._entailed[category] = sorted(out)
        return self._entailed[category]

    def distance(self, a: str, b: str) -> int:
        """Tree distance between two categories (isa links up to a common ancestor and down); large if none."""
        la, lb = self.lineage(a), self.lineage(b)
        common = [len(la[c]) + len(lb[c]) for c in la if c in lb]
        return min(common, default=99)

    # ------------------------------------------------------------------ text
    @cached_property
    def _patterns(self) -> list[tuple[re.Pattern[str], str, bool]]:
        def alternation(kinds: Iterable[str]) -> str:
            ws = sorted((w for w, k in self.words.items() if k in kinds), key=lambda w: (-len(w), w))
            return "|".join(re.escape(w) for w in ws) or "(?!)"

        cats = alternation(["category"])
        out = []
        for rel in self.relations.values():
            objs = alternation(rel.object)
            for wording in WORDINGS:
                for t in getattr(rel, wording):
                    pat = re.escape(t.lower())
                    for slot, repl in (("v", rel.verb or ""), ("vpp", rel.participle or "")):
                        pat = pat.replace(re.escape("{" + slot + "}"), re.escape(repl.lower()))
                    pat = pat.replace(re.escape("{s}"), f"(?P<s>{cats})", 1)
                    pat = pat.replace(re.escape("{o}"), f"(?P<o>{objs})", 1)
                    out.append((re.compile(pat), rel.name, wording == "reverse"))
        return out

    def parse_statement(self, sentence: str) -> Triple | None:
        """The triple a sentence states, as written (reversals keep their inverse relation), or None.

        Accepts any wording of the world's relations, any letter case, an optional "A:" / list marker
        in front and end punctuation. Example: "things that are rony include gruds." -> ("rony", "~are", "gruds").
        """
        text = " ".join(sentence.lower().split())
        text = re.sub(r"^(?:[-*\u2022]\s*|\d+[.)]\s+|a:\s*|answer:\s*)", "", text).rstrip(".!;")
        for pattern, relation, reverse in self._patterns:
            m = pattern.fullmatch(text)
            if m:
                s, o = m["s"], m["o"]
                return (o, inverse(relation), s) if reverse else (s, relation, o)
        return None

    # ------------------------------------------------------------------ storage
    def to_dict(self) -> dict[str, Any]:
        return {
            "facts": [{"id": f.id, "subject": f.subject, "relation": f.relation, "object": f.object} for f in self.facts],
            "relations": {name: rel.to_dict() for name, rel in self.relations.items()},
            "words": dict(sorted(self.words.items())),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> World:
        try:
            facts = [Fact(str(f["id"]), str(f["subject"]), str(f["relation"]), str(f["object"])) for f in d["facts"]]
            relations = {name: Relation.from_dict(name, r) for name, r in d["relations"].items()}
            words = {str(w): str(k) for w, k in d.get("words", {}).items()}
        except (KeyError, TypeError, AttributeError) as e:
            raise UserError(f"malformed semantic world description ({type(e).__name__}: {e})") from None
        return cls(facts, relations, words)

    @classmethod
    def load(cls, folder: str | Path) -> World:
        """The world of a built semantic dataset folder (its meta.json "world")."""
        meta = read_json(Path(folder) / "meta.json")
        if not isinstance(meta, dict) or "world" not in meta:
            raise UserError(f"{folder}: meta.json has no semantic world (was it built by 'semantic'?)")
        return cls.from_dict(meta["world"])
