"""Paper scale on one GPU: a Llama-3-8B-shaped model through every condition, the scorer against lm-eval, and a
model spread over devices (`device_map`) scoring like the whole one. Prints one table.

1. Grid: a random-weight Llama-3-8B-shaped model (hidden 4096, MLP 14336, 32 layers, 32 heads, 8 KV heads;
   SmolLM2's tokenizer, so a 49,152-token vocabulary where Llama 3 has 128k), built on the device from a config (no
   download) in bf16 and saved to a temporary folder, runs the quick study's reversals dataset through pretrained,
   ICL, FT with LoRA, full FT (gradient checkpointing, the fused AdamW; fp32 master weights, bf16 compute) and
   local-generation augmentation (+ LoRA FT), each cell its own `iclft` study run (model load included). Per cell:
   wall seconds, peak GPU memory (torch.cuda.max_memory_allocated), trained tokens per second (the training loop's
   own clock), and the share of the cell's time the GPU was busy (NVML utilisation sampled by nvidia-smi every
   100 ms). A cell that runs out of memory is reported as OOM and the rest go on.
2. The scorer vs lm-evaluation-harness (benchmarks/scoring.py, bf16): the 1.2B random model at 2,000 and 8,000
   context tokens and the 8B-shaped one at 2,000 (lm-eval timed on a few questions and scaled, as scoring.py says).
3. Bigger than the device: the 8B-shaped model loaded with device_map auto and max_memory capping the GPU at half
   the model's size (the rest in CPU memory) scores the same questions as the whole model on the GPU (<= 1e-3 nats).

`--tiny` runs all of it on a CPU in a minute or two with tiny shapes and few questions (the grid's FT steps and
generation shortened; the device-map check caps CPU memory and offloads the rest to disk): it checks that the
script runs, its figures are not measurements. `--budget` bounds the whole run (seconds); steps that would start
after it are reported as skipped.

    python benchmarks/scale.py [--tiny] [--budget 540] [--steps grid scoring devicemap]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import torch

from iclft import models

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from scoring import random_model, workload  # noqa: E402 - the scorer benchmark's random models and workload


class Busy:
    """The GPU's utilisation (NVML: the share of time a kernel was running), sampled every 100 ms."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self.proc = None
        if torch.cuda.is_available() and shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                                          "-i", "0", "-lms", "100"], stdout=subprocess.PIPE, text=True)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self.samples.append((time.time(), float(line)))

    def share(self, t0: float, t1: float) -> float | None:
        window = [v for t, v in self.samples if t0 <= t <= t1]
        return sum(window) / len(window) / 100 if window else None

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()


class Trained:
    """Counts the tokens and training-loop seconds of every fine-tuning run in this process."""

    def __init__(self) -> None:
        from iclft.learners import finetune

        self.tokens, self.seconds = 0, 0.0
        inner = finetune.train

        def counted(*args, **kwargs):
            curve, stats = inner(*args, **kwargs)
            self.tokens += stats["train_tokens"]
            self.seconds += stats["train_seconds"]
            return curve, stats

        finetune.train = counted


def grid_config(tiny: bool) -> tuple[dict, dict]:
    """The quick study's reversals dataset and the conditions of the grid (label -> options)."""
    if tiny:
        data = {"reversals": {"params": {"n_facts": 6, "articles_per_fact": 1, "validation_facts": 2}}}
        ft = {"max_steps": 3, "batch_size": 4}
        local = {"k": 1, "max_new_tokens": 16, "granularity": "document"}
    else:
        data = {"reversals": {"params": {"n_facts": 40, "articles_per_fact": 3, "validation_facts": 10}}}
        ft = {"epochs": 3, "batch_size": 16}
        local = {"k": 4, "max_new_tokens": 96, "granularity": "document"}
    lora = {"lr": 2.0e-4, "lora": {"r": 16}, **ft}
    return data, {
        "pretrained": {},
        "icl": {"selection": "all", "format": "auto"},
        "ft_lora": {"condition": "ft", **lora},
        "ft_full": {"condition": "ft", "lr": 2.0e-5, "gradient_checkpointing": True, "optim": "adamw_torch_fused",
                    **ft},
        "ft_aug_local": {"ft": lora, "local": local},
    }


def run_grid(model: Path, tiny: bool, work: Path, deadline: float, busy: Busy, device: str) -> list[dict]:
    from iclft.study import config, grid, run

    data, conditions = grid_config(tiny)
    trained = Trained()
    rows = []
    for label, opts in conditions.items():
        if time.time() > deadline:
            rows.append({"step": f"grid {label}", "status": "skipped (time)"})
            continue
        study = config.from_dict({"name": f"scale-{label}", "datasets": data,
                                  "models": {"m": {"path": str(model), "dtype": "bfloat16"}},
                                  "conditions": {label: opts}, "device": device}, work / "study.yaml")
        tokens0, seconds0 = trained.tokens, trained.seconds
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.time()
        try:
            run.run_grid(grid.expand(study), work / label, show_progress=False, log=lambda msg: None)
            status = "ok"
        except torch.OutOfMemoryError:
            status = "OOM"
        except Exception as e:  # noqa: BLE001 - a failed cell is a row of the table, the rest still run
            status = f"error: {type(e).__name__}: {str(e)[:80]}"
        t1 = time.time()
        cell = {"step": f"grid {label}", "status": status, "seconds": t1 - t0, "gpu_busy": busy.share(t0, t1)}
        if device.startswith("cuda"):
            cell["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        if trained.seconds > seconds0:
            cell["train_tokens_s"] = (trained.tokens - tokens0) / (trained.seconds - seconds0)
        cell["note"] = facts(work / label)
        rows.append(cell)
        print(json.dumps(cell), flush=True)
        shutil.rmtree(models.cache_dir() / "ft", ignore_errors=True)  # an 8B model fine-tuned is 30 GB on disk
    return rows


def facts(out: Path) -> str:
    """A cell's accuracy and training facts from its study folder (cell.json, timing.json, chunks)."""
    notes = []
    for cell_dir in sorted((out / "cells").glob("*")):
        info = json.loads((cell_dir / "cell.json").read_text()).get("info", {}) if (cell_dir / "cell.json").is_file() \
            else {}
        timing = json.loads((cell_dir / "timing.json").read_text()) if (cell_dir / "timing.json").is_file() else {}
        records = [json.loads(line) for f in sorted(cell_dir.glob("chunks/*.jsonl")) for line in f.open()]
        graded = [r["correct"].get("sum") for r in records if isinstance(r.get("correct"), dict)]
        graded = [g for g in graded if g is not None]
        if graded:
            notes.append(f"accuracy {sum(graded) / len(graded):.2f} (n={len(graded)})")
        notes += [f"{k} {info[k]}" for k in ("steps", "train_tokens", "augmented_documents") if k in info]
        if "trained" in timing:
            notes.append("trained" if timing["trained"] else "cached model")
    return ", ".join(notes)


def run_scoring(tiny: bool, deadline: float, device: str) -> list[dict]:
    """benchmarks/scoring.py's RESULT lines: iclft vs lm-eval."""
    runs = [("tiny", 300, ["--questions", "8", "--lm-eval-questions", "2"])] if tiny else [
        ("1.2b", 2000, ["--lm-eval-batch-size", "32"]),
        ("1.2b", 8000, ["--lm-eval-batch-size", "16", "--lm-eval-questions", "25"]),
        ("8b", 2000, ["--lm-eval-batch-size", "16", "--lm-eval-questions", "20"]),
    ]
    rows = []
    for size, ctx, extra in runs:
        step = f"scorer vs lm-eval {size} {ctx}"
        left = deadline - time.time()
        if left < 30:
            rows.append({"step": step, "status": "skipped (time)"})
            continue
        cmd = [sys.executable, str(ROOT / "benchmarks/scoring.py"), "--device", device, "--dtype", "bfloat16",
               "--random-model", size, "--reference", "iclft", "--context-tokens", str(ctx), *extra]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=left).stdout
            result = json.loads(next(line[7:] for line in out.splitlines() if line.startswith("RESULT ")))
            rows.append({"step": step, "status": "ok", "seconds": result["iclft_s"], "ratio": result["ratio"],
                         "err": result.get("err_iclft"), "note": f"bf16 vs iclft fp32; lm-eval on "
                                                                 f"{result['lm_eval_questions']} questions, scaled"})
        except (subprocess.TimeoutExpired, StopIteration) as e:
            rows.append({"step": step, "status": f"failed ({type(e).__name__})"})
        print(json.dumps(rows[-1]), flush=True)
    return rows


def run_device_map(model: Path, tiny: bool, work: Path, deadline: float, device: str) -> list[dict]:
    """The model with its main device capped at half its size (the rest in CPU memory, or on disk on a CPU) scores
    like the whole model."""
    from iclft.scoring.likelihood import score_questions

    if time.time() > deadline:
        return [{"step": "device_map, half the model per device", "status": "skipped (time)"}]
    size = sum(f.stat().st_size for f in model.glob("*.safetensors"))
    whole = models.load(model, device=device, dtype="bfloat16")
    context, questions = workload(whole.tokenizer, 8 if tiny else 50, 200 if tiny else 2000)
    want = [s.logprobs for s in score_questions(whole, questions, context)]
    del whole
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        caps = {0: size // 2, "cpu": 2 * size}  # half the model on the GPU, the rest in CPU memory
    else:
        caps = {"cpu": size // 2}  # half in memory, the rest on disk
    t0 = time.time()
    split = models.load(model, device=device, dtype="bfloat16",
                        placement=models.Placement.of("auto", caps, work / "offload"))
    where = sorted(set(map(str, split.model.hf_device_map.values())))
    got = [s.logprobs for s in score_questions(split, questions, context)]
    diff = max(abs(a - b) for x, y in zip(want, got) for a, b in zip(x, y))
    row = {"step": "device_map, half the model per device", "status": "ok" if diff <= 1e-3 else "DIFFERS",
           "seconds": time.time() - t0, "err": diff, "note": f"{size / 2**30:.2f} GiB over {'+'.join(where)}"
           + (" (the tied embedding is most of the tiny model: no room to split it)" if where == ["disk"] else "")}
    if device.startswith("cuda"):
        row["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps(row), flush=True)
    return [row]


@contextlib.contextmanager
def cache(folder: Path):
    """ICLFT_CACHE set to `folder` for a while (the scorer benchmark's runs keep the prepared embedded model)."""
    old = os.environ.get("ICLFT_CACHE")
    os.environ["ICLFT_CACHE"] = str(folder)
    try:
        yield
    finally:
        if old is None:
            del os.environ["ICLFT_CACHE"]
        else:
            os.environ["ICLFT_CACHE"] = old


def table(rows: list[dict], header: str) -> str:
    def num(v, fmt, width, suffix=""):
        return (format(v, fmt) + suffix if isinstance(v, (int, float)) else "-").rjust(width)

    lines = [header, f"{'step':38s} {'status':7s} {'seconds':>8s} {'peak GiB':>8s} {'tok/s':>8s} {'GPU busy':>8s} "
                     f"{'vs lm-eval':>10s} {'max diff':>9s}  note"]
    for r in rows:
        short = r["status"] if len(r["status"]) <= 7 else r["status"].split()[0][:7]
        note = " ".join(filter(None, [r.get("note", ""), r["status"] if short != r["status"] else ""]))
        lines.append(f"{r['step']:38s} {short:7s} {num(r.get('seconds'), '.1f', 8)} {num(r.get('peak_gib'), '.1f', 8)} "
                     f"{num(r.get('train_tokens_s'), '.0f', 8)} {num(r.get('gpu_busy'), '.0%', 8)} "
                     f"{num(r.get('ratio'), '.1f', 10, 'x')} {num(r.get('err'), '.1e', 9)}  {note}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tiny", action="store_true", help="tiny shapes and few questions: a run check on a CPU")
    ap.add_argument("--budget", type=float, default=540, help="seconds for the whole run")
    ap.add_argument("--steps", nargs="*", default=["grid", "scoring", "devicemap"])
    ap.add_argument("--device", default=None, help="cpu, cuda (default: cuda if present)")
    args = ap.parse_args()
    start = time.time()
    deadline = start + args.budget
    device = models.pick_device(args.device)
    busy = Busy()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="iclft-scale-") as tmp:
        work = Path(tmp)
        t0 = time.time()
        model = Path(random_model("tiny" if args.tiny else "8b", models.DEFAULT_MODEL, str(work / "model"), 4000,
                                  device))
        built = time.time() - t0
        rows.append({"step": "build random model", "status": "ok", "seconds": built,
                     "note": f"{'tiny' if args.tiny else 'Llama-3-8B'}-shaped random Llama, bf16, "
                             f"{sum(f.stat().st_size for f in model.glob('*.safetensors')) / 2**30:.2f} GiB"})
        if "devicemap" in args.steps:
            rows += run_device_map(model, args.tiny, work, deadline, device)
        if "grid" in args.steps:  # its fine-tuning and generation caches in the work folder: computed afresh
            with cache(work / "cache"):
                rows += run_grid(model, args.tiny, work, deadline - (0 if args.tiny else 200), busy, device)
        if "scoring" in args.steps:
            rows += run_scoring(args.tiny, deadline, device)
    busy.stop()
    gpu = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    print(table(rows, f"iclft at scale on {gpu} ({'--tiny: a run check, not a measurement' if args.tiny else 'one run'}"
                      f"; {time.time() - start:.0f} s in all; torch {torch.__version__})"))


if __name__ == "__main__":
    main()
