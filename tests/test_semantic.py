"""The semantic-structure benchmark: entailment logic, parser, checker, coverage, determinism, chance level."""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from importlib import resources

import pytest
from typer.testing import CliRunner

from iclft.cli import app
from iclft.datasets import registry
from iclft.datasets.schema import Dataset
from iclft.datasets.semantic import Params, World, build, check, hierarchy, problems
from iclft.datasets.semantic.questions import SPLITS
from iclft.datasets.semantic.world import canonical
from iclft.errors import UserError

SMALL = Params(scale=0.2)

# ---------------------------------------------------------------- a hand-built English micro-world
MICRO = [
    ("animals", "can", "breathe"),
    ("birds", "isa", "animals"),
    ("birds", "can", "fly"),
    ("birds", "eats", "insects"),
    ("songbirds", "isa", "birds"),
    ("songbirds", "can", "sing"),
    ("canaries", "isa", "songbirds"),
    ("canaries", "are", "yellow"),
    ("robins", "isa", "songbirds"),
    ("fish", "isa", "animals"),
    ("fish", "have", "gills"),
    ("insects", "isa", "animals"),
    ("beetles", "isa", "insects"),
    ("living things", "are", "alive"),
    ("animals", "isa", "living things"),
]


@pytest.fixture(scope="module")
def micro() -> World:
    return World.from_triples(MICRO)


def test_membership_is_transitive_and_reversible(micro):
    assert micro.entails("canaries", "isa", "songbirds")
    assert micro.entails("canaries", "isa", "animals")  # two links
    assert micro.entails("canaries", "isa", "living things")  # three links
    assert not micro.entails("canaries", "isa", "canaries")
    assert not micro.entails("birds", "isa", "canaries")
    assert not micro.entails("canaries", "isa", "fish")
    assert micro.entails("animals", "include", "canaries")
    assert micro.entails("birds", "include", "robins")
    assert not micro.entails("canaries", "include", "birds")
    assert not micro.entails("fish", "include", "robins")


def test_properties_and_relations_are_inherited_downwards_only(micro):
    assert micro.entails("canaries", "can", "fly")
    assert micro.entails("canaries", "can", "breathe")
    assert micro.entails("robins", "are", "alive")
    assert micro.entails("robins", "eats", "insects")
    assert not micro.entails("birds", "are", "yellow")  # nothing flows up
    assert not micro.entails("robins", "are", "yellow")  # nor sideways
    assert not micro.entails("fish", "can", "fly")
    assert not micro.entails("birds", "eats", "beetles")  # no inheritance on the object side
    assert micro.entails("fly", "~can", "canaries")  # inverses read the same fact backwards
    assert not micro.entails("gills", "~have", "canaries")


def test_support_is_the_shortest_proof(micro):
    ids = {t: f"f{i:04d}" for i, t in enumerate(MICRO, 1)}
    proof = [ids[("canaries", "isa", "songbirds")], ids[("songbirds", "isa", "birds")], ids[("birds", "can", "fly")]]
    assert micro.support("canaries", "can", "fly") == proof
    assert micro.support("songbirds", "can", "sing") == [ids[("songbirds", "can", "sing")]]
    assert micro.support("fish", "can", "fly") is None
    assert [micro.steps(*t) for t in [("canaries", "can", "sing"), ("canaries", "can", "fly"),
                                      ("canaries", "isa", "birds"), ("canaries", "isa", "songbirds")]] == [1, 2, 1, 0]
    with pytest.raises(UserError, match="unknown relation"):
        micro.support("fish", "swims", "water")


def test_parse_statement_reads_every_wording_back(micro):
    p = micro.parse_statement
    assert p("Canaries are a type of songbirds.") == ("canaries", "isa", "songbirds")
    assert p("birds include canaries") == ("birds", "include", "canaries")
    assert p("Among the animals are fish.") == ("animals", "include", "fish")
    assert p("A: living things are alive.") == ("living things", "are", "alive")  # multi-word category
    assert p("Things that can fly include robins.") == ("fly", "~can", "robins")
    assert p("insects are eaten by birds.") == ("insects", "~eats", "birds")
    assert p("One habit of birds is that they eat insects.") == ("birds", "eats", "insects")
    assert p("- fish all have gills") == ("fish", "have", "gills")
    for bad in ("canaries are a type of stones.", "birds can gills.", "Birds are wonderful.", "", "what are birds like?"):
        assert p(bad) is None, bad
    # every wording of every relation round-trips through render + parse
    world = World.from_triples(MICRO + [("robins", "inhabits", "forests"), ("saws", "used_for", "cutting"),
                                        ("saws", "made_of", "steel")])
    for rel in world.relations.values():
        s, o = {"isa": ("canaries", "birds"), "are": ("canaries", "yellow"), "have": ("fish", "gills"),
                "can": ("birds", "fly"), "eats": ("birds", "insects"), "inhabits": ("robins", "forests"),
                "used_for": ("saws", "cutting"), "made_of": ("saws", "steel")}[rel.name]
        for wording in ("forward", "rephrased", "reverse"):
            for t in getattr(rel, wording):
                got = world.parse_statement(rel.render(t, s, o) + ".")
                assert got is not None and canonical(got) == (s, rel.name, o), (t, got)


# ---------------------------------------------------------------- the packaged hierarchy and its validation
def test_packaged_hierarchy_is_paper_sized_and_deep():
    h = hierarchy.load()
    assert 100 <= len(h.parent) <= 120
    assert all(1 <= len(own) <= hierarchy.MAX_OWN for own in h.own.values())
    assert max(len(h.ancestors(c)) for c in h.parent) >= 4
    small = hierarchy.select(h, 20, random.Random(0))
    assert 15 <= len(small) <= 20 and all(h.parent[c] in small or h.parent[c] is None for c in small)
    assert max(len(h.ancestors(c)) for c in small) >= 3  # whole root-to-leaf paths keep the depth


@pytest.mark.parametrize("body, message", [
    ("a: {parent: b, are: [x]}\n  b: {parent: a, are: [y]}", "cycle"),
    ("a: {parent: zz, are: [x]}", "unknown parent"),
    ("a: {parent: null, are: [x]}\n  b: {parent: a, are: [x]}", "repeated"),
    ("a: {parent: null}", "1-6 own"),
    ("a: {parent: null, flies: [x]}", "unknown relation"),
    ("a: {parent: null, are: [x], have: [x]}", "both as adjective and as noun"),
])  # fmt: skip
def test_bad_hierarchy_files_are_one_clear_error(tmp_path, body, message):
    relations = (resources.files("iclft.datasets.semantic") / "hierarchy.yaml").read_text()
    relations = relations[relations.index("\nrelations:") : relations.index("\ncategories:")]
    path = tmp_path / "h.yaml"
    path.write_text(relations + "\ncategories:\n  " + body + "\n")
    with pytest.raises(UserError, match=message):
        hierarchy.load(path)


def test_bad_parameters_are_user_errors():
    with pytest.raises(UserError, match="scale"):
        registry.make_params("semantic", {"scale": 0})
    with pytest.raises(UserError, match="unknown parameter"):
        registry.make_params("semantic", {"n_cats": 20})
    with pytest.raises(UserError, match="not found"):
        build(0, Params(hierarchy="/nonexistent/h.yaml"))


# ---------------------------------------------------------------- a small built dataset
@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[Dataset, World, object]:
    folder = tmp_path_factory.mktemp("semantic")
    registry.build("semantic", 0, SMALL.model_dump()).save(folder)
    return Dataset.load(folder), World.load(folder), folder


def test_every_split_and_subtype_is_present_and_checked(small):
    ds, world, _ = small
    subtypes = {(q.split, q.subtype) for q in ds.test}
    assert {s for s, _ in subtypes} == set(SPLITS)
    for expected in [("reversal", "category"), ("reversal", "property"), ("reversal", "relation"),
                     ("syllogism", "inheritance_1step"), ("syllogism", "inheritance_2step"),
                     ("syllogism", "membership_1step"), ("syllogism", "membership_2step"),
                     ("category_holdout", "inheritance"), ("category_holdout", "reversal")]:
        assert expected in subtypes, expected
    assert {s for s, _ in {(q.split, q.subtype) for q in ds.validation}} == set(SPLITS)
    assert all(len(q.choices) == 4 and len(set(q.choices)) == 4 for q in ds.test)
    assert check(world, [*ds.test, *ds.validation]) == len(ds.test) + len(ds.validation)  # from the saved meta


def test_checker_catches_wrong_answers_and_entailed_distractors(small):
    ds, world, _ = small
    q = next(q for q in ds.test if q.split == "syllogism")
    wrong = q.model_copy(update={"answer": (q.answer + 1) % len(q.choices)})
    found = problems(world, wrong)
    assert any("not entailed" in p for p in found) and any("is entailed" in p for p in found)
    s, r, o = canonical(world.parse_statement(q.prompt + q.choices[q.answer]))
    other = next(x for _, rr, x in world.entailed(s) if rr == r and x != o)  # another true object
    dup = q.model_copy(update={"choices": [c if i == q.answer else f" {other}." for i, c in enumerate(q.choices)]})
    assert any("is entailed" in p for p in problems(world, dup))
    with pytest.raises(RuntimeError, match="semantic checker"):
        check(world, [wrong])


def test_coverage_and_training_text_states_only_given_facts_forwards(small):
    ds, world, _ = small
    trained = {f for d in ds.train for f in d.facts}
    assert trained == {f.id for f in world.facts}  # every given fact is in some document
    for q in (*ds.test, *ds.validation):
        assert q.facts and set(q.facts) <= trained, q.id
    given = {f.triple: f.id for f in world.facts}
    for d in ds.train:
        stated = set()
        for sentence in re.split(r"(?<=[.?!])\s+|\n+", d.text):
            t = world.parse_statement(sentence)
            if t is not None:
                assert t in given, (d.id, sentence)  # forward wording of a given fact: no reversal, no inference
                stated.add(given[t])
        assert stated == set(d.facts), d.id
    held = set(ds.meta["holdout"])
    held_relations = {world.by_id[f].relation for d in ds.train for f in d.facts if world.by_id[f].subject in held}
    assert held and held_relations == {"isa"}  # a held-out category's only training fact is its parent


def test_test_and_validation_items_are_disjoint(small):
    ds, world, _ = small

    def item(q):
        return q.split, q.subtype, canonical(world.parse_statement(q.prompt + q.choices[q.answer]))

    assert not {item(q) for q in ds.test} & {item(q) for q in ds.validation}


def test_more_wordings_per_item_ask_the_same_items_again_with_the_same_training(small):
    ds, world, _ = small
    two = build(0, SMALL.model_copy(update={"wordings_per_item": 2}))
    assert [d.text for d in two.train] == [d.text for d in ds.train]
    assert check(world, [*two.test, *two.validation]) == len(two.test) + len(two.validation)

    def item(q):
        return q.split, q.subtype, canonical(world.parse_statement(q.prompt + q.choices[q.answer]))

    by_item = defaultdict(set)
    for q in two.test:
        by_item[item(q)].add(q.prompt)
    assert len(two.test) > 1.5 * len(ds.test)
    assert max(len(p) for p in by_item.values()) == 2  # a second question is a second wording, never a repeat
    assert sum(len(p) for p in by_item.values()) == len(two.test)
    assert not set(by_item) & {item(q) for q in two.validation}  # items still disjoint


def test_no_english_reaches_the_text_and_meta_keeps_the_gloss(small):
    ds, world, _ = small
    gloss = ds.meta["gloss"]
    assert gloss[world.facts[0].subject] in hierarchy.load().parent  # nonsense -> English
    english = sorted(set(gloss.values()), key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(w) for w in english) + r")\b", re.IGNORECASE)
    texts = [d.text for d in ds.train] + [q.prompt + "".join(q.choices) for q in (*ds.test, *ds.validation)]
    leaks = {m.group(0) for t in texts for m in pattern.finditer(t)}
    assert not leaks
    assert all(w.islower() and re.fullmatch(r"[a-z]+", w) for w in world.words)


def test_documents_are_readable_articles_in_several_styles(small):
    ds, _, folder = small
    articles = [d for d in ds.train if d.id.startswith("article-")]
    qa = [d for d in ds.train if d.id.startswith("qa-")]
    assert len(articles) == round(20 * ds.meta["categories"]) and qa and all(d.prompt for d in qa)
    openings = {d.text.split()[0] if d.text.split()[0] in ("Field", "Questions", "Key", "Lesson") else "title"
                for d in articles}
    assert openings == {"Field", "Questions", "Key", "Lesson", "title"}
    counts = [len(re.findall(r"[.?!](?=\s|$)", d.text)) for d in articles]
    assert min(counts) >= 4 and max(counts) <= 21  # 4-20 sentences (a field-notes header may add one)
    result = CliRunner().invoke(app, ["data", "show", str(folder)])
    assert result.exit_code == 0 and "are a" in result.output and "include" in result.output, result.output


def test_same_seed_same_bytes_and_other_seed_other_world(tmp_path):
    a, b, c = (tmp_path / n for n in "abc")
    for folder, seed in ((a, 3), (b, 3), (c, 4)):
        registry.build("semantic", seed, {"n_categories": 20}).save(folder)
    for name in ("train.jsonl", "test.jsonl", "validation.jsonl", "meta.json"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    assert (a / "train.jsonl").read_bytes() != (c / "train.jsonl").read_bytes()


def test_default_build_is_paper_sized():
    ds = build(0, Params())
    assert ds.meta["categories"] == 110 and 2150 <= len([d for d in ds.train if d.id.startswith("article")]) <= 2250
    assert len(ds.test) > 1000 and len(ds.validation) > 200


# ---------------------------------------------------------------- the pretrained model sits at chance
def _chance_figures(lm, ds: Dataset, per_subtype: int, seed: int = 0) -> dict[tuple[str, str], list[bool]]:
    from iclft.scoring.likelihood import score_questions

    groups = defaultdict(list)
    for q in ds.test:
        groups[(q.split, q.subtype)].append(q)
    rng = random.Random(seed)
    qs = [q for key in sorted(groups) for q in rng.sample(groups[key], min(per_subtype, len(groups[key])))]
    right = defaultdict(list)
    for q, s in zip(qs, score_questions(lm, qs)):
        ok = bool(q.is_correct(s.pred("sum")))
        right[(q.split, "")].append(ok)
        right[(q.split, q.subtype)].append(ok)
    for key, v in sorted(right.items()):
        print(f"pretrained {key[0]:17s} {key[1] or '(all)':18s} {sum(v) / len(v):.2f}  n={len(v)}")
    return right


def _near_chance(hits: list[bool], chance: float, z: float = 3.0) -> bool:
    """Within z binomial standard errors of chance (z=3: a false alarm about once in 370 per check)."""
    se = math.sqrt(chance * (1 - chance) / len(hits))
    return abs(sum(hits) / len(hits) - chance) <= z * se


def test_pretrained_model_is_near_chance(lm, small):
    ds = small[0]
    right = _chance_figures(lm, ds, per_subtype=2)  # ~27 questions over 14 sub-types (CPU time)
    pooled = [ok for (_, sub), v in right.items() if not sub for ok in v]
    assert _near_chance(pooled, 0.25), sum(pooled) / len(pooled)


@pytest.mark.slow
def test_pretrained_model_is_near_chance_on_every_split(lm, small):
    right = _chance_figures(lm, small[0], per_subtype=12)
    for (split, sub), hits in right.items():
        if not sub:
            assert _near_chance(hits, 0.25), (split, sum(hits) / len(hits))
