"""The oracle control (ft_aug_oracle) and the celebrity world model of the audit.

Oracle data: true in every dataset's world, as many documents as configured, deterministic for a seed, no
question's text; a tiny study with ft_aug_oracle (on the tiny random model; the real embedded model with -m slow), labelled as a
control."""

from __future__ import annotations

import json

import pytest
import yaml
from test_study import private_cache

from iclft import learners, models
from iclft.augment.audit import audit
from iclft.datasets import celebrities, registry, reversal_curse
from iclft.datasets.reversal_curse.layout import write_layout
from iclft.datasets.truth import logic_for, units, world_judge
from iclft.errors import UserError
from iclft.learners import oracle
from iclft.study import aggregates, config, cost, grid, report, run

# the quick study's sizes (configs/quick.yaml), world seed 1
PARAMS = {
    "reversals": {"n_facts": 40, "articles_per_fact": 3, "validation_facts": 10},
    "syllogisms": {"n_items": 30, "validation_items": 6},
    "celebrities": {"people_per_group": 6, "train_templates": 4, "test_templates": 2, "validation_people": 1},
    "semantic": {"scale": 0.2, "documents_per_category": 2, "max_per_subtype": 20},
}


@pytest.fixture(scope="module", params=list(PARAMS))
def dataset(request):
    return registry.build(request.param, 1, PARAMS[request.param])


def test_oracle_data_is_true_in_the_world_and_sized_as_configured(dataset):
    opts = oracle.Options()
    docs = oracle.oracle_documents(dataset, opts.size(dataset), seed=0)
    assert len(docs) == round(oracle.DEFAULT_RATIO * len(dataset.train))
    assert len(oracle.oracle_documents(dataset, oracle.Options(count=7).size(dataset), seed=0)) == 7
    judge, logic = world_judge(dataset), logic_for(dataset)
    verdicts = [judge(s) for d in docs for s in units(logic, d.text)]
    assert "false" not in verdicts
    assert verdicts == ["true"] * len(docs)  # one true statement per document


def test_oracle_data_is_deterministic_and_states_no_question(dataset):
    n = 50
    a, b = (oracle.oracle_documents(dataset, n, seed=3) for _ in range(2))
    assert a == b
    assert [d.text for d in oracle.oracle_documents(dataset, n, seed=4)] != [d.text for d in a]
    banned = oracle.question_statements(dataset)
    assert not any(oracle.states_a_question(d.text, banned) for d in a)
    if dataset.name in ("celebrities", "syllogisms"):  # test templates / two-term prompts are never written
        prompts = {q.prompt for q in (*dataset.test, *dataset.validation)}
        assert not any(p in d.text for d in a for p in prompts)


def test_oracle_covers_the_reversed_celebrity_questions():
    ds = registry.build("celebrities", 1, PARAMS["celebrities"])
    docs = oracle.oracle_documents(ds, oracle.Options().size(ds), seed=0)
    cov = audit(ds, [{"id": d.id, "text": d.text} for d in docs])["coverage"]
    for split in ("p2d_reverse", "d2p_reverse"):  # stated in the direction the question asks, by every person
        assert cov[split]["stated"] == cov[split]["entailed"] == cov[split]["questions"] > 0
    assert cov["p2d"]["stated"] == 0 and cov["both"]["stated"] == 0  # only the untrained directions are added
    t = celebrities.templates()
    used = {d.prompt for d in docs}
    people = celebrities.people_of(ds.meta)
    test_prompts = {celebrities.d2p_text(p, tpl)[0] for _, p in people.values() for tpl in t["d2p_test"]}
    assert not used & test_prompts


def test_oracle_refuses_datasets_without_a_world():
    ds = registry.build("derivatoids", 0, {"scale": 0.05})
    with pytest.raises(UserError, match="no oracle for dataset 'derivatoids'"):
        oracle.oracle_documents(ds, 3, 0)


def test_celebrity_world_judges_directions_swaps_and_prose():
    ds = registry.build("celebrities", 1, PARAMS["celebrities"])
    judge, logic = world_judge(ds), logic_for(ds)
    people = celebrities.people_of(ds.meta)
    (a, (_, pa)), (b, (_, pb)) = list(people.items())[:2]
    reversal = f"The one who {pa.forms['past']} is {a}."
    assert judge(reversal) == "true" and logic.parse(reversal)[2] == "d2p"
    forward = f"{a} is {pa.forms['np']}."
    assert judge(forward) == "true" and logic.parse(forward)[2] == "p2d"
    assert judge(f"{b} is {pa.forms['np']}.") == "false"  # a known name with another person's description
    assert judge(f"Known for {pb.forms['ger']}, {a} is admired.") == "false"
    assert judge(f"{a} lives in a small town.") == "unverifiable"  # a name without a known description
    assert judge("The weather was pleasant all week.") == "unparsed"
    question = f"Who {pa.forms['past']}? The answer is {a}."  # one statement across the question mark
    assert units(logic, question) == [question] and judge(question) == "true"


def test_audit_counts_a_swapped_celebrity_sentence_as_a_hallucination():
    ds = registry.build("celebrities", 1, PARAMS["celebrities"])
    (a, (_, pa)), (b, (_, pb)) = list(celebrities.people_of(ds.meta).items())[:2]
    rows = [{"id": "x/local/0", "text": f"{a} is {pa.forms['np']}. {a} is {pb.forms['np']}. It rained."}]
    rep = audit(ds, rows)
    assert rep["world"] == "celebrities"
    assert rep["verdicts"] == {"true": 1, "false": 1, "unverifiable": 0, "unparsed": 1}
    assert rep["hallucination_rate"] == 0.5


def test_imported_layout_gets_the_release_world_not_the_generators(tmp_path):
    """An imported layout is judged by the world built from its own training rows (tests/test_reversal_curse_world.py),
    and agrees with the generator's world on the generator's own people."""
    ds = registry.build("celebrities", 1, PARAMS["celebrities"])
    layout = celebrities.generate_layout(1, celebrities.Params(**PARAMS["celebrities"]))
    imported = reversal_curse.import_layout(write_layout(layout, tmp_path / "layout"), 1, 1)
    assert logic_for(imported).name == "reversal-curse" and logic_for(ds).name == "celebrities"
    generated, release = world_judge(ds), world_judge(imported)
    docs = oracle.oracle_documents(ds, 40, 0)
    assert [release(s) for d in docs for s in units(logic_for(imported), d.text)] == ["true"] * len(docs)
    assert len(oracle.oracle_documents(imported, 3, 0)) == 3
    (_, (_, pa)), (b, _) = list(celebrities.people_of(ds.meta).items())[:2]
    assert release(f"{b} is {pa.forms['np']}.") == generated(f"{b} is {pa.forms['np']}.") == "false"


def test_oracle_is_registered_as_a_control():
    assert learners.get("ft_aug_oracle").control and "CONTROL" in learners.get("ft_aug_oracle").description
    assert not any(learners.get(n).control for n in learners.names() if n != "ft_aug_oracle")
    # a study stored before cells recorded `control` falls back on the condition kind
    study = {"cells": [{"dataset": "d", "condition": c, "kind": k} for c, k in
                       (("ft", "ft"), ("ceiling", "ft_aug_oracle"), ("ft_aug_oracle", "ft_aug_oracle"))]}
    assert aggregates.controls(study) == {"ceiling", "ft_aug_oracle"}
    assert aggregates.shown("ceiling", {"ceiling"}) == "ceiling (CONTROL)" and aggregates.shown("ft", {"ceiling"}) == "ft"


TINY = {
    "name": "oracle",
    "datasets": {"celebrities": {"seed": 1, "params": {"people_per_group": 2, "train_templates": 1,
                                                       "test_templates": 1, "validation_people": 0}}},
    "models": [models.DEFAULT_MODEL],
    "conditions": {"ft_aug_oracle": {"ft": {"max_steps": 2, "batch_size": 4}, "count": 6}},
    "seeds": [0],
    "questions": ["test"],
}


@pytest.mark.parametrize("model", ["tiny", pytest.param("embedded", marks=pytest.mark.slow)])
def test_tiny_oracle_study_runs_and_is_labelled_a_control(tmp_path, monkeypatch, request, model):
    """On the tiny random model in the default suite (labels and data are what is checked), the real one with -m slow."""
    monkeypatch.setenv("ICLFT_CACHE", private_cache(tmp_path / "cache")["ICLFT_CACHE"])
    data = TINY if model == "embedded" else {**TINY, "models": {"micro": {"path": str(request.getfixturevalue(
        "tiny_model"))}}}
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    study_grid = grid.expand(config.load(cfg))
    cost.estimate(study_grid)
    assert study_grid.cells[0].estimate.train_steps == 2 and study_grid.cells[0].estimate.train_tokens > 0
    run.run_grid(study_grid, tmp_path / "out", show_progress=False, log=lambda m: None)
    cell = next((tmp_path / "out" / "cells").iterdir())
    info = json.loads((cell / "cell.json").read_text())["info"]
    assert info["control"] is True and info["oracle_documents"] == 6 and info["steps"] == 2
    assert info["examples"] == len(study_grid.cells[0].job.dataset.train) + 6  # prompt/completion rows: one example each
    added = json.loads((cell / "augmented.json").read_text())
    assert len(added) == 6 and all(a["source"] == "oracle" for a in added)
    assert json.loads((cell / "audit.json").read_text())["verdicts"]["false"] == 0
    text = report.write_report(tmp_path / "out").read_text()
    assert "| split | ft_aug_oracle (CONTROL) |" in text and "| celebrities | ft_aug_oracle (CONTROL) |" in text
