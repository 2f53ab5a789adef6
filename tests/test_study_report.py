"""The report: aggregates, standard errors, chance, figures and provenance computed from known records."""

from __future__ import annotations

import csv
import math

import pytest

from iclft.errors import UserError
from iclft.study.aggregates import aggregate
from iclft.study.report import write_report
from iclft.study.store import Store


def rec(condition, seed, split, subtype, correct_sum, correct_mean=None, n_choices=2, qid="q", facts=None):
    r = {
        "dataset": "toy", "model": "m", "condition": condition, "seed": seed, "part": "test", "id": qid,
        "split": split, "subtype": subtype, "answer": 0, "correct_choices": [0], "n_choices": n_choices,
        "correct": {"sum": correct_sum, "mean": correct_sum if correct_mean is None else correct_mean},
    }
    return r | ({"facts": facts} if facts else {})


def test_accuracy_is_mean_over_subtype_seed_groups():
    records = [
        # icl, split "reversal": sub-type a (seed 0) 2/2 right, sub-type b (seed 0) 1/3 right
        rec("icl", 0, "reversal", "a", True, qid="q1"), rec("icl", 0, "reversal", "a", True, qid="q2"),
        rec("icl", 0, "reversal", "b", True, qid="q3"), rec("icl", 0, "reversal", "b", False, qid="q4"),
        rec("icl", 0, "reversal", "b", False, qid="q5"),
        # ft: 4-way questions -> chance 1/4
        rec("ft", 0, "reversal", "a", False, True, n_choices=4, qid="q1"),
        rec("ft", 0, "reversal", "a", True, True, n_choices=4, qid="q2"),
    ]
    aggs = {(a.condition, a.normalization): a for a in aggregate(records)}
    icl = aggs[("icl", "sum")]
    assert icl.accuracy == pytest.approx((1 + 1 / 3) / 2)  # sub-types weigh alike, not questions
    assert (icl.groups, icl.questions, icl.correct, icl.chance, icl.subtypes) == (2, 5, 3, 0.5, 2)
    ft = aggs[("ft", "sum")]
    assert (ft.accuracy, ft.chance) == (0.5, 0.25)
    assert aggs[("ft", "mean")].accuracy == 1.0


def test_error_bars_are_clustered_by_source():
    # one sub-type, four questions about two people: A's both right, B's both wrong
    people = ["A", "A", "B", "B"]
    right = [True, True, False, False]
    clustered = aggregate([rec("ft", 0, "s", "a", c, qid=f"q{i}", facts=[p])
                           for i, (c, p) in enumerate(zip(right, people))])[0]
    alone = aggregate([rec("ft", 0, "s", "a", c, qid=f"q{i}") for i, c in enumerate(right)])[0]
    # cluster-robust: the two people's summed deviations (+-0.25), k/(k-1) = 2 -> sqrt(2 * 2 * 0.0625) = 0.5
    assert (clustered.se, clustered.clusters, clustered.counted) == (pytest.approx(0.5), 2, "n=4, k=2")
    # each question its own: the usual sqrt(s^2 / n) = sqrt((1/3) / 4)
    assert (alone.se, alone.clusters, alone.counted) == (pytest.approx(math.sqrt(1 / 3 / 4)), 4, "n=4")
    # every source agrees (0 right): the Laplace-corrected binomial over the 2 sources, never 0
    none = aggregate([rec("ft", 0, "s", "a", False, qid=f"q{i}", facts=[p]) for i, p in enumerate(people)])[0]
    assert none.error == pytest.approx(math.sqrt(0.25 * 0.75 / 2))


def test_two_cells_on_the_same_questions_are_compared_by_their_paired_difference():
    from iclft.study import claims
    from iclft.study.aggregates import paired_error

    people = [p for p in "ABCDEF" for _ in range(2)]
    ft = [1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1]
    aug = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1]  # B answered too; A, C, F right and D, E wrong in both (shared)
    aggs = {a.condition: a for a in aggregate(
        [rec(c, 0, "s", "a", bool(x), qid=f"q{i}", facts=[p]) for c, xs in (("ft", ft), ("aug", aug))
         for i, (x, p) in enumerate(zip(xs, people))], ["sum"])}
    paired = paired_error(aggs["aug"], aggs["ft"])
    # per-question differences (B: 1; the rest 0), clustered by person: deviations 2/12 * (d - 1/6) summed
    dev = [2 / 12 * ((1.0 if p == "B" else 0.0) - 1 / 6) for p in "ABCDEF"]
    assert paired == pytest.approx(math.sqrt(sum(x * x for x in dev) * 6 / 5))
    assert paired < 0.6 * math.hypot(aggs["aug"].error, aggs["ft"].error)  # the shared noise cancels
    claim = claims.Claim("toy", "s", "greater", claims.Select("aug"), claims.FT)
    table = {("s", c): a for c, a in aggs.items()}
    assert f"paired difference +0.17 ± {paired:.2f}" in claims.judge(claim, table).measured
    # other questions (another seed): no pairing
    other = aggregate([rec("ft", 1, "s", "a", x, qid=f"q{i}", facts=[p]) for i, (x, p) in enumerate(zip(ft, people))])
    assert paired_error(aggs["aug"], other[0]) is None


def test_the_correct_choice_probability_is_reported_beside_accuracy():
    r = rec("ft", 0, "s", "a", True, qid="q1") | {"logprobs": [math.log(0.6), math.log(0.2)], "n_tokens": [1, 2],
                                                  "n_chars": [3, 3]}
    a = {x.normalization: x for x in aggregate([r])}
    assert a["sum"].p_correct == pytest.approx(0.75)  # 0.6 / (0.6 + 0.2)
    mean = [math.log(0.6), math.log(0.2) / 2]
    assert a["mean"].p_correct == pytest.approx(math.exp(mean[0]) / sum(math.exp(x) for x in mean))


def _fake_study(root, records_by_cell):
    store = Store(root)
    cells = [{"key": k, "dataset": "toy", "model": "m", "condition": c, "kind": c, "seed": s}
             for k, (c, s, _) in records_by_cell.items()]
    store.write_study({"name": "fake", "hash": "abc123", "cells": cells, "config": {
        "models": {"m": {"path": "smollm2-135m-instruct", "dtype": "float32"}}, "seeds": [0, 1],
        "questions": ["test"], "scoring": {"normalizations": ["sum", "mean"]}, "conditions": {}}})
    for key, (cond, seed, recs) in records_by_cell.items():
        store.write_chunk(key, 0, recs)
        artifacts = {"loss": [{"step": 1, "loss": 3.0}, {"step": 2, "loss": 2.0}]} if cond == "ft" else {}
        store.finish_cell(key, {"key": key, "info": {"steps": 2} if cond == "ft" else {},
                                "versions": {"iclft": "0.1.0"}}, artifacts,
                          {"seconds": 12.5, "estimated_seconds": 10.0, "resumed_chunks": 0})
    return store


def test_report_files_from_stored_records(tmp_path):
    cells = {}
    for cond in ("pretrained", "ft"):
        for seed in (0, 1):
            right = cond == "ft" and seed == 1
            recs = [rec(cond, seed, split, "a", right, qid=f"{split}{i}") for split in ("rephrased", "reversal")
                    for i in range(3)]
            cells[f"toy.{cond}.m.s{seed}.0000"] = (cond, seed, recs)
    _fake_study(tmp_path, cells)
    (tmp_path / "cells" / "toy.ft.m.s9.0000").mkdir(parents=True)  # unfinished cell of another grid: ignored
    path = write_report(tmp_path)
    text = path.read_text()
    # pretrained always wrong; ft wrong on seed 0, right on seed 1
    assert "| split | pretrained | ft | chance | n (k) |" in text
    # each question its own source (no facts), in each seed's world: 6 sources; all wrong: the Laplace floor
    assert "| rephrased | 0.00 ± 0.14 | 0.50 ± 0.22 | 0.50 | 6 (6) |" in text and "clustered by source" in text
    assert "config hash: `abc123`" in text and "toy.ft.m.s1.0000 | 12.5 | 10.0" in text
    for fig in ("toy-m-test.png", "toy-m-loss.png"):
        assert (tmp_path / "figures" / fig).read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((tmp_path / "aggregates.csv").open()))
    assert len(rows) == 2 * 2 * 2  # splits x conditions x normalizations
    ft_rev = next(r for r in rows if (r["condition"], r["split"], r["normalization"]) == ("ft", "reversal", "sum"))
    # seed 0 all wrong, seed 1 all right: 6 questions, each its own source -> sqrt(6/5 * 6 * (1/12)^2)
    assert (float(ft_rev["accuracy"]), float(ft_rev["se"]), int(ft_rev["questions"]), int(ft_rev["clusters"])) \
        == (0.5, pytest.approx(math.sqrt(6 / 5 * 6 / 144), abs=1e-6), 6, 6)


def test_report_needs_a_study_with_finished_cells(tmp_path):
    with pytest.raises(UserError, match="not a study folder"):
        write_report(tmp_path)
    Store(tmp_path).write_study({"name": "x", "hash": "h", "cells": [], "config": {}})
    with pytest.raises(UserError, match="no finished cells"):
        write_report(tmp_path)


def test_report_shows_the_audit_of_augmented_cells(tmp_path):
    cells = {"toy.ft_aug_local": ("ft_aug_local", 0, [rec("ft_aug_local", 0, "reversal", "a", True)])}
    store = _fake_study(tmp_path, cells)
    audit = {"sentences": 10, "verdicts": {"true": 4, "false": 1, "unverifiable": 0, "unparsed": 5},
             "hallucination_rate": 0.2, "coverage": {"all": {"questions": 8, "verbatim": 1, "stated": 2, "entailed": 3}}}
    store.finish_cell("toy.ft_aug_local", store.cell("toy.ft_aug_local"), {"audit": audit}, {"seconds": 1.0})
    text = write_report(tmp_path).read_text()
    assert "## Augmentation audit" in text
    assert "| toy | ft_aug_local | 10 | 4 | 1 | 0 | 5 | 20% | 8: verbatim 1, stated 2, entailed 3 |" in text
