"""bf16 mixed precision vs fp32 fine-tuning on this CPU: real training tokens per CPU-second of the training loop
(process time, so other processes on a busy machine do not count), interleaved runs, 1 torch thread, 4 steps x 8.
The median ratio is `BF16_TRAIN_SPEEDUP` in iclft.study.cost (the dry-run's training time at bf16).

    python benchmarks/precision.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from iclft import models
    from iclft.datasets import registry
    from iclft.learners.finetune import FTOptions, train
    from iclft.learners.ft_data import encode, examples

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    base = models.resolve(models.DEFAULT_MODEL)
    exs = examples(random.Random(0).sample(registry.build("celebrities", seed=0).train, 64))
    tok = AutoTokenizer.from_pretrained(base)
    tok.pad_token = tok.pad_token or tok.eos_token
    feats = [encode(tok, e, 1024) for e in exs]
    speed: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for rep in range(args.repeats):
        for p in speed:
            set_seed(0)
            model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
            opts = FTOptions(max_steps=4, batch_size=8, precision=p)
            with tempfile.TemporaryDirectory() as work:
                c0, w0 = time.process_time(), time.time()
                _, stats = train(model, tok, feats, opts, 0, Path(work), device="cpu")
                cpu, wall = time.process_time() - c0, time.time() - w0
            speed[p].append(stats["train_tokens"] / cpu)
            print(f"{rep} {p}: {cpu:.1f} CPU-s ({wall:.1f} s wall), {stats['train_tokens']} tokens, "
                  f"{speed[p][-1]:.1f} tokens per CPU-s", flush=True)
    f, b = statistics.median(speed["fp32"]), statistics.median(speed["bf16"])
    print(f"median: fp32 {f:.1f}, bf16 {b:.1f} tokens per CPU-s; bf16 / fp32 = {b / f:.2f}")


if __name__ == "__main__":
    main()
