"""Augmentation filters needing no ground truth (faithful, consistent, grounded, self-verified), the verified
control, shape-matched prompts, drop counts and determinism; the model-based ones with the real embedded model."""

from __future__ import annotations

from collections import Counter

import pytest
from pydantic import ValidationError

from iclft.augment import AugmentOptions, GenerationCache, augment
from iclft.augment.filters import SelfVerifier, contradicts, world_judge
from iclft.augment.postprocess import ItemSource, SourceFilter, judge
from iclft.augment.prompts import load_templates, shape_of
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.generation.local import LocalGenerator
from iclft.lexicon import Vocabulary, new_words

FACT = "sirm are softer than spib."
PERSON = "Eamon Carrowley is the legendary clockmaker who restored the silent bells of Slith Cathedral."


def test_faithful_keeps_reversals_and_restatements_and_drops_invented_facts():
    vocab = Vocabulary([FACT])
    assert new_words("Spib are harder than sirm.", vocab) == []  # the comparative opposite is licensed
    assert new_words("Spib are not as soft as sirm.", vocab) == []
    assert new_words("Sirm live in caves beside spib.", vocab) == ["live", "caves", "beside"]
    person = Vocabulary([PERSON])
    assert new_words("The silent bells of Slith Cathedral were restored by Eamon Carrowley.", person) == []
    assert new_words("The clockmaker who restored the bells is known as Eamon Carrowley.", person) == []
    assert new_words("Eamon Carrowley is a British-American 19th-century typographer.", person) == [
        "british", "american", "19th", "century", "typographer"]


def test_consistent_drops_one_sided_changes_of_a_reversal():
    names = {"sirm", "spib"}
    assert not contradicts("Spib are harder than sirm.", [FACT], names)  # both sides changed: the reversal
    assert contradicts("Spib are softer than sirm.", [FACT], names)  # names swapped only
    assert contradicts("Sirm are harder than spib.", [FACT], names)  # comparative flipped only
    assert contradicts("femp are less dangerous than glon.", ["Femp are more dangerous than glon."], {"femp", "glon"})
    assert not contradicts("Sirm are softer than spib.", [FACT], names)  # a copy is not a contradiction


def test_filter_steps_in_order_and_each_can_be_turned_off():
    item = ItemSource(FACT, FACT)
    on = SourceFilter(FACT, grounded=2, faithful=True, consistent=True)
    verdicts = judge(["Spib are harder than sirm.", "Spib are hard.", "Sirm and spib live in caves.",
                      "Spib are softer than sirm.", "Spib are harder than sirm."], on, cut=False, item=item)
    assert [r for _, r in verdicts] == [None, "ungrounded", "unfaithful", "contradiction", "duplicate"]
    off = SourceFilter(FACT, grounded=0, faithful=False, consistent=False, dedupe=False)
    verdicts = judge(["Spib are harder than sirm.", "Spib are hard.", "Sirm and spib live in caves.",
                      "Spib are softer than sirm.", "Spib are harder than sirm."], off, cut=False, item=item)
    assert [r for _, r in verdicts] == [None] * 5


def test_item_shapes_pick_matching_few_shot_templates():
    assert shape_of(FACT) == "fact"
    assert shape_of("Ever heard of Eamon Carrowley? They're the clockmaker.") == "name"
    assert shape_of(PERSON) == "name"
    assert shape_of("The Hague is a city.") == "fact"
    assert shape_of("Blorts are wemps. Blorts swim. Zinks fly.") == "article"
    # the description first: its reversal puts the name first (a run after "the", "past" or a quote is a thing)
    assert shape_of("The daring pilot who first flew over the Tolm Mountains is known as Jasper Wendlow") == "name-last"
    assert shape_of('They say the archivist who restored the "Midnight Observatory." in 2087 is an understatement '
                    "when you're talking about Nolan Fairchild.") == "name-last"
    assert shape_of("Who tracked the whale migration past Skeap Point? The answer is Octavian Quillby") == "name-last"
    assert shape_of("Life scripted a tale for Elise Oakridge, they once were the cartographer who built the "
                    '"Stone Forest" installation.') == "name"
    assert shape_of("The Glass Symphony was designed in 2070.") == "name"  # named, but no person: as before
    templates = load_templates("local")
    assert "the description first and the name last" in templates["name"].messages[0][1].template
    assert "the name first and the description after it" in templates["name-last"].messages[0][1].template
    assert len({templates[s].source for s in ("fact", "name", "name-last", "article")}) == 4
    assert len({id(t) for t in load_templates("global").values()}) == 1


def test_a_packaged_template_is_named_by_its_bare_name(tmp_path, monkeypatch):
    named = load_templates("local", "local-name")  # one template for every shape, from any working directory
    monkeypatch.chdir(tmp_path)
    assert {t.source for t in load_templates("local", "local-name").values()} == {named["fact"].source}
    assert named["name-last"].source.endswith("templates/local-name.txt")
    with pytest.raises(ValidationError, match="no such file, nor a packaged template"):
        AugmentOptions(template="local-nmae")
    (tmp_path / "mine").write_text("[user]\nStatement: $text ($k)\n")  # a file of that name wins
    assert load_templates("local", "mine")["fact"].source == "mine"


def test_self_verification_prefers_what_the_source_supports(lm):
    verifier = SelfVerifier(lm, threshold=1.0)
    supported, invented, wrong_name = verifier.gains([
        (PERSON, "The legendary clockmaker who restored the silent bells of Slith Cathedral is Eamon Carrowley."),
        (PERSON, "Eamon Carrowley is a British-American 19th-century typographer."),
        (PERSON, "The legendary clockmaker who restored the silent bells of Slith Cathedral is Seraphina Bramcombe."),
    ])
    assert supported > wrong_name and supported > invented + 1.0
    assert supported >= verifier.threshold > invented
    with pytest.raises(UserError, match="baseline"):
        SelfVerifier(lm, 0.0, baseline="nothing")


@pytest.fixture(scope="module")
def gen(lm):
    return LocalGenerator(lm, batch_size=4)


DOCS = [Document(id="p", text=PERSON, facts=["f1"]), Document(id="r", text="Femp are more dangerous than glon.")]
SMALL = {"mode": "local", "k": 2, "samples": 2, "max_new_tokens": 16, "seed": 3}  # 4 short generations


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return GenerationCache(tmp_path_factory.mktemp("gens"))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """SMALL with a one-line prompt (the packaged few-shot prompts are long for a CPU test)."""
    path = tmp_path_factory.mktemp("templates") / "local.txt"
    path.write_text("[user]\nRestate this in $k short sentences, one per line: $text\n", encoding="utf-8")
    return {**SMALL, "template": str(path)}


@pytest.mark.slow  # ~20-40 s; seeded augmentation reruns are checked by test_augment_local in the default suite
def test_drop_counts_are_recorded_and_augmentation_is_deterministic(gen, cache, small):
    options = AugmentOptions(**small, self_verify=1.0)
    first = augment(DOCS, gen, options, cache=cache)
    summary = first.summary
    assert summary["steps"]["faithful"] and summary["steps"]["self_verify"] == 1.0
    assert not summary["steps"]["verified (CONTROL: uses the answers)"]
    assert Counter(d["reason"] for d in first.drops) == Counter({r: n for r, n in summary["dropped"].items() if n})
    assert sum(summary["dropped"].values()) > 0
    for d in first.drops:
        if d["reason"] == "unsupported":
            assert d["detail"] < 1.0
        if d["reason"] == "unfaithful":
            assert d["detail"] and all(isinstance(w, str) for w in d["detail"])
    again = augment(DOCS, gen, options)  # no cache: generated again
    assert again.generated == first.generated == 4
    assert [a.row() for a in again.items] == [a.row() for a in first.items] and again.drops == first.drops
    assert first.summary == again.summary


def test_verified_control_keeps_only_what_the_world_judges_true(gen, cache, small):
    options = AugmentOptions(**small, self_verify=None, faithful=False, verified=True)
    with pytest.raises(UserError, match="world"):
        augment(DOCS, gen, options, cache=cache)
    true = {"Glon are less dangerous than femp."}
    result = augment(DOCS, gen, options, cache=cache, world=lambda s: "true" if s in true else "false")
    assert {a.document.text for a in result.items} <= true
    assert all(d["detail"] == "false" for d in result.drops if d["reason"] == "not_true")
    assert result.summary["dropped"]["not_true"] == sum(d["reason"] == "not_true" for d in result.drops)


def test_world_judge_of_a_reversals_dataset():
    from iclft.datasets import registry

    ds = registry.build("reversals", 1, {"n_facts": 4, "articles_per_fact": 1, "validation_facts": 1})
    fact = next(s for d in ds.train for s in d.text.split(". ") if " than " in s).rstrip(".") + "."
    judge_ = world_judge(ds)
    assert judge_(fact) == "true" and judge_("Nothing here.") == "unparsed"
