"""Claims: verdicts from known aggregates, and the results page written from a stored study."""

from __future__ import annotations

import math

import pytest
from test_study_report import _fake_study, rec

from iclft.datasets.schema import FORGETTING_SPLIT
from iclft.errors import UserError
from iclft.study import claims
from iclft.study.aggregates import Aggregate
from iclft.study.results_page import write_results


def agg(condition, split, correct, n, chance=0.25, se=None):
    return Aggregate("celebrities", "m", "test", split, condition, "sum", correct / n, se, 1, n, correct, chance)


def test_standard_error_is_laplace_corrected_and_never_zero():
    a = agg("ft", "p2d", 0, 10)
    assert claims.standard_error(a) == pytest.approx(math.sqrt((1 / 12) * (11 / 12) / 10))
    assert claims.standard_error(agg("ft", "p2d", 5, 10, se=0.3)) == 0.3  # the larger of the two


@pytest.mark.parametrize("icl_correct, expected", [(30, "yes"), (7, "direction only"), (5, "no"), (2, "no")])
def test_greater_needs_two_standard_errors(icl_correct, expected):
    table = {("p2d_reverse", "icl"): agg("icl", "p2d_reverse", icl_correct, 40),
             ("p2d_reverse", "ft"): agg("ft", "p2d_reverse", 5, 40)}
    claim = claims.Claim("celebrities", "p2d_reverse", "greater", claims.ICL, claims.FT)
    assert claims.judge(claim, table).verdict == expected


def test_near_and_above_chance_and_missing_conditions():
    near = claims.Claim("celebrities", "p2d_reverse", "near_chance", claims.FT)
    above = claims.Claim("celebrities", "p2d", "above_chance", claims.FT)
    table = {("p2d_reverse", "ft"): agg("ft", "p2d_reverse", 10, 40), ("p2d", "ft"): agg("ft", "p2d", 36, 40)}
    assert claims.judge(near, table).verdict == "yes"
    assert claims.judge(above, table).verdict == "yes"
    assert "0.90" in claims.judge(above, table).measured
    table[("p2d_reverse", "ft")] = agg("ft", "p2d_reverse", 0, 40)
    assert claims.judge(near, table).verdict == "no (below chance)"
    at_most = claims.Claim("celebrities", "p2d_reverse", "not_above_chance", claims.FT)
    assert claims.judge(at_most, table).verdict == "yes"  # 0/40: below chance is not above it
    table[("p2d_reverse", "ft")] = agg("ft", "p2d_reverse", 20, 40)
    assert claims.judge(at_most, table).verdict == "no"  # 0.50 against chance 0.25
    missing = claims.Claim("celebrities", "p2d", "greater", claims.ICL, claims.FT)
    assert claims.judge(missing, table).verdict == "not run"


def test_evaluate_adds_pretrained_near_chance_per_split():
    aggs = [agg("pretrained", "p2d", 10, 40), agg("ft", "p2d", 36, 40)]
    verdicts = claims.evaluate(aggs, "sum", claims=[])
    assert [(v.claim.split, v.claim.a, v.verdict) for v in verdicts] == [("p2d", claims.PRE, "yes")]
    # real documents (a dataset with a forgetting split, e.g. squad) may be known: no near-chance check there
    real = [agg("pretrained", "qa", 30, 40), agg("pretrained", FORGETTING_SPLIT, 10, 40)]
    assert claims.evaluate(real, "sum", claims=[]) == []


def test_results_page_from_a_stored_study(tmp_path):
    cells = {f"toy.{c}": (c, 0, [rec(c, 0, "reversal", "a", ok, qid=f"q{i}") for i, ok in enumerate(answers)])
             for c, answers in (("pretrained", [True, False] * 5), ("icl", [True] * 10), ("ft", [False] * 10))}
    _fake_study(tmp_path / "study", cells)
    notes = tmp_path / "notes.md"
    notes.write_text("## Notes\n\nHand-written protocol.\n")
    stale = tmp_path / "docs" / "results-figures" / "fake-dropped-m-test.png"  # an earlier page's, cell since dropped
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"png")
    toy = [claims.Claim("toy", "reversal", "greater", claims.ICL, claims.FT, "ICL beats FT")]
    claims.PAPER.extend(toy)
    try:
        path = write_results([tmp_path / "study"], tmp_path / "docs" / "results.md", notes=notes)
    finally:
        del claims.PAPER[-1]
    text = path.read_text()
    assert ("| toy | reversal | ICL beats FT | `icl` = ICL (all documents); `ft` = FT (full) | "
            "icl 1.00 ± 0.09 (n=10) vs ft 0.00 ± 0.09 (n=10); paired difference +1.00 ± 0.09 | **yes** | fake |") in text
    assert "Hand-written protocol." in text
    assert "### toy — m (test)" in text and "(results-figures/fake-toy-m-test.png)" in text
    assert (tmp_path / "docs" / "results-figures" / "fake-toy-m-test.png").is_file()
    assert not stale.exists()
    with pytest.raises(UserError, match="notes file not found"):
        write_results([tmp_path / "study"], tmp_path / "r.md", notes=tmp_path / "none.md")
