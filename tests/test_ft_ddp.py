"""Data-parallel fine-tuning: 2 CPU processes (gloo) through `accelerate launch` on a tiny random model.

`make_tiny_model` (a 2-layer Llama with the embedded model's tokenizer) is also used by other tests
that need real training and scoring without the cost of the real model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from iclft import models

WORKER = r'''
import hashlib, json, os, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from transformers import AutoModelForCausalLM, AutoTokenizer
from iclft.datasets.schema import Document
from iclft.learners import finetune

model_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
rank = int(os.environ["RANK"])
docs = [Document(id=f"d{i}", text=f"The glon{i} are heavier than the femp{i}. They sleep by the river.")
        for i in range(16)]
opts = finetune.FTOptions(lr=3e-3, max_steps=6, batch_size=4, split="independent")
tok = AutoTokenizer.from_pretrained(model_dir)
model = AutoModelForCausalLM.from_pretrained(model_dir)
feats = [finetune.encode(tok, e, 64) for e in finetune.examples(docs, opts.split)]
curve, stats = finetune.train(model, tok, feats, opts, seed=0, output_dir=out / f"work{rank}")
h = hashlib.sha256()
for name, p in sorted(model.state_dict().items()):
    h.update(name.encode()); h.update(p.detach().cpu().numpy().tobytes())
res = finetune.finetune(str(model_dir), docs, opts, seed=0)  # the cached, atomically saved path
(out / f"rank{rank}.json").write_text(json.dumps({
    "digest": h.hexdigest(), "losses": [c["loss"] for c in curve], "world_size": stats["world_size"],
    "backend": torch.distributed.get_backend(), "path": str(res.path), "trained": res.trained}))
'''


AUGMENT_WORKER = r'''
import json, os, sys
from pathlib import Path
import torch
torch.set_num_threads(1)
from iclft.datasets.schema import Dataset, Document, Question
from iclft.learners import Job, augmented

model_dir, out = sys.argv[1], Path(sys.argv[2])
rank = int(os.environ["RANK"])
docs = [Document(id=f"d{i}", text=f"The glon{i} are heavier than the femp{i}.") for i in range(4)]
q = Question(id="q", prompt="The femp0 are", choices=[" lighter.", " heavier."], answer=0)
job = Job(dataset=Dataset(name="toy", train=docs, test=[q]), model=model_dir, seed=0, questions=[q], device="cpu",
          is_main=rank == 0)
opts = augmented.LocalOptions.model_validate({"local": {"k": 1, "max_new_tokens": 8, "skip_entityless": False},
                                              "ft": {"max_steps": 2, "batch_size": 2}})
prepared = augmented.prepare(job, opts)
(out / f"aug{rank}.json").write_text(json.dumps({
    "generated": prepared.timing["augment_generated"], "hits": prepared.timing["augment_cache_hits"],
    "augmented": prepared.artifacts["augmented"], "ft_model": prepared.info["ft_model"]}))
'''


def make_tiny_model(folder: Path) -> Path:
    """A randomly initialised 2-layer Llama (seeded) with the embedded model's tokenizer, saved to `folder`."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    if (folder / "config.json").exists():
        return folder
    tok = AutoTokenizer.from_pretrained(models.resolve(models.DEFAULT_MODEL))
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=1024,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


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


def test_two_process_gloo_finetune_keeps_ranks_identical_and_loss_falls(tmp_path):
    model_dir = make_tiny_model(tmp_path / "tiny")
    launch(tmp_path, WORKER, model_dir, 29517)
    ranks = [json.loads((tmp_path / f"rank{i}.json").read_text()) for i in (0, 1)]
    assert [x["world_size"] for x in ranks] == [2, 2] and ranks[0]["backend"] == "gloo"
    assert ranks[0]["digest"] == ranks[1]["digest"]  # all-reduced gradients: identical weights on both ranks
    losses = ranks[0]["losses"]
    assert len(losses) == 6 and losses[-1] < losses[0]
    # the cached model was written once, by rank 0, and both ranks see the same folder
    assert ranks[0]["path"] == ranks[1]["path"] and ranks[0]["trained"] and ranks[1]["trained"]
    saved = Path(ranks[0]["path"])
    assert (saved / "loss.json").exists() and json.loads((saved / "train.json").read_text())["world_size"] == 2
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]  # no temporary folders left


def test_augmentation_under_a_launch_generates_on_the_main_process_only(tmp_path):
    model_dir = make_tiny_model(tmp_path / "tiny")
    launch(tmp_path, AUGMENT_WORKER, model_dir, 29518)
    main, other = (json.loads((tmp_path / f"aug{i}.json").read_text()) for i in (0, 1))
    assert main["generated"] == 4 and main["hits"] == 0
    assert other["generated"] == 0 and other["hits"] == 4  # read rank 0's generations from the cache
    assert other["augmented"] == main["augmented"] and other["ft_model"] == main["ft_model"]
