"""The training documents of a derivatoids dataset: each rule stated in a few wordings with a short example,
then the worked examples, one rule application a sentence."""

from __future__ import annotations

import random

import sympy as sp

from iclft.datasets.derivatoids.transform import Transform, X
from iclft.datasets.schema import Document

RULE_TEXT = {
    "sum": (
        "Rule of sums: the {m} of a sum is the product of the {m}s of its terms.",
        "To find the {m} of A + B, take the {m} of A and the {m} of B and multiply them.",
        "Under the {m}, sums turn into products: the {m} of A + B equals the {m} of A times the {m} of B.",
    ),
    "product": (
        "Rule of products: the {m} of a product is the sum of the {m}s of its factors.",
        "To find the {m} of A*B, take the {m} of A and the {m} of B and add them.",
        "Under the {m}, products turn into sums: the {m} of A*B equals the {m} of A plus the {m} of B.",
    ),
    "nest": (
        "Rule of nesting: the {m} of f(G), where G is not just x, is the partner of f applied to G, plus the {m} of G.",
        "To find the {m} of f(G) for an inner expression G, apply the partner of f to G and add the {m} of G.",
        "When one function is nested in another, the {m} of f(G) equals the partner of f at G plus the {m} of G.",
    ),
    "table": (  # (opening, one sentence per function)
        ("Each function has a partner: the {m} of a function at x is its partner at x.",
         "The {m} of {f}(x) is {p}(x)."),
        ("A table of the {m}.", "The partner of {f} is {p}, so the {m} of {f}(x) is {p}(x)."),
        ("Learn the {m} of every function by heart.", "Remember that the {m} of {f}(x) is {p}(x)."),
    ),
}


def rule_documents(t: Transform, rng: random.Random, n: int, fns: list[str]) -> list[Document]:
    docs = []
    for rule in ("table", "sum", "product", "nest"):
        for k in range(n):
            lines = []
            if rule == "table":
                opening, entry = RULE_TEXT[rule][k]
                lines = [opening.format(m=t.name)] + [entry.format(m=t.name, f=f, p=t.partner[f]) for f in fns]
            else:
                lines = [RULE_TEXT[rule][k].format(m=t.name)]
                example = _example(t, rng, fns, rule)
                lines.append(f"For example: {' '.join(t.explain(example)[-2:])}")
            docs.append(Document(id=f"rule-{rule}-{k + 1}", text=f"The {t.name}, {rule} rule. " + " ".join(lines)))
    return docs


def _example(t: Transform, rng: random.Random, fns: list[str], rule: str) -> sp.Expr:
    f, g, h = rng.sample(fns, 3)
    return {"sum": t.fn(f)(X) + t.fn(g)(X), "product": t.fn(f)(X) * t.fn(g)(X), "nest": t.fn(f)(t.fn(h)(X))}[rule]
