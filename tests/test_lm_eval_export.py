"""The lm-evaluation-harness export scores the same questions exactly as iclft's own scorer."""

from __future__ import annotations

import pytest
import yaml

from iclft import models
from iclft.datasets import registry
from iclft.datasets.lm_eval_export import export, task_prefix
from iclft.datasets.schema import Dataset
from iclft.errors import UserError
from iclft.scoring.likelihood import score_questions


def _questions(lm):
    """8 questions: 3 syllogisms (6 choices, some with accepted answers), 3 reversals, and 2 whose only
    correct choice is an `accepted` one that iclft predicts (so lm-eval's multiple-target path must agree)."""
    syl = registry.build("syllogisms", 0).test[:3]
    rev = registry.build("reversals", 0).test[:5]
    twisted = []
    for q, s in zip(rev[3:], score_questions(lm, rev[3:])):
        pred = s.pred("sum")
        twisted.append(q.model_copy(update={"id": q.id + "-acc", "answer": 1 - pred, "accepted": [pred]}))
    return [*syl, *rev[:3], *twisted]


def test_lm_eval_accuracy_equals_iclft_accuracy(lm, tmp_path):
    import lm_eval
    from lm_eval.tasks import TaskManager

    qs = _questions(lm)
    ds = Dataset(name="mixed demo", train=[], test=qs)
    tasks = export(ds, tmp_path / "tasks")
    assert tasks == ["iclft_mixed_demo_reversal", "iclft_mixed_demo_syllogism", "iclft_mixed_demo"]
    spec = yaml.safe_load((tmp_path / "tasks" / "iclft_mixed_demo_reversal.yaml").read_text())
    assert spec["output_type"] == "multiple_choice" and spec["doc_to_target"] == "gold"

    ours = {q.id: q.is_correct(s.pred("sum")) for q, s in zip(qs, score_questions(lm, qs))}
    res = lm_eval.simple_evaluate(
        model="hf", model_args=f"pretrained={models.resolve(models.DEFAULT_MODEL)},dtype=float32",
        tasks=["iclft_mixed_demo"], task_manager=TaskManager(include_path=str(tmp_path / "tasks")),
        device="cpu", batch_size=8, log_samples=True,
    )
    theirs = {s["doc"]["id"]: bool(s["acc"]) for task in tasks[:-1] for s in res["samples"][task]}
    assert theirs == ours
    assert sum(ours.values()) >= 2  # the twisted questions at least: the comparison is not all-wrong
    group_acc = res["results"]["iclft_mixed_demo"]["acc,none"]
    assert group_acc == pytest.approx(sum(ours.values()) / len(ours))


def test_export_errors_and_names(tmp_path):
    ds = registry.build("reversals", 0, {"n_facts": 4, "validation_facts": 0})
    with pytest.raises(UserError, match="has no validation questions"):
        export(ds, tmp_path, questions="validation")
    with pytest.raises(UserError, match="unknown question file 'dev'"):
        export(ds, tmp_path, questions="dev")
    assert task_prefix("Reversal-Curse v2!") == "iclft_reversal_curse_v2"
    ds2 = registry.build("reversals", 0, {"n_facts": 4, "validation_facts": 1})
    assert export(ds2, tmp_path, questions="validation") == ["iclft_reversals_validation_reversal",
                                                              "iclft_reversals_validation"]
