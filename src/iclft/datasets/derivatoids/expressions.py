"""The expressions of a derivatoids dataset: random expressions of given rules, how many each combination gets
(`quotas`), which atoms validation and test own (`owners`), and the draw that fills every quota
(`draw_expressions`)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable

import sympy as sp
from sympy.core.function import AppliedUndef

from iclft.datasets.derivatoids.params import Params
from iclft.datasets.derivatoids.transform import Bug, Transform, X, atoms, combo, top, walk, wrong_results
from iclft.errors import UserError


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


def draw_expressions(rng: random.Random, t: Transform, p: Params, quota: dict[str, dict[str, int]], owner: Owner,
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
    sizes = range(2, min(p.n_functions, p.max_functions) + 1)
    sets = [s for k in sizes for s in itertools.combinations(sorted(fns), k)]
    return sum(label is None or all(owner[(c, *pair)] == label for pair in itertools.combinations(s, 2)) for s in sets)


def _spread(n: int, keys: list[str]) -> dict[str, int]:
    """n dealt round-robin over keys."""
    return {k: n // len(keys) + (i < n % len(keys)) for i, k in enumerate(keys)}


def quotas(splits: dict[str, list[str]], n_ex: int, n_val: int, n_test: int,
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
