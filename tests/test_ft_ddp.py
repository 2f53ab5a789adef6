"""Data-parallel fine-tuning and augmentation: 2 CPU processes (gloo) through one `accelerate launch` on the tiny
random model (conftest's `tiny_model`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

WORKER = r'''
import hashlib, json, os, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from transformers import AutoModelForCausalLM, AutoTokenizer
from iclft.datasets.schema import Document
from iclft.learners import finetune
from iclft.learners.ft_data import encode, examples

model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
rank = int(os.environ["RANK"])
docs = [Document(id=f"d{i}", text=f"The glon{i} are heavier than the femp{i}. They sleep by the river.")
        for i in range(16)]
opts = finetune.FTOptions(lr=3e-3, max_steps=6, batch_size=4, split="independent")
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
feats = [encode(tok, e, 64) for e in examples(docs, opts.split)]
curve, stats = finetune.train(model, tok, feats, opts, seed=0, output_dir=out / f"work{rank}")
h = hashlib.sha256()
for name, p in sorted(model.state_dict().items()):
    h.update(name.encode()); h.update(p.detach().cpu().numpy().tobytes())
res = finetune.finetune(str(model_dir), docs, opts, seed=0)  # the cached, atomically saved path
(out / f"rank{rank}.json").write_text(json.dumps({
    "digest": h.hexdigest(), "losses": [c["loss"] for c in curve], "world_size": stats["world_size"],
    "backend": torch.distributed.get_backend(), "path": str(res.path), "trained": res.trained,
    "ft_folders": sorted(p.name for p in res.path.parent.iterdir())}))

# the same processes then augment (one launch: each process start imports torch)
from iclft.datasets.schema import Dataset, Question
from iclft.cells import Job
from iclft.learners import augmented

docs = [Document(id=f"d{i}", text=f"The glon{i} are heavier than the femp{i}.") for i in range(4)]
q = Question(id="q", prompt="The femp0 are", choices=[" lighter.", " heavier."], answer=0)
job = Job(dataset=Dataset(name="toy", train=docs, test=[q]), model=str(model_dir), seed=0, questions=[q], device="cpu",
          is_main=rank == 0)
opts = augmented.LocalOptions.model_validate({"local": {"k": 1, "max_new_tokens": 8, "skip_entityless": False},
                                              "ft": {"max_steps": 2, "batch_size": 2}})
prepared = augmented.plan(job, opts).expose(job)
(out / f"aug{rank}.json").write_text(json.dumps({
    "generated": prepared.timing["augment_generated"], "hits": prepared.timing["augment_cache_hits"],
    "augmented": prepared.artifacts["augmented"], "ft_model": prepared.info["ft_model"]}))
'''


def launch(tmp_path: Path, worker: str, model_dir: Path, port: int, config: list[str] | None = None) -> None:
    """Run `worker` (argv: model folder, output folder) in 2 CPU processes under `accelerate launch` (data parallel,
    or with `config`: launch options such as ["--config_file", path])."""
    script = tmp_path / "worker.py"
    script.write_text(worker)
    accelerate = shutil.which("accelerate") or str(Path(sys.executable).parent / "accelerate")
    env = {**os.environ, "ICLFT_CACHE": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1",
           "MASTER_ADDR": "127.0.0.1", "ACCELERATE_USE_CPU": "true"}
    how = config or ["--multi_gpu", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    cmd = [accelerate, "launch", *how, "--num_processes", "2", "--main_process_port", str(port),
           str(script), str(model_dir), str(tmp_path)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.fixture(scope="module")
def launched(tmp_path_factory, tiny_model) -> Path:
    """The worker's outputs from one 2-process launch: fine-tuning, then augmentation."""
    out = tmp_path_factory.mktemp("ddp")
    launch(out, WORKER, tiny_model, 29517)
    return out


def test_two_process_gloo_finetune_keeps_ranks_identical_and_loss_falls(launched):
    ranks = [json.loads((launched / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert [x["world_size"] for x in ranks] == [2, 2] and ranks[0]["backend"] == "gloo"
    assert ranks[0]["digest"] == ranks[1]["digest"]  # all-reduced gradients: identical weights on both ranks
    losses = ranks[0]["losses"]
    assert len(losses) == 6 and losses[-1] < losses[0]
    # the cached model was written once, by rank 0, and both ranks see the same folder
    assert ranks[0]["path"] == ranks[1]["path"] and ranks[0]["trained"] and ranks[1]["trained"]
    saved = Path(ranks[0]["path"])
    assert (saved / "loss.json").exists() and json.loads((saved / "train.json").read_text())["world_size"] == 2
    assert ranks[0]["ft_folders"] == [saved.name]  # no temporary folders left
    assert not [p.name for p in saved.parent.iterdir() if p.name.startswith(".")]  # nor after augmenting


def test_augmentation_under_a_launch_generates_on_the_main_process_only(launched):
    main, other = (json.loads((launched / f"aug{i}.json").read_text()) for i in (0, 1))
    assert main["generated"] == 4 and main["hits"] == 0
    assert other["generated"] == 0 and other["hits"] == 4  # read rank 0's generations from the cache
    assert other["augmented"] == main["augmented"] and other["ft_model"] == main["ft_model"]
