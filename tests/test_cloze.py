"""`ft_aug_cloze`: fill-in-the-blank questions written from the training documents by rules, one prompt/completion
example each, never a test or validation question's text; a tiny study trains on them."""

from __future__ import annotations

import json

import yaml
from test_study import private_cache

from iclft import learners
from iclft.datasets import registry
from iclft.datasets.corpus import load_documents
from iclft.datasets.probes import generate_probes
from iclft.datasets.schema import Dataset, Document
from iclft.learners.cloze import cloze_documents
from iclft.learners.ft_data import examples
from iclft.learners.oracle import question_statements, states_a_question
from iclft.study import config, cost, grid, run

DOCS = [
    Document(id="bridge", text="The Golden Gate Bridge was designed by the engineer Joseph Strauss in San Francisco. "
                               "Its main span was completed after four years of work in 1937. Joseph Strauss "
                               "later wrote poems about the bridge in 1938."),
    Document(id="river", text="Barges on the Danube carry grain from Hungary to the port of Constanta. "
                              "A canal finished in 1992 connects the river with the Main in Germany."),
]


def test_questions_are_blanked_spans_of_their_own_document_at_most_per_document():
    ds = registry.build("squad")
    added = cloze_documents(ds, 6, 0)
    by_id = {d.id: d for d in ds.train}
    assert 0 < len(added) <= 6 * len(ds.train)
    for d in added:
        source = by_id[d.id.split("/")[1]]
        answer = d.text[len(d.prompt):].strip()
        assert d.prompt.startswith("Question: Which ") and d.prompt.endswith("\nAnswer:") and "___" in d.prompt
        assert answer and answer in source.text and d.facts == source.facts
        blanked = d.prompt.split('"', 1)[1].rsplit('"', 1)[0]
        # the document's own sentence (spaces collapsed), one span blanked
        assert " ".join(blanked.replace("___", answer).split()) in " ".join(source.text.split())
    counts = [sum(d.id.startswith(f"cloze/{doc.id}/") for d in added) for doc in ds.train]
    assert max(counts) == 6
    assert [d.model_dump() for d in cloze_documents(ds, 6, 0)] == [d.model_dump() for d in added]
    assert [d.text for d in cloze_documents(ds, 6, 1)] != [d.text for d in added]  # the seed picks the spans


def test_a_probe_datasets_reversed_questions_are_never_trained():
    ds = generate_probes(DOCS, seed=0)
    reversed_ = [q for q in ds.test if q.split == "reversed"]
    assert reversed_
    banned = question_statements(ds)
    added = cloze_documents(ds, 100, 0)
    assert added and not any(states_a_question(d.text, banned) for d in added)
    # without the check they would be: each reversed probe is a cloze question of its document
    asked = {d.prompt for d in cloze_documents(Dataset(name=ds.name, train=ds.train, test=[], meta=ds.meta), 100, 0)}
    assert all(q.prompt in asked for q in reversed_)


def test_condition_is_a_method_not_a_control():
    c = learners.get("ft_aug_cloze")
    assert c.trains and not c.control and not c.uses_answers(c.options())


def test_tiny_cloze_study_trains_one_example_per_question(tmp_path, monkeypatch, tiny_model):
    monkeypatch.setenv("ICLFT_CACHE", private_cache(tmp_path / "cache")["ICLFT_CACHE"])
    data = {"name": "cloze", "datasets": {"squad": {}}, "models": {"micro": {"path": str(tiny_model)}},
            "conditions": {"ft_aug_cloze": {"ft": {"max_steps": 1, "batch_size": 4}, "per_document": 2}},
            "seeds": [0], "questions": ["validation"]}
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    study_grid = grid.expand(config.load(cfg))
    cost.estimate(study_grid)
    run.run_grid(study_grid, tmp_path / "out", show_progress=False, log=lambda m: None)
    info = json.loads(next((tmp_path / "out" / "cells").iterdir()).joinpath("cell.json").read_text())["info"]
    dataset = study_grid.cells[0].job.dataset
    assert info["cloze_questions"] == len(cloze_documents(dataset, 2, 0)) > 32 and info["original_documents"] == 32
    plain = len(examples(dataset.train))  # the passages, sentence-split; each question one more example
    assert info["examples"] == plain + info["cloze_questions"] and "control" not in info


def test_the_placebo_asks_about_other_documents(tmp_path):
    ds = registry.build("squad")
    other = tmp_path / "other.jsonl"
    other.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in DOCS), encoding="utf-8")
    opts = learners.get("ft_aug_cloze").options.model_validate({"documents": str(other), "per_document": 3})
    added = cloze_documents(ds, opts.per_document, 0, load_documents(opts.documents))
    assert added and {d.id.split("/")[1] for d in added} <= {"bridge", "river"}
    assert all(d.text[len(d.prompt):].strip() in DOCS[0].text + DOCS[1].text for d in added)
