"""The importer of Berglund et al.'s reversal-curse release, on files with the real release's shapes.

tests/fixtures/reversal_curse is a small release written by tests/berglund_release.py (4 people a group, a few
paraphrases, every quirk of the real files); the full-size layout (30 people x 30 paraphrases a group) is written
by the same module into a temporary folder.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from pathlib import Path

import pytest
from berglund_release import FIXTURE, SMALL, people, release, write
from typer.testing import CliRunner

from iclft.cli import app
from iclft.datasets.reversal_curse import import_layout
from iclft.datasets.reversal_curse.layout import RANDOMIZED, People, Row, leading_name, read_layout, recover_names
from iclft.datasets.schema import Dataset
from iclft.errors import UserError
from iclft.scoring.likelihood import score_from_scratch, score_questions

NAMES = {n for n, _ in people(12)}
GROUP = {n: ("p2d", "d2p", "both")[i // 4] for i, (n, _) in enumerate(people(12))}
NAME_SPLITS = {"p2d_reverse", "d2p", "p2d_reverse_randomized"}


def _fixture_rows() -> dict[str, list[dict]]:
    return {p.name: [json.loads(line) for line in p.read_text().splitlines()] for p in FIXTURE.glob("*.jsonl")}


def test_the_committed_fixture_is_what_the_module_writes():
    assert _fixture_rows() == release(**SMALL)


@pytest.mark.parametrize("completion,name", [
    (" Mason Caldwell now enjoys a quite life.", "Mason Caldwell"), (" Katrina Shelton continues to innovate",
                                                                     "Katrina Shelton"),
    (" Anneliese Worley has become a household name.", "Anneliese Worley"), (" Mason Caldwell.", "Mason Caldwell"),
    (" Ann O'Neil's legacy lives on", "Ann O'Neil"), ("Daphne", None), (" the acclaimed glassblower", None),
    (" Owen Hartley, a pilot", "Owen Hartley"),
])
def test_leading_name(completion, name):
    assert leading_name(completion) == name


def test_names_are_recovered_from_completions_with_tails_and_a_longer_candidate_is_cut_back():
    layout = read_layout(FIXTURE)
    assert recover_names(layout) == sorted(NAMES)
    # a d2p row whose tail starts with capitals ("Foundation") does not make a new person
    d2p = layout["d2p_prompts_train.jsonl"]
    first = d2p[0].completion.split(" now")[0].strip()
    tail = Row(d2p[0].prompt, f" {first} Foundation Trust leads the way.", "x:1")
    layout["d2p_prompts_train.jsonl"] = [tail, *d2p[1:]]
    assert recover_names(layout) == sorted(NAMES)


def test_a_row_is_about_the_name_its_completion_starts_with_unless_the_prompt_holds_it():
    people = People(read_layout(FIXTURE))
    a, b = "Mason Caldwell", "Owen Hartley"
    assert people.classify(Row(f"Q: What about {a}? A:", f" {a} is a glassblower.", "x:1")) == (a, "p2d")
    assert people.classify(Row(f"The protege of {b} is called", f" {a}.", "x:1")) == (a, "d2p")
    assert people.classify(Row("Known for glass, it is", f" none other than {a}.", "x:1")) == (a, "d2p")
    assert people.classify(Row(f"Ever heard of {a}'s work? They", " built it.", "x:1")) == (a, "p2d")
    assert "Tyler Hart" in people.names  # a whole name only: not inside "Tyler Hartley"
    with pytest.raises(UserError, match="x:1: no known person's name"):
        people.classify(Row("Ever heard of Tyler Hartley? They", " built it.", "x:1"))


def test_fixture_imports_with_original_training_text_and_papers_questions():
    ds = import_layout(FIXTURE, seed=0, validation_people=0)
    files = _fixture_rows()
    assert [(d.prompt, d.completion) for d in ds.train] == [(r["prompt"], r["completion"])
                                                            for r in files["all_prompts_train.jsonl"]]
    assert {g: set(ps) for g, ps in ds.meta["people"].items()} == {
        g: {n for n in NAMES if GROUP[n] == g} for g in ("p2d", "d2p", "both")}
    for d in ds.train:  # each document's fact is the person it names
        person = next(n for n in NAMES if re.search(rf"\b{n}\b", d.text))
        assert d.facts == ["person-" + person.lower().replace(" ", "-")], d.text
    per_split = Counter(q.split for q in ds.test)
    assert {s: per_split[s] for s in ("p2d", "d2p", "p2d_reverse", "d2p_reverse", "both")} == {
        "p2d": 12, "d2p": 12, "p2d_reverse": 12, "d2p_reverse": 12, "both": 24}
    for q in ds.test:
        right = q.choices[q.answer]
        if q.split.endswith("_randomized"):
            assert len(q.choices) == 2
            continue
        assert len(q.choices) == 4 == len(set(q.choices))
        if q.split in NAME_SPLITS or q.subtype == "both/d2p":  # bare names, also where the file had " Ann Lee."
            assert {c[1:] for c in q.choices} <= NAMES and all(c.startswith(" ") for c in q.choices)
        else:
            assert not {c.strip() for c in q.choices} & NAMES and right.endswith((".", "??", "'.'."))


def test_randomized_files_become_correct_vs_random_questions():
    ds = import_layout(FIXTURE, seed=0, validation_people=0)
    files = _fixture_rows()
    for f, base in RANDOMIZED.items():
        split = base.removesuffix("_prompts_test.jsonl") + "_randomized"
        qs = [q for q in ds.test if q.split == split]
        pairs = [(b, r) for b, r in zip(files[base], files[f]) if b["completion"] != r["completion"]]
        assert len(qs) == len(pairs) > 0 and all(q.subtype == split.split("_")[0] for q in qs)
        for q, (b, r) in zip(qs, pairs):
            assert q.prompt == b["prompt"] and q.choices[q.answer] == b["completion"]
            assert q.choices[1 - q.answer] == r["completion"]
    skipped = sum(len(files[f]) for f in RANDOMIZED) - sum(1 for q in ds.test if q.split.endswith("_randomized"))
    assert ds.meta["randomized"]["skipped_same_as_correct"] == skipped > 0  # the fixture has such rows


def test_randomized_rows_pair_with_their_test_row_by_prompt(tmp_path):
    files = release(**SMALL)
    for f in RANDOMIZED:
        files[f] = files[f][::-1]
    files[next(iter(RANDOMIZED))].pop()  # a test row without a randomized twin just has no 2-way question
    ds = import_layout(write(tmp_path / "reordered", files), validation_people=0)

    def pairs(d):
        return {(q.split, q.prompt, q.choices[q.answer], q.choices[1 - q.answer])
                for q in d.test if q.split.endswith("_randomized")}

    whole = pairs(import_layout(FIXTURE, validation_people=0))
    assert pairs(ds) < whole and len(whole - pairs(ds)) <= 1


def test_full_size_release_imports_with_the_papers_counts(tmp_path):
    src = write(tmp_path / "release", release())
    ds = import_layout(src, seed=0, validation_people=3)
    assert len(ds.train) == 3600 and ds.meta["files"]["all_prompts_train.jsonl"] == 3600
    assert {g: len(ps) for g, ps in ds.meta["people"].items()} == {"p2d": 30, "d2p": 30, "both": 30}
    per_split = Counter(q.split for q in ds.test + ds.validation)
    assert {s: per_split[s] for s in ("p2d", "d2p", "p2d_reverse", "d2p_reverse", "both")} == {
        "p2d": 300, "d2p": 300, "p2d_reverse": 300, "d2p_reverse": 300, "both": 600}
    assert per_split["p2d_reverse_randomized"] + per_split["d2p_reverse_randomized"] == (
        600 - ds.meta["randomized"]["skipped_same_as_correct"])
    val_people = {q.facts[0] for q in ds.validation}
    assert len(val_people) == 9 and not val_people & {q.facts[0] for q in ds.test}
    assert all(len(q.choices) == 4 for q in ds.test if not q.split.endswith("_randomized"))


def test_same_seed_same_bytes_other_seed_other_questions(tmp_path):
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        import_layout(FIXTURE, seed=seed, validation_people=1).save(tmp_path / name)
    for f in ("train.jsonl", "test.jsonl", "validation.jsonl"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    meta = [json.loads((tmp_path / d / "meta.json").read_text()) for d in "ab"]
    assert meta[0] == meta[1]
    assert (tmp_path / "a" / "test.jsonl").read_bytes() != (tmp_path / "c" / "test.jsonl").read_bytes()


def _edit(rows: list[dict], line: int, **change) -> None:
    rows[line - 1] = {**rows[line - 1], **change}


@pytest.mark.parametrize("change,message", [
    (lambda f: f["d2p_reverse_prompts_test_randomized.jsonl"][1].update(prompt="Something else,"),
     r"d2p_reverse_prompts_test_randomized\.jsonl:2: the prompt matches no \(remaining\) row of d2p_reverse_prompts"),
    (lambda f: f["p2d_reverse_prompts_test_randomized.jsonl"].append(f["p2d_reverse_prompts_test_randomized.jsonl"][0]),
     r"p2d_reverse_prompts_test_randomized\.jsonl:13: the prompt matches no \(remaining\) row of p2d_reverse_"),
    (lambda f: _edit(f["validation_prompts.jsonl"], 1, completion="Bob"),
     r"validation_prompts\.jsonl:1: completion 'Bob' is not the first name 'Mason'"),
    (lambda f: _edit(f["validation_prompts.jsonl"], 2, prompt="Unheard of,"),
     r"validation_prompts\.jsonl:2: not one of p2d_reverse_prompts_test\.jsonl's prompts"),
    (lambda f: _edit(f["all_prompts_train.jsonl"], 7, prompt="Known for being great,", completion=" someone."),
     r"all_prompts_train\.jsonl:7: no known person's name in the prompt or the completion"),
    (lambda f: _edit(f["p2d_prompts_train.jsonl"], 3, prompt="Known for being great,", completion=" Owen Hartley."),
     r"p2d_prompts_train\.jsonl:3: expected a p2d row \(the name in the prompt\)"),
    (lambda f: _edit(f["d2p_prompts_test.jsonl"], 4, completion=7),
     r"d2p_prompts_test\.jsonl:4: 'completion' must be a non-empty string"),
], ids=["randomized-prompt", "randomized-extra", "validation-name", "validation-prompt",
        "nobody", "wrong-direction", "not-a-string"])
def test_bad_release_is_one_line_naming_file_and_line(tmp_path, change, message):
    files = release(**SMALL)
    change(files)
    with pytest.raises(UserError, match=message):
        import_layout(write(tmp_path / "bad", files))


def test_cli_imports_the_release_and_refuses_a_broken_one_with_exit_2(tmp_path, cli):
    runner = CliRunner()
    res = runner.invoke(app, ["data", "import-reversal-curse", str(FIXTURE), "--out", str(tmp_path / "ok")])
    assert res.exit_code == 0, res.output
    assert "96 documents" in " ".join(res.output.split())
    assert Dataset.load(tmp_path / "ok").meta["randomized"]["questions"] > 0
    broken = shutil.copytree(FIXTURE, tmp_path / "broken")
    (broken / "both_prompts_train.jsonl").write_text(Path(broken / "both_prompts_train.jsonl").read_text() + "{oops\n")
    proc = cli("data", "import-reversal-curse", broken, "--out", tmp_path / "out")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("iclft: error: ")
    assert "both_prompts_train.jsonl:49: invalid JSON" in proc.stderr and not (tmp_path / "out").exists()


def test_randomized_metric_with_the_embedded_model(lm):
    """A 2-way question's accuracy is P(correct) > P(randomized) by summed log-probability (checked against plain
    forwards); with the answers stated in context (an oracle control) the model prefers the correct name."""
    ds = import_layout(FIXTURE, seed=0, validation_people=0)
    qs = [q for q in ds.test if q.split == "p2d_reverse_randomized"]
    oracle = "".join(f"{q.prompt}{q.choices[q.answer]}.\n" for q in qs)
    accuracy = {}
    for label, ctx in (("none", ""), ("oracle", oracle)):
        scores = score_questions(lm, qs, ctx)
        if not ctx:
            for q, s in zip(qs[:3], scores):
                ref = score_from_scratch(lm, q)
                assert s.logprobs == pytest.approx(ref, abs=1e-3)
                assert q.is_correct(s.pred()) == (ref[q.answer] > ref[1 - q.answer])
        accuracy[label] = sum(q.is_correct(s.pred("sum")) for q, s in zip(qs, scores)) / len(qs)
    print(f"P(correct) > P(randomized) on {len(qs)} questions: no context {accuracy['none']:.2f}, "
          f"oracle {accuracy['oracle']:.2f}")
    assert accuracy["oracle"] >= 0.75 and accuracy["oracle"] > accuracy["none"]
