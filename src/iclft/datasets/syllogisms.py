"""Simple syllogisms: two premises over three nonsense terms; which conclusion links the outer two?

Training item (premises in the traditional order, major first):
    "The relationships between glon, troff and yomp are: All glon are yomp. All troff are glon."
Test (split "syllogism", sub-type = the form's mood-figure code, e.g. "AAA-1" for Barbara):
    prompt "The relationships between yomp and troff are:", 6 choices
    {All, Some, No} x {X-Z, Z-X}: " All yomp are troff.", " All troff are yomp.", ... ("some ... are not" omitted).

Scoring policy for several valid conclusions. Validity is decided by model checking over the 7 regions
of a three-set Venn diagram, by default with Boolean semantics (no existential import): a conclusion
is valid iff it holds in every model of the premises. Under that semantics the only forms with a valid
conclusion among the six statements are the 9 unconditionally valid forms without "some ... not"
(Barbara, Celarent, Darii, Cesare, Camestres, Datisi, Disamis, Calemes, Dimatis) plus AAA-4 (Barbara's
premises in the other order), and their valid conclusions are exactly one proposition: "All S are P",
or a symmetric "No"/"Some" statement, valid in both directions. So `answer` is the strongest valid
conclusion (subject S on ties) and `accepted` holds its converse when that is also valid ("No P are S"
says the same as "No S are P"). Chance is therefore 1/6 for the All forms and 2/6 for the others.
With existential_import=True, weaker conclusions ("Some S are P" from Barbara) are accepted too and
the weakened forms (Darapti AAI-3, Bramantip AAI-4) are added.

With both_orders=True each item is asked twice, "between yomp and troff" and "between troff and yomp" (the
same valid conclusions, the choices in the other order): twice the test questions for the same training;
the two questions of an item are not independent evidence.

Validation: `validation_items` of the `n_items` items (seeded, spread over forms) keep their training
document but ask their question in validation.jsonl instead of test.jsonl. Train is the paper's 69 items.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iclft.datasets.sampling import spread_sample
from iclft.datasets.schema import Dataset, Document, Question
from iclft.vocab import Vocab

DESCRIPTION = "Simple syllogisms: two premises over three terms; 6-way choice of the conclusion."
VERSION = 1

QUANTIFIERS = ("All", "Some", "No")
MOOD_LETTER = {"All": "A", "No": "E", "Some": "I"}
Statement = tuple[str, str, str]  # (quantifier, subject, predicate)

# premise term layouts per figure: (major premise, minor premise) as (subject, predicate) over S, M, P
FIGURES: dict[int, tuple[tuple[str, str], tuple[str, str]]] = {
    1: (("M", "P"), ("S", "M")),
    2: (("P", "M"), ("S", "M")),
    3: (("M", "P"), ("M", "S")),
    4: (("P", "M"), ("M", "S")),
}
# traditional names of the forms used, by mood-figure code (AAA-4 is Barbara with the minor premise first)
FORM_NAMES = {
    "AAA-1": "Barbara", "EAE-1": "Celarent", "AII-1": "Darii", "EAE-2": "Cesare", "AEE-2": "Camestres",
    "AII-3": "Datisi", "IAI-3": "Disamis", "AEE-4": "Calemes", "IAI-4": "Dimatis", "AAA-4": "Barbara, minor first",
    "AAI-3": "Darapti", "AAI-4": "Bramantip",
}  # fmt: skip


def holds(statement: Statement, model: frozenset[frozenset[str]]) -> bool:
    """Truth of a statement in a model: the set of inhabited Venn regions (each a set of terms)."""
    q, a, b = statement
    if q == "All":
        return not any(a in r and b not in r for r in model)
    if q == "No":
        return not any(a in r and b in r for r in model)
    if q == "Some":
        return any(a in r and b in r for r in model)
    raise ValueError(f"unknown quantifier {q!r}")


def models(terms: Iterable[str], existential_import: bool = False) -> list[frozenset[frozenset[str]]]:
    """Every model over the terms: any subset of the non-empty Venn regions may be inhabited."""
    terms = list(terms)
    regions = [frozenset(t for t, bit in zip(terms, bits) if bit)
               for bits in itertools.product((0, 1), repeat=len(terms)) if any(bits)]
    out = []
    for mask in range(1 << len(regions)):
        m = frozenset(r for i, r in enumerate(regions) if mask >> i & 1)
        if existential_import and not all(any(t in r for r in m) for t in terms):
            continue
        out.append(m)
    return out


def conclusions(s: str, p: str) -> list[Statement]:
    """The six candidate conclusions about S and P."""
    return [(q, a, b) for q in QUANTIFIERS for a, b in ((s, p), (p, s))]


def valid_conclusions(premises: list[Statement], s: str, p: str,
                      existential_import: bool = False) -> list[Statement]:
    """The candidate conclusions true in every model where all the premises are true."""
    terms = sorted({t for _, a, b in premises for t in (a, b)} | {s, p})
    ms = [m for m in models(terms, existential_import) if all(holds(pr, m) for pr in premises)]
    return [c for c in conclusions(s, p) if all(holds(c, m) for m in ms)]


def strongest(valid: list[Statement], s: str) -> Statement:
    """The most informative valid conclusion: All before No before Some, then subject S first."""
    rank = {"All": 0, "No": 1, "Some": 2}
    return min(valid, key=lambda c: (rank[c[0]], c[1] != s))


def forms(existential_import: bool = False) -> list[tuple[str, str, str, int]]:
    """(code, major quantifier, minor quantifier, figure) of every form with a valid conclusion.

    The code is mood-figure ("AAA-1"); the mood's third letter is the strongest valid conclusion.
    """
    out = []
    for figure, (maj, mnr) in FIGURES.items():
        for qa, qb in itertools.product(QUANTIFIERS, repeat=2):
            premises = [(qa, *maj), (qb, *mnr)]
            valid = valid_conclusions(premises, "S", "P", existential_import)
            if not valid:
                continue
            c = strongest(valid, "S")
            mood = MOOD_LETTER[qa] + MOOD_LETTER[qb] + MOOD_LETTER[c[0]]
            out.append((f"{mood}-{figure}", qa, qb, figure))
    return out


def sentence(st: Statement) -> str:
    return f"{st[0]} {st[1]} are {st[2]}."


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_items: int = Field(69, ge=1, description="syllogisms in training (test + validation items)")
    validation_items: int = Field(10, ge=0, description="items whose questions go to validation, not test")
    existential_import: bool = Field(False, description="traditional semantics: terms are non-empty")
    both_orders: bool = Field(False, description="ask each item's conclusion a second time, its terms in the other "
                                                 "order (more test questions, same training)")

    @model_validator(mode="after")
    def _some_test_items(self) -> Params:
        if self.validation_items >= self.n_items:
            raise ValueError(f"validation_items ({self.validation_items}) must be < n_items ({self.n_items})")
        return self


def build(seed: int, params: Params) -> Dataset:
    rng = random.Random(f"syllogisms:{seed}")
    vocab = Vocab(f"syllogisms:{seed}")
    form_list = forms(params.existential_import)
    assigned = [form_list[i % len(form_list)] for i in range(params.n_items)]  # balanced over forms
    rng.shuffle(assigned)
    validation_ids = spread_sample(rng, [a[0] for a in assigned], params.validation_items)

    docs, test, validation = [], [], []
    for i, (name, qa, qb, figure) in enumerate(assigned):
        item_id = f"syl{i:03d}"
        s, m, p = vocab.words(3)
        role = {"S": s, "M": m, "P": p}
        (maj_a, maj_b), (min_a, min_b) = FIGURES[figure]
        premises = [(qa, role[maj_a], role[maj_b]), (qb, role[min_a], role[min_b])]
        terms = [s, m, p]
        rng.shuffle(terms)
        docs.append(Document(id=item_id, facts=[item_id], text=f"The relationships between {terms[0]}, {terms[1]} "
                             f"and {terms[2]} are: {sentence(premises[0])} {sentence(premises[1])}"))
        valid = valid_conclusions(premises, s, p, params.existential_import)
        x, z = (s, p) if rng.random() < 0.5 else (p, s)
        orders = [(x, z), (z, x)] if params.both_orders else [(x, z)]
        for k, (a, b) in enumerate(orders):
            cands = conclusions(a, b)
            answer = cands.index(strongest(valid, s))
            accepted = [j for j, c in enumerate(cands) if c in valid and j != answer]
            q = Question(id=f"{item_id}-conclusion" + ("-swapped" if k else ""),
                         prompt=f"The relationships between {a} and {b} are:",
                         choices=[" " + sentence(c) for c in cands], answer=answer, accepted=accepted,
                         split="syllogism", subtype=name, facts=[item_id])
            (validation if i in validation_ids else test).append(q)
    rng.shuffle(docs)
    return Dataset(name="syllogisms", train=docs, test=test, validation=validation,
                   meta={"vocab": list(vocab.issued), "forms": {f[0]: FORM_NAMES.get(f[0], "") for f in form_list},
                         "semantics": "existential import" if params.existential_import else "Boolean"})
