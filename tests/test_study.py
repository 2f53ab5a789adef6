"""A tiny real study end to end on the embedded model; SIGKILL at a random moment then resume; shards.

Resume and shards run on a tiny random model (real training and scoring, seconds instead of minutes).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from iclft import models
from iclft.learners import finetune
from iclft.study import config, cost, grid, run
from iclft.study.report import write_report
from iclft.study.store import Store

TINY = {
    "name": "tiny",
    "datasets": {"reversals": {"params": {"n_facts": 4, "articles_per_fact": 1, "validation_facts": 1}}},
    "models": [models.DEFAULT_MODEL],
    "conditions": {"pretrained": {}, "icl": {"format": "chat"}, "ft": {"max_steps": 2, "batch_size": 2}},
    "seeds": [0],
    "questions": ["test", "validation"],
    "scoring": {"normalizations": ["sum", "mean"], "chunk": 2},
}


def private_cache(root: Path) -> dict[str, str]:
    """Environment for a fresh fine-tuning cache that reuses the converted base models."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "models").exists():
        (root / "models").symlink_to(models.cache_dir() / "models")
    return {**os.environ, "ICLFT_CACHE": str(root)}


def stored_files(out: Path) -> dict[str, bytes]:
    """Every file of a study folder that must be identical between runs (timing and report aside)."""
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "timing.json" and "cells" in p.parts}


def run_uninterrupted(root: Path, data: dict):
    """Write the config and run it once in this process; returns (config file, out, seconds, grid)."""
    cfg = root / "study.yaml"
    cfg.write_text(yaml.safe_dump(data, sort_keys=False))
    env = private_cache(root / "cache")
    old = os.environ.get("ICLFT_CACHE")
    os.environ["ICLFT_CACHE"] = env["ICLFT_CACHE"]
    try:
        study_grid = grid.expand(config.load(cfg))
        cost.estimate(study_grid)
        t0 = time.time()
        run.run_grid(study_grid, root / "A", show_progress=False, log=lambda m: None)
        seconds = time.time() - t0
    finally:
        if old is None:
            os.environ.pop("ICLFT_CACHE")
        else:
            os.environ["ICLFT_CACHE"] = old
    return cfg, root / "A", seconds, study_grid


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The tiny study on the embedded model."""
    return run_uninterrupted(tmp_path_factory.mktemp("study"), TINY)


@pytest.fixture(scope="module")
def micro(tmp_path_factory, tiny_model):
    """The tiny study on a tiny random model."""
    root = tmp_path_factory.mktemp("micro")
    return run_uninterrupted(root, {**TINY, "models": {"micro": {"path": str(tiny_model)}}})


def test_tiny_study_end_to_end(tiny, monkeypatch):
    cfg, out, _, study_grid = tiny
    store = Store(out)
    keys = store.done_cells()
    assert [k.split(".")[1] for k in keys] == ["pretrained", "icl", "ft"]
    est = {c.condition: c.estimate for c in study_grid.cells}
    assert est["ft"].train_tokens > 0 and est["icl"].score_tokens > est["pretrained"].score_tokens > 0
    params = study_grid.params["smollm2-135m-instruct"]
    assert 1.3e8 < params < 1.4e8
    total, hours = cost.gpu_hours(study_grid, study_grid.cells, tflops=100)
    tokens = sum(6 * e.train_tokens + 2 * (e.score_tokens + e.generate_tokens) for e in est.values())
    assert total == pytest.approx(params * tokens) and hours == pytest.approx(total / 1e14 / 3600)
    by_cond = {k.split(".")[1]: list(store.records(k)) for k in keys}
    for cond, recs in by_cond.items():
        assert len(recs) == 4 and {r["part"] for r in recs} == {"test", "validation"}
        assert len({(r["part"], r["id"]) for r in recs}) == 4
        for r in recs:
            assert len(r["logprobs"]) == len(r["n_tokens"]) == r["n_choices"] == 2
            assert set(r["pred"]) == {"sum", "mean"} and r["split"] == "reversal" and r["subtype"]
            assert r["correct"]["sum"] == (r["pred"]["sum"] in r["correct_choices"])
    assert all(r["context_tokens"] > 0 for r in by_cond["icl"])
    assert all(r["context_tokens"] == 0 for r in by_cond["pretrained"] + by_cond["ft"])
    assert by_cond["ft"][0]["logprobs"] != by_cond["pretrained"][0]["logprobs"]
    ft_key = keys[2]
    loss = store.artifact(ft_key, "loss")
    assert [c["step"] for c in loss] == [1, 2]
    assert store.cell(ft_key)["info"]["steps"] == 2 and store.timing(ft_key)["trained"] is True
    # the fine-tuned model is cached: the same run again is a cache hit
    monkeypatch.setenv("ICLFT_CACHE", str(cfg.parent / "cache"))
    ft_cell = study_grid.cells[2]
    again = finetune.finetune(ft_cell.job.model, ft_cell.job.dataset.train, ft_cell.options.training(), 0)
    assert not again.trained and again.key == store.cell(ft_key)["info"]["ft_model"]
    report = write_report(out).read_text()
    assert "## reversals — smollm2-135m-instruct (test)" in report and "| reversal |" in report
    assert (out / "figures" / "reversals-smollm2-135m-instruct-test.png").exists()
    assert (out / "figures" / "reversals-smollm2-135m-instruct-loss.png").exists()


def test_sigkill_at_a_random_moment_then_resume_gives_identical_records(micro, tmp_path):
    cfg, ref, seconds, _ = micro
    env = private_cache(tmp_path / "cache")  # fresh cache: the fine-tuning runs (and may be killed) again
    out = tmp_path / "B"
    threads = str(torch.get_num_threads())  # the reference ran in this process: same float arithmetic
    cmd = [sys.executable, "-m", "iclft", "study", str(cfg), "--out", str(out), "--no-report", "--threads", threads]
    delay = random.Random().uniform(0.0, seconds)  # after the run has started (imports take a while)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 300
    while not (out / "study.json").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = Store(out).done_cells() if (out / "study.json").exists() else []
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"killed after {delay:.1f}s; {r.stderr[-2000:]}"
    got, want = stored_files(out), stored_files(ref)
    assert got.keys() == want.keys(), f"killed after {delay:.1f}s with {len(done_before)} cells done"
    for name in want:
        assert got[name] == want[name], f"{name} differs (killed after {delay:.1f}s)"
    assert not list(out.rglob(".*.tmp")) and not list((tmp_path / "cache" / "ft").glob(".*"))


def test_shards_write_disjoint_cells_into_one_layout(micro, tmp_path):
    cfg, ref, _, _ = micro
    data = {**yaml.safe_load(cfg.read_text()), "conditions": {"pretrained": {}}, "seeds": [0, 1]}
    path = tmp_path / "shards.yaml"
    path.write_text(yaml.safe_dump(data))
    study = config.load(path)
    out = tmp_path / "S"
    ran = []
    for shard in (grid.Shard(1, 2), grid.Shard(0, 2)):
        study_grid = grid.expand(study)
        ran.append([c.seed for c in run.run_grid(study_grid, out, shard, show_progress=False, log=lambda m: None)])
    assert ran == [[1], [0]]
    keys = Store(out).done_cells()
    assert len(keys) == 2
    # the seed-0 pretrained cell has the same spec as in the micro study: identical records
    same = [k for k in keys if k in Store(ref).done_cells()]
    assert len(same) == 1
    assert list(Store(out).records(same[0])) == list(Store(ref).records(same[0]))
    assert run.run_grid(grid.expand(study), out, grid.Shard.parse("0/2"), show_progress=False) == []  # nothing left to do


def test_model_labels_sharing_a_path_load_their_own_dtype(tmp_path, tiny_model):
    model = str(tiny_model)
    models = {"full": {"path": model, "dtype": "float32"}, "half": {"path": model, "dtype": "bfloat16"}}
    data = {**TINY, "models": models,
            "conditions": {"pretrained": {}}, "questions": ["test"]}
    _, out, _, study_grid = run_uninterrupted(tmp_path, data)
    store = Store(out)
    recs = {c.model: list(store.records(c.key)) for c in study_grid.cells}
    assert [c.spec["dtype"] for c in study_grid.cells] == ["float32", "bfloat16"]
    # one path, two dtypes: each cell scored with its own (bf16 rounds the log-probabilities differently)
    assert [r["logprobs"] for r in recs["full"]] != [r["logprobs"] for r in recs["half"]]
