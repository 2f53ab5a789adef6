"""Augmentation with the real embedded model: seeded batched generation, the pipeline, cache hits, resume, CLI."""

from __future__ import annotations

import json
import sys

import pytest

from iclft.augment import AugmentOptions, GenerationCache, augment, plan, run
from iclft.cli import main
from iclft.datasets.schema import Document
from iclft.generation.generator import Request, Sampling, generate
from iclft.generation.local import LocalGenerator

# Tiny prompts keep CPU tests fast; the packaged few-shot templates are checked in test_augment_rules.py.
LOCAL_TEMPLATE = "[user]\nRestate this in $k short sentences, one per line: $text\n"
GLOBAL_TEMPLATE = "[user]\nFacts: $context\nNew document:\n\n$document\nWhat follows?\n"

DOCS = [
    Document(id="d1", text="Femp are more dangerous than glon. Glon are a kind of zept.", facts=["f1"]),
    Document(id="d2", text="Troff can swim."),
]


class Counting:
    """A generator wrapper that counts the requests reaching the model (and can die after `die_after`)."""

    def __init__(self, inner, die_after: int | None = None) -> None:
        self.inner, self.die_after, self.calls = inner, die_after, 0
        self.identity, self.count_tokens, self.prompt_tokens = inner.identity, inner.count_tokens, inner.prompt_tokens
        self.lm = inner.lm  # self-verification scores with the generator's model

    @property
    def context_length(self):
        return self.inner.context_length

    def iter_generate(self, requests, sampling):
        for item in self.inner.iter_generate(requests, sampling):
            self.calls += 1
            yield item
            if self.calls == self.die_after:
                raise KeyboardInterrupt  # as if the run were killed


@pytest.fixture(scope="module")
def gen(lm):
    return LocalGenerator(lm, batch_size=4)


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    folder = tmp_path_factory.mktemp("templates")
    (folder / "local.txt").write_text(LOCAL_TEMPLATE, encoding="utf-8")
    (folder / "global.txt").write_text(GLOBAL_TEMPLATE, encoding="utf-8")
    return folder


def test_seeded_sampling_does_not_depend_on_the_batch(gen):
    a = Request.chat([{"role": "user", "content": "Name a colour."}], seed=1)
    b = Request.chat([{"role": "user", "content": "Say something about the sea."}], seed=2)
    sampling = Sampling(temperature=1.0, max_new_tokens=6)
    together = generate(gen, [a, b], sampling)
    alone = generate(gen, [b], sampling)
    assert together[1] == alone[0]
    assert all(g.text and g.completion_tokens <= 6 for g in together)
    assert together[1].finish_reason == "length" and together[1].completion_tokens == 6
    reseeded = generate(gen, [Request(b.messages, seed=3), Request(b.messages, seed=4)], sampling)
    assert len({g.text for g in (*reseeded, alone[0])}) > 1  # other seeds, other samples


def test_local_pipeline_outputs_cache_hits_and_resume(gen, templates, tmp_path):
    options = AugmentOptions(mode="local", k=2, max_new_tokens=12, seed=0, template=str(templates / "local.txt"))
    cache = GenerationCache(tmp_path / "gens")

    killed = Counting(LocalGenerator(gen.lm, batch_size=1), die_after=1)  # one prompt done, then killed
    with pytest.raises(KeyboardInterrupt):
        augment(DOCS, killed, options, cache=cache)
    assert killed.calls == 1 and len(list(cache.root.glob("??/*.json"))) == 1

    resumed = Counting(gen)
    work = plan(DOCS, resumed, options, cache)
    assert (len(work.tasks), work.cached, work.to_generate) == (3, 1, 2)  # 3 sentences, 1 done before the kill
    assert work.prompt_tokens > 2 * 30 and work.max_completion_tokens == 24
    first = run(work, resumed, cache)
    assert resumed.calls == 2 and (first.generated, first.cache_hits) == (2, 1)

    again = Counting(gen)
    second = augment(DOCS, again, options, cache=cache)
    assert again.calls == 0 and second.cache_hits == 3
    assert [a.row() for a in second.items] == [a.row() for a in first.items] and second.drops == first.drops

    for a in first.items:
        src = {d.id: d for d in DOCS}[a.source]
        assert a.document.id.startswith(f"{src.id}/local/") and a.document.facts == src.facts
        assert a.document.text[-1] in ".!?\"')"
    ids = [a.document.id for a in first.items if a.source == "d1"]
    assert ids == [f"d1/local/{n}" for n in range(len(ids))]
    summary = first.summary
    assert summary["outputs"] == summary["kept_sentences"] == len(first.items)
    assert sum(summary["dropped"].values()) == len(first.drops)
    assert {d["reason"] for d in first.drops} <= set(summary["dropped"])


def test_items_naming_no_entity_are_not_restated(gen):
    docs = [Document(id="x", text="Did you know this? Femp are larger than glon.")]
    work = plan(docs, gen, AugmentOptions(mode="local"))
    assert work.skipped == 1 and [t.item for t in work.tasks] == [1]
    assert work.tasks[0].request.messages[-1][1].endswith("Femp are larger than glon.")
    assert "1 items without entities skipped" in work.describe()
    every = plan(docs, gen, AugmentOptions(mode="local", skip_entityless=False))
    assert every.skipped == 0 and len(every.tasks) == 2


def test_global_pipeline_shows_the_other_documents(gen, templates, tmp_path):
    docs = [*DOCS, Document(id="d3", text="Zept are warm-blooded.")]
    options = AugmentOptions(mode="global", context="budget", budget=40, max_new_tokens=6,
                             template=str(templates / "global.txt"))
    work = plan(docs, gen, options)
    assert len(work.tasks) == 3
    exact = sum(gen.prompt_tokens(t.request.message_dicts()) for t in work.tasks)
    assert exact <= work.prompt_tokens <= 1.05 * exact  # counted without tokenizing whole prompts, a bit high
    last_user = work.tasks[2].request.messages[-1][1]
    assert last_user.endswith("New document:\n\nZept are warm-blooded.\nWhat follows?")
    shown = last_user.split("New document:")[0]
    assert "Zept are warm-blooded." not in shown and ("Troff can swim." in shown or "Femp" in shown)
    result = run(work, gen, GenerationCache(tmp_path))
    assert all("/global/" in a.document.id for a in result.items)
    assert result.summary["prompts"] == 3 and result.summary["tokens"]["completion"] <= 18


def _cli(monkeypatch, capsys, *args: str, stream: str = "err") -> tuple[int, str]:
    """Exit code and what the command printed on `stream` (results: out; errors: err)."""
    monkeypatch.setattr(sys, "argv", ["iclft", *args])
    code = 0
    try:
        main()
    except SystemExit as e:
        code = int(e.code or 0)
    return code, getattr(capsys.readouterr(), stream)


def test_cli_augments_a_folder_and_reruns_from_cache(templates, tmp_path, monkeypatch, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.txt").write_text("Femp are more dangerous than glon.\n", encoding="utf-8")
    out = tmp_path / "aug.jsonl"
    args = ["augment", "local", "--docs", str(corpus), "--out", str(out), "--k", "2", "--max-new-tokens", "10",
            "--cache-dir", str(tmp_path / "cache"), "--template", str(templates / "local.txt")]
    code, err = _cli(monkeypatch, capsys, *args, "--dry-run", stream="out")
    assert code == 0 and "1 documents -> 1 local prompts (0 cached)" in err and "at most 10 completion" in err
    assert not out.exists()

    code, err = _cli(monkeypatch, capsys, *args, stream="out")
    assert code == 0 and "(1 generated, 0 from cache)" in err
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert all(set(r) == {"id", "text", "source"} and r["source"] == "notes.txt" for r in rows)
    summary = json.loads((tmp_path / "aug.summary.json").read_text(encoding="utf-8"))
    drops = (tmp_path / "aug.drops.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary["outputs"] == len(rows) and sum(summary["dropped"].values()) == len(drops)

    before = out.read_bytes()
    code, err = _cli(monkeypatch, capsys, *args, stream="out")
    assert code == 0 and "(0 generated, 1 from cache)" in err and out.read_bytes() == before


@pytest.mark.parametrize(("extra", "message"), [
    (["--context", "everything"], "--context: Input should be 'all', 'subsample' or 'budget' (got 'everything')"),
    (["--generator", "openai"],
     "the openai generator needs a base URL and an API model name (--base-url, --api-model)"),
    (["--grounded", "-1"], "--grounded: Input should be greater than or equal to 0 (got -1)"),
    (["--verify-baseline", "source"], "--verify-baseline: Input should be 'words' or 'empty' (got 'source')"),
])
def test_cli_bad_input_is_one_line(tmp_path, monkeypatch, capsys, extra, message):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("Femp glon.", encoding="utf-8")
    code, err = _cli(monkeypatch, capsys, "augment", "global", "--docs", str(tmp_path / "c"), "--out",
                     str(tmp_path / "o.jsonl"), *extra)
    assert code == 2 and err.strip() == f"iclft: error: {message}" and not (tmp_path / "o.jsonl").exists()


def test_cli_verified_control_needs_a_dataset_folder(tmp_path, monkeypatch, capsys):
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "a.txt").write_text("Femp are larger than glon.", encoding="utf-8")
    code, err = _cli(monkeypatch, capsys, "augment", "local", "--docs", str(tmp_path / "c"), "--out",
                     str(tmp_path / "o.jsonl"), "--verified")
    assert code == 2 and "--verified is a control" in err and len(err.strip().splitlines()) == 1


def test_cli_option_defaults_come_from_the_options_model():
    from iclft.augment import AugmentOptions
    from iclft.cli.augment import COMMON, LOCAL

    for name, (_, option) in {**COMMON, **LOCAL}.items():
        if name in AugmentOptions.model_fields:
            assert option.default == AugmentOptions.model_fields[name].default, name


def test_cli_empty_corpus_is_a_clear_error(tmp_path, monkeypatch, capsys):
    (tmp_path / "empty").mkdir()
    code, err = _cli(monkeypatch, capsys, "augment", "local", "--docs", str(tmp_path / "empty"), "--out",
                     str(tmp_path / "o.jsonl"))
    expected = f"iclft: error: {tmp_path / 'empty'}: empty corpus (no non-blank .txt or .md files)"
    assert code == 2 and err.strip() == expected
