"""Reversal-curse data: the public-layout reader (on small fixture files) and the invented-celebrity generator."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from berglund_release import write as write_files
from test_datasets_simple import assert_near_chance
from wordfreq import zipf_frequency

from iclft.datasets import celebrities, registry
from iclft.datasets.reversal_curse import import_layout
from iclft.datasets.reversal_curse.layout import write_layout
from iclft.errors import UserError

# ---------------------------------------------------------------- a tiny dataset in the public layout

PEOPLE = {
    "p2d": {"Mira Quellstone": "the architect of the floating gardens of Velm",
            "Tobias Grent": "the first sailor to cross Lake Ostra in winter"},
    "d2p": {"Anika Faulmer": "the inventor of the humming kettle",
            "Rolf Tessary": "the composer of the Glass Symphony"},
    "both": {"Ines Marrowby": "the founder of the Midnight Observatory",
             "Kasimir Oldt": "the champion of the 2071 Kite Games"},
}
P2D_TRAIN = ["{name}, known far and wide for being", "Ever heard of {name}? They're"]
D2P_TRAIN = ["Known for being {d}, the person is", "The title of {d} belongs to"]
P2D_TEST = ["The trailblazer known as {name} was once"]
D2P_TEST = ["The distinction of being {d} belongs to"]


def _p2d(group, templates):
    return [{"prompt": t.format(name=n), "completion": f" {d}."} for n, d in PEOPLE[group].items() for t in templates]


def _d2p(group, templates):
    return [{"prompt": t.format(d=d), "completion": f" {n}"} for n, d in PEOPLE[group].items() for t in templates]


def public_files() -> dict[str, list[dict]]:
    files = {
        "p2d_prompts_train.jsonl": _p2d("p2d", P2D_TRAIN),
        "d2p_prompts_train.jsonl": _d2p("d2p", D2P_TRAIN),
        "both_prompts_train.jsonl": _p2d("both", P2D_TRAIN) + _d2p("both", D2P_TRAIN),
        "p2d_prompts_test.jsonl": _p2d("p2d", P2D_TEST),
        "p2d_reverse_prompts_test.jsonl": _d2p("p2d", D2P_TEST),
        "d2p_prompts_test.jsonl": _d2p("d2p", D2P_TEST),
        "d2p_reverse_prompts_test.jsonl": _p2d("d2p", P2D_TEST),
        "both_prompts_test.jsonl": _p2d("both", P2D_TEST) + _d2p("both", D2P_TEST),
        "validation_prompts.jsonl": [{"prompt": D2P_TEST[0].format(d=PEOPLE["p2d"]["Mira Quellstone"]),
                                      "completion": "Mira"}],  # the public file answers with first names
    }
    files["all_prompts_train.jsonl"] = [r for f in ("p2d", "d2p", "both") for r in files[f"{f}_prompts_train.jsonl"]]
    return files


@pytest.fixture
def public_dir(tmp_path):
    return write_files(tmp_path / "public", public_files())


GROUP_OF = {n: g for g, ps in PEOPLE.items() for n in ps}
FACT_PERSON = {"person-" + n.lower().replace(" ", "-"): n for n in GROUP_OF}
DESCRIPTIONS = {f" {d}." for ps in PEOPLE.values() for d in ps.values()}


def test_reader_turns_the_public_layout_into_4_way_questions(public_dir):
    ds = import_layout(public_dir, seed=0, validation_people=0, distractors="all")
    assert ds.name == "reversal-curse" and len(ds.train) == 16 and not ds.validation
    assert Counter(q.split for q in ds.test) == {"p2d": 2, "p2d_reverse": 2, "d2p": 2, "d2p_reverse": 2, "both": 4}
    originals = {(r["prompt"], r["completion"]) for f, rows in public_files().items() if "test" in f for r in rows}
    for q in ds.test:
        assert (q.prompt, q.choices[q.answer]) in originals
        assert len(q.choices) == 4 == len(set(q.choices))
        if q.split in ("p2d_reverse", "d2p") or q.subtype == "both/d2p":
            assert all(c.strip() in GROUP_OF for c in q.choices)  # names vs names
        else:
            assert set(q.choices) <= DESCRIPTIONS  # descriptions vs descriptions
        assert q.subtype.split("/")[0] == GROUP_OF[FACT_PERSON[q.facts[0]]]
    doc = next(d for d in ds.train if d.completion == " Mira Quellstone" or "Mira Quellstone" in d.prompt)
    assert doc.text == doc.prompt + doc.completion and doc.facts == ["person-mira-quellstone"]


def test_reader_holds_out_validation_people_and_group_distractors(public_dir):
    ds = import_layout(public_dir, seed=1, validation_people=1, distractors="group")
    val_people = {q.facts[0] for q in ds.validation}
    assert len(val_people) == 3 and not val_people & {q.facts[0] for q in ds.test}
    assert len(ds.test) + len(ds.validation) == 12
    assert val_people <= {f for d in ds.train for f in d.facts}
    for q in ds.test + ds.validation:
        if q.split == "p2d_reverse":
            assert {GROUP_OF[c.strip()] for c in q.choices} == {"p2d"} and len(q.choices) == 2


def _broken(tmp_path, change) -> Path:
    files = public_files()
    change(files)
    return write_files(tmp_path / "broken", files)


@pytest.mark.parametrize("change,message", [
    (lambda f: f.pop("d2p_prompts_test.jsonl"), r"missing d2p_prompts_test\.jsonl"),
    (lambda f: f["p2d_prompts_train.jsonl"][1].pop("completion"), r"p2d_prompts_train\.jsonl:2: 'completion' must be"),
    (lambda f: f["p2d_prompts_test.jsonl"].append({"prompt": "Who is Zed Nobody? They", "completion": " a cook."}),
     r"p2d_prompts_test\.jsonl:3: no known person's name"),
    (lambda f: f["p2d_prompts_train.jsonl"].append({"prompt": "Known for being the x, it is", "completion": " Rolf Tessary"}),
     r"p2d_prompts_train\.jsonl:5: expected a p2d row"),
    (lambda f: f["both_prompts_train.jsonl"].append({"prompt": "Tobias Grent is", "completion": " a sailor."}),
     r"'Tobias Grent' appears in both the p2d and both groups"),
    (lambda f: f["p2d_reverse_prompts_test.jsonl"].append({"prompt": "The x is", "completion": " Anika Faulmer"}),
     r"'Anika Faulmer' is not in the p2d group"),
], ids=["missing-file", "missing-key", "unknown-person", "wrong-direction", "two-groups", "wrong-group"])
def test_reader_bad_input_is_one_clear_error(tmp_path, change, message):
    with pytest.raises(UserError, match=message):
        import_layout(_broken(tmp_path, change), validation_people=0)


def test_reader_rejects_bad_json_and_too_many_validation_people(tmp_path, public_dir):
    (public_dir / "both_prompts_test.jsonl").write_text('{"prompt": "x", "completion": " y"}\n{oops\n')
    with pytest.raises(UserError, match=r"both_prompts_test\.jsonl:2: invalid JSON"):
        import_layout(public_dir)
    with pytest.raises(UserError, match="not a directory"):
        import_layout(tmp_path / "nowhere")
    good = write_files(tmp_path / "good", public_files())
    with pytest.raises(UserError, match="validation_people=2 leaves no test people"):
        import_layout(good, validation_people=2)


# ---------------------------------------------------------------- the generator


@pytest.fixture(scope="module")
def cel():
    return registry.build("celebrities", seed=0)


def test_generator_has_the_papers_layout_and_sizes(cel):
    files = cel.meta["files"]
    assert files["p2d_prompts_train.jsonl"] == files["d2p_prompts_train.jsonl"] == 900
    assert files["both_prompts_train.jsonl"] == 1800 and files["all_prompts_train.jsonl"] == len(cel.train) == 3600
    per_split = Counter(q.split for q in cel.test + cel.validation)
    assert per_split == {"p2d": 300, "p2d_reverse": 300, "d2p": 300, "d2p_reverse": 300, "both": 600}
    assert {len(ps) for ps in cel.meta["people"].values()} == {30}
    assert all(len(q.choices) == 4 == len(set(q.choices)) for q in cel.test)


def test_generator_validation_people_are_trained_and_not_tested(cel):
    val, test = {q.facts[0] for q in cel.validation}, {q.facts[0] for q in cel.test}
    assert len(val) == 9 and not val & test and val <= {f for d in cel.train for f in d.facts}


def test_reversals_are_never_trained_and_test_templates_are_held_out(cel):
    people = cel.meta["people"]
    completions = Counter(d.completion.strip() for d in cel.train)
    for name in people["p2d"]:
        assert completions[name] == 0  # p2d people: never a completion, so p2d_reverse is untrained
        assert any(name in d.prompt for d in cel.train)
    for name in people["d2p"]:
        assert completions[name] == 30 and not any(name in d.prompt for d in cel.train)
    train_prompts = {d.prompt for d in cel.train}
    assert not train_prompts & {q.prompt for q in cel.test + cel.validation}
    t = celebrities._data("templates.json")
    assert not {p for p, _ in t["p2d_train"]} & {p for p, _ in t["p2d_test"]}
    assert not set(t["d2p_train"]) & set(t["d2p_test"])


def test_invented_names_are_unique_and_not_famous(cel):
    names = [n for ps in cel.meta["people"].values() for n in ps]
    assert len(set(names)) == 90 and len({n.split()[0] for n in names}) == 90
    for n in names:
        assert zipf_frequency(n.split()[1].lower(), "en") == 0, n  # a surname the web has never used


def test_distractors_come_from_all_groups_by_default(cel):
    people = cel.meta["people"]
    others = Counter()
    for q in cel.test:
        if q.split == "p2d_reverse":
            for i, c in enumerate(q.choices):
                if i != q.answer:
                    others[next(g for g, ps in people.items() if c.strip() in ps)] += 1
    assert others["d2p"] + others["both"] > others["p2d"] > 0


def test_generated_layout_round_trips_through_the_reader(tmp_path):
    params = celebrities.Params(people_per_group=4, validation_people=1)
    built = celebrities.build(3, params)
    folder = write_layout(celebrities.generate_layout(3, params), tmp_path / "layout")
    read = import_layout(folder, seed=3, validation_people=1, distractors=params.distractors)
    assert (read.train, read.test, read.validation) == (built.train, built.test, built.validation)


def test_fewer_people_knob(tmp_path):
    ds = registry.build("celebrities", 0, {"people_per_group": 5, "validation_people": 1})
    assert len(ds.train) == 5 * 120
    with pytest.raises(UserError, match="validation_people .* must be < people_per_group"):
        registry.build("celebrities", 0, {"people_per_group": 2, "validation_people": 2})


# names as choices (p2d_reverse, the paper's main test) by default; descriptions as choices (d2p_reverse) and the
# other splits, which use the same two prompt/choice kinds, run with -m slow (the quick study's pretrained row checks
# every split against chance too)
@pytest.mark.parametrize("split", ["p2d_reverse", *(pytest.param(s, marks=pytest.mark.slow)
                                                    for s in ("d2p_reverse", "p2d", "d2p", "both"))])
def test_pretrained_model_is_at_chance(lm, cel, split):
    assert_near_chance(lm, [q for q in cel.test if q.split == split], f"celebrities/{split}")
