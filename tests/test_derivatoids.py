"""Derivatoids: the reference transform, wrong-rule distractors, held-out combinations, determinism, chance."""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict

import pytest
import sympy as sp

from iclft.datasets import derivatoids as D
from iclft.datasets import registry
from iclft.datasets.schema import Dataset
from iclft.errors import UserError

T = D.Transform("morf", {"a": "b", "b": "c", "c": "d", "d": "a"})
a, b, c, d = (T.fn(n) for n in "abcd")
x = D.X
SMALL = {"scale": 0.1}


@pytest.mark.parametrize("expr, expected", [
    (a(x), b(x)),                                   # table
    (a(x) + c(x), b(x) * d(x)),                     # sums become products
    (a(x) * c(x), b(x) + d(x)),                     # products become sums
    (a(c(x)), b(c(x)) + d(x)),                      # nesting: partner outside, plus the inner transform
    (a(x) * c(x) + d(x), (b(x) + d(x)) * a(x)),     # sum of a product
    (a(c(x) + d(x)), b(c(x) + d(x)) + d(x) * a(x)),  # nesting around a sum
])  # fmt: skip
def test_reference_transform(expr, expected):
    assert D.normal(T.apply(expr)) == D.normal(expected)


def test_wrong_rule_applications_are_plausible_and_distinct():
    e = a(c(x)) * b(x)  # nesting inside a product
    right = D.normal(T.apply(e))
    wrong = D.wrong_results(T, e)
    normals = [D.normal(w) for w in wrong]
    assert right not in normals and len(set(normals)) == len(normals)
    expected = {  # one per wrong rule that applies
        "calculus product rule": T.apply(e, ("product", "leibniz")),
        "calculus chain rule": T.apply(e, ("nest", "chain")),
        "partner taken inside": T.apply(e, ("nest", "inside")),
        "table read backwards": T.apply(e, ("table", "inverse")),
    }
    for label, w in expected.items():
        assert D.normal(w) in normals, label
    assert D.normal(T.apply(e, ("nest", "chain"))) == D.normal(b(c(x)) * d(x) + c(x))  # p(G)*T(G), then + T(b(x))
    assert D.combo(e) == "nest+product" and D.combo(a(x)) == "" and D.combo(a(x) + b(c(x))) == "nest+sum"


def test_explanations_end_in_the_reference_result():
    e = a(x) * c(x) + d(b(x))
    steps = T.explain(e)
    assert steps[-1] == f"So the morf of {e} is {T.apply(e)}."
    assert any(s.startswith("By the rule of nesting") for s in steps)
    assert any(s.startswith("By the rule of products") for s in steps)


def test_parse_is_safe_and_round_trips():
    e = a(c(x)) * b(x) + 2 * d(x) ** 2
    assert T.parse(str(e)) == e
    for bad in ("__import__('os').system('true')", "e(x)", "a(x) - b(x)", "a(x) + lambda: 1"):
        with pytest.raises(UserError):
            T.parse(bad)


def test_bad_parameters_are_user_errors():
    with pytest.raises(UserError, match="unknown combination"):
        registry.make_params("derivatoids", {"heldout": ["nest+division"]})
    with pytest.raises(UserError, match="every rule"):
        registry.make_params("derivatoids", {"heldout": ["nest", "nest+sum", "nest+product", "nest+product+sum"]})
    with pytest.raises(UserError, match="n_choices"):
        registry.make_params("derivatoids", {"n_choices": 1})


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Dataset, D.Transform]:
    folder = tmp_path_factory.mktemp("derivatoids")
    registry.build("derivatoids", 0, SMALL).save(folder)
    ds = Dataset.load(folder)
    return ds, D.Transform.from_dict(ds.meta["transform"])


def _expression(t: D.Transform, prompt: str) -> sp.Expr:
    return t.parse(prompt.removeprefix(f"The {t.name} of ").removesuffix(" is"))


def test_splits_hold_out_rule_combinations(small):
    ds, t = small
    held, trained = set(ds.meta["heldout"]), set(ds.meta["train_combos"])
    assert {q.subtype for q in ds.test if q.split == "compositional"} == held
    assert {q.subtype for q in ds.test if q.split == "in_distribution"} == trained
    assert {q.split for q in ds.validation} == {"compositional", "in_distribution"}
    examples = [d for d in ds.train if d.id.startswith("example-")]
    assert examples and len([d for d in ds.train if d.id.startswith("rule-")]) == 12
    shown = set()
    for doc in examples:
        e = t.parse(re.match(rf"Worked example\. Find the {t.name} of (.*?)\. ", doc.text).group(1))
        assert D.combo(e) in trained  # training never combines the held-out rules
        shown.add(str(e))
    test_exprs = [str(_expression(t, q.prompt)) for q in ds.test]
    val_exprs = [str(_expression(t, q.prompt)) for q in ds.validation]
    assert not shown & set(test_exprs) and not shown & set(val_exprs) and not set(test_exprs) & set(val_exprs)
    assert len(set(test_exprs)) == len(test_exprs)
    for q in ds.test:
        assert D.combo(_expression(t, q.prompt)) == q.subtype


def test_checker_recomputes_every_answer(small):
    ds, t = small
    assert D.check(t, ds.test + ds.validation) == len(ds.test) + len(ds.validation)
    q = ds.test[0]
    with pytest.raises(RuntimeError, match="not the transform"):
        D.check(t, [q.model_copy(update={"answer": (q.answer + 1) % len(q.choices)})])
    twin = q.model_copy(update={"choices": [q.choices[q.answer]] * 2 + q.choices[2:], "answer": 0})
    with pytest.raises(RuntimeError, match="equal"):
        D.check(t, [twin])


def test_same_seed_same_bytes(tmp_path):
    for folder, seed in (("a", 5), ("b", 5), ("c", 6)):
        registry.build("derivatoids", seed, SMALL).save(tmp_path / folder)
    for name in ("train.jsonl", "test.jsonl", "validation.jsonl", "meta.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "test.jsonl").read_bytes() != (tmp_path / "c" / "test.jsonl").read_bytes()


@pytest.mark.slow
def test_default_build_is_full_sized():
    ds = D.build(0, D.Params())
    assert len(ds.test) == 400 and len(ds.validation) == 100 and len(ds.train) == 412


def _chance(lm, ds: Dataset, per_split: int) -> dict[tuple[str, str], list[bool]]:
    """Pretrained accuracy per (normalization, split) on a seeded sample of the test questions."""
    from iclft.scoring import score_questions

    groups = defaultdict(list)
    for q in ds.test:
        groups[q.split].append(q)
    rng = random.Random(0)
    qs = [q for split in sorted(groups) for q in rng.sample(groups[split], min(per_split, len(groups[split])))]
    right = defaultdict(list)
    for q, s in zip(qs, score_questions(lm, qs)):
        for norm in ("sum", "mean"):
            right[(norm, q.split)].append(bool(q.is_correct(s.pred(norm))))
    for (norm, split), v in sorted(right.items()):
        print(f"pretrained {norm:4s} {split:16s} {sum(v) / len(v):.2f}  n={len(v)}")
    return right


def _se(chance: float, n: int) -> float:
    return math.sqrt(chance * (1 - chance) / n)


def test_pretrained_model_is_near_chance(lm, small):
    """Per-token (mean) log-likelihood is the fair reading here: choices differ in length by design, and a
    summed score favours the shortest (e.g. forgetting the inner transform). Either way no answer leaks."""
    right = _chance(lm, small[0], per_split=8)
    for norm in ("sum", "mean"):
        pooled = [ok for (nm, _), v in right.items() if nm == norm for ok in v]
        acc, se = sum(pooled) / len(pooled), _se(0.25, len(pooled))
        assert acc <= 0.25 + 3 * se, (norm, acc)
        if norm == "mean":
            assert acc >= 0.25 - 3 * se, acc


@pytest.mark.slow
def test_pretrained_model_per_split(lm):
    right = _chance(lm, D.build(1, D.Params(scale=0.3)), per_split=40)
    for (norm, split), hits in right.items():
        acc, se = sum(hits) / len(hits), _se(0.25, len(hits))
        assert acc <= 0.25 + 3 * se, (norm, split, acc)
        if norm == "mean":
            assert acc >= 0.25 - 3 * se, (split, acc)
