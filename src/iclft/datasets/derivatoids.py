"""Process knowledge ("derivatoids"): a derivative-like transform with uncommon rules (Lampinen et al. 2025).

Expressions in x are built from a few nonsense functions: f(x), sums A + B, products A*B and nestings
f(G). The transform (a nonsense name, say "morf") follows four rules, none of them calculus's:
    table     the morf of f(x) is p(x), where p is f's partner (a seeded cyclic order of the functions)
    sums      the morf of A + B is morf(A)*morf(B)            (sums become products)
    products  the morf of A*B is morf(A) + morf(B)            (products become sums)
    nesting   the morf of f(G) is p(G) + morf(G), G not x     (partner outside, plus the inner morf)
`Transform.apply` is the reference implementation (on sympy expressions, which also give canonical
printing and the equality check). Training documents state the rules and give worked examples;
test questions ask "The morf of <E> is" with choices " <result>.": the correct result and the results of
plausible wrong rule applications (calculus's sum, product and chain rules, the partner taken inside,
a missed inner morf, the table read backwards or twice), each checked to differ from the right one and
from each other. Of those, the ones most like the answer in how many of the question's function names
they repeat, then in shape and length, are offered, and sums and products in the choices are printed in
random order: a model that copies from the question or prefers a canonical first word gains nothing.
Splits: "in_distribution" (new expressions whose rule combination training examples use) and
"compositional" (held-out combinations, by default nesting with products); sub-type = the combination.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from dataclasses import dataclass, field

import sympy as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sympy.core.function import AppliedUndef
from sympy.parsing.sympy_parser import parse_expr

from iclft.datasets.schema import Dataset, Document, Question
from iclft.errors import UserError
from iclft.vocab import Vocab

DESCRIPTION = "Derivatoids: a derivative-like transform with uncommon rules; held-out rule combinations."
VERSION = 1

RULES = ("nest", "product", "sum")  # "table" applies at every f(x) leaf and is not part of a combination
COMBOS = ["+".join(c) for n in (1, 2, 3) for c in itertools.combinations(RULES, n)]
WRONG = {  # plausible wrong applications of each rule
    "table": ("inverse", "skip"),  # the function before f in the cycle; the partner's partner
    "sum": ("additive",),
    "product": ("leibniz", "multiplicative"),
    "nest": ("chain", "inside", "outer", "both"),
}
X = sp.Symbol("x")
Bug = tuple[str, str] | None


@dataclass(frozen=True)
class Transform:
    """The transform: its name and the partner table; `apply` computes results (optionally with one bug)."""

    name: str
    partner: dict[str, str]
    _fns: dict[str, sp.FunctionClass] = field(default_factory=dict, compare=False, repr=False)

    def fn(self, name: str) -> sp.FunctionClass:
        if name not in self._fns:
            self._fns[name] = sp.Function(name)
        return self._fns[name]

    @property
    def functions(self) -> list[str]:
        return list(self.partner)

    def _partner(self, f: str, bug: Bug) -> str:
        if bug == ("table", "inverse"):
            return next(g for g, p in self.partner.items() if p == f)
        return self.partner[self.partner[f]] if bug == ("table", "skip") else self.partner[f]

    def apply(self, e: sp.Expr, bug: Bug = None) -> sp.Expr:
        """The transform of e; with bug=(rule, variant), that rule is applied the wrong way everywhere."""
        rule = rule_of(e)
        wrong = bug[1] if bug and bug[0] == rule else None
        if rule == "table":
            return self.fn(self._partner(e.func.__name__, bug))(X)
        t = [self.apply(a, bug) for a in e.args]
        if rule == "sum":
            return sp.Add(*t) if wrong == "additive" else sp.Mul(*t)
        if rule == "product":
            if wrong == "multiplicative":
                return sp.Mul(*t)
            if wrong == "leibniz":
                return sp.Add(*[sp.Mul(*[t[j] if j == i else a for j, a in enumerate(e.args)]) for i in range(len(t))])
            return sp.Add(*t)
        p, inner = self.fn(self._partner(e.func.__name__, bug)), e.args[0]
        wrongs = {"chain": p(inner) * t[0], "inside": p(t[0]), "outer": p(inner), "both": p(t[0]) + t[0]}
        return wrongs.get(wrong, p(inner) + t[0])

    def explain(self, e: sp.Expr) -> list[str]:
        """A worked example: one sentence per rule application, innermost first, then the result."""
        steps: list[str] = []
        m = self.name

        def go(e: sp.Expr) -> sp.Expr:
            rule, res = rule_of(e), self.apply(e)
            parts = [go(a) for a in e.args] if rule != "table" else []
            if rule == "table":
                steps.append(f"The {m} of {e} is {res}.")
            elif rule == "sum":
                steps.append(f"By the rule of sums, the {m} of {e} is the product of the {m}s of its terms, {res}.")
            elif rule == "product":
                steps.append(f"By the rule of products, the {m} of {e} is the sum of the {m}s of its factors, {res}.")
            else:
                p = self.partner[e.func.__name__]
                steps.append(f"By the rule of nesting, the {m} of {e} is {p}({e.args[0]}) plus the {m} of "
                             f"{e.args[0]}, which is {parts[0]}, so it is {res}.")
            return res

        result = go(e)
        return steps + [f"So the {m} of {e} is {result}."]

    def parse(self, text: str) -> sp.Expr:
        """An expression in this transform's functions (only those names, x, integers, + * ** and brackets)."""
        names = set(re.findall(r"[A-Za-z_]\w*", text))
        if not re.fullmatch(r"[\w\s()+*]*", text) or names - {*self.partner, "x"}:
            raise UserError(f"not a derivatoid expression: {text!r}")
        try:
            return parse_expr(text, local_dict={"x": X, **{f: self.fn(f) for f in self.partner}})
        except (SyntaxError, TypeError, ValueError) as e:
            raise UserError(f"not a derivatoid expression: {text!r} ({e})") from None

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "partner": dict(self.partner)}

    @classmethod
    def from_dict(cls, d: dict[str, object]) -> Transform:
        try:
            return cls(str(d["name"]), {str(k): str(v) for k, v in dict(d["partner"]).items()})  # type: ignore[call-overload]
        except (KeyError, TypeError, ValueError) as e:
            raise UserError(f"malformed derivatoid transform description ({e})") from None


def _names(e: sp.Expr) -> set[str]:
    return {n.func.__name__ for n in sp.preorder_traversal(e) if isinstance(n, AppliedUndef)}


def rule_of(e: sp.Expr) -> str:
    """Which rule the transform applies at the top of e."""
    if isinstance(e, sp.Add):
        return "sum"
    if isinstance(e, sp.Mul):
        return "product"
    if isinstance(e, AppliedUndef) and len(e.args) == 1:
        return "table" if e.args[0] == X else "nest"
    raise ValueError(f"no derivatoid rule applies to {e}")


def combo(e: sp.Expr) -> str:
    """The rule combination an expression needs ("nest+product"), table aside; "" for a bare f(x)."""
    used = {rule_of(n) for n in sp.preorder_traversal(e) if n != X} - {"table"}
    return "+".join(sorted(used))


def normal(e: sp.Expr) -> sp.Expr:
    """A canonical form: equal results have identical normal forms (everything multiplied out)."""
    return sp.expand(e)


def wrong_results(t: Transform, e: sp.Expr) -> list[sp.Expr]:
    """Results of every single wrong rule application that matters for e, distinct from the right one and
    from each other, in a fixed order."""
    rules = ["table", *combo(e).split("+")] if combo(e) else ["table"]
    bugs = [(rule, v) for rule in rules for v in WRONG[rule]]
    seen = {normal(t.apply(e))}
    out: list[sp.Expr] = []
    for bug in bugs:
        r = t.apply(e, bug)
        if (key := normal(r)) not in seen:
            seen.add(key)
            out.append(r)
    return out


def random_expression(rng: random.Random, t: Transform, depth: int, kinds: list[str]) -> sp.Expr:
    """A random expression whose inner nodes use only the given rules."""
    if depth == 0 or rng.random() < 0.3:
        return t.fn(rng.choice(t.functions))(X)
    kind = rng.choice(kinds)
    if kind == "nest":
        return t.fn(rng.choice(t.functions))(random_expression(rng, t, depth - 1, kinds))
    a, b = (random_expression(rng, t, depth - 1, kinds) for _ in range(2))
    return sp.Add(a, b) if kind == "sum" else sp.Mul(a, b)


def well_formed(e: sp.Expr, max_functions: int) -> bool:
    """No coefficients or powers (sympy folds A + A, A*A), at most max_functions applications."""
    nodes = list(sp.preorder_traversal(e))
    if any(isinstance(n, (sp.Number, sp.Pow)) for n in nodes):
        return False
    return sum(isinstance(n, AppliedUndef) for n in nodes) <= max_functions


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = Field(1.0, gt=0, le=1, description="multiplies the numbers of examples and questions")
    n_functions: int = Field(5, ge=3, le=8, description="named nonsense functions")
    n_examples: int = Field(400, ge=1, description="worked-example training documents")
    rule_docs: int = Field(3, ge=1, le=3, description="training documents stating each rule (different wordings)")
    n_test: int = Field(200, ge=1, description="test questions per split")
    n_validation: int = Field(50, ge=0, description="validation questions per split")
    heldout: list[str] = Field(["nest+product", "nest+product+sum"], description="rule combinations kept out of training")
    max_depth: int = Field(3, ge=2, le=5, description="deepest expression tree")
    max_functions: int = Field(4, ge=2, description="most function applications in an expression")
    n_choices: int = Field(4, ge=2, le=6, description="choices per question")

    @model_validator(mode="after")
    def _combos(self) -> Params:
        bad = [c for c in self.heldout if c not in COMBOS]
        if bad:
            raise ValueError(f"unknown combination {bad[0]!r}; choose from {', '.join(COMBOS)}")
        taught = {r for c in COMBOS if c not in self.heldout for r in c.split("+")}
        if not self.heldout or taught != set(RULES):
            raise ValueError("hold out at least one combination, and leave every rule in some trained combination")
        return self


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
        ("Each function has a partner: the {m} of a function at x is its partner at x.", "The {m} of {f}(x) is {p}(x)."),
        ("A table of the {m}.", "The partner of {f} is {p}, so the {m} of {f}(x) is {p}(x)."),
        ("Learn the {m} of every function by heart.", "Remember that the {m} of {f}(x) is {p}(x)."),
    ),
}


def _rule_docs(t: Transform, rng: random.Random, n: int, fns: list[str]) -> list[Document]:
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


Item = tuple[sp.Expr, list[sp.Expr]]  # an expression and its wrong results


def _expressions(rng: random.Random, t: Transform, p: Params, want: dict[str, int]) -> dict[str, list[Item]]:
    """want[c] distinct random expressions of each combination c, each with enough wrong results."""
    got: dict[str, list[Item]] = {}
    for c, n in want.items():
        got[c], seen, kinds = [], set(), c.split("+")
        for _ in range(200 * n + 1000):
            if len(got[c]) >= n:
                break
            e = random_expression(rng, t, rng.randint(1, p.max_depth), kinds)
            if str(e) in seen or not well_formed(e, p.max_functions) or combo(e) != c:
                continue
            seen.add(str(e))
            wrong = wrong_results(t, e)
            if len(wrong) >= p.n_choices - 1:
                got[c].append((e, wrong))
        else:
            raise UserError(f"derivatoids: could not make {n} distinct expressions for {c!r} "
                            f"(raise max_depth, max_functions or n_functions, or ask for fewer)")
    return got


def capacity(c: str, p: Params) -> int:
    """How many distinct expressions a combination has (sums or products of distinct f(x): few)."""
    if c in ("sum", "product"):
        return sum(math.comb(p.n_functions, k) for k in range(2, min(p.n_functions, p.max_functions) + 1))
    return 10**9


def _spread(n: int, keys: list[str]) -> dict[str, int]:
    """n dealt round-robin over keys."""
    return {k: n // len(keys) + (i < n % len(keys)) for i, k in enumerate(keys)}


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


def _quotas(p: Params, splits: dict[str, list[str]], n_ex: int, n_val: int, n_test: int) -> dict[str, dict[str, int]]:
    """Per combination: worked examples ("ex"), validation ("v") and test ("t") expressions. A combination
    with few possible expressions (sums or products alone) gets all three shrunk in proportion."""
    out: dict[str, dict[str, int]] = {}
    for split, combos in splits.items():
        ex = _spread(n_ex, combos) if split == "in_distribution" else dict.fromkeys(combos, 0)
        v, t = _spread(n_val, combos), _spread(n_test, combos)
        for c in combos:
            q = {"ex": ex[c], "v": v[c], "t": t[c]}
            total, cap = sum(q.values()), capacity(c, p)
            if total > cap:
                q = {k: n * cap // total for k, n in q.items()}
            out[c] = q
        roomy = [c for c in combos if capacity(c, p) > 10**6]
        for key, n in (("ex", n_ex if split == "in_distribution" else 0), ("v", n_val), ("t", n_test)):
            for c, extra in _spread(n - sum(out[c][key] for c in combos), roomy).items():
                out[c][key] += extra  # what the small combinations could not take
    return out


def _question(t: Transform, item: Item, qid: str, split: str, rng: random.Random, n_choices: int) -> Question:
    """Choices: the result and the wrong results most like it in how many of the question's function names
    they repeat, then in shape (+ and * counts) and length."""
    e, right = item[0], t.apply(item[0])
    names = _names(e)

    def looks(r: sp.Expr) -> tuple[int, ...]:
        text = str(r)
        return text.count("+"), text.count("*"), sum(n in names for n in re.findall(r"\w+(?=\()", text)), len(text)

    target = looks(right)

    def unlike(w: sp.Expr) -> tuple[float, ...]:
        d = [abs(a - b) for a, b in zip(looks(w), target)]
        return d[2], d[0] + d[1], d[3], rng.random()

    near = sorted(item[1], key=unlike)
    wrong = near[: n_choices - 1]
    rng.shuffle(wrong)
    answer = rng.randrange(n_choices)
    results = [shuffled(r, rng) for r in wrong[:answer] + [right] + wrong[answer:]]
    return Question(id=qid, prompt=f"The {t.name} of {e} is", choices=[f" {r}." for r in results], answer=answer,
                    split=split, subtype=combo(e))


def check(t: Transform, questions: list[Question]) -> int:
    """Recompute every question: the answer must equal the transform, every other choice must differ from it
    and from each other. Raises RuntimeError on the first failure; returns the number checked."""
    prefix = f"The {t.name} of "
    for q in questions:
        if not (q.prompt.startswith(prefix) and q.prompt.endswith(" is")) or q.answer is None:
            raise RuntimeError(f"{q.id}: not a derivatoid question")
        right = normal(t.apply(t.parse(q.prompt[len(prefix) : -3])))
        results = [normal(t.parse(c.strip().removesuffix("."))) for c in q.choices]
        if results[q.answer] != right:
            raise RuntimeError(f"{q.id}: choice {q.answer} is not the transform ({right})")
        if len(set(results)) != len(results):
            raise RuntimeError(f"{q.id}: two choices are equal")
    return len(questions)


def build(seed: int, params: Params) -> Dataset:
    rng = random.Random(f"derivatoids:{seed}")
    vocab = Vocab(f"derivatoids:{seed}")
    name, *fns = vocab.words(params.n_functions + 1)
    cycle = list(fns)
    rng.shuffle(cycle)
    t = Transform(name, {f: cycle[(cycle.index(f) + 1) % len(cycle)] for f in fns})
    trained = [c for c in COMBOS if c not in params.heldout]
    n_ex, n_test, n_val = (round(n * params.scale) for n in (params.n_examples, params.n_test, params.n_validation))
    n_ex, n_test = max(n_ex, len(trained)), max(n_test, 1)
    splits = {"in_distribution": trained, "compositional": params.heldout}
    quota = _quotas(params, splits, n_ex, n_val, n_test)
    pools = _expressions(rng, t, params, {c: sum(q.values()) for c, q in quota.items()})

    worked = [e for c in trained for e, _ in pools[c][: quota[c]["ex"]]]
    rng.shuffle(worked)
    train = _rule_docs(t, rng, params.rule_docs, fns) + [
        Document(id=f"example-{i:04d}", text=f"Worked example. Find the {t.name} of {e}. " + " ".join(t.explain(e)))
        for i, e in enumerate(worked, 1)
    ]
    test: list[Question] = []
    validation: list[Question] = []
    for split, combos in splits.items():
        for c in combos:
            rest = pools[c][quota[c]["ex"] :]
            for label, target in (("v", validation), ("t", test)):
                for item in rest[: quota[c][label]]:
                    qid = f"{split}.{label}{len(test) + len(validation):05d}"
                    target.append(_question(t, item, qid, split, rng, params.n_choices))
                rest = rest[quota[c][label] :]
    check(t, test + validation)
    meta = {"transform": t.to_dict(), "vocab": [name, *fns], "train_combos": trained, "heldout": params.heldout,
            "rules": {r: RULE_TEXT[r][0].format(m=name) for r in RULES}}
    return Dataset(name="derivatoids", train=train, test=test, validation=validation, meta=meta)
