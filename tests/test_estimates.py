"""Dry-run estimates: augmented cells pay the per-step cost, ICL counts its context once per scoring chunk, and
training time follows the resolved precision."""

from __future__ import annotations

import math

import pytest

from iclft import models
from iclft.cells import Estimate, Job
from iclft.datasets.schema import Dataset, Document, Question
from iclft.learners import augmented, finetune, icl
from iclft.study import rates

PAIRS = [("glon", "femp"), ("troff", "yomp"), ("dax", "wug"), ("blick", "zorp")]


def _job(chunk: int = 256) -> Job:
    docs = [Document(id=f"d{i}", text=f"The {a} are heavier than the {b}. They sleep by the river.")
            for i, (a, b) in enumerate(PAIRS)]
    qs = [Question(id=f"q{i}", prompt=f"The {b} are", choices=[f" lighter than the {a}.", f" heavier than {a}."],
                   answer=0) for i, (a, b) in enumerate(PAIRS)]
    return Job(dataset=Dataset(name="toy", train=docs, test=qs), model=models.DEFAULT_MODEL, seed=0, questions=qs,
               chunk=chunk)


def test_icl_context_is_counted_once_per_scoring_chunk():
    whole = icl.plan(_job(chunk=256), icl.Options()).estimate()
    single = icl.plan(_job(chunk=1), icl.Options()).estimate()
    assert single.score_tokens - whole.score_tokens == 3 * whole.context_tokens > 0  # 4 chunks instead of 1


def test_augmented_cells_pay_for_their_optimizer_steps(tmp_path, monkeypatch):
    (tmp_path / "models").symlink_to(models.cache_dir() / "models")
    monkeypatch.setenv("ICLFT_CACHE", str(tmp_path))  # no cached generations: the estimate's upper bound
    ft = {"batch_size": 2, "epochs": 1, "precision": "fp32"}
    est = augmented.plan(_job(), augmented.LocalOptions.model_validate({"ft": ft, "local": {"k": 2}})).estimate()
    plain = finetune.plan(_job(), finetune.Options(**ft)).estimate()
    assert est.train_steps > plain.train_steps > 0  # the added restatements are more examples, more steps
    assert est.train_tokens > plain.train_tokens and est.generate_tokens > 0
    matched = augmented.LocalOptions.model_validate({"ft": ft, "match_steps": True})
    assert augmented.plan(_job(), matched).estimate().train_steps == plain.train_steps


def test_training_estimate_follows_the_precision():
    fp32 = finetune.plan(_job(), finetune.Options(max_steps=3, precision="fp32")).estimate()
    bf16 = finetune.plan(_job(), finetune.Options(max_steps=3, precision="bf16")).estimate()
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16") and fp32.train_steps == bf16.train_steps == 3
    slow, fast = (rates.phase_seconds(e, int(rates.REFERENCE_PARAMS))["training"] for e in (fp32, bf16))
    assert fast == pytest.approx(slow / rates.BF16_TRAIN_SPEEDUP) and rates.BF16_TRAIN_SPEEDUP > 1
    assert rates.phase_seconds(Estimate(score_tokens=100, precision="bf16"), 1)["scoring"] > 0
    assert not math.isclose(slow, fast)


def test_scoring_estimate_follows_the_weights_dtype():
    est = Estimate(score_tokens=1000, context_tokens=100)
    params = int(rates.REFERENCE_PARAMS)
    fp32, bf16 = (rates.phase_seconds(est, params, d)["scoring"] for d in ("float32", "bfloat16"))
    assert bf16 == pytest.approx(fp32 / rates.BF16_SCORE_SPEEDUP) and rates.BF16_SCORE_SPEEDUP > 1
