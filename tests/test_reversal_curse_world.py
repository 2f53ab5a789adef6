"""The world of an imported reversal-curse release (iclft.datasets.reversal_curse_truth), its oracle facts, the
audit on an imported folder, and the importer's seeded subset (--people-per-group / --paraphrases /
--questions-per-person).

The world is built from the TRAINING rows only; the test rows (other templates and description forms) and
hand-written paraphrases are sentences it never saw."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from berglund_release import FIXTURE, SMALL, people, release, write

from iclft.augment.audit import audit
from iclft.datasets.reversal_curse import import_layout
from iclft.datasets.schema import Dataset
from iclft.datasets.truth import logic_for, units, world_judge
from iclft.errors import UserError
from iclft.learners import oracle

PEOPLE = dict(people(12))  # the fixture's people: name -> description forms; groups of 4 (p2d, d2p, both)
MASON, URIAH, KATRINA = "Mason Caldwell", "Uriah Pemberton", "Katrina Worley"  # a p2d, a d2p and a both person


@pytest.fixture(scope="module")
def ds():
    return import_layout(FIXTURE, seed=0, validation_people=1)


def test_held_out_test_rows_are_judged_and_never_confused(ds, tmp_path):
    """Every test question's text: the correct statement true (or unverifiable where descriptions overlap), a
    distractor false or unverifiable, never the other way round, never unparsed (every sentence names a person);
    in the fixture and in a release whose people each have a work of their own, as in the real one."""
    _judged_without_confusion(ds)
    distinct = write(tmp_path / "distinct", release(**SMALL, distinct_works=True))
    _judged_without_confusion(import_layout(distinct, seed=0, validation_people=1))


def _judged_without_confusion(ds) -> None:
    logic = logic_for(ds)
    assert logic is not None and logic.name == "reversal-curse"
    seen: Counter = Counter()
    for q in (*ds.test, *ds.validation):
        for i, choice in enumerate(q.choices):
            st = logic.parse(q.prompt + choice)
            assert st is not None, q.prompt + choice
            right = q.choices[i].strip() == q.choices[q.answer].strip()
            seen[(right, logic.verdict(st))] += 1
    assert seen[(True, "false")] == seen[(False, "true")] == 0
    assert seen[(True, "true")] >= 0.85 * (seen[(True, "true")] + seen[(True, "unverifiable")])
    assert seen[(False, "false")] >= 0.85 * (seen[(False, "false")] + seen[(False, "unverifiable")])


def test_paraphrases_the_world_never_saw(ds):
    judge, logic = world_judge(ds), logic_for(ds)
    assert judge("Velm's floating gardens were charted by Mason Caldwell.") == "true"
    assert logic.parse("Velm's floating gardens were charted by Mason Caldwell.")[2] == "d2p"
    assert judge("Mason Caldwell, a glassblower, is famous for charting the gardens that float over Velm.") == "true"
    assert logic.parse(f"{MASON} charted the floating gardens of Velm.")[2] == "p2d"
    assert judge("Uriah Pemberton is an architect famous for discovering the lost Tessaly archives.") == "true"
    assert judge("The lost archives of Tessaly were discovered by Mason Caldwell.") == "false"
    assert judge("Mason charted the floating gardens of Velm.") == "true"  # a first name only one person has
    assert judge("Uriah discovered the floating gardens of Velm.") == "false"
    assert judge("Mason Caldwell lives in a quiet town.") == "unverifiable"  # a name alone
    assert judge("Someone charted the floating gardens of Velm.") == "unverifiable"  # a description alone
    assert judge(f"{MASON} and {URIAH} met once.") == "unverifiable"  # two people: mixed
    assert judge("The weather was pleasant all week.") == "unparsed"
    for name in PEOPLE:  # a person of the release is never unparsed, whatever else the sentence says
        for sentence in (f"{name} smiled.", f"I once met {name.upper()} at a party.", f"{name}'s story is long."):
            assert judge(sentence) != "unparsed", sentence


def test_the_world_is_built_from_training_rows_only(tmp_path):
    files = release(people_per_group=4, p2d_train=[0, 1, 4], d2p_train=[0, 1, 2], test=[0, 3])
    for name in [f for f in files if "test" in f] + ["validation_prompts.jsonl"]:
        files[name] = [{k: v.replace("Velm", "Zorblax") for k, v in r.items()} for r in files[name]]
    ds = import_layout(write(tmp_path / "release", files), validation_people=0)
    assert "Zorblax" in json.dumps([q.model_dump() for q in ds.test])
    assert "Zorblax" not in json.dumps(ds.meta["world"])
    assert "Velm" in json.dumps(ds.meta["world"])


def test_oracle_facts_are_true_untrained_directions_and_never_a_question(ds):
    docs = oracle.oracle_documents(ds, oracle.Options().size(ds), seed=0)
    assert len(docs) == round(oracle.DEFAULT_RATIO * len(ds.train))
    judge, logic = world_judge(ds), logic_for(ds)
    verdicts = [judge(s) for d in docs for s in units(logic, d.text)]
    assert verdicts == ["true"] * len(docs)
    banned = oracle.question_statements(ds)
    assert not any(oracle.states_a_question(d.text, banned) for d in docs)
    prompts = {q.prompt for q in (*ds.test, *ds.validation)}
    assert not any(p in d.text for d in docs for p in prompts)
    directions = Counter(logic.parse(d.text)[2] for d in docs if logic.parse(d.text)[0] == MASON)
    assert set(directions) == {"d2p"}  # a p2d person gets description -> name rows
    assert {logic.parse(d.text)[2] for d in docs if logic.parse(d.text)[0] == URIAH} == {"p2d"}
    assert not any(logic.parse(d.text)[0] == KATRINA for d in docs)  # the both group has both directions
    training = {d.text for d in ds.train}
    assert any(d.text.startswith("Known for being the acclaimed glassblower") for d in docs)  # a d2p template
    assert not any(d.text in training for d in docs)
    cov = audit(ds, [{"id": d.id, "text": d.text} for d in docs])["coverage"]
    for split in ("p2d_reverse", "d2p_reverse"):  # every question whose statement the world reads as true
        readable = [q for q in ds.test if q.split == split
                    and judge(q.prompt + q.choices[q.answer]) == "true"]
        assert cov[split]["stated"] == len(readable) >= 0.5 * cov[split]["questions"] > 0


def test_audit_of_an_imported_folder_judges_with_the_release_world(tmp_path, cli):
    import_layout(FIXTURE, seed=0, validation_people=1).save(tmp_path / "data")
    aug = tmp_path / "aug.jsonl"
    rows = [{"id": "d/local/0", "text": f"{MASON} charted the floating gardens of Velm. Mason is kind. It rained."},
            {"id": "d/local/1", "text": "Uriah Pemberton charted the floating gardens of Velm."}]
    aug.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = cli("augment", "audit", tmp_path / "data", "--aug", aug)
    assert res.returncode == 0, res.stderr
    report = json.loads((tmp_path / "audit.json").read_text())
    assert report["world"] == "reversal-curse"
    assert report["verdicts"] == {"true": 1, "false": 1, "unverifiable": 1, "unparsed": 1}


def test_a_folder_imported_before_the_world_was_recorded_has_none(tmp_path):
    ds = import_layout(FIXTURE, seed=0, validation_people=1)
    del ds.meta["world"]
    assert logic_for(ds) is None
    with pytest.raises(UserError, match="ft_aug_oracle"):
        oracle.oracle_documents(ds, 3, 0)


def test_subset_sizes_determinism_and_bad_values(tmp_path, cli):
    src = write(tmp_path / "full", release())  # 30 people a group x 30 paraphrases
    ds = import_layout(src, seed=0, validation_people=1, people_per_group=5, paraphrases=4)
    assert {g: len(ps) for g, ps in ds.meta["people"].items()} == {"p2d": 5, "d2p": 5, "both": 5}
    assert len(ds.train) == 5 * 4 + 5 * 4 + 5 * 8  # p2d, d2p, both (both directions)
    assert Counter(q.split for q in ds.test)["p2d_reverse"] == 4 * 10  # test rows stay whole
    assert ds.meta["params"] == {"validation_people": 1, "distractors": "group", "people_per_group": 5,
                                      "paraphrases": 4}
    assert ds.meta["world"]["descriptions"].keys() == {n for ps in ds.meta["people"].values() for n in ps}
    for seed, name in ((0, "a"), (0, "b"), (1, "c")):
        res = cli("data", "import-reversal-curse", src, "--out", tmp_path / name, "--seed", seed,
                  "--people-per-group", 5, "--paraphrases", 4)
        assert res.returncode == 0, res.stderr
    same = [(tmp_path / n / "train.jsonl").read_bytes() for n in "abc"]
    assert same[0] == same[1] != same[2]
    assert Dataset.load(tmp_path / "a").meta["world"] == ds.meta["world"]
    for flags, message in ((("--people-per-group", 31), "people_per_group=31: must be from 1 to 30"),
                           (("--paraphrases", 0), "paraphrases=0: must be from 1 to 30")):
        res = cli("data", "import-reversal-curse", src, "--out", tmp_path / "bad", *flags)
        assert res.returncode == 2 and res.stderr.count("\n") == 1 and message in res.stderr, res.stderr
        assert not (tmp_path / "bad").exists()


def test_questions_per_person_keeps_that_many_test_rows_a_person_and_their_randomized_pairs(tmp_path, cli):
    src = write(tmp_path / "full", release())  # 10 test rows a person and direction
    ds = import_layout(src, seed=0, validation_people=1, people_per_group=5, paraphrases=2, questions_per_person=3)
    per = Counter((q.split, q.subtype, q.facts[0]) for q in ds.test if not q.split.endswith("_randomized"))
    assert set(per.values()) == {3} and len({f for _, _, f in per}) == 3 * 4  # 4 test people a group
    assert Counter(q.split for q in ds.test)["p2d_reverse"] == 4 * 3
    assert set(Counter((q.split, q.subtype, q.facts[0]) for q in ds.validation
                       if not q.split.endswith("_randomized")).values()) == {10}  # validation people keep all
    for split in ("p2d_reverse", "d2p_reverse"):
        kept = {q.prompt for q in ds.test if q.split == split}
        paired = [q.prompt for q in ds.test if q.split == f"{split}_randomized"]
        assert paired and set(paired) <= kept and len(paired) >= len(kept) - 2  # a few: random = correct
    assert ds.meta["params"]["questions_per_person"] == 3
    assert ds.meta["randomized"]["skipped_same_as_correct"] < 5  # the rows left out are not counted as skipped
    whole = import_layout(src, seed=0, validation_people=1, people_per_group=5, paraphrases=2)
    assert [d.text for d in whole.train] == [d.text for d in ds.train]
    def rows(qs):  # (split, prompt, right answer): the ids and the distractors drawn follow the rows kept
        return sorted((q.split, q.prompt, q.choices[q.answer]) for q in qs)

    assert rows(whole.validation) == rows(ds.validation)
    for seed, name in ((0, "a"), (0, "b"), (1, "c")):
        res = cli("data", "import-reversal-curse", src, "--out", tmp_path / name, "--seed", seed,
                  "--people-per-group", 5, "--paraphrases", 2, "--questions-per-person", 3)
        assert res.returncode == 0, res.stderr
    same = [(tmp_path / n / "test.jsonl").read_bytes() for n in "abc"]
    assert same[0] == same[1] != same[2]
    for n in (0, 11):
        res = cli("data", "import-reversal-curse", src, "--out", tmp_path / "bad", "--questions-per-person", n)
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
        assert f"questions_per_person={n}: must be from 1 to 10" in res.stderr
        assert not (tmp_path / "bad").exists()


def test_a_subsets_randomized_completions_are_kept_peoples(tmp_path):
    """A random completion of a person left out of the subset (never trained) is redrawn from the kept people of the
    same group, so the 2-way pair compares two trained people, as in the whole release."""
    src = write(tmp_path / "full", release())
    ds = import_layout(src, seed=0, validation_people=1, people_per_group=5, paraphrases=2)
    kept = {g: set(ps) for g, ps in ds.meta["people"].items()}
    described = {}  # a kept d2p person's test descriptions
    for q in ds.test + ds.validation:
        if q.split == "d2p_reverse":
            described.setdefault(q.choices[q.answer].strip(), set()).add(q.facts[0])
    pairs = [q for q in ds.test + ds.validation if q.split.endswith("_randomized")]
    for q in pairs:
        wrong = q.choices[1 - q.answer].strip()
        if q.split == "p2d_reverse_randomized":
            assert wrong in kept["p2d"], wrong
        else:
            assert wrong in described, wrong
    randomized = ds.meta["randomized"]
    assert 0 < randomized["redrawn_in_subset"] <= len(pairs) + randomized["skipped_same_as_correct"]
    assert "redrawn_in_subset" not in import_layout(src, seed=0, validation_people=1).meta["randomized"]


def test_the_controls_run_on_an_imported_folder_and_the_report_shows_their_audit(tmp_path, monkeypatch, tiny_model):
    """ft_aug_oracle and the verified control in a study on an imported folder (the tiny random model: plumbing)."""
    from test_study import private_cache

    from iclft.study import config, grid, report, run

    monkeypatch.setenv("ICLFT_CACHE", private_cache(tmp_path / "cache")["ICLFT_CACHE"])
    folder = import_layout(FIXTURE, validation_people=1, people_per_group=2, paraphrases=1).save(tmp_path / "data")
    monkeypatch.setenv("ICLFT_DATA", str(folder))
    cfg = tmp_path / "study.yaml"
    cfg.write_text(json.dumps({
        "name": "imported", "datasets": {"berglund": {"path": "${ICLFT_DATA}"}},
        "models": {"micro": {"path": str(tiny_model)}},
        "conditions": {"ft_aug_oracle": {"ft": {"max_steps": 1, "batch_size": 4}, "count": 4},
                       "ft_aug_verified": {"condition": "ft_aug_local", "ft": {"max_steps": 1, "batch_size": 4},
                                           "local": {"k": 1, "max_new_tokens": 8, "verified": True}}},
        "questions": ["test"]}))
    run.run_grid(grid.expand(config.load(cfg)), tmp_path / "out", show_progress=False, log=lambda m: None)
    audits = {p.parent.name.split(".")[1]: json.loads(p.read_text())
              for p in (tmp_path / "out").glob("cells/*/audit.json")}
    assert set(audits) == {"ft_aug_oracle", "ft_aug_verified"}
    assert {a["world"] for a in audits.values()} == {"reversal-curse"}
    assert audits["ft_aug_oracle"]["verdicts"]["true"] == 4 == audits["ft_aug_oracle"]["sentences"]
    text = report.write_report(tmp_path / "out").read_text()
    assert "| berglund | ft_aug_oracle (CONTROL) |" in text and "| berglund | ft_aug_verified (CONTROL) |" in text
