"""Replay (`FTOptions.replay`, learners/replay.py): generic documents mixed into a fine-tuning set by a seeded draw to a
share of its tokens; absent from every key while unset; bad input is one line; a tiny study trains with it."""

from __future__ import annotations

import json

import pytest
import yaml
from pydantic import ValidationError
from test_study import run_uninterrupted

from iclft import models, tokens
from iclft.cells import Job
from iclft.datasets import registry
from iclft.datasets.corpus import load_documents
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.learners import get
from iclft.learners.finetune import FTOptions, Training
from iclft.learners.ft_data import examples
from iclft.learners.replay import DEFAULT_CORPUS, Replay, draw

# FTOptions' dump before replay existed (commit bfc9158): the fields every existing cache and cell key was made from
KEYED = {"lr", "epochs", "max_steps", "batch_size", "grad_accum", "warmup", "weight_decay", "schedule", "split",
         "max_length", "lora", "gradient_checkpointing", "pack", "precision"}


@pytest.fixture(scope="module")
def squad():
    return registry.build("squad")


def test_unset_replay_leaves_every_options_dump_and_so_every_key_as_it_was():
    assert set(FTOptions().model_dump(mode="json")) == KEYED
    for kind in ("ft", "ft_aug_cloze", "ft_aug_spa"):
        dump = get(kind).options().model_dump(mode="json")
        assert "replay" not in dump and "replay" not in dump.get("ft", {})
    with_replay = FTOptions(replay={"share": 0.2}).model_dump(mode="json")
    assert with_replay["replay"] == {"share": 0.2, "corpus": DEFAULT_CORPUS, "seed": 0}


def test_the_draw_is_seeded_meets_the_token_share_and_never_draws_the_datasets_own(squad):
    model = models.DEFAULT_MODEL
    tok = tokens.tokenizer(model)
    own = {d.text.strip() for d in squad.train}
    first, facts = draw(model, squad.train, own, Replay(share=0.2), seed=0)
    again, _ = draw(model, squad.train, own, Replay(share=0.2), seed=0)
    other, _ = draw(model, squad.train, own, Replay(share=0.2), seed=1)
    assert [d.id for d in first] == [d.id for d in again] != [d.id for d in other]
    trained = sum(tokens.count(tok, [d.text for d in squad.train]))
    replayed = sum(tokens.count(tok, [d.text for d in first]))
    largest = max(tokens.count(tok, [d.text for d in load_documents(DEFAULT_CORPUS)]))
    assert facts["tokens"] == replayed and facts["training_tokens"] == trained
    assert abs(replayed - 0.25 * trained) <= largest / 2  # 0.2 of the mix = 0.25 of the training set's tokens
    assert facts["share"] == pytest.approx(0.2, abs=0.02) and facts["documents"] == len(first)
    assert all(d.id.startswith("replay/") and d.text.strip() not in own for d in first)
    corpus = load_documents(DEFAULT_CORPUS)
    mine, facts = draw(model, squad.train, own | {corpus[0].text.strip()}, Replay(share=0.2), seed=0)
    assert facts["not_drawn"] == 1 and all(d.text != corpus[0].text for d in mine)


def test_the_forgetting_splits_passages_are_never_replayed(tmp_path, squad):
    held = next(iter(squad.meta["heldaside_documents"].values()))
    corpus = tmp_path / "generic.jsonl"
    corpus.write_text(json.dumps({"id": "held", "text": held}) + "\n"
                      + json.dumps({"id": "ok", "text": "Generic text about the weather in spring."}) + "\n")
    ft = FTOptions(replay={"share": 0.001, "corpus": str(corpus)})
    job = Job(dataset=squad, model=models.DEFAULT_MODEL, seed=0)
    t = Training(job, list(squad.train), ft)
    assert [d.id for d in t.docs[len(squad.train):]] == ["replay/ok"]
    assert t.info["replay"]["not_drawn"] == 1 and t.info["replay"]["documents"] == 1


@pytest.mark.parametrize("share", [0, 1, -0.1, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share):
    with pytest.raises(ValidationError):
        FTOptions(replay={"share": share})


def test_an_empty_missing_or_too_small_corpus_is_one_line(tmp_path, squad):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    for path in (empty, tmp_path / "missing"):
        with pytest.raises(UserError, match=r"^replay corpus: .*(empty corpus|no such file)"):
            Replay(share=0.2, corpus=str(path))
    small = tmp_path / "small.jsonl"
    small.write_text(json.dumps({"text": "Too little text."}) + "\n")
    with pytest.raises(UserError, match="larger corpus or a smaller share"):
        draw(models.DEFAULT_MODEL, [Document(id="a", text="Some training text here.")], set(),
             Replay(share=0.5, corpus=str(small)), seed=0)


def test_the_cli_refuses_a_bad_replay_with_one_line_and_writes_nothing(tmp_path, cli):
    for replay, says in (({"share": 1.0}, "share"), ({"share": 0.2, "corpus": str(tmp_path / "none")}, "replay")):
        data = {"name": "bad", "datasets": {"squad": {}}, "models": ["smollm2-135m-instruct"],
                "conditions": {"ft_replay": {"condition": "ft", "replay": replay}}, "seeds": [0]}
        cfg = tmp_path / "study.yaml"
        cfg.write_text(yaml.safe_dump(data))
        r = cli("study", cfg, "--dry-run", "--out", tmp_path / "out")
        assert r.returncode != 0 and says in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert not (tmp_path / "out").exists()


def test_tiny_cloze_study_trains_with_replay_and_records_it(tmp_path, tiny_model):
    data = {"name": "replay", "datasets": {"squad": {}}, "models": {"micro": {"path": str(tiny_model)}},
            "conditions": {"ft_aug_cloze": {"ft": {"max_steps": 1, "batch_size": 4, "replay": {"share": 0.2}},
                                            "per_document": 2}},
            "seeds": [0], "questions": ["validation"]}
    _, out, _, study_grid = run_uninterrupted(tmp_path, data)
    cell = next((out / "cells").iterdir())
    info = json.loads((cell / "cell.json").read_text())["info"]
    work = study_grid.cells[0].work
    replayed = [d for d in work.docs if d.id.startswith("replay/")]
    assert info["replay"]["documents"] == len(replayed) > 0 and info["replay"]["share"] == pytest.approx(0.2, abs=0.03)
    plain = len(examples(study_grid.cells[0].job.dataset.train))
    assert info["examples"] == plain + info["cloze_questions"] + len(examples(replayed))
    stored = json.loads((cell / "corpus.json").read_text())  # the cloze questions measured, not the replay
    assert stored["rows"] == info["cloze_questions"] and stored["copied"] > 0


def test_the_forgetting_check_reports_retention_with_and_without_replay():
    from iclft.study.gaps import gaps
    from iclft.study.report_sections import gap_lines

    kinds = {"pretrained": "pretrained", "icl": "icl", "ft": "ft", "ft_replay": "ft",
             "ft_aug_cloze": "ft_aug_cloze", "ft_aug_cloze_replay": "ft_aug_cloze"}
    cells = [{"dataset": "squad", "model": "m", "condition": c, "kind": k} for c, k in kinds.items()]
    right = {"pretrained": 4, "icl": 4, "ft": 1, "ft_replay": 3, "ft_aug_cloze": 2, "ft_aug_cloze_replay": 4}
    records = [{"dataset": "squad", "model": "m", "part": "test", "split": split, "condition": c, "id": f"q{i}",
                "facts": [f"p{i}"], "correct": {"sum": i < right[c]}}
               for split in ("heldaside", "recall") for c in kinds for i in range(4)]
    table = gap_lines(gaps(records, cells, "sum"), set())
    retained = {line.split(" | ")[0].strip("| "): line.split(" | ")[1].split()[0] for line in table
                if line.startswith("| ft")}
    assert retained == {"ft": "0.25", "ft_replay": "0.75", "ft_aug_cloze": "0.50", "ft_aug_cloze_replay": "1.00"}
