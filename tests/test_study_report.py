"""The report: aggregates, standard errors, chance, figures and provenance computed from known records."""

from __future__ import annotations

import csv
import math

import pytest

from iclft.errors import UserError
from iclft.study.aggregates import aggregate
from iclft.study.report import write_report
from iclft.study.store import Store


def rec(condition, seed, split, subtype, correct_sum, correct_mean=None, n_choices=2, qid="q"):
    return {
        "dataset": "toy", "model": "m", "condition": condition, "seed": seed, "part": "test", "id": qid,
        "split": split, "subtype": subtype, "answer": 0, "correct_choices": [0], "n_choices": n_choices,
        "correct": {"sum": correct_sum, "mean": correct_sum if correct_mean is None else correct_mean},
    }


def test_accuracy_is_mean_over_subtype_seed_groups_with_standard_error():
    records = [
        # icl, split "reversal": sub-type a (seed 0) 2/2 right, sub-type b (seed 0) 1/2 right
        rec("icl", 0, "reversal", "a", True), rec("icl", 0, "reversal", "a", True),
        rec("icl", 0, "reversal", "b", True), rec("icl", 0, "reversal", "b", False),
        # ft: one group only -> no standard error; 4-way questions -> chance 1/4
        rec("ft", 0, "reversal", "a", False, True, n_choices=4), rec("ft", 0, "reversal", "a", True, True, n_choices=4),
    ]
    aggs = {(a.condition, a.normalization): a for a in aggregate(records)}
    icl = aggs[("icl", "sum")]
    assert icl.accuracy == pytest.approx(0.75)
    assert icl.se == pytest.approx(math.sqrt(((1 - 0.75) ** 2 + (0.5 - 0.75) ** 2) / 1) / math.sqrt(2))  # 0.25
    assert (icl.groups, icl.questions, icl.correct, icl.chance) == (2, 4, 3, 0.5)
    ft = aggs[("ft", "sum")]
    assert (ft.accuracy, ft.se, ft.chance) == (0.5, None, 0.25)
    assert aggs[("ft", "mean")].accuracy == 1.0
    # error bars: over sub-types where there are several; over questions (Laplace-corrected) where there is one
    assert (icl.subtypes, icl.error) == (2, icl.se)
    assert (ft.subtypes, ft.one_subtype) == (1, True)
    assert ft.error == ft.question_se == pytest.approx(math.sqrt(0.5 * 0.5 / 2))
    assert aggs[("ft", "mean")].question_se == pytest.approx(math.sqrt(0.75 * 0.25 / 2))  # 2 of 2: p = 3/4


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
    # pretrained always wrong; ft wrong on seed 0, right on seed 1 -> 0.5 +- 0.5 over the two seed groups
    assert "| split | pretrained | ft | chance |" in text
    # one sub-type per split: the bars are question-level (the spread over the two seeds, 0.00 and 0.50, is not)
    assert "| rephrased | 0.00 ± 0.14* | 0.50 ± 0.20* | 0.50 |" in text and "binomial standard error" in text
    assert "config hash: `abc123`" in text and "toy.ft.m.s1.0000 | 12.5 | 10.0" in text
    for fig in ("toy-m-test.png", "toy-m-loss.png"):
        assert (tmp_path / "figures" / fig).read_bytes()[:4] == b"\x89PNG"
    rows = list(csv.DictReader((tmp_path / "aggregates.csv").open()))
    assert len(rows) == 2 * 2 * 2  # splits x conditions x normalizations
    ft_rev = next(r for r in rows if (r["condition"], r["split"], r["normalization"]) == ("ft", "reversal", "sum"))
    assert (float(ft_rev["accuracy"]), float(ft_rev["se"]), int(ft_rev["questions"])) == (0.5, 0.5, 6)


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
