"""The cost model: pricing a cell's work from rates, and timing this machine (cached) on the real embedded model."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from iclft import models
from iclft.cells import Estimate
from iclft.study import cost, timing
from iclft.study import rates as pricing_rates

RATES = pricing_rates.Rates(train_tokens_per_s=100, step_seconds=0.5, score_tokens_per_s=200, prefill_tokens_per_s=400,
                   attention_tokens=1000, generate_tokens_per_s=50, ft_seconds=3, setup_seconds=1, params=100)


def test_pricing_arithmetic():
    est = Estimate(train_tokens=1000, train_steps=4, score_tokens=600, prefill_tokens=200, context_tokens=500,
                   generate_tokens=100, precision="bf16")
    phases = pricing_rates.phase_seconds(est, 200, "bfloat16", RATES)  # a model twice the size of the one measured
    assert phases["training"] == pytest.approx(2 * (1000 / 100 + 4 * 0.5) + 2 * 3)
    assert phases["scoring"] == pytest.approx(2 * (400 / 200 * (1 + 500 / 1000) + 200 / 400))
    assert phases["generating"] == pytest.approx(2 * 100 / 50)
    assert pricing_rates.cell_seconds(est, 200, "bfloat16", RATES) == pytest.approx(1 + 30 + 7 + 4)
    untrained = replace(est, train_tokens=0, train_steps=0)
    assert pricing_rates.phase_seconds(untrained, 100, rates=RATES)["training"] == 0  # no fixed FT cost without training


def test_reference_rates_follow_dtype_and_precision():
    fp32, bf16 = pricing_rates.reference(), pricing_rates.reference("bfloat16", "bf16")
    assert fp32 == pricing_rates.REFERENCE
    assert bf16.score_tokens_per_s == pytest.approx(fp32.score_tokens_per_s * pricing_rates.BF16_SCORE_SPEEDUP)
    assert bf16.train_tokens_per_s == pytest.approx(fp32.train_tokens_per_s * pricing_rates.BF16_TRAIN_SPEEDUP)
    assert pricing_rates.fmt_seconds(3725) == "1h02m" and pricing_rates.fmt_seconds(65.4) == "1m05s"


def test_reference_pricing_by_env(monkeypatch):
    monkeypatch.setenv("ICLFT_COST", "reference")
    pricing = cost.Pricing(measured=True)
    assert not pricing.measured and pricing.rates("any", "float32", "fp32") == pricing_rates.REFERENCE
    assert "reference" in pricing.summary()


def _measured(tmp_path, monkeypatch, train: bool):
    """Time the embedded model in fp32 twice with a private cache: (rates, first Pricing, second Pricing)."""
    (tmp_path / "models").symlink_to(models.cache_dir() / "models")
    monkeypatch.setenv("ICLFT_CACHE", str(tmp_path))
    monkeypatch.delenv("ICLFT_COST", raising=False)
    key = (models.DEFAULT_MODEL, "float32", "fp32")
    first, again = cost.Pricing(), cost.Pricing()
    rates = first.rates(*key, train=train)
    assert not first.measurements[key].reused and first.measurements[key].seconds > 0
    assert "timed this machine" in first.summary()
    assert len(list((tmp_path / "cost").glob("*.json"))) == 1
    assert again.rates(*key, train=train) == rates and again.measurements[key].reused  # cached: nothing timed
    assert "reused" in again.summary()
    fields = [v for k, v in vars(rates).items() if k not in ("params", "step_seconds", "ft_seconds")]
    assert all(math.isfinite(v) and v > 0 for v in fields) and rates.step_seconds >= 0
    assert 1.3e8 < rates.params < 1.4e8  # measured on the model itself, not scaled
    return rates


def test_measures_scoring_on_the_embedded_model_once(tmp_path, monkeypatch):
    rates = _measured(tmp_path, monkeypatch, train=False)
    assert rates.score_tokens_per_s != pricing_rates.REFERENCE.score_tokens_per_s
    # a request for training is not covered by these figures: it is timed (not here: the slow test below)
    assert timing.measure(models.DEFAULT_MODEL, "float32", "fp32", train=False, generate=False).reused


@pytest.mark.slow
def test_measures_training_on_the_embedded_model_once(tmp_path, monkeypatch):
    rates = _measured(tmp_path, monkeypatch, train=True)
    assert rates.ft_seconds > 0 and rates.train_tokens_per_s != pricing_rates.REFERENCE.train_tokens_per_s
