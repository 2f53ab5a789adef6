"""Budget curves: a condition's `budgets:` axis, recipes matched by written tokens, and the report's curve."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_study_report import rec

from iclft import tokens
from iclft.datasets import registry
from iclft.errors import UserError
from iclft.learners.cloze import _within, cloze_documents
from iclft.study import config
from iclft.study.report import write_report
from iclft.study.store import Store

STUDY = {"datasets": {"squad": {"conditions": {"ft_aug_cloze": {"per_document": 3}}}},
         "models": ["smollm2-135m-instruct"],
         "conditions": {"ft": {}, "ft_aug_cloze": {"budgets": [0.5, 1, 2]}}}


def test_budgets_make_one_condition_a_point_each_with_the_dataset_options():
    study = config.from_dict(STUDY, Path("/x/s.yaml"))
    assert [c.label for c in study.conditions] == ["ft", "ft_aug_cloze-b0p5", "ft_aug_cloze-b1", "ft_aug_cloze-b2"]
    opts = study.options_for(study.conditions[2], "squad")
    assert (opts.budget, opts.per_document) == (1, 3)  # the dataset's options reach every point
    for bad in ([], [1, 1], [0], ["x"], 2):
        data = {**STUDY, "conditions": {"ft_aug_cloze": {"budgets": bad}}}
        with pytest.raises(UserError, match="budgets: expected a list of distinct positive numbers"):
            config.from_dict(data, Path("/x/s.yaml"))
    with pytest.raises(UserError, match="budget and tokens_per_document both set"):
        config.from_dict({**STUDY, "datasets": {"squad": {}},
                          "conditions": {"ft_aug_spa": {"budget": 1, "tokens_per_document": 64}}}, Path("/x/s.yaml"))


def test_a_cloze_budget_is_counted_in_tokens():
    ds = registry.build("squad")
    tok = tokens.tokenizer("smollm2-135m-instruct")
    budget = tokens.budget_tokens("smollm2-135m-instruct", [d.text for d in ds.train], 1.0)
    mean = sum(tokens.count(tok, [d.text for d in ds.train])) / len(ds.train)
    assert budget == round(mean)
    added = cloze_documents(ds, 6, 0, tokens=(tok, budget))
    per_doc: dict[str, int] = {}
    for d, n in zip(added, tokens.count(tok, [d.text for d in added])):
        per_doc[d.id.split("/")[1]] = per_doc.get(d.id.split("/")[1], 0) + n
    assert len(added) > len(ds.train) and all(n <= budget for n in per_doc.values())  # within each budget
    assert _within([("a", "b")], tok, 0) == [("a", "b")]  # a budget smaller than one question keeps one


def test_the_report_draws_a_curve_for_a_family_of_budgets(tmp_path):
    store = Store(tmp_path)
    conds = {"icl": ("icl", {}, 1.0), "ft": ("ft", {}, 0.0), "cloze-b1": ("ft_aug_cloze", {"budget": 1}, 0.25),
             "cloze-b2": ("ft_aug_cloze", {"budget": 2}, 0.5), "cloze-b4": ("ft_aug_cloze", {"budget": 4}, 0.75)}
    cells = [{"key": f"k-{c}", "dataset": "toy", "model": "m", "condition": c, "kind": k, "seed": 0}
             for c, (k, _, _) in conds.items()]
    store.write_study({"name": "b", "hash": "h", "cells": cells, "config": {
        "models": {"m": {"path": "smollm2-135m-instruct", "dtype": "float32"}}, "seeds": [0], "questions": ["test"],
        "scoring": {"normalizations": ["sum"]}, "conditions": {}}})
    for c, (_, opts, share) in conds.items():
        store.write_chunk(f"k-{c}", 0, [rec(c, 0, "qa", "qa", i < share * 8, qid=f"q{i}", facts=[f"p{i}"])
                                        for i in range(8)])
        store.finish_cell(f"k-{c}", {"key": f"k-{c}", "spec": {"options": opts}, "info": {}, "versions": {}}, {},
                          {"seconds": 1.0, "estimated_seconds": 1.0})
    text = write_report(tmp_path).read_text()
    assert "| recipe | split | 1x | 2x | 4x |" in text
    assert "| cloze | qa | 0.25 ±" in text and "0.75 ±" in text
    assert (tmp_path / "figures" / "toy-m-test-budget.png").read_bytes()[:4] == b"\x89PNG"
