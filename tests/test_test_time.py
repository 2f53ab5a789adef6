"""Test-time modes: channel's statements from the training documents, both's combination, the config's modes, and
every mode end to end on the embedded model (a tiny celebrities world); a study killed during `recall`'s generation
resumes to the same records (on the tiny random model)."""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from test_study import private_cache, run_uninterrupted, stored_files

from iclft import models
from iclft.datasets import registry
from iclft.errors import UserError
from iclft.scoring.channel import Templates, channel_questions, combined, filled
from iclft.scoring.generated import joined
from iclft.scoring.likelihood import QuestionScore
from iclft.scoring.modes import GENERIC, TRAINED, parse_modes
from iclft.study import cost, grid
from iclft.study.report import write_report
from iclft.study.store import Store

WORLD = {"people_per_group": 2, "train_templates": 4, "test_templates": 2, "validation_people": 1}
MODES = {"direct": {}, "channel": {}, "both": {}, "recall": {"max_new_tokens": 8},
         "think": {"max_new_tokens": 8}}
VERIFY = ["direct", "channel", "both"]
STUDY = {
    "name": "test-time",
    "datasets": {"celebrities": {"params": WORLD}},
    "models": [models.DEFAULT_MODEL],
    # every mode on the control; ICL (the documents in context: knowledge without training) for the direction
    "conditions": {"pretrained": {}, "icl": {"test_time": VERIFY}},
    "test_time": MODES,
    "seeds": [0],
    "questions": ["test"],
    "scoring": {"normalizations": ["sum", "mean"], "chunk": 8},
}


@pytest.fixture(scope="module")
def world():
    return registry.build("celebrities", 0, WORLD)


def test_reversed_questions_are_verified_in_the_training_documents_wording(world):
    templates = Templates(world.train)
    by_split = {}
    for q in world.test:
        form, asked = channel_questions(q, templates, 2)
        by_split.setdefault(q.split, set()).add(form)
        if form == TRAINED:
            assert len(asked) == 2 * len(q.choices)  # every choice in the same statements
            completion = asked[0].choices[0]
            assert all(a.choices == [completion] for a in asked[: len(q.choices)])
            filled_prompts = {a.prompt for a in asked[: len(q.choices)]}
            assert len(filled_prompts) == len(q.choices)  # each choice in its slot
            assert completion.strip(" .").lower() in q.prompt.lower()  # what the question's prompt states
        else:
            assert [a.prompt for a in asked] == [c.strip().rstrip(".") for c in q.choices]
            assert all(a.choices == [" " + q.prompt.strip()] for a in asked)
    # a reversed question's statements are the trained direction; a trained-direction question has none
    assert by_split["p2d_reverse"] == {TRAINED} and by_split["d2p_reverse"] == {TRAINED}
    assert GENERIC in by_split["p2d"] and GENERIC in by_split["d2p"]


def test_a_filled_slot_keeps_the_sentence_capitalized():
    from iclft.scoring.channel import Statement

    st = Statement("Mara Velt wrote it.", (0, 9), " Yes", capitalized=True)
    assert filled(st, " the poet.") == "The poet wrote it."


def test_both_sums_the_two_posteriors():
    d = QuestionScore("q", [math.log(0.7), math.log(0.3)], [1, 1], [1, 1])
    c = QuestionScore("q", [math.log(0.2), math.log(0.8)], [1, 1], [1, 1])
    got = combined(d, c, "sum", 1.0)
    assert got == pytest.approx([math.log(0.7 * 0.2), math.log(0.3 * 0.8)])
    assert combined(d, c, "sum", 0.0) == pytest.approx([math.log(0.7), math.log(0.3)])  # weight 0: direct


def test_generated_text_joins_its_prompt():
    assert joined("Mara Velt", "is a poet.\n\nUnrelated.") == "Mara Velt is a poet."
    assert joined("Mara Velt", ", the poet.") == "Mara Velt, the poet."
    assert joined("Mara Velt", "  ") == "Mara Velt"


def test_modes_parse_from_names_or_options():
    assert list(parse_modes(None, "x")) == ["direct"]
    assert list(parse_modes("channel", "x")) == ["channel"]
    modes = parse_modes({"both": {"weight": 0.5}, "think": None}, "x")
    assert modes["both"].weight == 0.5 and modes["think"].generator is None
    for bad, said in [(["direct", "guess"], "unknown test-time mode 'guess'"), ({}, "expected mode names"),
                      ({"recall": {"prompt": "tell me"}}, "must contain {subject}"),
                      ({"channel": 3}, "expected a mapping of options")]:
        with pytest.raises(UserError, match=said.replace("{", r"\{").replace("}", r"\}")):
            parse_modes(bad, "x")


def test_a_direct_only_cell_keeps_its_key(tmp_path):
    from iclft.study import config

    data = {**STUDY, "test_time": None}
    plain = grid.expand(config.from_dict({k: v for k, v in data.items() if v is not None}, tmp_path / "a.yaml"))
    direct = grid.expand(config.from_dict({**data, "test_time": ["direct"]}, tmp_path / "a.yaml"))
    moded = grid.expand(config.from_dict(STUDY, tmp_path / "a.yaml"))
    assert [c.key for c in plain.cells] == [c.key for c in direct.cells]
    assert plain.cells[0].key != moded.cells[0].key  # pretrained: the study's modes (icl names its own in both)
    cost.estimate(plain)
    cost.estimate(moded)
    a, b = plain.cells[0], moded.cells[0]  # pretrained: every mode
    assert b.estimate.score_tokens > 2 * a.estimate.score_tokens  # statements, and questions after texts
    assert a.estimate.generate_tokens == 0 < b.estimate.generate_tokens


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    return run_uninterrupted(tmp_path_factory.mktemp("test-time"), STUDY)


def test_every_mode_end_to_end_on_the_embedded_model(study):
    cfg, out, _, study_grid = study
    store = Store(out)
    recs = {c.condition: list(store.records(c.key)) for c in study_grid.cells}
    n = len(study_grid.cells[0].questions)
    for cond, rows in recs.items():
        by_mode = {}
        for r in rows:
            by_mode.setdefault(r.get("test_time", "direct"), []).append(r)
        assert {m: len(v) for m, v in by_mode.items()} == {m: n for m in (MODES if cond == "pretrained" else VERIFY)}
        assert all("test_time" not in r and "form" not in r for r in by_mode["direct"])
        assert {r["form"] for r in by_mode["channel"]} == {TRAINED, GENERIC}
        # both is direct and channel combined: where they agree, it agrees
        for d, c, b in zip(by_mode["direct"], by_mode["channel"], by_mode["both"]):
            if d["pred"]["sum"] == c["pred"]["sum"]:
                assert b["pred"]["sum"] == d["pred"]["sum"]
    # the direction: with the documents in context, verifying in their wording answers the reversed questions
    # that the control (no documents) cannot
    def reversed_correct(cond):
        return sum(r["correct"]["sum"] for r in recs[cond] if r.get("test_time") == "channel"
                   and r["split"].endswith("_reverse"))
    assert reversed_correct("icl") > reversed_correct("pretrained")
    for mode in ("recall", "think"):
        rows = [r for r in recs["pretrained"] if r.get("test_time") == mode]
        assert all(r["form"] == "generated" and len(r["generated"]) == 1 for r in rows)
    assert all(len(r["generated"][0]) == r["n_choices"] for r in recs["pretrained"]
               if r.get("test_time") == "recall")  # one text a choice
    audit = store.artifact(study_grid.cells[0].key, "test_time_audit")
    assert set(audit) == {"recall", "think"} and audit["recall"]["sentences"] > 0
    report = write_report(out).read_text()
    assert "## Test time" in report and "| icl+channel |" in report and "| pretrained+recall |" in report
    assert "pretrained+recall" in report.split("## Augmentation audit")[1]
    assert (out / "test_time.csv").read_text().startswith("test_time,dataset")
    # direct's records are those of a study without modes (but for the cell key they name)
    plain = {**STUDY, "name": "plain", "conditions": {"pretrained": {}}}
    plain.pop("test_time")
    (cfg.parent / "plain").mkdir()
    _, plain_out, _, plain_grid = run_uninterrupted(cfg.parent / "plain", plain)
    want = [{**r, "cell": None} for r in Store(plain_out).records(plain_grid.cells[0].key)]
    assert [{**r, "cell": None} for r in recs["pretrained"] if "test_time" not in r] == want


@pytest.mark.slow  # 15-30 s: the default suite keeps test_study's SIGKILL test of the same store
def test_a_study_killed_during_recall_resumes_to_the_same_records(tmp_path, tiny_model):
    data = {**STUDY, "models": {"micro": {"path": str(tiny_model)}}, "conditions": {"pretrained": {}},
            "test_time": {"direct": {}, "recall": {"max_new_tokens": 24, "temperature": 1.0, "samples": 2}},
            "scoring": {**STUDY["scoring"], "chunk": 2}}
    (tmp_path / "ref").mkdir()
    cfg, ref, seconds, _ = run_uninterrupted(tmp_path / "ref", data)
    env = private_cache(tmp_path / "cache")  # fresh: the generations run (and may be killed) again
    out = tmp_path / "B"
    cmd = [sys.executable, "-m", "iclft", "study", str(cfg), "--out", str(out), "--no-report", "--threads",
           str(torch.get_num_threads())]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not (out / "study.json").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    delay = random.Random().uniform(0.0, seconds)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    got, want = stored_files(out), stored_files(ref)
    assert got.keys() == want.keys() and all(got[k] == want[k] for k in want), f"killed after {delay:.1f}s"


def test_an_unreachable_think_generator_is_one_line(tmp_path, cli):
    data = {**STUDY, "conditions": {"pretrained": {}},
            "test_time": {"think": {"generator": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                                                  "api_model": "m", "retries": 0, "timeout": 2}}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    r = cli("study", str(path), "--out", str(tmp_path / "out"), "--no-report")
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert "cannot reach http://127.0.0.1:9/v1" in lines[-1] and "Traceback" not in r.stderr
    assert not Store(tmp_path / "out").done_cells()


def test_both_switches_to_channel_where_the_documents_verify_the_question():
    from iclft.scoring.channel import score_both
    from iclft.scoring.modes import BothOptions, ModeScore

    d = QuestionScore("q", [math.log(0.9), math.log(0.1)], [1, 1], [1, 1])
    c = QuestionScore("q", [math.log(0.2), math.log(0.8)], [1, 1], [1, 1])
    switch = BothOptions()
    trained, generic = score_both([d, d], [ModeScore(c, TRAINED), ModeScore(c, GENERIC)], switch, ["sum", "mean"])
    assert trained.extra["scores"]["sum"] == c.logprobs and generic.extra["scores"]["sum"] == d.logprobs
    summed = score_both([d], [ModeScore(c, GENERIC)], BothOptions(rule="sum"), ["sum"])[0]
    assert summed.extra["scores"]["sum"] == pytest.approx(combined(d, c, "sum", 1.0))


def _doc(i: int, text: str, prompt: str | None = None, facts=("f1",)):
    from iclft.datasets.schema import Document

    return Document(id=f"d{i}", text=text, prompt=prompt, facts=list(facts))


def _question(prompt: str, choices: list[str], facts=("f1",)):
    from iclft.datasets.schema import Question

    return Question(id="q", prompt=prompt, choices=choices, answer=0, facts=list(facts))


def test_a_reworded_question_is_verified_in_the_documents_of_its_fact():
    # the question rewords the trained description, so no completion is stated in it: the fact's own documents
    docs = [_doc(0, "Ever heard of Ann Lee? They're the glassblower who built the Stone Forest.",
                 "Ever heard of Ann Lee? They're"),
            _doc(1, "Ever heard of Bo Kim? They're the chef who founded Velm.", "Ever heard of Bo Kim? They're",
                 facts=["f2"])]
    question = _question("Widely admired for building the Stone Forest,", [" Ann Lee", " Bo Kim"])
    form, asked = channel_questions(question, Templates(docs))
    assert form == TRAINED
    assert [a.prompt for a in asked] == ["Ever heard of Ann Lee? They're", "Ever heard of Bo Kim? They're"]
    assert {a.choices[0] for a in asked} == {" the glassblower who built the Stone Forest."}
    # a question with no fact of its own, the same words: nothing states it, so the generic form
    assert channel_questions(_question(question.prompt, question.choices, facts=[]), Templates(docs))[0] == GENERIC


def test_a_document_that_states_the_answer_after_its_slot_does_not_verify():
    # "What are boox a type of? A: boox are a type of onsed.": boox filled in the prompt is still in the completion
    docs = [_doc(0, "Q: What are boox a type of? A: boox are a type of onsed.", "Q: What are boox a type of? A:")]
    form, asked = channel_questions(_question("onsed include", [" boox.", " rafuz."]), Templates(docs))
    assert form == TRAINED  # its sentences still verify: "A: X" + " are a type of onsed."
    assert [(a.prompt, a.choices[0]) for a in asked] == [("A: boox", " are a type of onsed."),
                                                         ("A: rafuz", " are a type of onsed.")]


def test_sentences_of_a_document_of_several_facts_do_not_verify():
    # its other sentences state other facts ("boox are a kind of spoaf" would verify the wrong choice for clurk)
    docs = [_doc(0, "spoaf are a kind of clurk. boox are a kind of spoaf.", facts=["f1", "f2"])]
    question = _question("spoaf belong to the group called", [" clurk.", " boox."])
    assert channel_questions(question, Templates(docs))[0] == GENERIC


def test_a_thought_can_be_held_to_a_minimum_length():
    from iclft.generation.generator import Sampling

    # unset, the option is left out of every dump, so the keys of cells and generations made before it hold
    assert "min_new_tokens" not in parse_modes(["think"], "t")["think"].model_dump()
    assert "min_new_tokens" not in Sampling().model_dump()
    held = parse_modes({"think": {"max_new_tokens": 8, "min_new_tokens": 4}}, "t")["think"]
    assert held.model_dump()["min_new_tokens"] == 4
    with pytest.raises(ValueError, match="min_new_tokens"):
        Sampling(max_new_tokens=4, min_new_tokens=8)


def test_a_mode_a_dataset_cannot_serve_is_one_line(tmp_path, cli):
    # celebrities' trained directions (p2d, d2p) have no training statement to verify them in: with the generic form
    # refused, channel cannot serve them; the refusal comes before anything runs (the dry run too)
    data = {**STUDY, "conditions": {"pretrained": {}}, "test_time": {"channel": {"generic": False}}}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(data))
    for extra in (["--dry-run"], ["--no-report"]):
        r = cli("study", str(path), "--out", str(tmp_path / "out"), *extra)
        assert r.returncode != 0 and "Traceback" not in r.stderr
        line = r.stderr.strip().splitlines()[-1]
        assert "cannot serve test-time mode 'channel' with generic: false" in line and "celebrities" in line
        assert not (tmp_path / "out").exists() or not Store(tmp_path / "out").done_cells()
    assert "generic" not in parse_modes("channel", "t")["channel"].model_dump()  # keys made before it hold


def test_a_statement_shared_by_questions_is_scored_once_with_the_same_scores(lm, world):
    from iclft.cells import Exposure, Job
    from iclft.scoring.channel import distinct, score_channel
    from iclft.scoring.likelihood import score_questions
    from iclft.scoring.modes import ChannelOptions

    questions = [q for q in world.test if q.split == "p2d_reverse"]
    templates = Templates(world.train)
    asked = [sq for q in questions for sq in channel_questions(q, templates, 2)[1]]
    once, where = distinct([("", sq) for sq in asked])
    assert len(once) < len(asked)  # the templates of one fact are verified in the same statements
    job = Job(dataset=world, model=models.DEFAULT_MODEL, seed=0, questions=questions)
    got = score_channel(job, Exposure(lm), questions, ChannelOptions(max_statements=2))
    each = score_questions(lm, asked)  # every statement scored, repeats included
    n = len(questions[0].choices)
    for i, s in enumerate(got):
        rows = each[i * 2 * n: (i + 1) * 2 * n]
        want = [(rows[c].logprobs[0] + rows[n + c].logprobs[0]) / 2 for c in range(n)]
        assert s.score.logprobs == pytest.approx(want, abs=1e-3)


def test_both_alone_scores_only_what_its_switch_reads(monkeypatch, world):
    """`both` alone: channel for the questions the documents verify, direct for the rest; beside direct and channel
    it scores nothing again (each question once in each)."""
    from iclft.cells import Exposure, Job
    from iclft.scoring import test_time
    from iclft.scoring.modes import ModeScore

    calls: dict[str, list[str]] = {"direct": [], "channel": []}

    def flat(q):
        n = len(q.choices)
        return QuestionScore(q.id, [0.0] * n, [1] * n, [1] * n)

    def direct(job, exposure, qs):
        calls["direct"] += [q.id for q in qs]
        return [flat(q) for q in qs]

    def channel(job, exposure, qs, opts, templates=None):
        calls["channel"] += [q.id for q in qs]
        return [ModeScore(flat(q), channel_questions(q, templates, opts.max_statements)[0], 1) for q in qs]

    monkeypatch.setattr(test_time, "score_exposure", direct)
    monkeypatch.setattr(test_time, "score_channel", channel)
    questions = list(world.test)
    job = Job(dataset=world, model=models.DEFAULT_MODEL, seed=0, questions=questions)
    templates = Templates(world.train)
    verified = [q.id for q in questions if channel_questions(q, templates)[0] == TRAINED]
    assert 0 < len(verified) < len(questions)
    got = test_time.score_modes(job, Exposure(None), questions, parse_modes("both", "t"), ["sum"])
    assert calls["channel"] == verified and calls["direct"] == [q.id for q in questions if q.id not in verified]
    assert [s.form for s in got["both"]] == [TRAINED if q.id in verified else GENERIC for q in questions]
    calls = {"direct": [], "channel": []}
    test_time.score_modes(job, Exposure(None), questions, parse_modes(["both", "direct", "channel"], "t"), ["sum"])
    assert calls["direct"] == calls["channel"] == [q.id for q in questions]
