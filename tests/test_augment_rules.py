"""Augmentation without a model: templates, output parsing, filter rules, corpus reading, cache keys, context."""

from __future__ import annotations

import json

import pytest

from iclft.augment.options import AugmentOptions
from iclft.augment.planning import plan, select_context
from iclft.augment.postprocess import SourceFilter, extract_entities, judge, parse_output
from iclft.augment.prompts import global_messages, load_template, local_messages, parse_template
from iclft.datasets.corpus import load_documents
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.generation.cache import GenerationCache
from iclft.generation.generator import Request, Sampling, derive_seed


def test_packaged_templates_render_as_few_shot_chats():
    local = local_messages(load_template("local"), "Femp are more dangerous than glon.", 3)
    assert local[0]["role"] == "system" and "write 3 new sentences" in local[0]["content"]
    assert [m["role"] for m in local[1:]] == ["user", "assistant"] * 3 + ["user"]
    assert local[-1]["content"] == "Statement: Femp are more dangerous than glon."
    assert "reversal" in local[0]["content"] and "Do not add anything" in local[0]["content"]
    assert not any("$" in m["content"] for m in local)

    examples = extract_entities(load_template("global").example_text(), names=False)
    assert {"feps", "blick", "wugs", "gloobs"} <= examples and "document" not in examples

    glob = global_messages(load_template("global"), "Dax are feps.", ["Feps can zarp.", "Blicks are warm."])
    assert glob[-1]["content"].endswith("Feps can zarp.\n\nBlicks are warm.\n\nNew document:\n\nDax are feps.")
    assert "inherit" in glob[0]["content"] and glob[-2]["role"] == "assistant"


@pytest.mark.parametrize(("text", "error"), [
    ("no sections at all", "no [system]"),
    ("[user]\n$text\n[assistant]\nok", "last section must be [user]"),
    ("[user]\nhi $text\n[system]\nx\n[user]\n$text", "[system] may only be the first"),
    ("[user]\n$text and $document", "unknown variable $document"),
    ("[user]\nnothing to fill", "must use $text"),
    ("[user]\n$text costs $5", "bad $ placeholder"),
])
def test_bad_templates_are_clear_errors(text, error):
    with pytest.raises(UserError, match=error.replace("$", r"\$").replace("[", r"\[").replace("]", r"\]")):
        parse_template(text, "local", "my.txt")


def test_template_dollar_escape_and_custom_file(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("a comment\n[user]\nIt costs $$5. Restate ${text} $k times.\n", encoding="utf-8")
    assert local_messages(load_template("local", path), "X.", 2) == [
        {"role": "user", "content": "It costs $5. Restate X. 2 times."}]
    with pytest.raises(UserError, match="template file not found"):
        load_template("local", tmp_path / "missing.txt")


def test_parse_output_strips_markers_splits_and_stops_at_echo():
    text = ("Restatements:\n- Glon are less dangerous than femp.\n2) Femp scare glon. Glon fear femp!\n"
            "* \n- ...\n\nStatement: Something else.\n- Not this one.")
    assert parse_output(text) == ["Restatements:", "Glon are less dangerous than femp.", "Femp scare glon.",
                                  "Glon fear femp!", "..."]


def test_entities_are_rare_words_and_mid_sentence_names():
    assert extract_entities("Femp are more dangerous than glon.") == {"femp", "glon"}
    assert extract_entities("Marie Curie studied radium in Paris. The cat sat.") == {"curie", "radium", "paris"}
    assert extract_entities("The cat sat on the mat.") == set()


def test_filter_rules_each_reason():
    source = SourceFilter("Femp are more dangerous than glon.", foreign=frozenset({"blick", "blicks"}))
    verdicts = judge([
        "Glon are less dangerous than femp.",   # kept
        "...",                                  # empty
        "Glon are less dangerous than",         # truncated: no end punctuation
        "Cats are nice.",                       # ungrounded: names no entity of the source
        "Femp are a kind of blick.",            # leak: a made-up word of the prompt's examples
        "femp ARE more dangerous than glon!",  # copy of the source
        "Glon are less dangerous than femp.",   # duplicate of a kept one
        "Femps outrank glons in danger.",       # kept: plural forms count as mentions
    ], source, cut=False)
    assert [r for _, r in verdicts] == [None, "empty", "truncated", "ungrounded", "leak", "copy", "duplicate",
                                        None]


def test_cut_generation_loses_its_last_sentence_and_empty_generation_is_recorded():
    source = SourceFilter("Femp are more dangerous than glon.")
    verdicts = judge(["Glon are less dangerous than femp.", "Femp are bigger."], source, cut=True)
    assert [r for _, r in verdicts] == [None, "truncated"]
    assert judge([], source, cut=False) == [("", "empty")]
    assert [r for _, r in judge(["Cats are nice."], SourceFilter("The cat sat."), cut=False)] == [None]


def test_corpus_folder_jsonl_and_errors(tmp_path):
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "b.txt").write_text("Glon are zept.\n", encoding="utf-8")
    (folder / "sub" / "a.md").write_text("Femp can swim.", encoding="utf-8")
    (folder / "blank.txt").write_text("  \n", encoding="utf-8")
    (folder / ".hidden.txt").write_text("Secret.", encoding="utf-8")
    (folder / "image.png").write_bytes(b"\x89PNG")
    docs = load_documents(folder)
    assert [(d.id, d.text) for d in docs] == [("b.txt", "Glon are zept."), ("sub/a.md", "Femp can swim.")]

    rows = tmp_path / "docs.jsonl"
    rows.write_text('{"text": "One."}\n\n{"id": 7, "text": "Two.", "facts": ["f"], "extra": 1}\n', encoding="utf-8")
    assert [(d.id, d.text, d.facts) for d in load_documents(rows)] == [("line1", "One.", []), ("7", "Two.", ["f"])]

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "x.txt").write_text("\n", encoding="utf-8")
    with pytest.raises(UserError, match="empty corpus"):
        load_documents(empty)
    (tmp_path / "none.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(UserError, match="empty corpus"):
        load_documents(tmp_path / "none.jsonl")
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"id": "x"}\n', encoding="utf-8")
    with pytest.raises(UserError, match=r"bad.jsonl:2: needs a non-empty \"text\""):
        load_documents(tmp_path / "bad.jsonl")
    (tmp_path / "dup.jsonl").write_text('{"id": "a", "text": "x"}\n{"id": "a", "text": "y"}\n', encoding="utf-8")
    with pytest.raises(UserError, match="duplicate document id 'a'"):
        load_documents(tmp_path / "dup.jsonl")
    with pytest.raises(UserError, match="no such file"):
        load_documents(tmp_path / "missing")


def test_cache_key_covers_what_decides_the_text_and_nothing_secret(tmp_path):
    req = Request.chat([{"role": "user", "content": "hi"}], seed=derive_seed(0, 0))
    ident = {"kind": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"}
    key = GenerationCache.key(ident, req, Sampling())
    assert key == GenerationCache.key(dict(ident), Request.chat([{"role": "user", "content": "hi"}], req.seed),
                                      Sampling())
    others = [
        GenerationCache.key({**ident, "model": "n"}, req, Sampling()),
        GenerationCache.key(ident, Request(req.messages, derive_seed(0, 1)), Sampling()),  # another sample
        GenerationCache.key(ident, Request(req.messages, derive_seed(1, 0)), Sampling()),  # another seed
        GenerationCache.key(ident, req, Sampling(temperature=0.0)),
        GenerationCache.key(ident, req, Sampling(max_new_tokens=7)),
    ]
    assert len({key, *others}) == 6
    cache = GenerationCache(tmp_path)
    assert cache.get(key) is None
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_text('{"text": "torn', encoding="utf-8")  # an unreadable entry is a miss
    assert cache.get(key) is None


def test_context_selection_is_seeded_excludes_the_document_and_respects_budget():
    docs = [Document(id=f"d{i}", text=f"Doc {i} " + "word " * i) for i in range(10)]
    everything = select_context(docs, 3, AugmentOptions(mode="global"))
    assert everything == [d.text for i, d in enumerate(docs) if i != 3]
    sub = AugmentOptions(mode="global", context="subsample", fraction=0.5, seed=1)
    chosen = select_context(docs, 3, sub)
    assert len(chosen) == 4 and docs[3].text not in chosen and chosen == select_context(docs, 3, sub)
    assert chosen != select_context(docs, 3, sub.model_copy(update={"seed": 2}))
    costs = [len(d.text.split()) for d in docs]
    budget = AugmentOptions(mode="global", context="budget", budget=20)
    picked = select_context(docs, 3, budget, costs)
    assert picked and sum(len(t.split()) + 2 for t in picked) <= 20 and docs[3].text not in picked


def test_an_empty_document_list_is_a_clear_error():
    with pytest.raises(UserError, match=r"no documents to augment \(empty corpus\)"):
        plan([], None, AugmentOptions())


def test_options_reject_bad_values():
    with pytest.raises(ValueError):
        AugmentOptions(mode="global", context="everything")
    with pytest.raises(ValueError):
        AugmentOptions(k=0)
    assert json.loads(AugmentOptions().model_dump_json())["mode"] == "local"
