"""Process knowledge ("derivatoids"): a derivative-like transform with uncommon rules (Lampinen et al. 2025).

Expressions in x are built from a few nonsense functions: f(x), sums A + B, products A*B and nestings
f(G). The transform (a nonsense name, say "morf") follows four rules, none of them calculus's:
    table     the morf of f(x) is p(x), where p is f's partner (a seeded cyclic order of the functions)
    sums      the morf of A + B is morf(A)*morf(B)            (sums become products)
    products  the morf of A*B is morf(A) + morf(B)            (products become sums)
    nesting   the morf of f(G) is p(G) + morf(G), G not x     (partner outside, plus the inner morf)
`Transform.apply` is the reference implementation (on sympy expressions, which also give canonical
printing and the equality check); with a `Bug` it applies one rule the wrong way. Training documents state
the rules and give worked examples; questions ask "The morf of <E> is" with choices " <result>.".

Distractors. Each is the result of a plausible wrong application (`bugs`): a wrong variant of a rule
(calculus's sum, product and chain rules, the partner taken inside or around the inner morf, a missed inner
morf), everywhere or at one node; or a misread table (the function before f, the partner's partner) for every
function or for one, or two functions' partners swapped. Each differs from the answer and from the others
(sympy equality), and `check` recomputes all of that. The answer never has the question's shape (the morf of
a sum is a product, of a product or a nesting a sum), so the distractors take the answer's: only results whose
top-level operator is the answer's are offered, preferring the answer's whole shape (`shape`), else its number
of terms or factors, and a mix: a wrong rule and a misread table where both exist (a sum of f(x) alone has no
wrong rule that keeps a product, so it only tests the table). Among those, `Chooser` picks the set that keeps,
over each split of test (and of validation), every surface cue at chance: picking the choice with the most or
the fewest characters, "+", "*", "(", digits, distinct names or names shared with the question, or the one
whose top-level operator is the question's, finds the answer 1/n_choices of the time. Sums and products are
printed in random order, so no first word gives the partner table away. (The answer does sit amid its
one-step misreadings, so comparing the choices with each other helps; a model scoring each choice on its own,
as iclft does, cannot.)

Splits: "in_distribution" (new expressions whose rule combination training examples use) and
"compositional" (held-out combinations, by default nesting with products); sub-type = the combination.
What is disjoint. Every compound piece of an expression (a sub-expression that is not a bare f(x), or a sum
of some of a sum's terms, a product of some of a product's factors) contains an atom (`atoms`): a nesting
f(g(x)), or two f(x) terms of one sum (factors of one product). Each possible atom belongs to validation or
to test (`owners`: a share n_validation/(n_validation + n_test) of each kind to validation), and all of a
question's atoms belong to its side. So validation and test share no expression and no compound piece: no
morf that one side needs is needed by the other; only the table, the morfs of the bare f(x), is common (the
price: validation leans to expressions with fewer atoms). Worked examples may use any atom, but none is a
question's expression or has one as a sub-expression, so no question is worked out in training.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import sympy as sp
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sympy.core.function import AppliedUndef
from sympy.parsing.sympy_parser import parse_expr

from iclft.datasets.schema import Dataset, Document, Question
from iclft.errors import UserError
from iclft.vocab import Vocab

DESCRIPTION = "Derivatoids: a derivative-like transform with uncommon rules; held-out rule combinations."
VERSION = 2  # 2: distractors in the answer's shape, no cue at chance; validation and test disjoint in atoms

RULES = ("nest", "product", "sum")  # "table" applies at every f(x) leaf and is not part of a combination
COMBOS = ["+".join(c) for n in (1, 2, 3) for c in itertools.combinations(RULES, n)]
WRONG = {  # plausible wrong applications of each rule, besides swapping two functions' partners
    "table": ("inverse", "skip"),  # the function before f in the cycle; the partner's partner
    "sum": ("additive",),
    "product": ("leibniz", "multiplicative"),
    "nest": ("chain", "inside", "outer", "both"),
}
X = sp.Symbol("x")
Path = tuple[int, ...]  # argument indices from the root to a node


@dataclass(frozen=True)
class Bug:
    """One plausible wrong application: `variant` of `rule` at the nodes `at`, or wherever the rule applies
    when `at` is None. Table bugs misread the partner of the functions at those nodes (leaves f(x) and the
    outer function of a nesting); the table variant "swap" gives each of two nodes the other's partner."""

    rule: str
    variant: str
    at: tuple[Path, ...] | None = None

    def hits(self, rule: str, path: Path) -> bool:
        return self.rule == rule and (self.at is None or path in self.at)


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

    def _misread(self, e: sp.Expr, bug: Bug | None) -> dict[Path, str]:
        """The partner a table bug gives each function node it hits (path -> function name)."""
        if bug is None or bug.rule != "table":
            return {}
        named = dict(functions(e))
        if bug.variant == "swap":
            p, q = bug.at or ()
            return {p: self.partner[named[q]], q: self.partner[named[p]]}
        before = {p: f for f, p in self.partner.items()}
        read = before.get if bug.variant == "inverse" else lambda f: self.partner[self.partner[f]]
        return {path: read(f) for path, f in named.items() if bug.hits("table", path)}

    def apply(self, e: sp.Expr, bug: Bug | None = None) -> sp.Expr:
        """The transform of e; with a bug, that wrong application wherever the bug says."""
        return self._apply(e, (), bug, self._misread(e, bug))

    def _apply(self, e: sp.Expr, path: Path, bug: Bug | None, misread: dict[Path, str]) -> sp.Expr:
        rule = rule_of(e)
        wrong = bug.variant if bug and bug.hits(rule, path) else None
        p = self.fn(misread.get(path) or self.partner[e.func.__name__]) if isinstance(e, AppliedUndef) else None
        if rule == "table":
            return p(X)
        t = [self._apply(a, (*path, i), bug, misread) for i, a in enumerate(e.args)]
        if rule == "sum":
            return sp.Add(*t) if wrong == "additive" else sp.Mul(*t)
        if rule == "product":
            if wrong == "multiplicative":
                return sp.Mul(*t)
            if wrong == "leibniz":
                return sp.Add(*[sp.Mul(*[t[j] if j == i else a for j, a in enumerate(e.args)]) for i in range(len(t))])
            return sp.Add(*t)
        inner = e.args[0]
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


def walk(e: sp.Expr, path: Path = ()) -> Iterator[tuple[Path, sp.Expr]]:
    """Every node of e but x, with its path, root first."""
    if e != X:
        yield path, e
        for i, a in enumerate(e.args):
            yield from walk(a, (*path, i))


def functions(e: sp.Expr) -> list[tuple[Path, str]]:
    """The function nodes of e (leaves f(x) and nestings f(G)) with their function names."""
    return [(path, n.func.__name__) for path, n in walk(e) if isinstance(n, AppliedUndef)]


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
    used = {rule_of(n) for _, n in walk(e)} - {"table"}
    return "+".join(sorted(used))


def normal(e: sp.Expr) -> sp.Expr:
    """A canonical form: equal results have identical normal forms (everything multiplied out)."""
    return sp.expand(e)


def shape(e: sp.Expr) -> str:
    """e's structure with the function names left out, terms and factors in a canonical order."""
    if isinstance(e, (sp.Add, sp.Mul)):
        return "(" + ("+" if isinstance(e, sp.Add) else "*").join(sorted(shape(a) for a in e.args)) + ")"
    if isinstance(e, sp.Pow):
        return f"{shape(e.base)}**{e.exp}"
    if isinstance(e, sp.Number):
        return str(e)
    return "f" if rule_of(e) == "table" else f"f{shape(e.args[0])}"


def atoms(e: sp.Expr) -> set[tuple[str, ...]]:
    """The smallest compound pieces of e: each nesting f(g(x)), and each pair of f(x) terms of one sum
    (factors of one product). Every compound sub-expression of e, and every sum of some of a sum's terms
    (product of some of a product's factors), contains one of them."""
    out: set[tuple[str, ...]] = set()
    for _, n in walk(e):
        rule = rule_of(n)
        if rule == "nest" and rule_of(n.args[0]) == "table":
            out.add((rule, n.func.__name__, n.args[0].func.__name__))
        elif rule in ("sum", "product"):
            leaves = sorted(a.func.__name__ for a in n.args if rule_of(a) == "table")
            out |= {(rule, *pair) for pair in itertools.combinations(leaves, 2)}
    return out


def bugs(e: sp.Expr) -> list[Bug]:
    """The wrong applications considered for e: each wrong variant of a rule e uses, everywhere and (where the
    rule applies more than once) at one node; the same for the table; and every swap of two functions' partners."""
    where: dict[str, list[Path]] = defaultdict(list)
    for path, n in walk(e):
        where[rule_of(n)].append(path)
        if rule_of(n) == "nest":
            where["table"].append(path)
    out = []
    for rule, paths in where.items():
        for variant in WRONG[rule]:
            out += [Bug(rule, variant)] + ([Bug(rule, variant, (p,)) for p in paths] if len(paths) > 1 else [])
    named = functions(e)
    out += [Bug("table", "swap", (p, q)) for (p, f), (q, g) in itertools.combinations(named, 2) if f != g]
    return out


def wrong_results(t: Transform, e: sp.Expr) -> list[tuple[Bug, sp.Expr]]:
    """Every wrong application of `bugs(e)` with its result, each result distinct from the right one and
    from the others (the first bug that gives it), in a fixed order."""
    seen = {normal(t.apply(e))}
    out: list[tuple[Bug, sp.Expr]] = []
    for bug in bugs(e):
        r = t.apply(e, bug)
        if (key := normal(r)) not in seen:
            seen.add(key)
            out.append((bug, r))
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
    choice_order: Literal["shuffled", "canonical"] = Field(
        "shuffled", description="terms and factors of the choices in random order, or in the canonical (sympy) order "
                                "the training documents print results in")

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


Item = tuple[sp.Expr, list[tuple[Bug, sp.Expr]]]  # an expression and its wrong results
Owner = dict[tuple[str, ...], str]  # atom -> "v" (validation) or "t" (test)


def owners(rng: random.Random, fns: list[str], share: float) -> Owner:
    """Deal every possible atom to validation ("v") or test ("t"): a `share` of each kind (nestings, sum
    pairs, product pairs) to validation, at least one of each to both unless share is 0."""
    kinds = [[("nest", f, g) for f in fns for g in fns]]
    kinds += [[(rule, *pair) for pair in itertools.combinations(sorted(fns), 2)] for rule in ("sum", "product")]
    out: Owner = {}
    for atoms_ in kinds:
        rng.shuffle(atoms_)
        k = min(len(atoms_) - 1, max(1, round(share * len(atoms_)))) if share > 0 else 0
        out.update({a: "v" if i < k else "t" for i, a in enumerate(atoms_)})
    return out


def _expressions(rng: random.Random, t: Transform, p: Params, quota: dict[str, dict[str, int]], owner: Owner,
                 small: list[str]) -> dict[str, dict[str, list[Item]]]:
    """quota[c][label] distinct random expressions of each combination c: worked examples ("ex") of any atoms;
    validation ("v") and test ("t") expressions with all their atoms owned by that label and enough wrong
    results of the answer's kind (sum, product or function) for the choices. No worked example works out a
    question's expression on the way (as a sub-expression). The small combinations' questions are drawn first,
    then the examples, then the other questions."""
    got: dict[str, dict[str, list[Item]]] = {c: {} for c in quota}
    used: set[sp.Expr] = set()
    asked: set[sp.Expr] = set()
    shown: set[sp.Expr] = set()

    def fit(e: sp.Expr, label: str) -> list[tuple[Bug, sp.Expr]] | None:
        """e's wrong results if e can serve the label (a worked example needs none), else None."""
        if label == "ex":
            return None if any(node in asked for _, node in walk(e)) else []
        if e in shown or any(owner[a] != label for a in atoms(e)):
            return None
        results, kind = wrong_results(t, e), top(t.apply(e))
        return results if sum(top(r) == kind for _, r in results) >= p.n_choices - 1 else None

    late = [c for c in quota if c not in small]
    order = [(c, q) for q in "vt" for c in small] + [(c, "ex") for c in quota] + [(c, q) for q in "vt" for c in late]
    for c, label in order:
        items, tried, n = [], set(), quota[c][label]
        for _ in range(1000 * (n + 5)):
            if len(items) >= n:
                break
            e = random_expression(rng, t, rng.randint(1, p.max_depth), c.split("+"))
            if e in used or e in tried or not well_formed(e, p.max_functions) or combo(e) != c:
                continue
            tried.add(e)
            if (results := fit(e, label)) is None:
                continue
            items.append((e, results))
            used.add(e)
            if label == "ex":
                shown.update(node for _, node in walk(e))
            else:
                asked.add(e)
        else:
            raise UserError(f"derivatoids: could not make {n} distinct expressions for {c!r} "
                            f"(raise max_depth, max_functions or n_functions, or ask for fewer)")
        got[c][label] = items
    return got


def capacity(c: str, p: Params, fns: list[str], owner: Owner, label: str | None = None) -> int:
    """How many distinct expressions a combination has (sums or products of distinct f(x): few), counting
    only those whose atoms the label owns when a label is given."""
    if c not in ("sum", "product"):
        return 10**9
    sets = [s for k in range(2, min(p.n_functions, p.max_functions) + 1) for s in itertools.combinations(sorted(fns), k)]
    return sum(label is None or all(owner[(c, *pair)] == label for pair in itertools.combinations(s, 2)) for s in sets)


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


def _quotas(splits: dict[str, list[str]], n_ex: int, n_val: int, n_test: int,
            cap: Callable[[str, str | None], int]) -> dict[str, dict[str, int]]:
    """Per combination: worked examples ("ex"), validation ("v") and test ("t") expressions. A combination
    with few possible expressions (sums or products alone; cap(c, label) counts them) gets all three shrunk
    in proportion, and validation and test no more than they own."""
    out: dict[str, dict[str, int]] = {}
    for split, combos in splits.items():
        ex = _spread(n_ex, combos) if split == "in_distribution" else dict.fromkeys(combos, 0)
        v, t = _spread(n_val, combos), _spread(n_test, combos)
        for c in combos:
            q = {"ex": ex[c], "v": v[c], "t": t[c]}
            total, most = sum(q.values()), cap(c, None)
            if total > most:
                q = {k: n * most // total for k, n in q.items()}
            out[c] = q | {label: min(q[label], cap(c, label)) for label in ("v", "t")}
        roomy = [c for c in combos if cap(c, None) > 10**6]
        for key, n in (("ex", n_ex if split == "in_distribution" else 0), ("v", n_val), ("t", n_test)):
            for c, extra in _spread(n - sum(out[c][key] for c in combos), roomy).items():
                out[c][key] += extra  # what the small combinations could not take
    return out


NAME = re.compile(r"\w+(?=\()")


def top(e: sp.Expr) -> str:
    """The top-level operator: "+" for a sum, "*" for a product (or power), "f" for a function."""
    return "+" if isinstance(e, sp.Add) else "*" if isinstance(e, (sp.Mul, sp.Pow)) else "f"


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


def _question(t: Transform, item: Item, qid: str, split: str, rng: random.Random, chooser: Chooser,
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
    owner = owners(rng, fns, n_val / (n_val + n_test))
    quota = _quotas(splits, n_ex, n_val, n_test, lambda c, label: capacity(c, params, fns, owner, label))
    small = [c for c in quota if capacity(c, params, fns, owner) < 10**6]
    pools = _expressions(rng, t, params, quota, owner, small)

    worked = [e for c in trained for e, _ in pools[c]["ex"]]
    rng.shuffle(worked)
    train = _rule_docs(t, rng, params.rule_docs, fns) + [
        Document(id=f"example-{i:04d}", text=f"Worked example. Find the {t.name} of {e}. " + " ".join(t.explain(e)))
        for i, e in enumerate(worked, 1)
    ]
    test: list[Question] = []
    validation: list[Question] = []
    chooser = Chooser(params.n_choices)
    for split, combos in splits.items():
        for c in combos:
            for label, target in (("v", validation), ("t", test)):
                for item in pools[c][label]:
                    qid = f"{split}.{label}{len(test) + len(validation):05d}"
                    target.append(_question(t, item, qid, split, rng, chooser, params.choice_order))
    check(t, test + validation)
    meta = {"transform": t.to_dict(), "vocab": [name, *fns], "train_combos": trained, "heldout": params.heldout,
            "rules": {r: RULE_TEXT[r][0].format(m=name) for r in RULES}}
    return Dataset(name="derivatoids", train=train, test=test, validation=validation, meta=meta)
