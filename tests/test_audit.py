"""Audit of augmentations on hand-built micro-worlds: exact verdict counts, hallucination rate, coverage; CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from iclft.augment.audit import audit, read_augmentations
from iclft.cli import app
from iclft.datasets.schema import Dataset, Document, Question
from iclft.datasets.semantic.world import World
from iclft.datasets.truth import normalize
from iclft.errors import UserError


def rows(*texts: str, mode: str = "local") -> list[dict]:
    return [{"id": f"d/{mode}/{i}", "text": t, "source": "d"} for i, t in enumerate(texts)]


def reversals() -> Dataset:
    return Dataset(
        name="rev",
        train=[Document(id="a0", text="Consider the following fact. femp are more dangerous than glon."),
               Document(id="a1", text="blick are heavier than zorp.")],
        test=[Question(id="q1", prompt="glon are", choices=[" less dangerous than femp.", " more dangerous than femp."],
                       answer=0, split="reversal"),
              Question(id="q2", prompt="zorp are", choices=[" heavier than blick.", " lighter than blick."],
                       answer=1, split="reversal")],
        meta={"generator": "iclft.datasets.reversals", "vocab": ["femp", "glon", "blick", "zorp"],
              "features": {"dangerous": ["more dangerous", "less dangerous"], "heavy": ["heavier", "lighter"]}},
    )


def test_reversals_verdicts_and_coverage():
    aug = rows("glon are less dangerous than femp.",  # true: the reversal, word for word
               "Glon are more dangerous than femp.",  # false: contradicts the fact
               "femp are heavier than glon.",  # unverifiable: a pair never compared on weight
               "Consider the following fact.",  # unparsed
               "femp are more dangerous than femp.")  # false: irreflexive
    aug += rows("blick are heavier than zorp. zorp are heavier than blick.", mode="global")  # true, false
    r = audit(reversals(), aug)
    assert r["world"] == "reversals" and r["sentences"] == 7 and r["documents"] == 6
    assert r["verdicts"] == {"true": 2, "false": 3, "unverifiable": 1, "unparsed": 1}
    assert r["by_mode"] == {"global": {"true": 1, "false": 1, "unverifiable": 0, "unparsed": 0},
                            "local": {"true": 1, "false": 2, "unverifiable": 1, "unparsed": 1}}
    assert r["hallucination_rate"] == 0.5
    # q1 is stated word for word; q2 ("zorp are lighter than blick") only follows from the forward fact
    assert r["coverage"] == {"reversal": {"questions": 2, "verbatim": 1, "stated": 1, "entailed": 2},
                             "all": {"questions": 2, "verbatim": 1, "stated": 1, "entailed": 2}}
    assert r["examples"]["false"][0] == "Glon are more dangerous than femp."


def test_reversals_wording_variants_are_stated_not_verbatim():
    r = audit(reversals(), rows("- The zorp is lighter than the blick!", "zorb are lighter than blick."))
    assert r["verdicts"]["true"] == 1 and r["verdicts"]["unparsed"] == 1  # a misspelled name is no statement
    assert r["coverage"]["all"] == {"questions": 2, "verbatim": 0, "stated": 1, "entailed": 1}


def test_syllogisms_verdicts_and_coverage():
    ds = Dataset(
        name="syl",
        train=[Document(id="s0", text="The relationships between glon, troff and yomp are: All glon are yomp. "
                                      "All troff are glon."),
               Document(id="s1", text="The relationships between abe, bex and cim are: No abe are bex. "
                                      "All cim are abe.")],
        test=[Question(id="q1", prompt="The relationships between yomp and troff are:",
                       choices=[" All yomp are troff.", " All troff are yomp.", " Some yomp are troff."],
                       answer=1, split="syllogism"),
              Question(id="q2", prompt="The relationships between cim and bex are:",
                       choices=[" All cim are bex.", " No cim are bex.", " No bex are cim."],
                       answer=1, accepted=[2], split="syllogism")],
        meta={"generator": "iclft.datasets.syllogisms", "params": {"existential_import": False}},
    )
    aug = rows("All troff are yomp.",  # true (Barbara), verbatim q1
               "Some troff are not yomp.",  # false: every troff is a yomp
               "Some abe are bex.",  # false: contradicts a premise
               "Some troff are yomp.",  # unverifiable without existential import (troff may be empty)
               "All yomp are troff.",  # unverifiable: consistent, not valid
               "All glon are cim.",  # unverifiable: terms of different items
               "No bex are abe.",  # true: converse of a premise
               "The relationships between abe and cim are: All cim are abe.",  # true
               "Dogs are nice.")  # unparsed
    r = audit(ds, aug)
    assert r["verdicts"] == {"true": 3, "false": 2, "unverifiable": 3, "unparsed": 1}
    assert r["hallucination_rate"] == 0.25
    # q2 ("No cim are bex") is never written, but follows from "No bex are abe" + "All cim are abe"
    assert r["coverage"]["all"] == {"questions": 2, "verbatim": 1, "stated": 1, "entailed": 2}
    # with existential import "Some troff are yomp" becomes valid
    ds.meta["params"]["existential_import"] = True
    assert audit(ds, rows("Some troff are yomp."))["verdicts"]["true"] == 1


def semantic() -> Dataset:
    world = World.from_triples([("gruds", "isa", "abmes"), ("abmes", "are", "rony"),
                                ("plobs", "isa", "veps"), ("veps", "are", "zept")])
    q = [Question(id="q1", prompt="abmes include", choices=[" gruds.", " plobs."], answer=0, split="reversal"),
         Question(id="q2", prompt="gruds are", choices=[" rony.", " zept."], answer=0, split="syllogism"),
         Question(id="q3", prompt="plobs are", choices=[" zept.", " rony."], answer=0, split="syllogism")]
    return Dataset(name="sem", train=[Document(id="t", text="gruds are a type of abmes.")], test=q,
                   meta={"generator": "iclft.datasets.semantic", "world": world.to_dict()})


def test_semantic_verdicts_and_coverage():
    aug = rows("Abmes include gruds.",  # true (reversal), verbatim q1
               "gruds are rony.",  # true (inherited), verbatim q2
               "gruds are zept.",  # false: the world does not entail it
               "plobs are a type of veps.",  # true
               "Things that are zept include veps.",  # true (a reversed property)
               "Gruds like the sun.")  # unparsed
    r = audit(semantic(), aug)
    assert r["verdicts"] == {"true": 4, "false": 1, "unverifiable": 0, "unparsed": 1}
    assert r["hallucination_rate"] == 0.2
    assert r["coverage"] == {
        "reversal": {"questions": 1, "verbatim": 1, "stated": 1, "entailed": 1},
        "syllogism": {"questions": 2, "verbatim": 1, "stated": 1, "entailed": 2},  # q3 from plobs->veps->zept
        "all": {"questions": 3, "verbatim": 2, "stated": 2, "entailed": 3},
    }


def test_no_world_model_reports_verbatim_coverage_only():
    ds = Dataset(name="celebrities", train=[Document(id="t", text="Ann Lee wrote a book.")],
                 test=[Question(id="q", prompt="The author of a book is", choices=[" Ann Lee.", " Bo Ray."], answer=0)],
                 meta={"generator": "iclft.datasets.celebrities"})
    r = audit(ds, rows("The author of a book is Ann Lee.", "Ann Lee wrote it."))
    assert r["world"] is None and "no world model" in r["note"] and r["hallucination_rate"] is None
    assert r["verdicts"]["unparsed"] == 2
    assert r["coverage"]["all"] == {"questions": 1, "verbatim": 1}


def test_normalize():
    assert normalize("  1. The relationships between a and b are:  All A are B. ") == "all a are b"
    assert normalize("A: gruds are rony!") == "gruds are rony"
    assert normalize("So this document says that gruds are rony.") == "gruds are rony"
    assert normalize("I learned that gruds are rony.") == "gruds are rony"


def test_cli_audit(tmp_path, cli):
    reversals().save(tmp_path / "data")
    aug = tmp_path / "aug.jsonl"
    aug.write_text("".join(json.dumps(r) + "\n" for r in rows("glon are less dangerous than femp.", "glon are x.")))
    cell = tmp_path / "cell"
    cell.mkdir()
    (cell / "augmented.json").write_text(json.dumps(rows("zorp are heavier than blick.", mode="global")))
    res = CliRunner().invoke(app, ["augment", "audit", str(tmp_path / "data"), "--aug", str(aug), "--aug", str(cell)])
    assert res.exit_code == 0, res.output
    assert "hallucination rate 50.0%" in " ".join(res.output.split())
    report = json.loads((tmp_path / "audit.json").read_text())
    assert report["verdicts"] == {"true": 1, "false": 1, "unverifiable": 0, "unparsed": 1}
    assert report["augmentations"] == [str(aug), str(cell)]

    missing = cli("augment", "audit", tmp_path / "data", "--aug", tmp_path / "no.jsonl")
    assert missing.returncode == 2 and "no such augmentation file" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"text": "x"}))
    with pytest.raises(UserError, match="expected augmented documents"):
        read_augmentations(bad)


@pytest.mark.parametrize(("name", "params", "entailed_splits"), [
    ("reversals", {"n_facts": 12, "articles_per_fact": 2, "validation_facts": 2}, {"reversal"}),
    ("syllogisms", {"n_items": 20, "validation_items": 4}, {"syllogism"}),
    ("semantic", {"scale": 0.2, "documents_per_category": 2, "max_per_subtype": 10},
     {"rephrased", "reversal", "syllogism", "category_holdout"}),
])
def test_a_datasets_own_training_text_is_true_and_entails_its_tests(name, params, entailed_splits):
    """The world model agrees with each generator: its training text has no false or unverifiable
    statement, and entails every test question; stated as written are only the rephrasings (not reversals)."""
    from iclft.datasets import registry

    ds = registry.build(name, 0, params)
    r = audit(ds, [{"id": d.id, "text": d.text} for d in ds.train])
    assert r["verdicts"]["true"] > 0 and r["verdicts"]["false"] == r["verdicts"]["unverifiable"] == 0
    if name == "syllogisms":
        assert r["verdicts"]["unparsed"] == 0
    for split in entailed_splits:
        c = r["coverage"][split]
        assert c["entailed"] == c["questions"] > 0
        assert c["stated"] == (c["questions"] if split == "rephrased" else 0)
