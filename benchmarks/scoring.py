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

`--random-model 1.2b` times a randomly initialised Llama-shaped model of that size (random weights are fine for
timing; SmolLM2's tokenizer), saved to a temporary folder so both scorers load the same weights. In bf16 the fp32
reference is lm-eval in fp32 (`--reference lm-eval`, default) or iclft in fp32 (`--reference iclft`: cheaper for
large models; in fp32 iclft equals lm-eval to ~1e-5 nats, which the fp32 run of this benchmark checks). The last
line is the result as JSON.

    python benchmarks/scoring.py [--questions 100] [--lm-eval-questions 100] [--context-tokens 2000]
                                 [--device cpu|cuda] [--dtype float32|bfloat16] [--batch-tokens N] [--clock cpu]
                                 [--random-model 1.2b] [--reference lm-eval|iclft] [--lm-eval-batch-size 32]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import random
import tempfile
import time
from unittest import mock

import torch

from iclft import models
from iclft.datasets.schema import Question
from iclft.scoring.likelihood import Head, score_questions
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


# Llama-shaped sizes for `--random-model` (hidden, intermediate, layers, heads, kv heads), as Llama-3.2-1B / 3B
# and Llama-3-8B (its layers; the vocabulary is SmolLM2's).
RANDOM_SHAPES = {"1.2b": (2048, 8192, 16, 32, 8), "3b": (3072, 8192, 28, 24, 8), "8b": (4096, 14336, 32, 32, 8),
                 "tiny": (256, 512, 2, 4, 2)}


def random_model(size: str, tokenizer_from: str, folder: str, context_tokens: int, device: str = "cpu") -> str:
    """A randomly initialised Llama-shaped model of `size` in bf16 (initialised on `device`), with
    `tokenizer_from`'s tokenizer, saved to `folder` (its path is returned)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    hidden, inter, layers, heads, kv = RANDOM_SHAPES[size]
    tokenizer = models.load(tokenizer_from, device="cpu").tokenizer
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=inter,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                         max_position_embeddings=max(8192, 2 * context_tokens), tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(0)
    torch.set_default_dtype(torch.bfloat16)  # initialised in bf16 where it is built: an 8B model in fp32 is 30 GB
    try:
        with torch.device(device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(torch.float32)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


class ForwardTimer:
    """Times the model's work in iclft's scorer: every call of the transformer (`model.base_model.forward`) and of
    the fp32 LM head and its log-softmax (`scoring.Head.__call__`), synchronizing the device around each; host work =
    wall - these."""

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


def mean_diff(a: list[list[float]], b: list[list[float]]) -> float:
    diffs = [abs(x - y) for sa, sb in zip(a, b) for x, y in zip(sa, sb)]
    return sum(diffs) / len(diffs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=models.DEFAULT_MODEL)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--context-tokens", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0, help="seed of the nonsense workload")
    ap.add_argument("--lm-eval-questions", type=int, default=None, help="time lm-eval on the first K (default: all)")
    ap.add_argument("--device", default=None, help="cpu, cuda (default: cuda if present)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    ap.add_argument("--batch-tokens", type=int, default=None, help="iclft tokens per forward (default: by device)")
    ap.add_argument("--also-batch-tokens", type=int, nargs="*", default=[],
                    help="also time iclft at these tokens per forward (reported beside, not in the ratios)")
    ap.add_argument("--lm-eval-batch-size", type=int, default=4)
    ap.add_argument("--random-model", choices=list(RANDOM_SHAPES), default=None,
                    help="time a randomly initialised Llama-shaped model of this size instead of --model")
    ap.add_argument("--reference", choices=["lm-eval", "iclft"], default="lm-eval",
                    help="what computes the fp32 reference for a bf16 run")
    ap.add_argument("--clock", choices=list(CLOCKS), default="wall",
                    help="cpu: this process's CPU seconds (all threads), steadier than wall time on a shared CPU")
    args = ap.parse_args()
    global clock
    clock = CLOCKS[args.clock]

    device = models.pick_device(args.device)
    tmp = tempfile.TemporaryDirectory()
    model = random_model(args.random_model, args.model, tmp.name, args.context_tokens, device) if args.random_model \
        else args.model
    lm = models.load(model, device=device, dtype=args.dtype)
    model = str(lm.path)  # a folder, for lm-eval (a registry name is iclft's alone)
    context, questions = workload(lm.tokenizer, args.questions, args.context_tokens, args.seed)
    score_questions(lm, questions[:2], context[:200])  # warm-up
    t_iclft, t_forward, n_forward, ours = time_iclft(lm, context, questions, args.batch_tokens)
    also = {n: time_iclft(lm, context, questions, n)[0] for n in args.also_batch_tokens}
    t_bound, n_ctx, n_qtok = time_lower_bound(lm, context, questions)
    k = min(args.lm_eval_questions or args.questions, args.questions)
    t_harness_k, theirs = time_lm_eval(model, context, questions[:k], args.lm_eval_batch_size, device, args.dtype)
    t_harness = t_harness_k * args.questions / k
    if args.dtype == "float32":
        reference = theirs
    elif args.reference == "iclft":
        del lm
        lm32 = models.load(model, device=device, dtype="float32")
        reference = [s.logprobs for s in score_questions(lm32, questions[:k], context)]
        del lm32
    else:
        _, reference = time_lm_eval(model, context, questions[:k], args.lm_eval_batch_size, device, "float32")
    host = t_iclft - t_forward

    n_choices = sum(len(q.choices) for q in questions)
    print(f"device: {device} ({torch.cuda.get_device_name() if device.startswith('cuda') else 'CPU'}), "
          f"dtype {args.dtype}, torch threads {torch.get_num_threads()}, clock {args.clock}")
    print(f"workload: {args.random_model or args.model}, context {n_ctx} tokens, {args.questions} questions x 4 "
          f"choices ({n_choices} continuations, {n_qtok} prompt+choice tokens)")
    print(f"iclft:                 {t_iclft:8.2f} s ({n_forward} model calls, {t_forward:.2f} s inside them)")
    for n, t in also.items():
        print(f"iclft at {n} tokens per forward: {t:8.2f} s")
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
        print(f"  from the fp32 reference ({args.reference}, fp32), largest: "
              f"iclft {max_diff(ours[:k], reference):.2e} nats, "
              f"lm-eval {max_diff(theirs, reference):.2e} nats   (goal: iclft <= lm-eval)")
        print(f"  from the fp32 reference, mean:    iclft {mean_diff(ours[:k], reference):.2e} nats, "
              f"lm-eval {mean_diff(theirs, reference):.2e} nats   (reference: {args.reference}, fp32)")
    result = {
        "device": device, "dtype": args.dtype, "model": args.random_model or args.model, "context_tokens": n_ctx,
        "questions": args.questions, "iclft_s": t_iclft, "lm_eval_s": t_harness, "lm_eval_questions": k,
        "lower_bound_s": t_bound, "ratio": t_harness / t_iclft, "bound_ratio": t_iclft / t_bound,
        "host_s": host, "host_share": host / t_iclft, "diff_vs_lm_eval": max_diff(ours[:k], theirs),
        "batch_tokens": args.batch_tokens, "also_batch_tokens_s": also,
    }
    if args.dtype != "float32":
        result.update(err_iclft=max_diff(ours[:k], reference), err_lm_eval=max_diff(theirs, reference),
                      mean_err_iclft=mean_diff(ours[:k], reference), mean_err_lm_eval=mean_diff(theirs, reference),
                      reference=args.reference)
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main()
