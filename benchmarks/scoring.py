"""Scoring speed: iclft vs lm-evaluation-harness on an ICL workload, in the same run.

Workload: one shared context of ~2,000 tokens (nonsense facts), 100 questions x 4 choices, on the embedded model.
Prints (1) iclft's speed ratio over lm-evaluation-harness's HF `loglikelihood`, (2) the largest per-choice
log-likelihood difference between the two, and (3) iclft's time as a multiple of the lower bound: one forward over
the context plus one forward over all prompt and choice tokens, each attending to the context.
Goals: >= 20x, <= 1e-3 nats, <= 1.5x.

lm-evaluation-harness recomputes the whole context for every choice (~2,000 tokens x 400 forwards), which takes
tens of minutes on a 2-core CPU; `--lm-eval-questions K` times it on the first K questions only and extrapolates
linearly (reported as such). The default runs all of them.

    python benchmarks/scoring.py [--questions 100] [--lm-eval-questions 100] [--context-tokens 2000]
"""

from __future__ import annotations

import argparse
import random
import time

import torch

from iclft import models
from iclft.datasets.schema import Question
from iclft.scoring import encode_pair, score_questions

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


def time_iclft(lm, context, questions, batch_size: int) -> tuple[float, list[list[float]]]:
    start = time.perf_counter()
    scores = score_questions(lm, questions, context, batch_size=batch_size)
    return time.perf_counter() - start, [s.logprobs for s in scores]


def time_lower_bound(lm, context, questions, chunk: int = 256) -> tuple[float, int, int]:
    """One forward over the context, then one over all prompt and choice tokens, each attending to the context.

    Every method must at least run the model over these tokens once with the context in view. They go in
    chunks of `chunk` tokens, each a fresh continuation of the context cache, so the bound carries no
    attention between unrelated questions.
    """
    from transformers import DynamicCache

    tok = lm.tokenizer
    ctx_ids = tok.encode(context, add_special_tokens=False)
    flat: list[int] = []
    for q in questions:
        prefix, _ = encode_pair(tok, context + q.prompt, q.choices[0])
        flat += prefix[len(ctx_ids):] or prefix[-1:]
        flat += [t for c in q.choices for t in encode_pair(tok, context + q.prompt, c)[1]]
    with torch.no_grad():
        start = time.perf_counter()
        cache = DynamicCache()
        lm.model(input_ids=torch.tensor([ctx_ids]), past_key_values=cache, use_cache=True, logits_to_keep=1)
        ctx_kv = [(layer.keys, layer.values) for layer in cache.layers]
        for i in range(0, len(flat), chunk):
            lm.model(input_ids=torch.tensor([flat[i:i + chunk]]), past_key_values=DynamicCache(ddp_cache_data=ctx_kv),
                     use_cache=True)
        return time.perf_counter() - start, len(ctx_ids), len(flat)


def time_lm_eval(path, context, questions, batch_size: int) -> tuple[float, list[list[float]]]:
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    harness = HFLM(pretrained=str(path), device="cpu", dtype="float32", batch_size=batch_size)
    requests = [
        Instance(request_type="loglikelihood", doc={}, arguments=(context + q.prompt, c), idx=j)
        for q in questions for j, c in enumerate(q.choices)
    ]
    start = time.perf_counter()
    results = harness.loglikelihood(requests, disable_tqdm=True)
    elapsed = time.perf_counter() - start
    flat = [lp for lp, _ in results]
    out, k = [], 0
    for q in questions:
        out.append(flat[k:k + len(q.choices)])
        k += len(q.choices)
    return elapsed, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=models.DEFAULT_MODEL)
    ap.add_argument("--questions", type=int, default=100)
    ap.add_argument("--context-tokens", type=int, default=2000)
    ap.add_argument("--lm-eval-questions", type=int, default=None, help="time lm-eval on the first K (default: all)")
    ap.add_argument("--batch-size", type=int, default=8, help="iclft batch size (questions)")
    ap.add_argument("--lm-eval-batch-size", type=int, default=4)
    args = ap.parse_args()

    lm = models.load(args.model)
    context, questions = workload(lm.tokenizer, args.questions, args.context_tokens)
    score_questions(lm, questions[:2], context[:200])  # warm-up
    t_iclft, ours = time_iclft(lm, context, questions, args.batch_size)
    t_bound, n_ctx, n_qtok = time_lower_bound(lm, context, questions)
    k = min(args.lm_eval_questions or args.questions, args.questions)
    t_harness_k, theirs = time_lm_eval(lm.path, context, questions[:k], args.lm_eval_batch_size)
    t_harness = t_harness_k * args.questions / k
    diff = max(abs(a - b) for sa, sb in zip(ours[:k], theirs) for a, b in zip(sa, sb))

    n_choices = sum(len(q.choices) for q in questions)
    print(f"workload: {args.model}, context {n_ctx} tokens, {args.questions} questions x 4 choices "
          f"({n_choices} continuations, {n_qtok} prompt+choice tokens), torch threads {torch.get_num_threads()}")
    print(f"iclft:                 {t_iclft:8.2f} s")
    measured = f"measured on {k} questions, scaled x{args.questions / k:.1f}" if k < args.questions else "measured"
    print(f"lm-evaluation-harness: {t_harness:8.2f} s ({measured})")
    print(f"lower bound:           {t_bound:8.2f} s (context forward + one forward over all question tokens, attending to it)")
    print(f"speed ratio vs lm-evaluation-harness: {t_harness / t_iclft:.1f}x   (goal >= 20x)")
    print(f"largest per-choice difference:        {diff:.2e} nats over {k * 4} choices   (goal <= 1e-3)")
    print(f"iclft / lower bound:                  {t_iclft / t_bound:.2f}x   (goal <= 1.5x)")


if __name__ == "__main__":
    main()
