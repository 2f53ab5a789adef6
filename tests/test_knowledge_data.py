"""Knowledge datasets: `iclft data import-qa` (both layouts, every refusal) and `iclft data probes`, and the
answer kinds and distractor rules they share."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import ClassVar

import pytest

from iclft.datasets.answers import AnswerPool, choices_for, kind, normalize
from iclft.datasets.probes import check_question, generate_probes, spans
from iclft.datasets.schema import Dataset, Document
from iclft.generation.generator import Generation

PASSAGES = [
    {"title": "Bridges", "context": "The Golden Gate Bridge opened in 1937. It was designed by Joseph Strauss and "
                                    "is 2,737 metres long, painted in international orange.",
     "questions": [{"question": "When did the bridge open?", "answer": "1937"},
                   {"question": "Who designed it?", "answer": "Joseph Strauss"},
                   {"question": "How long is it?", "answer": "2,737 metres"},
                   {"question": "What colour is it?", "answer": "international orange"}]},
    {"title": "Rivers", "context": "The Danube flows through Vienna and Budapest. In 1992 a canal joined it to the "
                                   "Main; barges carry about 6 million tonnes of grain a year.",
     "questions": [{"question": "Which city after Vienna?", "answer": "Budapest"},
                   {"question": "When was the canal opened?", "answer": "1992"},
                   {"question": "How much grain?", "answer": "6 million tonnes"},
                   {"question": "What do barges carry?", "answer": "grain"}]},
    {"title": "Towers", "context": "Gustave Eiffel's company built the tower for the 1889 World's Fair in Paris; "
                                   "it held 3 restaurants and a flat for Eiffel.",
     "questions": [{"question": "Who built the tower?", "answer": "Gustave Eiffel"},
                   {"question": "When was the fair?", "answer": "1889"},
                   {"question": "How many restaurants?", "answer": "3"},
                   {"question": "What else did it hold?", "answer": "a flat"}]},
]


def _seal(tmp_path: Path, data=PASSAGES, name: str = "qa.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_import_seal_layout_validates_and_is_byte_identical(cli, tmp_path):
    src = _seal(tmp_path)
    assert cli("data", "import-qa", src, "--out", tmp_path / "a").returncode == 0
    assert cli("data", "import-qa", src, "--out", tmp_path / "b").returncode == 0
    for f in ("train.jsonl", "test.jsonl", "meta.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
    assert cli("data", "validate", tmp_path / "a").returncode == 0
    ds = Dataset.load(tmp_path / "a")
    assert [d.id for d in ds.train] == ["doc-0001", "doc-0002", "doc-0003"]
    assert ds.train[0].text == PASSAGES[0]["context"] and ds.train[0].facts == ["doc-0001"]
    assert ds.meta["titles"] == {"doc-0001": "Bridges", "doc-0002": "Rivers", "doc-0003": "Towers"}
    assert ds.meta["kind"] == "knowledge" and "forgetting_split" not in ds.meta
    q = ds.test[0]
    assert q.prompt == "Question: When did the bridge open?\nAnswer:" and q.split == "qa" and q.facts == ["doc-0001"]
    assert q.choices[q.answer] == " 1937" and len(q.choices) == 4 and q.subtype == "date"
    assert {c.strip() for c in q.choices} - {"1937"} <= {"1992", "1889"} | {"2,737 metres", "6 million tonnes", "3"}
    assert [x.subtype for x in ds.test[:4]] == ["date", "name", "number", "other"]
    other = cli("data", "import-qa", src, "--out", tmp_path / "c", "--seed", "1")
    assert other.returncode == 0 and (tmp_path / "c" / "test.jsonl").read_bytes() != \
        (tmp_path / "a" / "test.jsonl").read_bytes()


def test_import_heldaside_and_validation_documents(cli, tmp_path):
    src = _seal(tmp_path)
    r = cli("data", "import-qa", src, "--out", tmp_path / "ds", "--heldaside", "1", "--validation-documents", "1")
    assert r.returncode == 0, r.stderr
    ds = Dataset.load(tmp_path / "ds")
    held = list(ds.meta["heldaside_documents"])
    assert len(held) == 1 and held[0] not in {d.id for d in ds.train} and ds.meta["forgetting_split"] == "heldaside"
    assert {q.facts[0] for q in ds.test if q.split == "heldaside"} == set(held)
    assert len({q.facts[0] for q in ds.validation}) == 1 and all(q.split == "qa" for q in ds.validation)
    assert ds.meta["heldaside_documents"][held[0]] in [p["context"] for p in PASSAGES]
    validated = cli("data", "validate", tmp_path / "ds")
    assert validated.returncode == 0 and "0 warnings" in validated.stdout
    r = cli("data", "import-qa", src, "--out", tmp_path / "none", "--heldaside", "2", "--validation-documents", "1")
    assert r.returncode == 2 and "leave no test document" in r.stderr and not (tmp_path / "none").exists()


def test_import_jsonl_layouts(cli, tmp_path):
    rows = [{"question": q["question"], "answer": q["answer"], "passage": p["context"]}
            for p in PASSAGES for q in p["questions"]]
    src = _jsonl(tmp_path / "qa.jsonl", rows)
    assert cli("data", "import-qa", src, "--out", tmp_path / "p").returncode == 0
    by_passage = Dataset.load(tmp_path / "p")
    assert [d.text for d in by_passage.train] == [p["context"] for p in PASSAGES] and len(by_passage.test) == 12

    docs = _jsonl(tmp_path / "docs.jsonl", [{"id": f"d{i}", "text": p["context"]} for i, p in enumerate(PASSAGES)] +
                  [{"id": "extra", "text": "A document no question asks about."}])
    rows = [{"question": q["question"], "answer": q["answer"], "doc_id": f"d{i}"}
            for i, p in enumerate(PASSAGES) for q in p["questions"]]
    src = _jsonl(tmp_path / "ids.jsonl", rows)
    assert cli("data", "import-qa", src, "--documents", docs, "--out", tmp_path / "i").returncode == 0
    by_id = Dataset.load(tmp_path / "i")
    assert [d.id for d in by_id.train] == ["d0", "d1", "d2", "extra"] and by_id.test[4].facts == ["d1"]
    assert by_id.meta["documents_without_questions"] == ["extra"]

    folder = tmp_path / "folder"
    folder.mkdir()
    for i, p in enumerate(PASSAGES):
        (folder / f"d{i}.{'md' if i else 'txt'}").write_text(p["context"] + "\n", encoding="utf-8")
    assert cli("data", "import-qa", src, "--documents", folder, "--out", tmp_path / "f").returncode == 0
    assert [d.id for d in Dataset.load(tmp_path / "f").train] == ["d0", "d1", "d2"]
    assert cli("data", "validate", tmp_path / "f").returncode == 0


def _bad_cases(tmp_path: Path) -> list[tuple[list, str]]:
    no_questions = [dict(PASSAGES[0]), {**PASSAGES[1], "questions": []}]
    absent = [PASSAGES[0], {**PASSAGES[1], "questions": [{"question": "Q?", "answer": "Prague"}]}]
    docs = _jsonl(tmp_path / "docs.jsonl", [{"id": "d0", "text": PASSAGES[0]["context"]}])
    empty = tmp_path / "empty.json"
    empty.write_text("  \n", encoding="utf-8")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('[{"context": "x",\n "questions": [}]', encoding="utf-8")
    bad_line = tmp_path / "bad.jsonl"
    bad_line.write_text('{"question": "Q?", "answer": "a", "passage": "a b"}\n{"question": \n', encoding="utf-8")
    return [
        ([_seal(tmp_path, no_questions, "nq.json")], r"nq.json: passage 2 \(Rivers\): no questions"),
        ([_seal(tmp_path, absent, "ab.json")], "passage 2 question 1: answer 'Prague' does not occur in its passage"),
        ([empty], "empty.json: empty file"),
        ([bad_json], r"bad.json: invalid JSON \(Expecting value at line 2, column 16\)"),
        ([bad_line], r"bad.jsonl:2: invalid JSON"),
        ([_seal(tmp_path, [{"context": "x", "questions": [{"question": "Q?"}]}], "mk.json")],
         "passage 1 question 1: missing key 'answer'"),
        ([_seal(tmp_path, [{"context": 3, "questions": []}], "ty.json")], "passage 1: 'context' must be a non-empty"),
        ([_seal(tmp_path, {"context": "x"}, "obj.json")], "expected a JSON list of passages, got dict"),
        ([_jsonl(tmp_path / "id.jsonl", [{"question": "Q?", "answer": "1937", "doc_id": "nope"}]), "--documents",
          docs], "id.jsonl:1: doc_id 'nope' has no document"),
        ([_jsonl(tmp_path / "noid.jsonl", [{"question": "Q?", "answer": "1937", "doc_id": "d0"}])],
         "give the documents with --documents"),
        ([_jsonl(tmp_path / "mix.jsonl", [{"question": "Q?", "answer": "a", "passage": "a b"},
                                          {"question": "Q?", "answer": "1937", "doc_id": "d0"}])], "mixes"),
        ([_jsonl(tmp_path / "noa.jsonl", [{"question": "Q?", "answer": "zebra", "passage": "a b"}])],
         "noa.jsonl:1: answer 'zebra' does not occur"),
    ]


def test_import_refusals_are_one_line_and_write_nothing(cli, tmp_path):
    for args, message in _bad_cases(tmp_path):
        out = tmp_path / "out"
        r = cli("data", "import-qa", *args, "--out", out)
        assert r.returncode == 2, (args, r.stdout)
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("iclft: error: "), r.stderr
        assert __import__("re").search(message, r.stderr), (message, r.stderr)
        assert not out.exists()


def test_answer_kinds_and_normal_form():
    assert [kind(a) for a in ("1937", "May 1968", "19th century", "the 1990s")] == ["date"] * 4
    assert [kind(a) for a in ("2,737 metres", "40%", "three", "$20 million")] == ["number"] * 4
    assert [kind(a) for a in ("Joseph Strauss", "University of Chicago", "BBC")] == ["name"] * 3
    assert [kind(a) for a in ("international orange", "a flat", "grain")] == ["other"] * 3
    assert normalize("The  Denver-Broncos!") == "denver broncos" == normalize("denver broncos")


def test_distractors_same_kind_never_correct_and_seeded():
    answers = ["Denver Broncos", "Broncos", "the Denver Broncos", "Carolina Panthers", "Peyton Manning",
               "Cam Newton", "1990", "2015", "1887", "12", "3.5 million", "five", "a flat", "grain"]
    pool = AnswerPool(answers)
    assert pool.by_kind["name"] == ["Denver Broncos", "Broncos", "Carolina Panthers", "Peyton Manning", "Cam Newton"]
    for seed in range(20):
        wrong = pool.distractors(["Denver Broncos"], 3, random.Random(seed))
        assert len(wrong) == 3 and all(kind(w) == "name" for w in wrong)
        assert "Broncos" not in wrong and "Denver Broncos" not in wrong  # a part of the answer is no distractor
        choices, answer = choices_for("1990", pool, 4, random.Random(seed))
        assert choices[answer] == " 1990" and len(set(choices)) == 4
        assert {"1990", "2015", "1887"} < {c.strip() for c in choices}  # the corpus has 3 dates: all of them, and
        assert sum(kind(c.strip()) == "number" for c in choices) == 1  # the nearest kind fills in
    assert choices_for("12", pool, 4, random.Random(5)) == choices_for("12", pool, 4, random.Random(5))
    assert len({tuple(choices_for("Cam Newton", pool, 4, random.Random(s))[0]) for s in range(10)}) > 1
    assert pool.distractors(["grain"], 3, random.Random(0))[0] == "a flat"  # same kind first
    assert "Cam Newton" not in pool.distractors(["Peyton Manning", "Cam Newton"], 3, random.Random(0))


DOCS = [
    Document(id="bridge", text="The Golden Gate Bridge was designed by the engineer Joseph Strauss in San Francisco. "
                               "Its main span was completed after four years of work in 1937."),
    Document(id="river", text="Barges on the Danube carry grain from Hungary to the port of Constanta. "
                              "A canal finished in 1992 connects the river with the Main in Germany."),
]


def test_spans_and_rule_splits():
    assert [(s.text, s.kind) for s in spans("In May 1968, Joseph Strauss of the University of Chicago sold 3.5 "
                                            "million tickets.")] == \
        [("May 1968", "date"), ("Joseph Strauss", "name"), ("University of Chicago", "name"), ("3.5 million", "number")]
    ds = generate_probes(DOCS, seed=0)
    by = {(q.split, q.facts[0]): q for q in ds.test}
    recall = by[("recall", "bridge")]
    assert recall.prompt == "The Golden Gate Bridge was designed by the engineer Joseph Strauss in"
    assert recall.choices[recall.answer] == " San Francisco" and recall.subtype == "name"
    rev = next(q for q in ds.test if q.split == "reversed" and "Barges" in q.prompt)
    assert rev.prompt == ('Question: Which name fills the blank? "Barges on the ___ carry grain from Hungary to the '
                          'port of Constanta."\nAnswer:')
    assert rev.choices[rev.answer] == " Danube" and rev.facts == ["river"]
    assert all(c.strip() not in ("Constanta", "Hungary") for c in rev.choices)  # the sentence's own spans
    assert {q.split for q in ds.test} == {"recall", "reversed"} and ds.meta["kind"] == "knowledge"
    assert generate_probes(DOCS, seed=0).model_dump() == ds.model_dump()


def test_a_question_is_answered_by_a_span_it_fits():
    from iclft.datasets.probes import Span, answer_of

    sentence = "A canal finished in 1992 connects the river with the Main in Germany."
    ss = spans(sentence)
    year, germany = ss[0], ss[-1]
    assert (year.text, germany.text) == ("1992", "Germany")
    assert answer_of("When was the canal built?", year, ss) == year
    assert answer_of("When was the canal to Germany built?", germany, ss) == year  # the one date it can ask for
    assert answer_of("How many canals reach Germany?", germany, ss) is None  # no number in the sentence
    assert answer_of("Which country does the canal reach?", germany, ss) == germany
    assert answer_of("Who was Germany?", Span(0, 1, "Main", "name"), ss) is None  # a definition, not a span


def test_generated_question_checks():
    sentence = "The Golden Gate Bridge was designed by the engineer Joseph Strauss in San Francisco."
    from iclft.lexicon import Vocabulary

    vocab = Vocabulary([sentence])
    assert check_question("Who was the engineer of the Golden Gate Bridge?", sentence, "Joseph Strauss", vocab) is None
    assert check_question("Who is Joseph Strauss?", sentence, "Joseph Strauss", vocab) == "contains the answer"
    assert check_question("Who was Mr Strauss then?", sentence, "Joseph Strauss", vocab) == "contains the answer"
    assert check_question("Who designed the Golden Gate Bridge was designed by the engineer?", sentence,
                          "Joseph Strauss", vocab) == "near copy"
    assert check_question("Who painted the Golden Gate Bridge red in winter?", sentence, "Joseph Strauss",
                          vocab) == "ungrounded"
    assert check_question("The bridge was designed by", sentence, "Joseph Strauss", vocab) == "not a question"


class _Scripted:
    """A generator that answers every request with the same text (the rephrased split's plumbing)."""

    identity: ClassVar[dict[str, str]] = {"kind": "scripted"}
    context_length = 2048

    def __init__(self, text: str) -> None:
        self.text, self.calls = text, 0

    def count_tokens(self, text):
        return len(text.split())

    def prompt_tokens(self, messages):
        return 1

    def iter_generate(self, requests, sampling):
        for i, _ in enumerate(requests):
            self.calls += 1
            yield i, Generation(self.text, "stop", 1, 1)


def test_rephrased_from_a_generator_is_checked_and_cached(tmp_path):
    from iclft.generation.cache import GenerationCache

    gen = _Scripted("When was the canal to the river finished?\nmore text")
    ds = generate_probes(DOCS, seed=0, generator=gen, cache=GenerationCache(tmp_path), samples=2)
    rephrased = [q for q in ds.test if q.split == "rephrased"]
    # the question fits only the canal's sentence (asked for "Germany" and for "1992"), whose one date answers it
    assert [(q.prompt, q.choices[q.answer], q.facts) for q in rephrased] == [
        ("Question: When was the canal to the river finished?\nAnswer:", " 1992", ["river"])]
    calls = gen.calls
    again = generate_probes(DOCS, seed=0, generator=gen, cache=GenerationCache(tmp_path), samples=2)
    assert gen.calls == calls and again.model_dump() == ds.model_dump()  # all cached


def test_probes_command_on_a_folder(cli, tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for d in DOCS:
        (folder / f"{d.id}.txt").write_text(d.text, encoding="utf-8")
    r = cli("data", "probes", folder, "--out", tmp_path / "ds", "--generator", "none")
    assert r.returncode == 0, r.stderr
    ds = Dataset.load(tmp_path / "ds")
    assert {d.id for d in ds.train} == {"bridge", "river"} and cli("data", "validate", tmp_path / "ds").returncode == 0
    (tmp_path / "empty").mkdir()
    r = cli("data", "probes", tmp_path / "empty", "--out", tmp_path / "no", "--generator", "none")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and not (tmp_path / "no").exists()


@pytest.mark.slow
def test_probes_with_the_embedded_model(tmp_path):
    from iclft.generation.cache import GenerationCache
    from iclft.generation.spec import GeneratorSpec

    ds = generate_probes(DOCS, seed=0, generator=GeneratorSpec().build(), cache=GenerationCache(tmp_path))
    for q in ds.test:
        assert q.choices[q.answer].strip().lower() in " ".join(d.text for d in DOCS).lower()
        if q.split == "rephrased":
            assert q.choices[q.answer].strip().lower() not in q.prompt.lower()


def test_the_shipped_squad_example_builds_with_its_forgetting_and_validation_documents(tmp_path):
    from iclft.datasets import registry

    ds = registry.build("squad")
    assert (len(ds.train), len(ds.test), len(ds.validation)) == (32, 172, 18)
    assert {q.split for q in ds.test} == {"qa", "heldaside"} and ds.meta["forgetting_split"] == "heldaside"
    trained = {d.id for d in ds.train}
    assert all((q.facts[0] in trained) == (q.split == "qa") for q in ds.test)  # held-aside passages are not trained
    assert len(ds.meta["heldaside_documents"]) == 8
    a, b = ds.save(tmp_path / "a"), registry.build("squad").save(tmp_path / "b")
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in ("train.jsonl", "test.jsonl", "meta.json"))
