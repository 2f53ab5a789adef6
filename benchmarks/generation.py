"""Local generation speed: the shared-prefix KV cache and token-budget batches vs plain batched generation.

Workload: the local augmentation prompts of the quick study's reversals dataset (configs/quick.yaml: 40 facts,
3 articles each; k=4 restatements, max_new_tokens=96, the pipeline's sampling), i.e. what `ft_aug_local` sends
to the embedded model. Both setups run in the same process on the same requests, alternating (`--repeats`),
so machine load hits both alike. "before": 16 prompts a batch, left-padded, every prompt prefilled whole
(iclft before the prefix cache). "after": the generator's defaults (prefix cache, token budget). `--bf16` adds
"after" under bf16 autocast (CPUs with bf16 instructions) for reference. Prints generated tokens per second,
prompt tokens actually encoded, and the ratio after/before; also whether the texts are identical.

    python benchmarks/generation.py [--prompts 40] [--repeats 1] [--bf16]
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time

import torch

QUICK_REVERSALS = {"n_facts": 40, "articles_per_fact": 3, "validation_facts": 10}


def requests(n: int):
    """The unique local-augmentation requests of the quick study's reversals cell, and their sampling."""
    from iclft import models
    from iclft.augment.options import AugmentOptions
    from iclft.augment.planning import plan
    from iclft.datasets import registry
    from iclft.generation.cache import GenerationCache
    from iclft.generation.local import LocalGenerator

    ds = registry.build("reversals", seed=0, params=QUICK_REVERSALS)
    lm = models.load(models.DEFAULT_MODEL)
    options = AugmentOptions(mode="local", k=4, max_new_tokens=96)
    work = plan(ds.train, LocalGenerator(lm), options, GenerationCache(tempfile.mkdtemp()))
    unique = list(dict.fromkeys(t.request for t in work.tasks))
    return lm, unique[:n], options.sampling


class Prefill:
    """Counts the prompt tokens each forward pass encodes (passes of more than one token per row)."""

    def __init__(self, model) -> None:
        self.tokens = 0
        model.register_forward_pre_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        if ids is not None and ids.shape[1] > 1:
            self.tokens += ids.numel()


def timed(lm, reqs, sampling, counter: Prefill, bf16: bool = False, **options) -> tuple[float, int, int, list[str]]:
    from iclft.generation.generator import generate
    from iclft.generation.local import LocalGenerator

    counter.tokens = 0
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    start = time.perf_counter()
    with amp:
        gens = generate(LocalGenerator(lm, **options), reqs, sampling)
    seconds = time.perf_counter() - start
    return seconds, sum(g.completion_tokens for g in gens), counter.tokens, [g.text for g in gens]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=40, help="requests (the quick study's cell has 40)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--bf16", action="store_true", help="also time 'after' under bf16 autocast")
    args = parser.parse_args()
    lm, reqs, sampling = requests(args.prompts)
    counter = Prefill(lm.model)
    setups = {"before": {"batch_size": 16, "prefix_cache": False, "batch_tokens": 1 << 30}, "after": {}}
    if args.bf16:
        setups["after+bf16"] = {"bf16": True}
    totals = {name: [0.0, 0, 0] for name in setups}
    texts: dict[str, list[str]] = {}
    for r in range(args.repeats):
        names = list(setups) if r % 2 == 0 else list(reversed(setups))
        for name in names:
            seconds, generated, prefilled, texts[name] = timed(lm, reqs, sampling, counter, **setups[name])
            totals[name] = [a + b for a, b in zip(totals[name], (seconds, generated, prefilled))]
            print(f"  {name:11s} run {r + 1}: {seconds:7.1f} s, {generated} tokens generated, {prefilled} prompt "
                  f"tokens encoded", flush=True)
    print(f"{len(reqs)} prompts, {sampling.max_new_tokens} new tokens at most, {torch.get_num_threads()} threads")
    rate = {name: t[1] / t[0] for name, t in totals.items()}
    for name, (seconds, generated, prefilled) in totals.items():
        same = "identical texts" if texts[name] == texts["before"] else "texts differ from before"
        print(f"{name:11s} {rate[name]:7.1f} generated tokens/s  {prefilled / args.repeats:9.0f} prompt tokens "
              f"encoded per run  ({same})")
    for name in setups:
        if name != "before":
            print(f"ratio {name}/before: {rate[name] / rate['before']:.2f}x tokens/s")


if __name__ == "__main__":
    main()
