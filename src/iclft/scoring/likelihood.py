"""Multiple-choice scoring by log-likelihood; the choices are never shown to the model.

For each question the model reads `context + prompt`, and every choice is scored as a continuation:
its summed log-probability, token and character counts. Tokenization at the prompt/choice boundary
follows lm-evaluation-harness (trailing whitespace moves into the continuation; the whole string is
encoded and the continuation's tokens are taken from the end), so the numbers are comparable.

Speed: the shared context is run through the model once and its KV cache reused by every question;
each question is one row `[prompt | choice 1 | ... | choice N]` under a tree-shaped attention mask
(each choice sees the context, the prompt and itself), so every prompt and choice token is computed
exactly once; the rows of a batch are packed into one sequence so they all read the one context cache
without copying it. Batches are sized by tokens. Results equal scoring every choice from scratch, for any batch size.

Host work is kept small: the context is tokenized once (only a window around each join is re-tokenized, with
lm-eval's split; see `iclft.tokenization`), layouts and masks are built with torch ops, and logits are computed only
at the positions that predict a choice token, upcast to fp32 before the log-softmax (so bf16 models lose no
precision there).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain

import torch

from iclft.datasets.schema import Question
from iclft.errors import UserError
from iclft.models import LoadedModel, input_device, weight
from iclft.tokenization import encode_pair, encode_questions, shared_context

NORMALIZATIONS = ("sum", "mean", "char", "calibrated")
DEFAULT_NORMALIZATION = "sum"  # the paper's rule: the choice with the highest likelihood
TRUNCATIONS = ("error", "left")
DEFAULT_CALIBRATION_PROMPT = "Answer:"
CONTEXT_CHUNK = 1024  # tokens per forward when encoding a long context
BATCH_TOKENS_CPU = 512  # prompt and choice tokens per forward, by default
BATCH_TOKENS_ACCELERATOR = 8192


@dataclass
class QuestionScore:
    """Per-choice scores of one question."""

    id: str
    logprobs: list[float]
    n_tokens: list[int]
    n_chars: list[int]
    context_tokens: int = 0
    calibration: list[float] | None = None

    def normalized(self, normalize: str = DEFAULT_NORMALIZATION) -> list[float]:
        """The per-choice score that `pred` maximizes under a normalization."""
        if normalize == "sum":
            return list(self.logprobs)
        if normalize == "mean":
            return [lp / max(n, 1) for lp, n in zip(self.logprobs, self.n_tokens)]
        if normalize == "char":
            return [lp / max(n, 1) for lp, n in zip(self.logprobs, self.n_chars)]
        if normalize == "calibrated":
            if self.calibration is None:
                raise UserError("calibrated normalization needs scores computed with calibrate=True")
            return [lp - c for lp, c in zip(self.logprobs, self.calibration)]
        raise UserError(f"unknown normalization {normalize!r}; choose one of {', '.join(NORMALIZATIONS)}")

    def pred(self, normalize: str = DEFAULT_NORMALIZATION) -> int:
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


def default_batch_tokens(device: torch.device | str) -> int:
    """Prompt and choice tokens per forward: small on a CPU (packed rows attend to each other's positions, masked
    but computed), large on an accelerator."""
    return BATCH_TOKENS_CPU if torch.device(device).type == "cpu" else BATCH_TOKENS_ACCELERATOR


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
    """Tokenize everything (the context once); return the shared context tokens and one row per question."""
    tok = lm.tokenizer
    ctx = shared_context(tok, context)
    encoded = encode_questions(tok, ctx, [q.prompt for q in questions], [q.choices for q in questions])
    rows = []
    shared = len(ctx.ids)  # the context tokens every question's prefix starts with, leaving each row >= 1 token
    for i, (q, (prefix, conts)) in enumerate(zip(questions, encoded)):
        for j, cont in enumerate(conts):
            if not cont:
                raise UserError(f"question {q.id!r}: choice {j} encodes to no tokens")
        if ctx.head == 0 and not prefix:
            prefix = [_start_token(tok)]
        common = ctx.head + _common_prefix(ctx.ids[ctx.head :], prefix)
        shared = min(shared, common, ctx.head + len(prefix) - 1)
        rows.append(_Row(index=i, prefix=prefix, choices=conts))
    for r in rows:  # prefixes were relative to the context's first ctx.head tokens
        r.prefix = ctx.ids[shared : ctx.head] + r.prefix[max(shared - ctx.head, 0) :]
    ctx_ids = ctx.ids[:shared]

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
        model.base_model(input_ids=chunk, past_key_values=cache, use_cache=True)
    return [(layer.keys, layer.values) for layer in cache.layers]


@dataclass
class _Packed:
    """A batch of rows packed into one sequence: token ids, positions, the attention mask and the scored targets."""

    ids: torch.Tensor  # (total,)
    positions: torch.Tensor  # (total,)
    mask: torch.Tensor | dict[str, torch.Tensor]  # (1, 1, total, n_ctx + total) bool, or one per attention type
    predictors: torch.Tensor  # (scored,) positions in the packed sequence whose logits predict a choice token
    targets: torch.Tensor  # (scored,) the choice tokens
    segments: torch.Tensor  # (scored,) each target's segment (0 .. n_segments - 1)
    choice_segments: torch.Tensor  # (n_choices,) the segment of each choice, in row order


def _pack(rows: Sequence[_Row], n_ctx: int, window: int | None, device) -> _Packed:
    """Lay out rows as [prefix | choice 1 | ... | choice N] each, with torch ops over per-segment sizes.

    The tree mask: a token sees the whole context, and within its own row the earlier tokens of its own segment
    plus (for a choice) the row's prefix.
    """
    # Per segment (a prefix or a choice; a Python loop over segments, not tokens): its length, row, whether it is
    # a prefix, its first position after the context, and the packed index predicting its first token.
    seg_len, seg_row, seg_prefix, seg_pos0, seg_pred0 = [], [], [], [], []
    off = 0
    for b, r in enumerate(rows):
        a = len(r.prefix)
        n = 1 + len(r.choices)
        seg_len += [a] + [len(c) for c in r.choices]
        seg_row += [b] * n
        seg_prefix += [True] + [False] * len(r.choices)
        seg_pos0 += [0] + [a] * len(r.choices)
        seg_pred0 += [off + a - 1] * n
        off += a + sum(len(c) for c in r.choices)
    flat = torch.tensor(list(chain.from_iterable(part for r in rows for part in (r.prefix, *r.choices))))
    lengths = torch.tensor(seg_len)
    is_prefix_seg = torch.tensor(seg_prefix)
    seg_start = torch.cumsum(lengths, 0) - lengths
    seg = torch.repeat_interleave(torch.arange(len(seg_len)), lengths)
    index = torch.arange(len(flat))
    within = index - seg_start[seg]
    pos = n_ctx + torch.tensor(seg_pos0)[seg] + within
    scored = ~is_prefix_seg[seg]
    # A choice's first token is predicted by its row's last prefix token, later ones by the token before.
    predictors = torch.where(within == 0, torch.tensor(seg_pred0)[seg], index - 1)[scored]
    row = torch.tensor(seg_row)[seg]

    row_d, seg_d, pos_d = row.to(device), seg.to(device), pos.to(device)
    packed = (row_d[:, None] == row_d[None, :]) & (pos_d[None, :] <= pos_d[:, None])
    packed &= (seg_d[:, None] == seg_d[None, :]) | is_prefix_seg.to(device)[seg_d][None, :]
    full = torch.cat([torch.ones((len(flat), n_ctx), dtype=torch.bool, device=device), packed], dim=1)
    mask: torch.Tensor | dict[str, torch.Tensor] = full[None, None]
    if window is not None:
        key_pos = torch.cat([torch.arange(n_ctx, device=device), pos_d])
        near = (pos_d[:, None] - key_pos[None, :]) < window
        mask = {"full_attention": mask, "sliding_attention": (full & near)[None, None]}
    return _Packed(
        ids=flat.to(device),
        positions=pos_d,
        mask=mask,
        predictors=predictors.to(device),
        targets=flat[scored].to(device),
        segments=seg[scored].to(device),
        choice_segments=torch.nonzero(~is_prefix_seg)[:, 0].to(device),
    )


def _for_attention(model, mask: torch.Tensor | dict[str, torch.Tensor]) -> torch.Tensor | dict[str, torch.Tensor]:
    """The tree mask in the form the model's attention takes a ready 4-D mask: boolean for SDPA, additive (0 or the
    dtype's minimum) for eager attention. Other kernels (flash, flex) cannot take an arbitrary mask."""
    impl = getattr(model.config, "_attn_implementation", None) or "sdpa"
    if impl == "sdpa":
        return mask
    if impl != "eager":
        raise UserError(f"scoring needs a model with sdpa or eager attention, not {impl!r} (it uses a tree-shaped "
                        "mask); load the model with attn_implementation='sdpa'")
    dtype = model.dtype

    def additive(m: torch.Tensor) -> torch.Tensor:
        return torch.zeros(m.shape, dtype=dtype, device=m.device).masked_fill_(~m, torch.finfo(dtype).min)

    return {k: additive(m) for k, m in mask.items()} if isinstance(mask, dict) else additive(mask)


class Head:
    """The LM head in fp32: log-probabilities of target tokens from selected hidden states, upcast before the
    projection (a bf16 model's logits would otherwise be rounded to bf16, ~0.1 nats at typical logit sizes) and
    normalized by a log-softmax in fp32; the weight is upcast once."""

    def __init__(self, model):
        self.weight = weight(model.get_output_embeddings()).float()  # an offloaded head's weight too
        self.cap = getattr(model.config.get_text_config(), "final_logit_softcapping", None)

    def __call__(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if self.weight.device != hidden.device:  # a model spread over devices ends where its last layer runs
            self.weight = self.weight.to(hidden.device)
        targets = targets.to(hidden.device)
        logits = torch.nn.functional.linear(hidden.float(), self.weight)
        if self.cap:
            logits = torch.tanh(logits / self.cap) * self.cap
        return torch.log_softmax(logits, dim=-1).gather(1, targets[:, None])[:, 0]


@torch.no_grad()
def _score_batch(
    model, head: Head, rows: Sequence[_Row], ctx_kv: list[tuple[torch.Tensor, torch.Tensor]], n_ctx: int
) -> list[list[float]]:
    """One forward for a group of rows packed into a single sequence; returns per-choice summed log-probs.

    Packing (batch dimension 1) lets every row attend to the one shared context cache without copying it; a
    tree mask keeps the rows, and the choices within a row, from seeing each other. Logits are computed only at
    the positions that predict a choice token, in fp32.
    """
    from transformers import DynamicCache

    p = _pack(rows, n_ctx, _sliding_window(model), input_device(model))
    cache = DynamicCache(ddp_cache_data=ctx_kv) if n_ctx else None
    hidden = model.base_model(
        input_ids=p.ids[None],
        position_ids=p.positions[None],
        attention_mask=_for_attention(model, p.mask),
        past_key_values=cache,
        use_cache=cache is not None,
    ).last_hidden_state
    token_lp = head(hidden[0, p.predictors.to(hidden.device)], p.targets)
    sums = torch.zeros(len(p.choice_segments) + len(rows), dtype=torch.float64, device=token_lp.device)
    sums.index_add_(0, p.segments.to(sums.device), token_lp.double())
    flat = sums[p.choice_segments.to(sums.device)].tolist()
    out_rows, k = [], 0
    for r in rows:
        out_rows.append(flat[k : k + len(r.choices)])
        k += len(r.choices)
    return out_rows


def _batches(rows: Sequence[_Row], batch_tokens: int, batch_size: int | None) -> list[list[_Row]]:
    """Rows by length, grouped greedily up to `batch_tokens` tokens (and `batch_size` rows) each."""
    out: list[list[_Row]] = []
    size = 0
    for r in sorted(rows, key=lambda r: r.length):
        if out and size + r.length <= batch_tokens and (batch_size is None or len(out[-1]) < batch_size):
            out[-1].append(r)
            size += r.length
        else:
            out.append([r])
            size = r.length
    return out


def score_questions(
    lm: LoadedModel,
    questions: Sequence[Question],
    context: str = "",
    *,
    batch_size: int | None = None,
    batch_tokens: int | None = None,
    calibrate: bool = False,
    calibration_prompt: str = DEFAULT_CALIBRATION_PROMPT,
    truncation: str = "error",
    progress: Callable[[int], None] | None = None,
) -> list[QuestionScore]:
    """Score every choice of every question after a shared `context`; see the module docstring.

    Each forward takes up to `batch_tokens` prompt and choice tokens (default by device: `default_batch_tokens`)
    and, if given, at most `batch_size` questions; neither changes the results. `truncation`: 'error' (default)
    refuses a context that does not fit the model's window; 'left' drops the context's earliest tokens until it
    fits. `calibrate` also scores each choice after `calibration_prompt` with no context (for the 'calibrated'
    normalization). `progress(n)` is called after every n questions scored.
    """
    if truncation not in TRUNCATIONS:
        raise UserError(f"unknown truncation {truncation!r}; choose one of {', '.join(TRUNCATIONS)}")
    if batch_size is not None and batch_size < 1:
        raise UserError("batch size must be at least 1")
    if batch_tokens is not None and batch_tokens < 1:
        raise UserError("batch tokens must be at least 1")
    if not questions:
        return []
    model = lm.model
    budget = batch_tokens or default_batch_tokens(lm.device)
    ctx_ids, rows = _layout(lm, questions, context, truncation)
    ctx_kv = _encode_context(model, ctx_ids, lm.device) if ctx_ids else []
    head = Head(model)
    logprobs: list[list[float]] = [[] for _ in questions]
    for batch in _batches(rows, budget, batch_size):
        for r, sums in zip(batch, _score_batch(model, head, batch, ctx_kv, len(ctx_ids))):
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
        for s, c in zip(scores, score_questions(lm, neutral, batch_size=batch_size, batch_tokens=batch_tokens)):
            s.calibration = c.logprobs
    return scores


def score_from_scratch(lm: LoadedModel, question: Question, context: str = "") -> list[float]:
    """Reference: each choice scored by its own full forward, no caching (for tests and benchmarks)."""
    out = []
    for choice in question.choices:
        ctx, cont = encode_pair(lm.tokenizer, context + question.prompt, choice)
        ctx = ctx or [_start_token(lm.tokenizer)]
        ids = torch.tensor([ctx + cont], device=lm.device)
        with torch.no_grad():
            logits = lm.model(input_ids=ids).logits[0, len(ctx) - 1 : -1].float()
        lp = torch.log_softmax(logits, dim=-1).gather(1, torch.tensor(cont, device=logits.device)[:, None])
        out.append(float(lp.sum()))
    return out
