"""The spa and entigraph augmentation families and the per-document generated-token budget: templates, budget
accounting for every family, prose filters, the CLI on the tiny model, the HTTP generator, study options."""

from __future__ import annotations

import json
import threading

import pytest
from fastapi import FastAPI
from test_augment_local import _cli

from iclft.augment import AugmentOptions, GenerationCache, augment, plan, run
from iclft.augment.planning import MIN_NEW_TOKENS, document_entities, local_allotment, split_budget
from iclft.augment.postprocess import SourceFilter, judge_prose, prose_of
from iclft.augment.prompts import SPA_KINDS, load_templates, parse_template
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.generation.generator import Generation
from iclft.generation.openai_compat import OpenAIGenerator
from iclft.learners.augmented import BothOptions, EntigraphOptions, SpaOptions
from iclft.serve import running

DOCS = [
    Document(id="d1", text="The Varna Treaty was signed in 1612 by Ostrava and Kelmar. It ended a war of nine years. "
                           "Kelmar gave the port of Tessin to Ostrava. The treaty was broken in 1630."),
    Document(id="d2", text="Orlen Abbey was founded in 1104 by monks from Cluny. Its library held 3,000 books."),
    Document(id="d3", text="The Sabre River runs 412 kilometres from the Dorn Hills to the sea at Marrow Bay."),
]
FAMILIES = ("local", "global", "spa", "entigraph")


class Scripted:
    """A generator that spends every token it is allowed (finish "length"): an entity list naming the document's
    capitalized words for entigraph's first step, otherwise the prompt's last line repeated."""

    context_length = 100_000

    @property
    def identity(self) -> dict[str, str]:
        return {"kind": "scripted"}

    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []  # (last message, max_new_tokens)

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def prompt_tokens(self, messages) -> int:
        return sum(len(m["content"].split()) for m in messages)

    def iter_generate(self, requests, sampling):
        for i, r in enumerate(requests):
            last = r.messages[-1][1]
            self.requests.append((last, sampling.max_new_tokens))
            if r.messages[0][1].startswith("List the important entities"):
                words = [w.strip(".,") for w in last.split() if w[:1].isupper() and w != "Document:"]
                text = "\n".join(f"- {w}" for w in dict.fromkeys(words))
            else:
                text = f"About {last.splitlines()[-1]}."
            yield i, Generation(text, "length", self.prompt_tokens(r.message_dicts()), sampling.max_new_tokens)


def options(mode: str, **kw) -> AugmentOptions:
    return AugmentOptions(mode=mode, self_verify=None, **kw)


# ------------------------------------------------------------------ templates


def test_packaged_templates_parse_with_their_variables():
    spa = load_templates("spa")
    assert list(spa) == list(SPA_KINDS) and len(SPA_KINDS) == 7
    for t in spa.values():
        messages = t.render(text="DOC")
        assert t.mode == "spa" and messages[-1]["role"] == "user" and messages[-1]["content"].endswith("DOC")
        assert [m["role"] for m in messages][:3] == ["system", "user", "assistant"]  # one few-shot turn
    eg = load_templates("entigraph")
    assert (eg["entities"].mode, eg["relation"].mode) == ("entities", "entigraph")
    assert eg["relation"].render(text="DOC", first="A", second="B")[-1]["content"].endswith("DOC\n\nRelation between: A; B")
    assert len({t.example_text() for t in spa.values()}) == 7  # each kind its own example answer


@pytest.mark.parametrize(("mode", "text", "message"), [
    ("spa", "[user]\n$text and $first\n", "unknown variable $first in a spa template"),
    ("entigraph", "[user]\n$text about $first\n", "an entigraph template must use $second"),
    ("spa", "[user]\nno variable\n", "a spa template must use $text"),
])
def test_bad_family_templates_are_one_line_errors(mode, text, message):
    with pytest.raises(UserError, match=message.replace("$", r"\$")):
        parse_template(text, mode, "t.txt")


def test_a_users_spa_template_serves_every_kind(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("[user]\nSummarize: $text\n", encoding="utf-8")
    work = plan(DOCS, Scripted(), options("spa", template=str(path)))
    assert {t.request.messages[-1][1] for t in work.tasks if t.source == 2} == {f"Summarize: {DOCS[2].text}"}


# ------------------------------------------------------------------ budget


def test_split_budget_spends_at_most_the_budget():
    for budget in (1, 31, 64, 256, 257, 1000):
        for cap in (16, 96, 128, 300):
            n, each = split_budget(budget, cap)
            assert each <= cap and n * each <= budget and n * each > budget - n
    # local: 4 items of a 64-token budget would get 16 tokens each; 2 seeded items get 32
    few = local_allotment(options("local", tokens_per_document=64), [0, 1, 2, 3], "d")
    assert len(few) == 2 and set(few.values()) == {(1, MIN_NEW_TOKENS)} and set(few) <= {0, 1, 2, 3}
    assert local_allotment(options("local", tokens_per_document=64), [0, 1, 2, 3], "d") == few  # seeded
    # a share above max_new_tokens: several generations of the item
    assert local_allotment(options("local", tokens_per_document=600, max_new_tokens=128), [0, 1], "d") == {
        0: (3, 100), 1: (3, 100)}


@pytest.mark.parametrize("budget", [48, 256, 700])
def test_every_family_spends_the_same_budget_per_document_and_never_more(budget):
    allotted = {}
    for mode in FAMILIES:
        gen = Scripted()
        result = augment(DOCS, gen, options(mode, tokens_per_document=budget, max_new_tokens=128, grounded=0))
        b = result.summary["budget"]
        assert b["tokens_per_document"] == budget
        assert b["spent_per_document_max"] <= budget  # the generator spent every token it was allowed
        assert all(max_new <= 128 for _, max_new in gen.requests)
        assert b["allotted"] == b["spent"] == sum(m for _, m in gen.requests)
        allotted[mode] = b["allotted"]
    # equal budgets: every family spends (almost) all of it on each of the 3 documents (a remainder below one token
    # per generation goes unspent; entigraph's short documents may have fewer entity pairs than its budget buys)
    for mode, total in allotted.items():
        assert 3 * budget * 0.85 <= total <= 3 * budget, (mode, total)


def test_without_a_budget_the_family_settings_decide():
    gen = Scripted()
    result = augment(DOCS, gen, options("spa", prompts=3, max_new_tokens=40))
    assert result.summary["prompts"] == 9 and {m for _, m in gen.requests} == {40}
    assert sum(result.summary["kinds"].values()) == 9 and len(result.summary["kinds"]) >= 3  # kinds cycled
    gen = Scripted()
    result = augment(DOCS, gen, options("entigraph", pairs=2, max_new_tokens=40, entity_tokens=20))
    assert result.summary["kinds"] == {"entities": 3, "relation": 6} and result.summary["pairs"] == 6


def test_spa_kinds_rotate_from_a_seeded_start_and_repeat_with_new_seeds():
    work = plan(DOCS[:1], Scripted(), options("spa", prompts=9))
    kinds = [t.kind for t in work.tasks]
    assert sorted(kinds[:7]) == sorted(SPA_KINDS) and kinds[7:] == kinds[:2]
    assert [t.sample for t in work.tasks] == [0] * 7 + [1, 1]
    assert len({t.request.seed for t in work.tasks}) == 9
    again = plan(DOCS[:1], Scripted(), options("spa", prompts=9))
    assert [t.request for t in again.tasks] == [t.request for t in work.tasks]


def test_entigraph_plan_knows_its_relation_prompts_once_the_entity_lists_are_cached(tmp_path):
    cache = GenerationCache(tmp_path / "cache")
    opts = options("entigraph", tokens_per_document=256)
    first = plan(DOCS, Scripted(), opts, cache)
    assert first.to_generate == 3 and first.followups == 3 * 2  # 64 tokens of list, then 2 pairs of 96
    assert first.max_completion_tokens == 3 * 256
    result = run(first, Scripted(), cache)
    second = plan(DOCS, Scripted(), opts, cache)
    assert second.to_generate == second.followups == 0 and second.cached == result.summary["prompts"]


def test_entities_are_kept_only_as_the_document_writes_them():
    doc = DOCS[0].text
    listed = "- Varna Treaty\n- 1612\n- the Moon\n- kelmar\n- 1630.\n- Varna Treaty\n- Tessin port"
    assert document_entities(listed, doc, 12, 3.0) == ["Varna Treaty", "1612", "Kelmar", "1630"]
    assert document_entities(listed, doc, 2, 3.0) == ["Varna Treaty", "1612"]
    # a list naming nothing of the document: its rare words and names fill in
    assert len(document_entities("- nothing here", doc, 12, 3.0)) >= 2


# ------------------------------------------------------------------ prose filters


def test_prose_is_judged_a_generation_at_a_time():
    source = SourceFilter(DOCS[0].text, grounded=1)
    assert prose_of("Kelmar gave Tessin away. It was a loss for Kel", cut=True) == "Kelmar gave Tessin away."
    assert prose_of("Kelmar lost.\nDocument: more", cut=False) == "Kelmar lost."
    assert judge_prose("", source, False) == ("", "empty")
    assert judge_prose("Kelmar and Ostrava signed it in", source, True)[1] == "truncated"
    looping = "Kelmar gave the port away. " * 6
    assert judge_prose(looping, source, False)[1] == "repetitive"
    assert judge_prose("Ostrava signed the treaty in 1612.", source, False, ("Ostrava", "Tessin"))[1] == "ungrounded"
    assert judge_prose("The war was long and it ended.", source, False)[1] == "ungrounded"
    assert judge_prose("Kelmar gave the port of Tessin to Ostrava.", source, False)[1] == "copy"
    assert judge_prose("The Halvard Canal and Kelmar traded coal.", SourceFilter(
        DOCS[0].text, foreign=frozenset({"halvard"})), False)[1] == "leak"
    twice = "Kelmar signed the treaty in 1612. Ostrava signed too. Kelmar signed the treaty in 1612."
    assert judge_prose(twice, source, False)[1] == "repetitive"
    near = "Kelmar gave the port of Tessin to Ostrava. The treaty was broken in 1631."  # a copy, one word changed
    assert judge_prose(near, source, False)[1] == "copy"
    assert judge_prose("Kelmar and Ostrava built a canal 42 kilometres long.", SourceFilter(
        DOCS[0].text, foreign=frozenset({"42"})), False)[1] == "leak"
    kept = "Ostrava received Tessin from Kelmar when the war of nine years ended in 1612."
    assert judge_prose(kept, source, False, ("Ostrava", "Tessin")) == (kept, None)
    assert judge_prose(kept, source, False)[1] == "duplicate"


@pytest.mark.parametrize(("key", "value"), [("faithful", True), ("consistent", True), ("unit", "sentence"),
                                            ("verified", True)])
def test_sentence_filters_do_not_apply_to_prose(key, value):
    with pytest.raises(ValueError, match=f"{key}=.* does not apply to spa augmentation"):
        AugmentOptions(mode="spa", **{key: value})
    assert AugmentOptions(mode="entigraph").unit == "generation" and not AugmentOptions(mode="spa").faithful


# ------------------------------------------------------------------ study options


def test_a_top_level_budget_is_shared_by_the_blocks():
    assert SpaOptions.model_validate({"tokens_per_document": 300}).spa.tokens_per_document == 300
    both = BothOptions.model_validate({"tokens_per_document": 300})
    assert [b.tokens_per_document for b in both.blocks()] == [150, 150]
    assert BothOptions.model_validate(both.model_dump()).blocks()[0].tokens_per_document == 150  # round-trips
    with pytest.raises(ValueError, match="tokens_per_document is given twice"):
        EntigraphOptions.model_validate({"tokens_per_document": 300, "entigraph": {"tokens_per_document": 200}})
    with pytest.raises(ValueError, match="unknown spa kind 'poem'"):
        SpaOptions.model_validate({"spa": {"kinds": ["qa", "poem"]}})


# ------------------------------------------------------------------ CLI (tiny model) and HTTP generator


@pytest.mark.parametrize("family", ["spa", "entigraph"])
def test_cli_family_on_the_tiny_model(tiny_model, tmp_path, monkeypatch, capsys, family):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": d.id, "text": d.text}) + "\n" for d in DOCS[:2]), encoding="utf-8")
    out = tmp_path / "aug.jsonl"
    args = ("augment", family, "--docs", str(docs), "--out", str(out), "--model", str(tiny_model),
            "--tokens-per-document", "48", "--no-self-verify", "--cache-dir", str(tmp_path / "cache"))
    code, stdout = _cli(monkeypatch, capsys, *args, stream="out")
    assert code == 0
    summary = json.loads((tmp_path / "aug.summary.json").read_text())
    assert summary["mode"] == family and summary["budget"]["spent_per_document_max"] <= 48
    assert summary["options"]["unit"] == "generation" and summary["steps"]["faithful"] is False
    assert f"at most {summary['budget']['spent_per_document_max']} for a document" in stdout
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    drops = [json.loads(x) for x in (tmp_path / "aug.drops.jsonl").read_text().splitlines()]
    assert len(rows) + len(drops) == summary["prompts"] - summary.get("kinds", {}).get("entities", 0)
    assert all(f"/{family}/" in r["id"] for r in rows)


@pytest.mark.parametrize(("extra", "message"), [
    (["spa", "--kinds", "qa,poem"], "unknown spa kind 'poem'"),
    (["entigraph", "--entities", "1"], "Invalid value for '--entities'"),
    (["spa", "--faithful"], "No such option: --faithful"),
])
def test_cli_family_bad_input_is_one_line(tmp_path, monkeypatch, capsys, extra, message):
    docs = tmp_path / "d.txt"
    docs.write_text(DOCS[0].text, encoding="utf-8")
    code, err = _cli(monkeypatch, capsys, "augment", extra[0], "--docs", str(docs), "--out", str(tmp_path / "o"),
                        *extra[1:])
    assert code == 2 and message in err and not (tmp_path / "o").exists()


class Recording:
    """An OpenAI-shaped server that answers entity lists and relation texts, recording max_tokens."""

    def __init__(self) -> None:
        self.max_tokens: list[int] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/v1/chat/completions")
        def complete(body: dict):
            with self.lock:
                self.max_tokens.append(body["max_tokens"])
            last = body["messages"][-1]["content"]
            if body["messages"][0]["content"].startswith("List the important entities"):
                text = "- Ostrava\n- Kelmar\n- Tessin\n- Varna Treaty"
            elif "Relation between:" in last:
                a, b = last.rsplit("Relation between: ", 1)[1].split("; ")
                text = f"In the treaty, {a} and {b} settled the war of nine years."
            else:
                text = "Key concept: Kelmar gave a port to Ostrava after nine years of war."
            return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 12}}


@pytest.mark.parametrize("family", ["spa", "entigraph"])
def test_http_generator_with_a_family(tmp_path, family):
    server = Recording()
    opts = options(family, tokens_per_document=200, max_new_tokens=64)
    with running(server.app) as url:
        gen = OpenAIGenerator(url, "fake", retries=1, backoff=0.01, timeout=10)
        result = augment(DOCS[:1], gen, opts, cache=GenerationCache(tmp_path / "cache"))
    assert sum(server.max_tokens) <= 200 and result.summary["budget"]["spent"] == 12 * len(server.max_tokens)
    assert result.items and all(f"/{family}/" in a.document.id for a in result.items)
    if family == "entigraph":  # 64 tokens of list, then ceil(136 / 64) = 3 pairs of 45 tokens
        assert server.max_tokens == [64, 45, 45, 45] and result.summary["pairs"] == 3
        assert all(" and " in a.document.text for a in result.items)
    else:  # ceil(200 / 64) = 4 study prompts of 50 tokens, identical answers: one kept, the rest duplicates
        assert server.max_tokens == [50] * 4 and len(result.items) == 1
        assert result.summary["dropped"]["duplicate"] == 3
    assert result.seconds > 0


def test_report_shows_generated_tokens_and_seconds_beside_augmented_cells(tmp_path):
    from test_study_report import _fake_study, rec

    from iclft.study.report import write_report

    cells = {"toy.ft_aug_spa": ("ft_aug_spa", 0, [rec("ft_aug_spa", 0, "qa", "a", True)]),
             "toy.ft": ("ft", 0, [rec("ft", 0, "qa", "a", False)])}
    store = _fake_study(tmp_path, cells)
    info = {"augmentation": {"spa": {"prompts": 20, "outputs": 7, "tokens": {"prompt": 9000, "completion": 2431},
                                     "budget": {"tokens_per_document": 256, "spent_per_document_max": 256}}}}
    store.finish_cell("toy.ft_aug_spa", {**store.cell("toy.ft_aug_spa"), "info": info}, {},
                      {"seconds": 99.0, "augment_seconds": {"spa": 61.25}})
    text = write_report(tmp_path).read_text()
    assert "## Generation cost" in text
    assert "| toy | ft_aug_spa | 0 | spa | 20 | 2,431 | 256 / 256 | 61.2 | 7 |" in text
    assert "| toy | ft |" not in text.split("## Generation cost")[1].split("##")[0]  # only augmented cells


def test_prose_copying_the_few_shot_examples_numbers_is_a_leak():
    class Copying(Scripted):
        def iter_generate(self, requests, sampling):
            for i, _ in enumerate(requests):
                yield i, Generation(f"Kelmar and Ostrava built a canal with 19 locks, call {i}.", "stop", 10, 12)

    result = augment(DOCS[:1], Copying(), options("spa", prompts=2))
    assert result.summary["dropped"]["leak"] == 2 and not result.items  # "19" is the example's, not the corpus's
    kept = augment([Document(id="x", text="Kelmar and Ostrava share a canal with 19 locks.")], Copying(),
                   options("spa", prompts=2))
    assert len(kept.items) == 2  # the corpus says 19 itself


@pytest.mark.slow  # two tiny fine-tunings: ~20 s on an idle 2-core CPU
def test_study_cells_of_both_families_record_budget_tokens_and_seconds(tiny_model, tmp_path, monkeypatch):
    import yaml
    from test_study import private_cache

    from iclft.study import config, cost, grid, run
    from iclft.study.report import write_report

    monkeypatch.setenv("ICLFT_CACHE", private_cache(tmp_path / "cache")["ICLFT_CACHE"])
    quiet = {"self_verify": None, "max_new_tokens": 24}
    study = {"name": "fam", "datasets": {"reversals": {"params": {"n_facts": 2, "articles_per_fact": 1,
                                                                   "validation_facts": 0}}},
             "models": [str(tiny_model)], "seeds": [0], "questions": ["test"],
             "conditions": {"ft_aug_spa": {"ft": {"epochs": 1}, "tokens_per_document": 48, "spa": quiet},
                            "ft_aug_entigraph": {"ft": {"epochs": 1}, "tokens_per_document": 48,
                                                 "entigraph": quiet}}}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(study))
    study_grid = grid.expand(config.load(tmp_path / "study.yaml"))
    cost.estimate(study_grid)
    assert [c.estimate.generate_tokens for c in study_grid.cells] == [2 * 48, 2 * 48]  # 2 documents x the budget
    run.run_grid(study_grid, tmp_path / "out", show_progress=False, log=lambda m: None)
    for cell in study_grid.cells:
        mode = cell.condition.removeprefix("ft_aug_")
        folder = tmp_path / "out" / "cells" / cell.key
        info = json.loads((folder / "cell.json").read_text())["info"]["augmentation"][mode]
        assert info["budget"]["tokens_per_document"] == 48 and info["budget"]["spent_per_document_max"] <= 48
        timing = json.loads((folder / "timing.json").read_text())
        assert timing["augment_seconds"][mode] > 0
    report = write_report(tmp_path / "out").read_text()
    assert "| reversals | ft_aug_spa | 0 | spa |" in report and "| reversals | ft_aug_entigraph | 0 | entigraph |" in report
