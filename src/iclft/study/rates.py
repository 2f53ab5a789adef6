"""A machine's throughput (`Rates`) and a cell's `Estimate` priced with it: seconds per phase, FLOPs.

The reference machine's rates (`REFERENCE`) stand in where nothing was measured (`ICLFT_COST=reference`: tests and
byte-stable output); `iclft.study.timing` measures this machine's.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from iclft.cells import Estimate

REFERENCE_PARAMS = 135e6
SETUP_SECONDS = 2.0  # bookkeeping per cell (the base model stays loaded across cells)
# Training in bf16 mixed precision vs fp32 on the reference CPU (AVX512-BF16): real tokens per CPU-second of the
# training loop, median of 3 interleaved runs (benchmarks/precision.py: 112.5 vs 81.4, 1.38x); scoring with bf16
# weights: 765 vs 510 prompt+choice tokens/s (one process, side by side), 1.5x.
BF16_TRAIN_SPEEDUP = 1.4
BF16_SCORE_SPEEDUP = 1.5


@dataclass(frozen=True)
class Rates:
    """Throughput of one model on one machine at one dtype (scoring, generation) and precision (training).

    Training: `step_seconds` per optimizer step plus a token at `train_tokens_per_s`. Scoring: a question token at
    `score_tokens_per_s`, times (1 + context / `attention_tokens`) after a context; a context's own tokens run once
    at `prefill_tokens_per_s`. Generation: `generate_tokens_per_s` per new token (rows of a batch together), times
    (1 + prompt / `attention_tokens`) as it reads a longer prompt.
    `ft_seconds`: fixed cost of a fine-tuning cell (loading the fp32 weights, the trainer, saving, reloading).
    """

    train_tokens_per_s: float
    step_seconds: float
    score_tokens_per_s: float
    prefill_tokens_per_s: float
    attention_tokens: float
    generate_tokens_per_s: float
    ft_seconds: float = 0.0
    setup_seconds: float = SETUP_SECONDS
    params: int = int(REFERENCE_PARAMS)  # of the model measured; other models scale by their parameter count


# The reference machine (fp32), fitted on the quick study's cells as measured at commit d031bc2 (2026-11-30; bf16
# on that CPU, divided by the speedups above): full fine-tuning ~135 tokens/s plus a fixed cost per optimizer step
# (AdamW over every weight, the weights' casts, dense embedding gradients); scoring ~500 question tokens/s, a
# question after a 1,200-token context costing twice as much per token; a context's prefill (one long batch) ~870
# tokens/s; generation ~200 new tokens/s on local-augmentation prompts (96 prompts, 96 new tokens at most).
REFERENCE = Rates(train_tokens_per_s=135.0, step_seconds=0.5, score_tokens_per_s=500.0, prefill_tokens_per_s=870.0,
                  attention_tokens=1200.0, generate_tokens_per_s=200.0)


def reference(dtype: str = "float32", precision: str = "fp32") -> Rates:
    """The reference machine's rates at a scoring dtype and a training precision (fixed bf16 speedups)."""
    t = BF16_TRAIN_SPEEDUP if precision == "bf16" else 1.0
    s = BF16_SCORE_SPEEDUP if dtype == "bfloat16" else 1.0
    r = REFERENCE
    return replace(r, train_tokens_per_s=r.train_tokens_per_s * t, step_seconds=r.step_seconds / t,
                   score_tokens_per_s=r.score_tokens_per_s * s, prefill_tokens_per_s=r.prefill_tokens_per_s * s)


def use_reference() -> bool:
    return os.environ.get("ICLFT_COST", "").strip().lower() == "reference"


def phase_seconds(est: Estimate, params: int, dtype: str = "float32", rates: Rates | None = None) -> dict[str, float]:
    """Seconds per phase of a cell's work: training at its precision, scoring and generating with weights in `dtype`
    (resolved). `rates`: measured for this model, dtype and precision (default: the reference machine's)."""
    r = rates or reference(dtype, est.precision)
    scale = params / r.params
    question = est.score_tokens - est.prefill_tokens
    return {
        "training": scale * (est.train_tokens / r.train_tokens_per_s + est.train_steps * r.step_seconds)
        + (r.ft_seconds * scale if est.train_steps else 0.0),
        "scoring": scale * (question / r.score_tokens_per_s * (1 + est.context_tokens / r.attention_tokens)
                            + est.prefill_tokens / r.prefill_tokens_per_s
                            + est.calibration_tokens / r.score_tokens_per_s),  # no context: no attention cost
        "generating": scale * est.generate_tokens / r.generate_tokens_per_s * (1 + est.generate_context_tokens
                                                                              / r.attention_tokens),
    }


def cell_seconds(est: Estimate, params: int, dtype: str = "float32", rates: Rates | None = None) -> float:
    """A cell's estimated seconds: its phases plus the fixed bookkeeping."""
    r = rates or reference(dtype, est.precision)
    return r.setup_seconds + sum(phase_seconds(est, params, dtype, r).values())


def flops(est: Estimate, params: int) -> float:
    """Floating-point operations of a cell: 6 per parameter per trained token, 2 per scored or generated one
    (the usual transformer approximation; attention over long contexts and padding come on top)."""
    return params * (6.0 * est.train_tokens + 2.0 * (est.score_tokens + est.calibration_tokens + est.generate_tokens))


def fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"
