"""Fine-tuning speed: iclft's recipe vs a plain TRL SFTTrainer, same data and hyperparameters, same run.

Data: prompt/completion examples from the reversal-curse generator (the FT data of the paper's main test), whose
lengths vary as real data does. Both trainers get the same examples, base model, learning rate, batch size, steps
and seed. TRL is set up as its documentation suggests for prompt/completion data (a `datasets.Dataset` with
"prompt" and "completion" columns, `SFTConfig` defaults: loss on the completion only, padding to the longest
example of each batch). Both are timed by the HF Trainer's own `train_runtime` (the training loop, without
building the trainer or tokenizing). TRL's defaults train in bf16 mixed precision (on a CPU too), so iclft
is run with `precision: bf16` to match, and again in fp32 (its CPU default) for reference. Prints real
(non-padding) tokens per second for each, the ratio to TRL, and the share of computed tokens that are padding.
Goal: iclft >= 1.0x TRL with < 10% padding.

    python benchmarks/finetune.py [--examples 512] [--steps 48] [--batch-size 8]
"""

from __future__ import annotations

import argparse
import random
import tempfile
from pathlib import Path

import torch


class CountingCollator:
    """Wraps a collator; counts real and total (real + padding) tokens of every batch it builds."""

    def __init__(self, inner):
        self.inner = inner
        self.real = 0
        self.total = 0

    def __call__(self, features):
        batch = self.inner(features)
        mask = batch.get("attention_mask")
        if mask is None:  # padding-free layouts carry no mask: every token is real
            n = int(batch["input_ids"].numel())
            self.real, self.total = self.real + n, self.total + n
        else:
            self.real += int(mask.sum())
            self.total += int(mask.numel())
        return batch


def load_examples(n: int, seed: int):
    from iclft.datasets import registry
    from iclft.learners.ft_data import examples

    ds = registry.build("celebrities", seed=seed)
    docs = random.Random(seed).sample(ds.train, min(n, len(ds.train)))
    return examples(docs)


def run_iclft(base: Path, exs, args, precision: str) -> tuple[float, int, int]:
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    from iclft.learners.finetune import FTOptions, train
    from iclft.learners.ft_data import encode

    tok = AutoTokenizer.from_pretrained(base)
    tok.pad_token = tok.pad_token or tok.eos_token
    set_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    opts = FTOptions(lr=args.lr, max_steps=args.steps, batch_size=args.batch_size, precision=precision)
    features = [encode(tok, e, opts.max_length) for e in exs]
    with tempfile.TemporaryDirectory() as work:
        _, stats = train(model, tok, features, opts, args.seed, Path(work))
    elapsed = stats["train_seconds"]
    total = round(stats["train_tokens"] / (1 - stats["padding_share"])) if stats["padding_share"] < 1 else 0
    return elapsed, stats["train_tokens"], total


def run_trl(base: Path, exs, args) -> tuple[float, int, int, bool]:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(base)
    set_seed(args.seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    data = Dataset.from_list([{"prompt": e.prompt, "completion": e.completion} for e in exs])
    with tempfile.TemporaryDirectory() as work:
        config = SFTConfig(
            output_dir=work, per_device_train_batch_size=args.batch_size, learning_rate=args.lr,
            max_steps=args.steps, seed=args.seed, report_to="none", save_strategy="no", logging_steps=10,
            disable_tqdm=True, use_cpu=not torch.cuda.is_available(),
        )
        trainer = SFTTrainer(model=model, args=config, train_dataset=data, processing_class=tok)
        counter = CountingCollator(trainer.data_collator)
        trainer.data_collator = counter
        elapsed = trainer.train().metrics["train_runtime"]
    return elapsed, counter.real, counter.total, bool(config.bf16)


def main() -> None:
    from iclft import models

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=models.DEFAULT_MODEL)
    ap.add_argument("--examples", type=int, default=512)
    ap.add_argument("--steps", type=int, default=48)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    base = models.resolve(args.model)
    exs = load_examples(args.examples, args.seed)
    *trl, trl_bf16 = run_trl(base, exs, args)
    # the same hyperparameters as TRL's defaults, precision included (SFTConfig turns bf16 on, also on a CPU)
    matched = "bf16" if trl_bf16 else "fp32"
    results = {"TRL SFTTrainer": tuple(trl), "iclft": run_iclft(base, exs, args, matched)}
    if matched != "fp32":
        results["iclft fp32"] = run_iclft(base, exs, args, "fp32")  # iclft's own CPU default, for reference
    print(f"workload: {args.model}, {len(exs)} prompt/completion examples, {args.steps} steps x batch "
          f"{args.batch_size}, lr {args.lr}, precision {matched} (TRL's default), torch threads "
          f"{torch.get_num_threads()}")
    speed = {}
    for name, (elapsed, real, total) in results.items():
        speed[name] = real / elapsed
        pad = 1 - real / total if total else 0.0
        print(f"{name:15s} {elapsed:8.1f} s  {real:7d} real tokens  {speed[name]:7.1f} tokens/s  padding {pad:6.1%}")
    print(f"iclft / TRL tokens per second: {speed['iclft'] / speed['TRL SFTTrainer']:.2f}x   (goal >= 1.0x, "
          f"padding < 10%)")


if __name__ == "__main__":
    main()
