"""This machine timed: the rates of a study's model at the dtype and precision its cells resolve to.

`measure()` times the work a study does (15-30 s on a quiet 2-core CPU, once per machine): a training step of the real
fine-tuning loop (`finetune.train`, HF Trainer) at two batch sizes (a fixed cost per optimizer step plus a cost per
token), a forward over a batch of question tokens with and without a long context before it (how scoring per token
grows with the context), the context's prefill, and a few generated tokens (their difference over two generation
lengths). The figures are cached per (device: CPU model and flags or GPU name, torch threads, model, dtype, precision)
under `cache_dir()/cost/`, so a repeated dry run costs nothing. A model too large to time on a CPU (over
`MEASURE_MAX_PARAMS_CPU`) is priced from the embedded model's figures scaled by parameter count.
"""

from __future__ import annotations

import hashlib
import json
import math
import platform
import struct
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from iclft import models
from iclft.study.rates import REFERENCE, REFERENCE_PARAMS, Rates, reference

COST_VERSION = 2  # bump when what is measured changes (cached figures are keyed with it)
MEASURE_MAX_PARAMS_CPU = 500e6  # larger models are priced on a CPU from the embedded model's figures, scaled


def parameter_count(model_path: str) -> int:
    """Parameters of a model folder, from its safetensors headers (no weights are read)."""
    total = 0
    for f in sorted(models.resolve(model_path).glob("*.safetensors")):
        with open(f, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        total += sum(math.prod(v["shape"]) for k, v in header.items() if k != "__metadata__")
    return total or int(REFERENCE_PARAMS)


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
