"""The results page from several stored studies: controls by what they use, claims by what a condition is,
figure-free notes, a byte-identical page for the same records."""

from __future__ import annotations

import csv

import pytest
from test_study import TINY, run_uninterrupted

from iclft.errors import UserError
from iclft.study import claims
from iclft.study.results_page import check_notes, write_results
from iclft.study.store import Store

FT = {"max_steps": 1, "batch_size": 2}
# Labels that lie: the verified augmentation (reads the world) is called `my_method`, the oracle `ft_aug_local`.
RELABELLED = {
    **TINY, "name": "relabelled", "questions": ["test"],
    "conditions": {
        "pretrained": {},
        "retrieval": {"condition": "icl", "selection": "relevant", "budget": 64},
        "baseline": {"condition": "ft", **FT},
        "my_method": {"condition": "ft_aug_local", "ft": dict(FT),  # copies: yaml would write a shared one as an alias
                      "local": {"k": 1, "max_new_tokens": 8, "verified": True, "self_verify": None}},
        "ft_aug_local": {"condition": "ft_aug_oracle", "ft": dict(FT)},
    },
}


@pytest.fixture(scope="module")
def relabelled(tmp_path_factory, tiny_model):
    """The relabelled study on a tiny random model (only the plumbing of labels is checked), and a second study
    with the pretrained condition alone."""
    root = tmp_path_factory.mktemp("relabelled")
    model = {"micro": {"path": str(tiny_model)}}
    (root / "a").mkdir()
    (root / "b").mkdir()
    _, out, _, _ = run_uninterrupted(root / "a", {**RELABELLED, "models": model})
    second = {**RELABELLED, "name": "second", "conditions": {"pretrained": {}}, "models": model}
    _, out2, _, _ = run_uninterrupted(root / "b", second)
    return out, out2


def test_controls_say_so_whatever_their_label(relabelled, tmp_path):
    out, second = relabelled
    study = Store(out).study()
    assert {c["condition"]: c["control"] for c in study["cells"]} == {
        "pretrained": False, "retrieval": False, "baseline": False, "my_method": True, "ft_aug_local": True}
    page = write_results([second, out], tmp_path / "results.md").read_text()
    report = (out / "report.md").read_text()
    assert "| my_method (CONTROL) | ft_aug_local (CONTROL) |" in report
    with open(out / "aggregates.csv") as f:
        flags = {r["condition"]: r["control"] for r in csv.DictReader(f)}
    assert flags == {"pretrained": "", "retrieval": "", "baseline": "", "my_method": "CONTROL",
                     "ft_aug_local": "CONTROL"}
    rows = [line for line in page.splitlines() if line.startswith("| reversals |")]
    oracle = next(r for r in rows if "CONTROL (oracle)" in r)
    assert "`ft_aug_local` = CONTROL: oracle FT" in oracle and "`baseline` = FT (full; plain text)" in oracle
    assert "| relabelled |" in oracle  # the study that ran it
    verified = next(r for r in rows if "CONTROL (verified)" in r)
    assert "`my_method` = CONTROL: augmented FT (local, world-verified" in verified
    method = next(r for r in rows if "augmented FT reverses better than FT" in r)
    assert "**not run**" in method  # neither control is scored as the method
    icl = next(r for r in rows if "ICL reverses" in r)
    assert "`retrieval` = ICL (BM25, 64 tokens; chat format)" in icl and "**not run**" not in icl
    # pretrained rows come from the first study given that ran them
    assert next(r for r in rows if r.startswith("| reversals | reversal | pretrained")).endswith("| second |")
    again = write_results([second, out], tmp_path / "again" / "results.md").read_text()
    assert again == page  # the same records: the same page, figures too
    assert [p.read_bytes() for p in sorted((tmp_path / "results-figures").iterdir())] == \
        [p.read_bytes() for p in sorted((tmp_path / "again" / "results-figures").iterdir())]


def test_notes_with_figures_are_refused(tmp_path):
    ok = ("## Notes\n\n1. SmolLM2-135M and Gemma-3 on bf16, see `configs/tuning/ft-batch16.yaml` (§3, #22), "
          "commits `4f5c975` and `2669327`, [paper](https://arxiv.org/abs/2505.00661).\n")
    check_notes(ok, "notes.md")
    for bad, figure in (("ICL scores 0.90 on it.", "0.90"), ("took `46.8` min", "`46.8`"),
                        ("batch of 16 examples", "16"), ("about 2.4x slower", "2.4x"), ("(n=30)", "30")):
        with pytest.raises(UserError, match=f"notes.md:1: the notes state a figure \\({figure!r}\\)"):
            check_notes(bad, "notes.md")


def test_results_needs_a_study(tmp_path):
    with pytest.raises(UserError, match="at least one"):
        write_results([], tmp_path / "r.md")
    # a cell stored before its info named the prompt format: `auto` resolved from the model's tokenizer
    old = {"k": {"spec": {"options": {"format": "auto", "selection": "all"}, "model_path": "smollm2-135m-instruct"},
                 "info": {}}}
    ran = claims.conditions_of({"cells": [{"key": "k", "dataset": "d", "condition": "icl", "kind": "icl"}]}, old)
    assert ran[("d", "icl")].name == "ICL (all documents; chat format)"
    assert claims.VERIFIED.matches(claims.Ran("x", "ft_aug_local", control=True))
    assert not claims.AUG.matches(claims.Ran("x", "ft_aug_local", control=True))
