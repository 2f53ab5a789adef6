"""Scoring speed and precision: iclft vs lm-evaluation-harness on an ICL workload, in the same run.

Workload: one shared context of ~2,000 tokens (nonsense facts), 100 questions x 4 choices, on the embedded model.
Both run on the same device and dtype (`--device`, `--dtype`). Prints
(1) iclft's speed ratio over lm-evaluation-harness's HF `loglikelihood`;
(2) each one's largest per-choice log-likelihood difference from an fp32 reference (lm-eval in fp32; in fp32 that
    is iclft vs lm-eval), and iclft's vs lm-eval's at the same dtype;
(3) iclft's time as a multiple of the lower bound: one forward over the context plus one forward over all prompt
    and choice tokens, each attending to the context, with logits only at the positions that predict a choice
    token (every method needs at least those);
(4) iclft's host overhead: its total time minus the time inside the model's calls (timed by wrapping the
    transformer's `forward` and the LM head, synchronizing the device around each call), as seconds and as a share
    of the total.
Goals (CPU): >= 20x, <= 1e-3 nats in fp32, iclft's bf16 error <= lm-eval's, <= 1.3x, host overhead <= 5% and
<= 0.2 s.

lm-evaluation-harness recomputes the whole context for every choice (~2,000 tokens x 400 forwards), which takes
tens of minutes on a 2-core CPU; `--lm-eval-questions K` times it on the first K questions only and extrapolates
linearly (reported as such). The default runs all of them. On a shared CPU, `--clock cpu` counts this process's
CPU seconds instead of wall seconds (steadier when other processes compete for the cores).

    python benchmarks/scoring.py [--questions 100] [--lm-eval-questions 100] [--context-tokens 2000]
                                 [--device cpu|cuda] [--dtype float32|bfloat16] [--batch-tokens N] [--clock cpu]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import random
import time
from unittest import mock

import torch

from iclft import models
from iclft.datasets.schema import Question
from iclft.scoring import Head, score_questions
from iclft.tokenization import encode_pair

FEATURES = [("heavier", "lighter"), ("brighter", "dimmer"), ("faster", "slower"), ("louder", "quieter"),
            ("older", "younger"), ("warmer", "colder"), ("taller", "shorter"), ("stronger", "weaker")]


def nonsense_words(rng: random.Random, n: int) -> list[str]:
    onsets, vowels, codas = ["b", "d", "f", "gl", "k", "pl", "sn", "tr", "v", "z"], "aeiou", ["mp", "n", "rk", "sh", "x"]
    words: set[str] = set()
    while len(words) < n:
        words.add(rng.choice(onsets) + rng.choice(vowels) + rng.choice(codas))
    return sorted(words)


def workload(tokenizer, n_questions: int, context_tokens: int, seed: int = 0) -> tuple[str, list[Question]]:
    """A context of facts 'X are heavier than Y.' of about `context_tokens` tokens, and 4-way questions about them."""
    rng = random.Random(seed)
    words = nonsense_words(rng, 40)
    facts, context = [], ""
    while len(tokenizer.encode(context)) < context_tokens:
        a, b = rng.sample(words, 2)
        more, less = rng.choice(FEATURES)
        facts.append((a, b, more, less))
        context += f"{a.capitalize()} are {more} than {b}. "
    context = context.strip() + "\n\n"
    questions = []
    for i in range(n_questions):
        a, b, more, less = facts[i % len(facts)]
        other = rng.choice([w for w in words if w not in (a, b)])
        choices = [f" {less} than {a}.", f" {more} than {a}.", f" {less} than {other}.", f" {more} than {other}."]
        questions.append(Question(id=f"q{i}", prompt=f"Question {i + 1}. {b.capitalize()} are", choices=choices,
                                  answer=0))
    return context, questions


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class ForwardTimer:
    """Times the model's work in iclft's scorer: every call of the transformer (`model.base_model.forward`) and of
    the fp32 LM head (`scoring.Head.__call__`), synchronizing the device around each; host work = wall - these."""

    def __init__(self, model):
        self.device, self.seconds, self.calls = model.device, 0.0, 0
        self.targets = [(model.base_model, "forward"), (Head, "__call__")]
        self.stack = contextlib.ExitStack()

    def _timed(self, inner):
        @functools.wraps(inner)
        def timed(*args, **kwargs):
            _sync(self.device)
            start = clock()
            out = inner(*args, **kwargs)
            _sync(self.device)
            self.seconds += clock() - start
            self.calls += 1
            return out

        return timed

    def __enter__(self) -> ForwardTimer:
        for obj, name in self.targets:
            self.stack.enter_context(mock.patch.object(obj, name, self._timed(getattr(obj, name))))
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()


def time_iclft(lm, context, questions, batch_tokens: int | None) -> tuple[float, float, int, list[list[float]]]:
    """(wall seconds, seconds inside the model's calls, model calls, scores)."""
    with ForwardTimer(lm.model) as timer:
        _sync(lm.model.device)
        start = clock()
        scores = score_questions(lm, questions, context, batch_tokens=batch_tokens)
        _sync(lm.model.device)
        elapsed = clock() - start
    return elapsed, timer.seconds, timer.calls, [s.logprobs for s in scores]


def time_lower_bound(lm, context, questions, chunk: int = 256) -> tuple[float, int, int]:
    """One forward over the context, then one over all prompt and choice tokens, each attending to the context.

    Every method must at least run the model over these tokens once with the context in view, and compute logits
    where a choice token is predicted. They go in chunks of `chunk` tokens, each a fresh continuation of the
    context cache, so the bound carries no attention between unrelated questions; each chunk computes as many
    logits as it holds choice tokens.
    """
    from transformers import DynamicCache

    tok, device = lm.tokenizer, lm.model.device
    ctx_ids = tok.encode(context, add_special_tokens=False)
    flat: list[int] = []
    scored: list[bool] = []
    for q in questions:
        prefix, _ = encode_pair(tok, context + q.prompt, q.choices[0])
        head = prefix[len(ctx_ids):] or prefix[-1:]
        conts = [t for c in q.choices for t in encode_pair(tok, context + q.prompt, c)[1]]
        flat += head + conts
        scored += [False] * len(head) + [True] * len(conts)
    with torch.no_grad():
        _sync(device)
        start = clock()
        cache = DynamicCache()
        lm.model(input_ids=torch.tensor([ctx_ids], device=device), past_key_values=cache, use_cache=True,
                 logits_to_keep=1)
        ctx_kv = [(layer.keys, layer.values) for layer in cache.layers]
        for i in range(0, len(flat), chunk):
            lm.model(input_ids=torch.tensor([flat[i:i + chunk]], device=device),
                     past_key_values=DynamicCache(ddp_cache_data=ctx_kv), use_cache=True,
                     logits_to_keep=max(sum(scored[i:i + chunk]), 1))
        _sync(device)
        return clock() - start, len(ctx_ids), len(flat)


def time_lm_eval(path, context, questions, batch_size: int, device: str, dtype: str
                 ) -> tuple[float, list[list[float]]]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    harness = HFLM(pretrained=str(path), device=device, dtype=dtype, batch_size=batch_size)
    requests = [
        Instance(request_type="loglikelihood", doc={}, arguments=(context + q.prompt, c), idx=j)
        for q in questions for j, c in enumerate(q.choices)
    ]
    _sync(device)
    start = clock()
    results = harness.loglikelihood(requests, disable_tqdm=True)
    _sync(device)
    elapsed = clock() - start
    flat = [lp for lp, _ in results]
    out, k = [], 0
    for q in questions:
        out.append(flat[k:k + len(q.choices)])
        k += len(q.choices)
    del harness
    return elapsed, out


def max_diff(a: list[list[float]], b: list[list[float]]) -> float:
    return max(abs(x - y) for sa, sb in zip(a, b) for x, y in zip(sa, sb))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=models.DEFAULT_MODEL)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--context-tokens", type=int, default=2000)
    ap.add_argument("--lm-eval-questions", type=int, default=None, help="time lm-eval on the first K (default: all)")
    ap.add_argument("--device", default=None, help="cpu, cuda (default: cuda if present)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--batch-tokens", type=int, default=None, help="iclft tokens per forward (default: by device)")
    ap.add_argument("--lm-eval-batch-size", type=int, default=4)
    ap.add_argument("--clock", choices=list(CLOCKS), default="wall",
                    help="cpu: this process's CPU seconds (all threads), steadier than wall time on a shared CPU")
    args = ap.parse_args()
    global clock
    clock = CLOCKS[args.clock]

    device = models.pick_device(args.device)
    lm = models.load(args.model, device=device, dtype=args.dtype)
    context, questions = workload(lm.tokenizer, args.questions, args.context_tokens)
    score_questions(lm, questions[:2], context[:200])  # warm-up
    t_iclft, t_forward, n_forward, ours = time_iclft(lm, context, questions, args.batch_tokens)
    t_bound, n_ctx, n_qtok = time_lower_bound(lm, context, questions)
    k = min(args.lm_eval_questions or args.questions, args.questions)
    t_harness_k, theirs = time_lm_eval(lm.path, context, questions[:k], args.lm_eval_batch_size, device, args.dtype)
    t_harness = t_harness_k * args.questions / k
    if args.dtype == "float32":
        reference = theirs
    else:
        _, reference = time_lm_eval(lm.path, context, questions[:k], args.lm_eval_batch_size, device, "float32")
    host = t_iclft - t_forward

    n_choices = sum(len(q.choices) for q in questions)
    print(f"device: {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'}), "
          f"dtype {args.dtype}, torch threads {torch.get_num_threads()}, clock {args.clock}")
    print(f"workload: {args.model}, context {n_ctx} tokens, {args.questions} questions x 4 choices "
          f"({n_choices} continuations, {n_qtok} prompt+choice tokens)")
    print(f"iclft:                 {t_iclft:8.2f} s ({n_forward} model calls, {t_forward:.2f} s inside them)")
    measured = f"measured on {k} questions, scaled x{args.questions / k:.1f}" if k < args.questions else "measured"
    print(f"lm-evaluation-harness: {t_harness:8.2f} s ({measured})")
    print(f"lower bound:           {t_bound:8.2f} s (context forward + one forward over all question tokens, "
          "attending to it, logits where a choice token is predicted)")
    print(f"speed ratio vs lm-evaluation-harness: {t_harness / t_iclft:.1f}x   (goal >= 20x)")
    print(f"iclft / lower bound:                  {t_iclft / t_bound:.2f}x   (goal <= 1.3x)")
    print(f"iclft host overhead:                  {host:.3f} s = {100 * host / t_iclft:.1f}% of iclft's time   "
          "(goal <= 5%, <= 0.2 s)")
    print(f"largest per-choice difference over {k * 4} choices, iclft vs lm-eval at {args.dtype}: "
          f"{max_diff(ours[:k], theirs):.2e} nats" + ("   (goal <= 1e-3)" if args.dtype == "float32" else ""))
    if args.dtype != "float32":
        print(f"  from the fp32 reference (lm-eval, fp32): iclft {max_diff(ours[:k], reference):.2e} nats, "
              f"lm-eval {max_diff(theirs, reference):.2e} nats   (goal: iclft <= lm-eval)")


if __name__ == "__main__":
    main()
