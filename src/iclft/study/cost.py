"""What a cell costs: its `cells.Estimate` (tokens trained, scored, generated) priced in seconds on this machine.

`estimate(grid)` fills every cell's `Estimate` (from its work plan, `cells.Work.estimate`) and its seconds.
`measure()` times the work a study does, on its model at the dtype and precision its cells resolve to (15-30 s on a
quiet 2-core CPU, once per machine): a training step of the real fine-tuning loop (`finetune.train`, HF Trainer) at two batch sizes (a fixed cost
per optimizer step plus a cost per token), a forward over a batch of question tokens with and without a long context
before it (how scoring per token grows with the context), the context's prefill, and a few generated tokens (their
difference over two generation lengths). The figures are cached per (device: CPU model and flags or GPU name, torch
threads, model, dtype, precision) under `cache_dir()/cost/`, so a repeated dry run costs nothing. A model too large to
time on a CPU (over `MEASURE_MAX_PARAMS_CPU`) is priced from the embedded model's figures scaled by parameter count.

`ICLFT_COST=reference` prices with `REFERENCE` (the figures of the project's reference machine: 2 CPU threads, fp32,
SmolLM2-135M, bf16 by fixed speedups), for tests and byte-stable output.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import struct
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iclft import models
from iclft.cells import Estimate, Job
from iclft.precision import resolve as resolve_precision

if TYPE_CHECKING:
    from iclft.study.grid import Cell, Grid

COST_VERSION = 2  # bump when what is measured changes (cached figures are keyed with it)
REFERENCE_PARAMS = 135e6
SETUP_SECONDS = 2.0  # bookkeeping per cell (the base model stays loaded across cells)
MEASURE_MAX_PARAMS_CPU = 500e6  # larger models are priced on a CPU from the embedded model's figures, scaled
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


# ------------------------------------------------------------------ pricing


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


def gpu_hours(p: Grid, cells: list[Cell], tflops: float) -> tuple[float, float]:
    """Total FLOPs of a grid's cells and the GPU-hours they take at `tflops` effective TFLOP/s per GPU."""
    total = sum(flops(c.estimate, p.params[c.model]) for c in cells if c.estimate)
    return total, total / (tflops * 1e12) / 3600


def fmt_seconds(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def parameter_count(model_path: str) -> int:
    """Parameters of a model folder, from its safetensors headers (no weights are read)."""
    total = 0
    for f in sorted(models.resolve(model_path).glob("*.safetensors")):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return total or int(REFERENCE_PARAMS)


# ------------------------------------------------------------------ measuring


def machine(device: str | None = None) -> str:
    """This machine as timing depends on it: the GPU's name, or the CPU's model and flags; with torch's threads."""
    import torch

    dev = models.pick_device(device)
    if dev.startswith("cuda"):
        name = torch.cuda.get_device_name(torch.device(dev))
    else:
        model, flags = "", ""
        try:
            for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
                key, _, value = line.partition(":")
                if key.strip() == "model name" and not model:
                    model = value.strip()
                elif key.strip() == "flags" and not flags:
                    flags = hashlib.sha256(" ".join(sorted(value.split())).encode()).hexdigest()[:12]
        except OSError:
            pass
        name = f"{model or platform.machine()} flags:{flags or '?'}"
    return f"{name}; {dev}; torch {torch.__version__}; {torch.get_num_threads()} threads"


@dataclass
class Measurement:
    rates: Rates
    model: str  # the model measured (the study's, or the embedded one scaled by parameters)
    seconds: float  # how long measuring took (when reused: the stored figure)
    reused: bool


def _cache_file(key: dict[str, Any]) -> Path:
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return models.cache_dir() / "cost" / f"{digest}.json"


def measure(model: str, dtype: str, precision: str, device: str | None = None, *, train: bool = True,
            generate: bool = True) -> Measurement:
    """Rates of `model` on this machine at scoring `dtype` and training `precision` (cached; see the module doc).
    `train` / `generate`: whether to time those (else the reference machine's figures, scaled to this one's scoring
    speed, stand in)."""
    params = parameter_count(model)
    dev = models.pick_device(device)
    measured = model
    if dev == "cpu" and params > MEASURE_MAX_PARAMS_CPU:
        measured = models.DEFAULT_MODEL
    key = {"version": COST_VERSION, "machine": machine(device), "model": str(models.resolve(measured).resolve()),
           "params": parameter_count(measured), "dtype": dtype, "precision": precision}
    path = _cache_file(key)
    if path.exists():
        try:
            doc = json.loads(path.read_text())
            if (doc["trained"] or not train) and (doc["generated"] or not generate):
                return Measurement(Rates(**doc["rates"]), measured, float(doc["seconds"]), True)
            train, generate = train or doc["trained"], generate or doc["generated"]
        except (ValueError, KeyError, TypeError):
            pass  # a stale or foreign file: measure again
    t0 = time.perf_counter()
    rates = _measure(measured, dtype, precision, device, train, generate)
    seconds = time.perf_counter() - t0
    from iclft.io import write_json

    write_json(path, {"key": key, "rates": asdict(rates), "seconds": round(seconds, 3), "trained": train,
                      "generated": generate})
    return Measurement(rates, measured, seconds, False)


class _Clock:
    """Wall time of a block, waiting for an accelerator's queued work."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def now(self) -> float:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
        return time.perf_counter()


def _questions(n: int, words: int = 6):
    """`n` synthetic questions (a prompt and two choices of common words), a few dozen tokens each."""
    from iclft.datasets.schema import Question

    vocab = ("river stone market garden winter yellow quiet bright north engine silver forest window paper "
             "little morning").split()
    out = []
    for i in range(n):
        w = [vocab[(i * 7 + j * 3) % len(vocab)] for j in range(words * 3)]
        out.append(Question(id=f"q{i}", prompt=f"The {' '.join(w[:words])} is",
                            choices=[" " + " ".join(w[words:2 * words]) + ".", " " + " ".join(w[2 * words:]) + "."],
                            answer=0))
    return out


def _measure(model: str, dtype: str, precision: str, device: str | None, train: bool, generate: bool) -> Rates:
    from iclft import tokens
    from iclft.scoring import likelihood as scoring

    dev = models.pick_device(device)
    clock = _Clock(dev)
    t = clock.now()
    lm = models.load(model, device=device, dtype=dtype)
    load_seconds = clock.now() - t
    tok = lm.tokenizer
    cpu = dev == "cpu"
    budget = scoring.default_batch_tokens(dev)
    qs = _questions(budget // 40)  # about one forward's worth of question tokens
    q_tokens = tokens.question_tokens(tok, qs)
    ctx_len = 2048 if cpu else 4096  # a long context, as ICL cells read (the prefill is timed on its own)
    sentence = " ".join(f"{q.prompt}{q.choices[0]}" for q in qs)
    ctx_ids = tok.encode(" ".join([sentence] * (1 + ctx_len // 100)), add_special_tokens=False)[:ctx_len]
    context = tok.decode(ctx_ids)
    scoring.score_questions(lm, qs[:4])  # warm-up (first-call allocations)

    def timed(fn) -> float:
        t0 = clock.now()
        fn()
        return clock.now() - t0

    plain = timed(lambda: scoring.score_questions(lm, qs))
    ctx_ids = scoring._layout(lm, qs[:1], context, "error")[0]
    prefill = timed(lambda: scoring._encode_context(lm.model, ctx_ids, lm.model.device))
    with_ctx = timed(lambda: scoring.score_questions(lm, qs, context)) - prefill
    score_rate = q_tokens / plain
    growth = with_ctx / plain - 1
    attention = len(ctx_ids) / growth if growth > 0.02 else len(ctx_ids) * 50.0  # no measurable growth: tiny
    rates = replace(REFERENCE, score_tokens_per_s=score_rate, prefill_tokens_per_s=len(ctx_ids) / prefill,
                    attention_tokens=attention, params=parameter_count(model))
    speed = score_rate / reference(dtype).score_tokens_per_s  # this machine against the reference, when not timed
    rates = replace(rates, generate_tokens_per_s=REFERENCE.generate_tokens_per_s * speed)
    if generate:
        rates = replace(rates, generate_tokens_per_s=_generation_rate(lm, clock))
    if train:
        del lm
        rates = _training_rates(rates, model, precision, device, clock, load_seconds)
    else:
        ref = reference(dtype, precision)
        rates = replace(rates, train_tokens_per_s=ref.train_tokens_per_s * speed, step_seconds=ref.step_seconds / speed)
    return rates


def _generation_rate(lm, clock: _Clock, rows: int = 32, prompt: int = 16, new: int = 4) -> float:
    """New tokens per second of batched greedy generation: two lengths, so the prompts' prefill cancels. `rows`: as
    the local generator batches augmentation prompts of ~500 tokens (GENERATE_TOKENS // 512 rows): a decoding step's
    cost is mostly fixed on a CPU, so the rate grows with the rows generated together."""
    import torch

    ids = torch.tensor([[(13 + 101 * r + 7 * i) % 5000 + 100 for i in range(prompt)] for r in range(rows)],
                       device=lm.model.device)
    pad = lm.tokenizer.pad_token_id

    def run(n: int) -> float:
        t0 = clock.now()
        with torch.inference_mode():
            lm.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                              do_sample=False, pad_token_id=pad)
        return clock.now() - t0

    short, long = run(1), run(1 + new)
    if long - short < 0.2 * long:  # noise (a busy machine) swamped the difference: count every step as decoding
        return rows * (1 + new) / long
    return rows * new / (long - short)


def _training_rates(rates: Rates, model: str, precision: str, device: str | None, clock: _Clock,
                    load_seconds: float) -> Rates:
    """Seconds per optimizer step of the real fine-tuning loop at two batch sizes (a few steps each, the first
    dropped): the fixed cost per step and the cost per token. Plus a fine-tuning cell's fixed costs: loading
    the fp32 weights, the trainer's set-up and first step beyond a usual one, writing the weights and loading them
    to score."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from iclft.learners.finetune import FTOptions, train

    path = models.resolve(model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    t0 = clock.now()
    net = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).to(models.pick_device(device))
    fp32_load = clock.now() - t0
    points = []
    for length, batch in ((8, 2), (32, 4)):  # 16 and 128 tokens a step
        features = [{"input_ids": [(100 + 37 * i + 11 * b) % 5000 + 100 for i in range(length)],
                     "labels": [(100 + 37 * i + 11 * b) % 5000 + 100 for i in range(length)],
                     "attention_mask": [1] * length} for b in range(batch * 4)]
        stamps: list[float] = []

        class _Stamps:
            def start(self, description: str, total: int) -> None:
                stamps.append(clock.now())

            def advance(self, n: int = 1) -> None:
                stamps.append(clock.now())

        opts = FTOptions(max_steps=3, batch_size=batch, precision=precision, lr=1e-5)
        called = clock.now()
        with tempfile.TemporaryDirectory(prefix="iclft-cost-") as work:
            train(net, tokenizer, features, opts, 0, Path(work), _Stamps(), device)
        # stamps: the loop's start, then each step's end; the first step (allocations, the optimizer's state) is
        # a fixed cost of the run, like the trainer's set-up before the loop
        seconds = min(b - a for a, b in zip(stamps[2:], stamps[3:]))
        points.append((length * batch, seconds, stamps[2] - called - seconds))
    (n1, s1, fixed1), (n2, s2, fixed2) = points
    per_token = (s2 - s1) / (n2 - n1)
    if per_token <= 0.1 * s2 / n2:  # noise (a busy machine) swamped the difference: all of a step is per token
        per_token = s2 / n2
    step = max(s1 - per_token * n1, 0.0)
    t0 = clock.now()
    with tempfile.TemporaryDirectory(prefix="iclft-cost-") as work:
        net.save_pretrained(work)
        saved = clock.now() - t0
    return replace(rates, train_tokens_per_s=1 / per_token, step_seconds=step,
                   ft_seconds=fp32_load + min(fixed1, fixed2) + saved + load_seconds)


class Pricing:
    """Rates per (model, dtype, precision) for a study's cells: this machine's, measured once and cached
    (`measured=True`, unless ICLFT_COST=reference), or the reference machine's."""

    def __init__(self, measured: bool = True, device: str | None = None):
        self.measured = measured and not use_reference()
        self.device = device
        self.measurements: dict[tuple[str, str, str], Measurement] = {}

    def rates(self, model: str, dtype: str, precision: str, *, train: bool = True, generate: bool = True) -> Rates:
        if not self.measured:
            return reference(dtype, precision)
        key = (model, dtype, precision)
        if key not in self.measurements:
            self.measurements[key] = measure(model, dtype, precision, self.device, train=train, generate=generate)
        return self.measurements[key].rates

    def summary(self) -> str:
        """One line: where the rates come from (measured now, reused, or the reference machine)."""
        if not self.measured:
            return "priced at the reference machine's rates (ICLFT_COST=reference: 2 CPU threads, SmolLM2-135M)"
        parts = []
        for (model, dtype, prec), m in self.measurements.items():
            how = (f"reused this machine's timing (measured in {m.seconds:.1f} s)" if m.reused
                   else f"timed this machine in {m.seconds:.1f} s")
            scaled = f", scaled from {m.model} by parameters" if m.model != model else ""
            parts.append(f"{Path(model).name} {dtype}/{prec}: {how}{scaled}")
        return "; ".join(parts) or "nothing to price"


def calibration_tokens(job: Job) -> int:
    """Tokens of the calibrated normalization's second pass: each question's choices after the neutral prompt."""
    from iclft import tokens
    from iclft.scoring.likelihood import DEFAULT_CALIBRATION_PROMPT

    neutral = [q.model_copy(update={"prompt": DEFAULT_CALIBRATION_PROMPT}) for q in job.questions]
    return tokens.question_tokens(tokens.tokenizer(job.model), neutral)


def estimate(p: Grid, cells: list[Cell] | None = None, pricing: Pricing | None = None) -> None:
    """Fill each cell's work estimate and its seconds, priced by `pricing` (default: the reference machine's
    rates; `Pricing(measured=True)` times this machine). Cells that do not train are priced with the rates of
    the precision their study's training resolves to, so one measurement serves a model and dtype."""
    pricing = pricing or Pricing(measured=False)
    todo = cells if cells is not None else p.cells
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in todo:
        cell.estimate = cell.learner.plan(cell.job, cell.options).estimate()
        if cell.job.calibrate:  # every question's choices scored again after the neutral prompt (a study setting)
            cell.estimate.calibration_tokens = calibration_tokens(cell.job)
        if cell.model not in p.params:
            p.params[cell.model] = parameter_count(cell.job.model)
        groups.setdefault((cell.job.model, cell.job.dtype), []).append(cell)
    for (model, dtype), group in groups.items():
        trained = {c.estimate.precision for c in group if c.estimate.train_steps}
        first = sorted(trained)[0] if trained else resolve_precision("auto", p.study.config.device)
        generate = any(c.estimate.generate_tokens for c in group)
        rates = {prec: pricing.rates(model, dtype, prec, train=prec in trained, generate=generate)
                 for prec in sorted(trained | {first})}
        for c in group:
            c.rates = rates.get(c.estimate.precision, rates[first])
            c.seconds = cell_seconds(c.estimate, p.params[c.model], dtype, c.rates)
