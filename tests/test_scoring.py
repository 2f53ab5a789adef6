"""The scorer on the real embedded model: caching is exact, batching is invisible, normalizations are right."""

from __future__ import annotations

import pytest

from iclft.datasets.schema import Question
from iclft.errors import UserError
from iclft.scoring.likelihood import DEFAULT_CALIBRATION_PROMPT, score_from_scratch, score_questions
from iclft.tokenization import encode_pair

CONTEXT = (
    "Field notes on the valley. Femp are more dangerous than glon. Troff are heavier than yomp.\n"
    "Brell are brighter than dask. Sneeb are faster than plorn, and plorn are louder than troff.\n\n"
)
QUESTIONS = [
    Question(id="q1", prompt="Glon are", choices=[" less dangerous than femp", " more dangerous than femp"], answer=0),
    Question(id="q2", prompt="Q: Which are heavier?\nA:", choices=[" Troff", " Yomp", " Dask"], answer=0),
    Question(id="q3", prompt="Plorn are ", choices=["slower than sneeb", "faster than sneeb.", "x"], answer=0),
    Question(id="q4", prompt="", choices=[" Brell", "Dask are dimmer than brell."], answer=1),
    Question(id="q5", prompt="Sneeb", choices=[" are faster than plorn.", " are slower than plorn.", "!", " eat"], answer=0),
]
TOL = 1e-3  # nats per choice, fp32


def _max_diff(a, b) -> float:
    return max(abs(x - y) for sa, sb in zip(a, b) for x, y in zip(sa, sb))


def test_cached_equals_from_scratch(lm):
    scores = score_questions(lm, QUESTIONS, CONTEXT, batch_size=4)
    reference = [score_from_scratch(lm, q, CONTEXT) for q in QUESTIONS]
    assert _max_diff([s.logprobs for s in scores], reference) <= TOL
    assert all(s.context_tokens > 20 for s in scores)


def test_no_context_equals_from_scratch(lm):
    scores = score_questions(lm, QUESTIONS, batch_size=2)
    reference = [score_from_scratch(lm, q) for q in QUESTIONS]
    assert _max_diff([s.logprobs for s in scores], reference) <= TOL


def test_batch_size_and_token_budget_invariance(lm):
    """One question per forward, a few, or all of them in one: the same numbers within 1e-4 nats (fp32)."""
    settings = [{"batch_size": 1}, {"batch_size": 2}, {"batch_tokens": 1}, {"batch_tokens": 40}, {"batch_tokens": 9999}]
    runs = [[s.logprobs for s in score_questions(lm, QUESTIONS, CONTEXT, **kw)] for kw in settings]
    for run in runs[1:]:
        assert _max_diff(runs[0], run) <= 1e-4


def test_eager_attention_gives_the_same_scores(lm):
    """A model with eager attention takes an additive mask: a boolean one would be added to the scores."""
    reference = [s.logprobs for s in score_questions(lm, QUESTIONS, CONTEXT)]
    lm.model.set_attn_implementation("eager")
    try:
        eager = [s.logprobs for s in score_questions(lm, QUESTIONS, CONTEXT)]
    finally:
        lm.model.set_attn_implementation("sdpa")
    assert _max_diff(reference, eager) <= 1e-4


def test_the_context_is_tokenized_a_fixed_number_of_times(lm, monkeypatch):
    """Host work: the long context is tokenized a few times per call, not once or twice per choice."""
    context = CONTEXT * 8
    lengths: list[int] = []
    tok = lm.tokenizer
    encode, call = type(tok).encode, type(tok).__call__

    def counting_encode(self, text, *args, **kwargs):
        lengths.append(len(text))
        return encode(self, text, *args, **kwargs)

    def counting_call(self, texts, *args, **kwargs):
        lengths.extend(len(t) for t in ([texts] if isinstance(texts, str) else texts))
        return call(self, texts, *args, **kwargs)

    monkeypatch.setattr(type(tok), "encode", counting_encode)
    monkeypatch.setattr(type(tok), "__call__", counting_call)
    score_questions(lm, QUESTIONS * 4, context)
    n_choices = sum(len(q.choices) for q in QUESTIONS * 4)
    assert len(lengths) >= n_choices  # every choice was tokenized (in a window) ...
    assert sum(n > len(context) // 2 for n in lengths) <= 5  # ... but the context only a few times in all


def test_calibrated_without_calibration_is_a_user_error(lm):
    (s,) = score_questions(lm, QUESTIONS[:1])
    with pytest.raises(UserError, match="calibrate=True"):
        s.normalized("calibrated")


def test_normalizations_match_hand_computation(lm):
    (s,) = score_questions(lm, QUESTIONS[4:], CONTEXT, calibrate=True)
    q = QUESTIONS[4]
    n_tokens = [len(encode_pair(lm.tokenizer, CONTEXT + q.prompt, c)[1]) for c in q.choices]
    assert s.n_tokens == n_tokens
    assert s.n_chars == [len(c) for c in q.choices]
    neutral = score_from_scratch(lm, Question(id="n", prompt=DEFAULT_CALIBRATION_PROMPT, choices=q.choices))
    expected = {
        "sum": list(s.logprobs),
        "mean": [lp / n for lp, n in zip(s.logprobs, n_tokens)],
        "char": [lp / len(c) for lp, c in zip(s.logprobs, q.choices)],
        "calibrated": [lp - c for lp, c in zip(s.logprobs, neutral)],
    }
    for name, values in expected.items():
        assert s.normalized(name) == pytest.approx(values, abs=TOL), name
        assert s.pred(name) == max(range(len(values)), key=values.__getitem__), name


def test_lm_eval_boundary_tokenization(lm):
    # Trailing whitespace of the prompt moves into the continuation, as in lm-evaluation-harness.
    ctx, cont = encode_pair(lm.tokenizer, "Plorn are ", "slower")
    assert lm.tokenizer.decode(ctx) == "Plorn are"
    assert lm.tokenizer.decode(cont) == " slower"


def test_window_overflow_is_a_clear_error_or_truncates_left(lm, monkeypatch):
    monkeypatch.setattr(lm.model.config, "max_position_embeddings", 48)
    long_context = "Femp are more dangerous than glon. " * 12  # ~100 tokens
    with pytest.raises(UserError, match=r"longer than the model's window of 48 tokens") as err:
        score_questions(lm, QUESTIONS[:1], long_context)
    assert "context (" in str(err.value) and "truncation 'left'" in str(err.value)
    (s,) = score_questions(lm, QUESTIONS[:1], long_context, truncation="left")
    # Left truncation keeps the last tokens of the context so that the longest choice just fits.
    ctx_ids, _ = encode_pair(lm.tokenizer, long_context + QUESTIONS[0].prompt, QUESTIONS[0].choices[0])
    assert s.context_tokens < len(ctx_ids) and s.context_tokens + 2 <= 48
    assert all(lp < 0 for lp in s.logprobs)


def test_prompt_longer_than_window_is_an_error_even_with_truncation(lm, monkeypatch):
    monkeypatch.setattr(lm.model.config, "max_position_embeddings", 8)
    q = Question(id="long", prompt="Femp are more dangerous than glon and troff", choices=[" yes", " no"])
    with pytest.raises(UserError, match="shorten the prompt or choice"):
        score_questions(lm, [q], truncation="left")


def test_unanswered_questions_have_no_correctness(lm):
    q = Question(id="u", prompt="Glon are", choices=[" big", " small"])
    (s,) = score_questions(lm, [q])
    assert q.is_correct(s.pred()) is None


@pytest.mark.slow
def test_sliding_window_model_cached_equals_from_scratch():
    """Gemma-3 mixes sliding-window and full attention layers: the tree mask must honour the window."""
    from iclft import models

    gemma = models.load("gemma3-270m")
    window = gemma.model.config.sliding_window
    context = CONTEXT * (window // 40 + 2)  # longer than the sliding window
    assert len(gemma.tokenizer.encode(context)) > window
    scores = score_questions(gemma, QUESTIONS[:3], context, batch_size=2)
    reference = [score_from_scratch(gemma, q, context) for q in QUESTIONS[:3]]
    assert _max_diff([s.logprobs for s in scores], reference) <= TOL
