"""Gap accounting: the share of the ICL-FT gap each method closes, its bootstrap interval, and forgetting."""

from __future__ import annotations

import pytest

from iclft.study.gaps import gaps

CELLS = [{"dataset": "docs", "model": "m", "condition": c, "kind": k} for c, k in
         [("pretrained", "pretrained"), ("icl", "icl"), ("gold", "icl"), ("ft", "ft"), ("aug", "ft_aug_local"),
          ("oracle", "ft_aug_oracle")]]


def records(correct: dict[str, list[int]], split: str = "qa", docs: int | None = None, seeds=(0,)) -> list[dict]:
    out = []
    for cond, row in correct.items():
        for seed in seeds:
            for i, c in enumerate(row):
                r = {"dataset": "docs", "model": "m", "part": "test", "split": split, "condition": cond,
                     "seed": seed, "id": f"q{i}", "correct": {"sum": bool(c)}}
                if docs:
                    r["facts"] = [f"doc{i % docs}"]
                out.append(r)
    return out


def test_share_is_the_gap_closed_with_an_interval_around_it():
    n = 40
    rec = records({"pretrained": [0] * n, "icl": [1] * 30 + [0] * 10, "ft": [1] * 10 + [0] * 30,
                   "aug": [1] * 20 + [0] * 20})
    (g,) = gaps(rec, CELLS, "sum")
    assert (g.icl, g.ft, g.pretrained) == ("icl", "ft", "pretrained")
    (s,) = g.shares
    assert s.condition == "aug" and s.share == pytest.approx(0.5)
    assert s.low < 0.5 < s.high and s.high - s.low < 0.6
    assert gaps(rec, CELLS, "sum")[0].shares[0].low == s.low  # seeded: the page is reproducible


def test_controls_are_never_the_reference_and_are_labelled():
    rec = records({"gold": [1] * 4, "icl": [1, 1, 0, 0], "ft": [0] * 4, "oracle": [1, 1, 1, 0]})
    (g,) = gaps(rec, CELLS, "sum", control={("docs", "gold"), ("docs", "oracle")})
    assert g.icl == "icl" and g.pretrained is None
    (s,) = g.shares
    assert s.condition == "oracle" and s.control and s.share == pytest.approx(1.5)


def test_no_gap_gives_no_share_and_documents_are_the_resampled_unit():
    rec = records({"icl": [0, 1, 0, 1], "ft": [1, 1, 0, 1], "aug": [1, 1, 1, 1]})
    assert gaps(rec, CELLS, "sum")[0].shares[0].share is None
    clustered = records({"icl": [1] * 8, "ft": [0] * 8, "aug": [1, 0] * 4}, docs=2)
    (g,) = gaps(clustered, CELLS, "sum")
    assert (g.questions, g.clusters) == (8, 2)


def test_forgetting_is_retention_of_what_the_pretrained_model_knew():
    rec = records({"pretrained": [1, 1, 1, 1, 0, 0], "icl": [1] * 6, "ft": [1, 1, 0, 0, 1, 1],
                   "aug": [1, 1, 1, 0, 0, 0]}, split="heldaside")
    (g,) = gaps(rec, CELLS, "sum")
    assert g.forgetting and g.known == 4
    assert [(s.condition, s.share) for s in g.shares] == [("ft", 0.5), ("aug", 0.75)]


def test_seeds_average_per_question():
    rec = records({"icl": [1, 1], "ft": [0, 0]}, seeds=(0, 1)) + records({"aug": [1, 0]}, seeds=(0,)) \
        + records({"aug": [1, 1]}, seeds=(1,))
    (g,) = gaps(rec, CELLS, "sum")
    assert g.accuracy["aug"] == pytest.approx(0.75)
