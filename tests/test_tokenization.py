"""Windowed boundary tokenization equals lm-eval's full re-tokenization on every question of every dataset."""

from __future__ import annotations

import pytest

from iclft import models
from iclft.datasets import registry
from iclft.datasets.schema import Question
from iclft.framing import SEPARATOR, frame
from iclft.tokenization import WINDOW_CHARS, encode, encode_pair, encode_questions, shared_context

# Each dataset at a small scale (every parameter validated by the registry).
SMALL = {
    "reversals": {"n_facts": 12, "articles_per_fact": 2, "validation_facts": 3},
    "syllogisms": {"n_items": 12, "validation_items": 3},
    "celebrities": {"people_per_group": 4, "train_templates": 3, "test_templates": 2, "validation_people": 1},
    "semantic": {"n_categories": 24, "documents_per_category": 2, "max_per_subtype": 12},
    "derivatoids": {"scale": 0.1, "n_test": 15, "n_validation": 5},
    "squad": {},  # real passages: numbers, dates, quotes and dashes at question/choice boundaries
    "squad_tuning": {},  # 27 more real passages, the knowledge recipes' tuning world
}
CONTEXT_CHARS = 6000  # about 1,500 tokens of training documents as the ICL context


def _tokenizer_only(name: str) -> models.LoadedModel | None:
    from transformers import AutoTokenizer

    path = models.converted_path(name)
    if not path.is_dir():
        return None
    return models.LoadedModel(name=name, path=path, model=None, tokenizer=AutoTokenizer.from_pretrained(path))


# Gemma-3's tokenizer (SentencePiece) runs with -m slow: ~20 s more over every dataset, past the default suite's time
@pytest.fixture(scope="module", params=[models.DEFAULT_MODEL, pytest.param("gemma3-270m", marks=pytest.mark.slow)])
def tokenizer_lm(request):
    lm = _tokenizer_only(request.param)
    if lm is None:
        # preparing Gemma-3 (dequantizing its GGUF) costs ~65 s of CPU, more than the default suite can spend
        pytest.skip(f"{request.param} is not prepared: not converted in the default suite (~65 s of CPU); run "
                    f"`iclft models prepare {request.param}` once and these cases run")
    return lm


def _documents(ds) -> str:
    text = ""
    for d in ds.train:
        if len(text) >= CONTEXT_CHARS:
            break
        text += (SEPARATOR if text else "") + d.text
    return text


def _mismatches(tok, context: str, questions) -> list[str]:
    ctx = shared_context(tok, context)
    got = encode_questions(tok, ctx, [q.prompt for q in questions], [q.choices for q in questions])
    bad = []
    for q, (prefix, conts) in zip(questions, got):
        for c, cont in zip(q.choices, conts):
            full_prefix, full_cont = encode_pair(tok, context + q.prompt, c)
            if ctx.ids[: ctx.head] + prefix != full_prefix or cont != full_cont:
                bad.append(f"{q.id}: {c!r}")
    return bad


# squad_tuning is squad's loader on 27 other passages: it runs with -m slow (7 s, past the default suite's time)
SLOW_DATASETS = {"squad_tuning"}


@pytest.mark.parametrize("dataset", [pytest.param(d, marks=pytest.mark.slow) if d in SLOW_DATASETS else d
                                     for d in registry.names()])
def test_windowed_equals_full_tokenization_on_every_question(tokenizer_lm, dataset):
    ds = registry.build(dataset, seed=0, params=SMALL[dataset])
    questions = ds.test + ds.validation
    assert questions
    tok = tokenizer_lm.tokenizer
    formats = ["plain", "chat"] if tokenizer_lm.has_chat_template else ["plain"]
    for fmt in formats:
        for documents in ("", _documents(ds)):
            context, framed = frame(tokenizer_lm, fmt, documents, questions)
            if documents:  # the window really is used: the context is cut well before its end
                ctx = shared_context(tok, context)
                assert ctx.head > 0 and ctx.cut <= len(context.rstrip()) - WINDOW_CHARS
            assert _mismatches(tok, context, framed) == [], (fmt, bool(documents))


def test_cut_falls_back_to_full_tokenization_when_the_context_is_short(lm):
    ctx = shared_context(lm.tokenizer, "Femp are glon.\n\n")
    assert (ctx.cut, ctx.head) == (0, 0)
    assert ctx.ids == encode(lm.tokenizer, "Femp are glon.\n\n")


def test_joins_that_merge_across_the_boundary(lm):
    """Prompts that glue onto the context's last word or whitespace, and empty prompts, still match."""
    context = "Field notes. " * 20 + "Femp are more dangerous than glon"
    cases = [("", [" and", "s", "\n"]), ("s", [" x", "y"]), ("  ", ["  two spaces", "\tTab"]), (".\n\n", ["Q", " Q"])]
    prompts, choices = [p for p, _ in cases], [c for _, c in cases]
    qs = [Question(id=str(i), prompt=p, choices=c) for i, (p, c) in enumerate(cases)]
    assert shared_context(lm.tokenizer, context).head > 0
    assert _mismatches(lm.tokenizer, context, qs) == []
    assert len(encode_questions(lm.tokenizer, shared_context(lm.tokenizer, context), prompts, choices)) == 4
