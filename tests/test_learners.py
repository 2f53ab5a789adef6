"""Learning conditions on the real embedded model: FT examples and masking, ICL selection, formats, caching."""

from __future__ import annotations

import math

import pytest
import torch

from iclft import framing, models
from iclft.cells import Job, Work
from iclft.datasets.schema import Dataset, Document, Question
from iclft.errors import UserError
from iclft.learners import finetune, get, icl, names
from iclft.learners.ft_data import Batches, Example, encode, examples, packing_works
from iclft.scoring.exposure import score_exposure

PAIRS = [("glon", "femp"), ("troff", "yomp"), ("dax", "wug"), ("blick", "zorp"), ("mip", "tasp"), ("crel", "vosk")]


def toy(n: int = len(PAIRS)) -> Dataset:
    docs = [Document(id=f"d{i}", text=f"The {a} are heavier than the {b}. Nobody doubts it.")
            for i, (a, b) in enumerate(PAIRS[:n])]
    qs = [Question(id=f"q{i}", prompt=f"The {b} are", choices=[f" lighter than the {a}.", f" heavier than the {a}."],
                   answer=0, split="reversal", subtype="weight") for i, (a, b) in enumerate(PAIRS[:n])]
    return Dataset(name="toy", train=docs, test=qs)


def score(work: Work, questions: list[Question]) -> list:
    """A planned cell exposed and scored, as the study runner does it."""
    exposure = work.expose(work.job)
    return score_exposure(work.job, exposure, questions)


def job(lm, ds: Dataset, seed: int = 0) -> Job:
    return Job(dataset=ds, model=models.DEFAULT_MODEL, seed=seed, questions=list(ds.test), loader=lambda *_, **__: lm)


def test_registry_lists_the_shipped_conditions():
    assert names()[:3] == ["pretrained", "icl", "ft"]
    assert get("ft").trains and not get("icl").trains
    with pytest.raises(UserError, match="unknown condition 'nope'"):
        get("nope")


def test_sentence_splitting_modes():
    docs = [Document(id="a", text="One fact here. Two facts here! Three?"),
            Document(id="b", text="Q: who? A: me.", prompt="Q: who?")]
    assert examples(docs, "none") == [Example("", "One fact here. Two facts here! Three?"), Example("Q: who?", " A: me.")]
    assert examples(docs, "independent")[:3] == [Example("", "One fact here."), Example("", "Two facts here!"),
                                                  Example("", "Three?")]
    assert examples(docs, "cumulative") == [
        Example("", "One fact here."),
        Example("One fact here.", " Two facts here!"),
        Example("One fact here. Two facts here!", " Three?"),
        Example("Q: who?", " A: me."),  # prompt/completion documents are never split
    ]


def test_encode_masks_the_prompt_and_ends_with_eos(lm):
    tok = lm.tokenizer
    feat = encode(tok, Example("The glon are", " heavier than femp."), max_length=64)
    n_prompt = len(tok.encode("The glon are", add_special_tokens=False))
    assert feat["labels"][:n_prompt] == [-100] * n_prompt
    assert feat["labels"][n_prompt:] == feat["input_ids"][n_prompt:]
    assert feat["input_ids"][-1] == tok.eos_token_id
    assert tok.decode(feat["input_ids"][:-1]) == "The glon are heavier than femp."
    cut = encode(tok, Example("The glon are", " heavier than femp."), max_length=3)
    assert cut["input_ids"] == feat["input_ids"][-3:] and cut["labels"] == feat["labels"][-3:]


def test_chat_format_wraps_context_and_question_and_keeps_the_choice_a_continuation(lm):
    q = toy(1).test[0]
    context, (framed,) = framing.frame(lm, "chat", "DOCS", [q])
    assert context.startswith("<|im_start|>system") and context.endswith("DOCS\n\n")
    assert framed.prompt.startswith(framing.DEFAULT_INSTRUCTION)
    assert "The femp are<|im_end|>\n<|im_start|>assistant\nThe femp are" in framed.prompt
    assert framed.choices == q.choices
    assert framing.frame(lm, "plain", "DOCS", [q]) == ("DOCS\n\n", [q])
    assert framing.resolve_format(lm, "auto") == "chat"


def test_icl_selections_are_seeded_and_fit(lm):
    ds = toy()
    sub = icl.plan(job(lm, ds, seed=3), icl.Options(selection="subsample", fraction=0.5))
    assert len(sub.chosen) == 3
    assert sub.chosen == icl.plan(job(lm, ds, seed=3), icl.Options(selection="subsample", fraction=0.5)).chosen
    assert any(icl.plan(job(lm, ds, seed=s), icl.Options(selection="subsample", fraction=0.5)).chosen
               != sub.chosen for s in range(4, 9))
    per_doc = len(lm.tokenizer.encode(ds.train[0].text))
    budget = icl.plan(job(lm, ds), icl.Options(selection="budget", budget=2 * per_doc + 4))
    assert len(budget.chosen) == 2
    assert len(lm.tokenizer.encode(budget.text(budget.chosen))) <= 2 * per_doc + 4
    # relevant: BM25 on the question's nonsense word puts its own document first
    rel = icl.plan(job(lm, ds), icl.Options(selection="relevant", budget=per_doc + 2))
    for i, q in enumerate(ds.test):
        assert rel.relevant(q) == (i,)


def test_icl_source_reads_each_questions_own_documents_and_is_a_control(lm):
    ds = toy(3)
    ds.train = [d.model_copy(update={"facts": [f"doc{i}"]}) for i, d in enumerate(ds.train)]
    ds.test = [q.model_copy(update={"facts": [f"doc{2 - i}"]}) for i, q in enumerate(ds.test)]  # not BM25's pick
    opts = icl.Options(selection="source")
    work = icl.plan(job(lm, ds), opts)
    assert [work.source(q) for q in ds.test] == [(2,), (1,), (0,)]
    assert work.context(ds.test[0]) == ds.train[2].text
    est = work.estimate()
    assert est.prefill_tokens == sum(len(lm.tokenizer.encode(d.text)) for d in ds.train)
    assert get("icl").uses_answers(opts) and not get("icl").uses_answers(icl.Options(selection="relevant"))


def test_icl_scores_in_context_and_records_context_tokens(lm):
    ds = toy(2)
    plain = score(icl.plan(job(lm, ds), icl.Options(format="plain", shuffle=False)), ds.test)
    ctx = len(lm.tokenizer.encode(ds.train[0].text + "\n\n" + ds.train[1].text + "\n\n"))
    assert all(abs(s.context_tokens - ctx) <= 1 for s in plain)
    one_doc = len(lm.tokenizer.encode(ds.train[0].text)) + 2
    rel = score(icl.plan(job(lm, ds), icl.Options(format="plain", selection="relevant", budget=one_doc)), ds.test)
    assert all(s.context_tokens < ctx for s in rel)  # one document each, not both
    assert [s.logprobs for s in rel] != [s.logprobs for s in plain]
    bare = score(get("pretrained").plan(job(lm, ds), get("pretrained").options()), ds.test)
    assert all(s.context_tokens == 0 for s in bare) and [s.logprobs for s in bare] != [s.logprobs for s in plain]


def test_icl_context_over_the_window_is_a_clear_error_unless_selection_fits_it(lm):
    long_docs = [Document(id=f"d{i}", text=f"The glon{i} are heavier than the femp{i}. " * 12) for i in range(160)]
    ds = Dataset(name="long", train=long_docs, test=toy(1).test)
    with pytest.raises(UserError, match="over the .* use selection: budget"):
        icl.plan(job(lm, ds), icl.Options())
    fitted = icl.plan(job(lm, ds), icl.Options(selection="budget"))
    assert 0 < len(fitted.chosen) < len(long_docs)
    assert len(lm.tokenizer.encode(fitted.text(fitted.chosen))) <= lm.max_length


@pytest.fixture
def ft_cache(tmp_path, monkeypatch):
    """A private fine-tuning cache that reuses the already converted base models."""
    real = models.cache_dir() / "models"
    monkeypatch.setenv("ICLFT_CACHE", str(tmp_path))
    (tmp_path / "models").symlink_to(real)
    return tmp_path


@pytest.mark.parametrize("model", ["tiny", pytest.param("embedded", marks=pytest.mark.slow)])
def test_lora_finetune_is_cached_and_merged(model, ft_cache, request):
    """End to end on the tiny random model in the default suite (the same code path), on the real one with -m slow."""
    name = str(request.getfixturevalue("tiny_model")) if model == "tiny" else models.DEFAULT_MODEL
    base = request.getfixturevalue("lm") if model == "embedded" else models.load(name, dtype="float32")
    ds = toy(3)
    opts = finetune.FTOptions(lr=1e-3, max_steps=2, batch_size=2, lora={"r": 4})
    first = finetune.finetune(name, ds.train, opts, seed=0)
    assert first.trained and first.path.parent == ft_cache / "ft" and first.stats["steps"] == 2
    assert [c["step"] for c in first.losses] == [1, 2]
    assert not list((ft_cache / "ft").glob(".*"))  # no temporary folder left
    again = finetune.finetune(name, ds.train, opts, seed=0)
    assert (again.trained, again.path, again.losses) == (False, first.path, first.losses)
    other = finetune.cache_key(models.resolve(name), examples(ds.train), opts, seed=1)
    assert other != first.key
    tuned = models.load(first.path)  # LoRA merged: a plain model folder
    assert not any("lora" in n for n, _ in tuned.model.named_parameters())
    diff = sum(float((a - b).abs().sum().detach()) for a, b in zip(tuned.model.parameters(), base.model.parameters()))
    assert diff > 0


def test_bf16_precision_trains_on_cpu_and_has_its_own_cache_key(tiny_model, ft_cache):
    """Plumbing (precision option, cache key, saved dtype): on the tiny random model."""
    ds = toy(2)
    base = models.resolve(tiny_model)
    fp32 = finetune.FTOptions(lr=1e-4, max_steps=1, batch_size=2, precision="fp32")
    bf16 = fp32.model_copy(update={"precision": "bf16"})
    exs = examples(ds.train)
    assert finetune.cache_key(base, exs, fp32, 0) != finetune.cache_key(base, exs, bf16, 0)
    run = finetune.finetune(str(tiny_model), ds.train, bf16, seed=0)
    assert run.trained and run.stats["options"]["precision"] == "bf16"
    assert run.stats["steps"] == 1 and math.isfinite(run.losses[0]["loss"])
    saved = models.load(run.path, dtype="float32")
    assert next(saved.model.parameters()).dtype == torch.float32  # mixed precision: fp32 weights


@pytest.mark.parametrize("model", ["tiny", pytest.param("embedded", marks=pytest.mark.slow)])
def test_packed_batches_train_like_padded_ones(model, ft_cache, tiny_model, request):
    """One row without padding gives the padded batch's loss and gradients; a model that would let packed examples
    see each other (here: a KV cache, which turns off packed position ids) is caught and trained padded; fine-tuning
    packs. The tiny random model is a Llama like the embedded one (the same attention and position-id code); the
    embedded model's own backward passes (~30 s of CPU) run with -m slow."""
    lm = request.getfixturevalue("lm") if model == "embedded" else models.load(str(tiny_model), dtype="float32")
    tok = lm.tokenizer
    feats = [encode(tok, e, 64) for e in examples(toy(4).train)]
    model, use_cache = lm.model, lm.model.config.use_cache  # the shared fp32 model fixture: left as it was found
    batches = Batches(tok, pack=True)
    packed, padded = batches.packed(feats), batches.padded(feats)
    assert packed["input_ids"].shape == (1, sum(len(f["input_ids"]) for f in feats))
    try:
        model.config.use_cache = False
        grads = []
        for batch in (packed, padded):
            model.zero_grad(set_to_none=True)  # each pass gets new gradient tensors
            loss = model(**batch).loss
            loss.backward()
            grads.append((loss.item(), [p.grad for p in model.parameters()]))
        assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-5)
        assert max(float((a - b).abs().max()) for a, b in zip(grads[0][1], grads[1][1])) < 1e-3
        assert packing_works(model, batches, feats)
        model.config.use_cache = True
        assert not packing_works(model, batches, feats)
    finally:
        model.zero_grad(set_to_none=True)
        model.config.use_cache = use_cache
    run = finetune.finetune(str(tiny_model), toy(2).train, finetune.FTOptions(max_steps=1, batch_size=2), seed=0)
    assert run.stats["packed"] and run.stats["padding_share"] == 0.0
