"""The derivatoid transform and its expressions: the four rules (`Transform.apply`, the reference implementation),
the plausible wrong applications (`Bug`, `bugs`, `wrong_results`) and the structure of an expression tree (its
nodes, rule combination, shape and atoms)."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.parsing.sympy_parser import parse_expr

from iclft.errors import UserError

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
            partner = dict(d["partner"])  # type: ignore[call-overload]
            return cls(str(d["name"]), {str(k): str(v) for k, v in partner.items()})
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


def top(e: sp.Expr) -> str:
    """The top-level operator: "+" for a sum, "*" for a product (or power), "f" for a function."""
    return "+" if isinstance(e, sp.Add) else "*" if isinstance(e, (sp.Mul, sp.Pow)) else "f"
