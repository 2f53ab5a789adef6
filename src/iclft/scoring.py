"""Multiple-choice scoring by log-likelihood; the choices are never shown to the model.

For each question the model reads `context + prompt`, and every choice is scored as a continuation:
its summed log-probability, token and character counts. Tokenization at the prompt/choice boundary
follows lm-evaluation-harness (trailing whitespace moves into the continuation; the whole string is
encoded and the continuation's tokens are taken from the end), so the numbers are comparable.

Speed: the shared context is run through the model once and its KV cache reused by every question;
each question is one row `[prompt | choice 1 | ... | choice N]` under a tree-shaped attention mask
(each choice sees the context, the prompt and itself), so every prompt and choice token is computed
exactly once; the rows of a batch are packed into one sequence so they all read the one context cache
without copying it. Results equal scoring every choice from scratch, for any batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from iclft.datasets.schema import Question
from iclft.errors import UserError
from iclft.models import LoadedModel

NORMALIZATIONS = ("sum", "mean", "char", "calibrated")
TRUNCATIONS = ("error", "left")
DEFAULT_CALIBRATION_PROMPT = "Answer:"
CONTEXT_CHUNK = 1024  # tokens per forward when encoding a long context


@dataclass
class QuestionScore:
    """Per-choice scores of one question."""

    id: str
    logprobs: list[float]
    n_tokens: list[int]
    n_chars: list[int]
    context_tokens: int = 0
    calibration: list[float] | None = None

    def normalized(self, normalize: str = "sum") -> list[float]:
        """The per-choice score that `pred` maximizes under a normalization."""
        if normalize == "sum":
            return list(self.logprobs)
        if normalize == "mean":
            return [lp / max(n, 1) for lp, n in zip(self.logprobs, self.n_tokens)]
        if normalize == "char":
            return [lp / max(n, 1) for lp, n in zip(self.logprobs, self.n_chars)]
        if normalize == "calibrated":
            if self.calibration is None:
                raise ValueError("calibrated normalization needs scores computed with calibrate=True")
            return [lp - c for lp, c in zip(self.logprobs, self.calibration)]
        raise UserError(f"unknown normalization {normalize!r}; choose one of {', '.join(NORMALIZATIONS)}")

    def pred(self, normalize: str = "sum") -> int:
        """Index of the best choice (the first one on ties)."""
        scores = self.normalized(normalize)
        return max(range(len(scores)), key=lambda i: (scores[i], -i))


@dataclass
class _Row:
    """One question laid out for the model: prefix tokens (after the shared part) and choice tokens."""

    index: int
    prefix: list[int]
    choices: list[list[int]] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.prefix) + sum(len(c) for c in self.choices)


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """lm-evaluation-harness's split of (context, continuation) into token ids."""
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = tokenizer.encode(context + continuation, add_special_tokens=False)
    ctx = tokenizer.encode(context, add_special_tokens=False)
    return ctx, whole[len(ctx) :]


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


def _start_token(tokenizer) -> int:
    tok = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    if tok is None:
        raise UserError("the tokenizer has neither a BOS nor an EOS token to start an empty prompt")
    return tok


def _sliding_window(model) -> int | None:
    cfg = model.config.get_text_config()
    if "sliding_attention" in (getattr(cfg, "layer_types", None) or []):
        return int(cfg.sliding_window)
    return None


def _layout(
    lm: LoadedModel, questions: Sequence[Question], context: str, truncation: str
) -> tuple[list[int], list[_Row]]:
    """Tokenize everything; return the shared context tokens and one row per question."""
    tok = lm.tokenizer
    ctx_ids = tok.encode(context, add_special_tokens=False) if context else []
    rows, prefixes = [], []
    for i, q in enumerate(questions):
        pairs = [encode_pair(tok, context + q.prompt, c) for c in q.choices]
        prefix = pairs[0][0] or [_start_token(tok)]
        for j, (_, cont) in enumerate(pairs):
            if not cont:
                raise UserError(f"question {q.id!r}: choice {j} encodes to no tokens")
        prefixes.append(prefix)
        rows.append(_Row(index=i, prefix=prefix, choices=[c for _, c in pairs]))
    # The shared part: the context tokens every question's prefix starts with, leaving each row >= 1 token.
    shared = min([len(ctx_ids)] + [min(_common_prefix(ctx_ids, p), len(p) - 1) for p in prefixes])
    for r in rows:
        r.prefix = r.prefix[shared:]
    ctx_ids = ctx_ids[:shared]

    window = lm.max_length
    worst = max(rows, key=lambda r: len(r.prefix) + max(len(c) for c in r.choices))
    need = len(worst.prefix) + max(len(c) for c in worst.choices)
    if shared + need > window:
        if truncation == "left" and need <= window:
            return ctx_ids[shared + need - window :], rows
        hint = "shorten the prompt or choice" if need > window else "shorten the context or use truncation 'left'"
        raise UserError(
            f"question {questions[worst.index].id!r}: context ({shared} tokens) + prompt and choice "
            f"({need} tokens) = {shared + need} tokens, longer than the model's window of {window} tokens; {hint}"
        )
    return ctx_ids, rows


@torch.no_grad()
def _encode_context(model, ctx_ids: list[int], device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Run the shared context once (in chunks); return its keys and values per layer (batch 1)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for start in range(0, len(ctx_ids), CONTEXT_CHUNK):
        chunk = torch.tensor([ctx_ids[start : start + CONTEXT_CHUNK]], device=device)
        model(input_ids=chunk, past_key_values=cache, use_cache=True, logits_to_keep=1)
    return [(layer.keys, layer.values) for layer in cache.layers]


@torch.no_grad()
def _score_batch(
    model, rows: Sequence[_Row], ctx_kv: list[tuple[torch.Tensor, torch.Tensor]], n_ctx: int
) -> list[list[float]]:
    """One forward for a group of rows packed into a single sequence; returns per-choice summed log-probs.

    Packing (batch dimension 1) lets every row attend to the one shared context cache without copying it;
    a block-diagonal tree mask keeps the rows, and the choices within a row, from seeing each other.
    """
    from transformers import DynamicCache

    device = model.device
    total = sum(r.length for r in rows)
    ids = torch.empty(total, dtype=torch.long)
    pos = torch.empty(total, dtype=torch.long)
    allowed = torch.zeros((total, total), dtype=torch.bool)  # the packed part of the mask
    targets = []  # (position whose logits predict, target token, row, choice)
    off = 0
    for b, r in enumerate(rows):
        a = len(r.prefix)
        ids[off : off + a] = torch.tensor(r.prefix)
        pos[off : off + a] = torch.arange(n_ctx, n_ctx + a)
        allowed[off : off + a, off : off + a] = torch.ones(a, a, dtype=torch.bool).tril()
        start = off + a
        for j, cont in enumerate(r.choices):
            n = len(cont)
            end = start + n
            ids[start:end] = torch.tensor(cont)
            pos[start:end] = torch.arange(n_ctx + a, n_ctx + a + n)
            allowed[start:end, off : off + a] = True
            allowed[start:end, start:end] = torch.ones(n, n, dtype=torch.bool).tril()
            prev = [off + a - 1] + list(range(start, end - 1))
            targets.extend((p, t, b, j) for p, t in zip(prev, cont))
            start = end
        off = start
    full = torch.cat([torch.ones((total, n_ctx), dtype=torch.bool), allowed], dim=1)
    mask: torch.Tensor | dict[str, torch.Tensor] = full[None, None].to(device)
    window = _sliding_window(model)
    if window is not None:
        key_pos = torch.cat([torch.arange(n_ctx), pos])
        near = (pos[:, None] - key_pos[None, :]) < window
        mask = {"full_attention": mask, "sliding_attention": (full & near)[None, None].to(device)}
    cache = DynamicCache(ddp_cache_data=ctx_kv) if n_ctx else None
    out = model(
        input_ids=ids[None].to(device),
        position_ids=pos[None].to(device),
        attention_mask=mask,
        past_key_values=cache,
        use_cache=cache is not None,
    )
    pi, ti, bi, ci = (torch.tensor(x) for x in zip(*targets))
    logits = out.logits[0, pi.to(device)].float()
    token_lp = torch.log_softmax(logits, dim=-1).gather(1, ti.to(device)[:, None])[:, 0].cpu()
    sums = [[0.0] * len(r.choices) for r in rows]
    for b, j, lp in zip(bi.tolist(), ci.tolist(), token_lp.tolist()):
        sums[b][j] += lp
    return sums


def score_questions(
    lm: LoadedModel,
    questions: Sequence[Question],
    context: str = "",
    *,
    batch_size: int = 8,
    calibrate: bool = False,
    calibration_prompt: str = DEFAULT_CALIBRATION_PROMPT,
    truncation: str = "error",
    progress: Callable[[int], None] | None = None,
) -> list[QuestionScore]:
    """Score every choice of every question after a shared `context`; see the module docstring.

    `truncation`: 'error' (default) refuses a context that does not fit the model's window; 'left' drops
    the context's earliest tokens until it fits. `calibrate` also scores each choice after
    `calibration_prompt` with no context (for the 'calibrated' normalization). `progress(n)` is called
    after every n questions scored.
    """
    if truncation not in TRUNCATIONS:
        raise UserError(f"unknown truncation {truncation!r}; choose one of {', '.join(TRUNCATIONS)}")
    if batch_size < 1:
        raise UserError("batch size must be at least 1")
    if not questions:
        return []
    ctx_ids, rows = _layout(lm, questions, context, truncation)
    model = lm.model
    ctx_kv = _encode_context(model, ctx_ids, model.device) if ctx_ids else []
    logprobs: list[list[float]] = [[] for _ in questions]
    order = sorted(rows, key=lambda r: r.length)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        for r, sums in zip(batch, _score_batch(model, batch, ctx_kv, len(ctx_ids))):
            logprobs[r.index] = sums
        if progress:
            progress(len(batch))
    scores = [
        QuestionScore(
            id=q.id,
            logprobs=logprobs[i],
            n_tokens=[len(c) for c in rows[i].choices],
            n_chars=[len(c) for c in q.choices],
            context_tokens=len(ctx_ids),
        )
        for i, q in enumerate(questions)
    ]
    if calibrate:
        neutral = [Question(id=q.id, prompt=calibration_prompt, choices=q.choices) for q in questions]
        for s, c in zip(scores, score_questions(lm, neutral, batch_size=batch_size)):
            s.calibration = c.logprobs
    return scores


def score_from_scratch(lm: LoadedModel, question: Question, context: str = "") -> list[float]:
    """Reference: each choice scored by its own full forward, no caching (for tests and benchmarks)."""
    out = []
    for choice in question.choices:
        ctx, cont = encode_pair(lm.tokenizer, context + question.prompt, choice)
        ctx = ctx or [_start_token(lm.tokenizer)]
        ids = torch.tensor([ctx + cont], device=lm.model.device)
        with torch.no_grad():
            logits = lm.model(input_ids=ids).logits[0, len(ctx) - 1 : -1].float()
        lp = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(cont, device=ids.device)[:, None])
        out.append(float(lp.sum()))
    return out
