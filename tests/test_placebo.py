"""A recipe against its PLACEBO: the shipped placebo corpus, its checks, and the report's headline table."""

from __future__ import annotations

import pytest
from test_study_report import rec

from iclft import learners
from iclft.datasets import registry
from iclft.datasets.corpus import load_documents, placebo_documents
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.study.report import write_report
from iclft.study.store import Store


def test_the_shipped_placebo_holds_none_of_the_example_passages():
    train = registry.build("squad").train
    docs = placebo_documents("iclft:squad-placebo", train)
    assert len(docs) == len(train) and len(load_documents("iclft:squad-placebo")) == 54
    assert not {d.text for d in docs} & {d.text for d in train}
    assert all(d.facts == [d.id] and d.id.startswith("placebo/") for d in docs)  # none of the study's facts


def test_the_tuning_world_is_disjoint_from_the_example_and_from_its_own_placebo():
    tuning, example = registry.build("squad_tuning"), registry.build("squad")
    texts = {d.text for d in tuning.train}
    assert (len(tuning.train), len(tuning.test)) == (27, 157) and not texts & {d.text for d in example.train}
    assert not texts & {d.text for d in placebo_documents("iclft:squad-placebo", tuning.train)}


@pytest.mark.parametrize("name", ["active-reading", "paraphrase-qa"])
def test_the_searched_recipes_templates_are_spa_templates_of_the_document(name):
    from iclft.augment.prompts import load_templates

    for template in load_templates("spa", name).values():
        messages = template.render(text="The Orlen Bridge opened in 1911.")
        assert "The Orlen Bridge opened in 1911." in messages[-1]["content"] and messages[0]["role"] == "system"


def test_a_placebo_needs_enough_documents_from_outside_the_study(tmp_path):
    train = [Document(id=f"d{i}", text=f"Passage {i} says {i}.") for i in range(3)]
    few = tmp_path / "few.jsonl"
    few.write_text('{"text": "Other text."}\n')
    with pytest.raises(UserError, match="1 placebo documents; a placebo needs as many as the study trains on"):
        placebo_documents(few, train)
    same = tmp_path / "same.jsonl"
    same.write_text("".join(f'{{"text": "Passage {i} says {i}."}}\n' for i in range(3)))
    with pytest.raises(UserError, match="is one of the study's training documents"):
        placebo_documents(same, train)
    with pytest.raises(UserError, match="no such shipped corpus"):
        load_documents("iclft:nope")


def test_a_recipe_with_documents_is_a_placebo_and_a_control():
    cloze = learners.get("ft_aug_cloze")
    assert cloze.is_control(cloze.options.model_validate({"documents": "iclft:squad-placebo"}))
    assert not cloze.is_control(cloze.options.model_validate({}))
    spa = learners.get("ft_aug_spa")
    assert spa.is_control(spa.options.model_validate({"documents": "x.jsonl"}))


def test_the_report_heads_a_recipe_with_its_gain_over_its_placebo(tmp_path):
    # 12 questions about 6 passages; the recipe and its placebo both learn the form (A, C); the recipe knows B too
    people = [p for p in "ABCDEF" for _ in range(2)]
    right = {"icl": "ABCDEF", "ft": "", "cloze": "ABC", "placebo": "AC"}
    kinds = {"icl": "icl", "ft": "ft", "cloze": "ft_aug_cloze", "placebo": "ft_aug_cloze"}
    options = {"cloze": {"per_document": 6}, "placebo": {"per_document": 6, "documents": "iclft:squad-placebo"}}
    store = Store(tmp_path)
    cells = [{"key": f"k-{c}", "dataset": "toy", "model": "m", "condition": c, "kind": kinds[c], "seed": 0,
              "control": c == "placebo"} for c in right]
    store.write_study({"name": "placebo", "hash": "h", "cells": cells, "config": {
        "models": {"m": {"path": "smollm2-135m-instruct", "dtype": "float32"}}, "seeds": [0], "questions": ["test"],
        "scoring": {"normalizations": ["sum"]}, "conditions": {}}})
    for c, ok in right.items():
        store.write_chunk(f"k-{c}", 0, [rec(c, 0, "qa", "qa", p in ok, qid=f"q{i}", facts=[p])
                                        for i, p in enumerate(people)])
        store.finish_cell(f"k-{c}", {"key": f"k-{c}", "spec": {"options": options.get(c, {})}, "info": {},
                                     "versions": {}}, {}, {"seconds": 1.0, "estimated_seconds": 1.0})
    text = write_report(tmp_path).read_text()
    assert "**Knowledge over its placebo**" in text
    row = next(line for line in text.splitlines() if line.startswith("| qa | `cloze` |"))
    cells_ = [x.strip() for x in row.strip("|").split("|")]
    assert cells_[2] == "placebo (CONTROL)" and cells_[3].startswith("0.50") and cells_[4].startswith("0.33")
    assert cells_[5].startswith("+0.17 ±") and "(n=12, k=6)" in cells_[5]
    assert cells_[6] == "no"  # one passage more: within 2 SE of the paired difference
    assert cells_[7].startswith("0.25") and cells_[8].startswith("0.50")  # (3-2)/(6-2) from placebo; 3/6 from FT


@pytest.mark.parametrize("option, message", [
    ({"documents": "EMPTY"}, "empty corpus (no non-blank .txt or .md files)"),
    ({"budget": 0}, "budget"),
])
def test_a_bad_placebo_or_budget_is_one_line_and_writes_nothing(tmp_path, cli, option, message):
    import yaml

    (tmp_path / "empty").mkdir()
    opts = {k: str(tmp_path / "empty") if v == "EMPTY" else v for k, v in option.items()}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({"datasets": {"squad": {}}, "models": ["smollm2-135m-instruct"],
                                    "conditions": {"ft_cloze_placebo": {"condition": "ft_aug_cloze", **opts}}}))
    r = cli("study", str(path), "--out", str(tmp_path / "out"))
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert message in r.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out").exists()
