"""Written files and folders get the modes the umask gives (0644 / 0755 under umask 0022), not tempfile's private
0600 / 0700: reports, study records and caches are shared on cluster file systems."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from iclft.io import _writer, atomic_dir, atomic_open, umask, write_json, write_jsonl

MODES = [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)]


@pytest.fixture(params=MODES, ids=lambda m: f"umask{m[0]:04o}")
def modes(request):
    """Set the process umask for one test (restored afterwards); yield (umask, file mode, folder mode)."""
    old = os.umask(request.param[0])
    try:
        yield request.param
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_umask_is_read_without_changing_it(modes):
    assert umask() == modes[0]
    assert umask() == modes[0]


def test_atomic_files_honour_the_umask(tmp_path, modes):
    _, file_mode, dir_mode = modes
    write_json(tmp_path / "new" / "study.json", {"a": 1})
    write_jsonl(tmp_path / "chunk.jsonl", [{"id": "q1"}])
    with atomic_open(tmp_path / "figure.png", "wb") as f:
        f.write(b"\x89PNG")
    (tmp_path / "report.md").write_text("old")
    os.chmod(tmp_path / "report.md", 0o600)
    with atomic_open(tmp_path / "report.md") as f:  # a rewrite gets the umask's mode too
        f.write("new")
    for name in ("new/study.json", "chunk.jsonl", "figure.png", "report.md"):
        assert mode(tmp_path / name) == file_mode, name
    assert mode(tmp_path / "new") == dir_mode
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_atomic_dir_gives_every_file_and_folder_the_umask_modes(tmp_path, modes):
    _, file_mode, dir_mode = modes
    out = tmp_path / "cache" / "model"
    with atomic_dir(out) as tmp:
        assert not out.exists()
        fd, private = tempfile.mkstemp(dir=tmp)  # 0600, as transformers writes model.safetensors
        os.close(fd)
        sub = Path(tempfile.mkdtemp(dir=tmp))  # 0700
        (sub / "tokenizer.json").write_text("{}")
        script = tmp / "run.sh"
        script.write_text("#!/bin/sh\n")
        script.chmod(0o700)
        write_json(tmp / "loss.json", [])
    names = [Path(private).name, "loss.json", f"{sub.name}/tokenizer.json"]
    assert {n: mode(out / n) for n in names} == dict.fromkeys(names, file_mode)
    assert mode(out) == mode(out / sub.name) == dir_mode
    assert mode(out / "run.sh") == 0o777 & ~modes[0]  # an executable stays executable
    assert [p.name for p in out.parent.iterdir()] == ["model"]


def test_atomic_dir_keeps_or_overwrites_an_existing_folder_and_cleans_up(tmp_path):
    out = tmp_path / "m"
    with atomic_dir(out) as tmp:
        (tmp / "a").write_text("first")
    with atomic_dir(out) as tmp:  # another process finished first: theirs is kept
        (tmp / "a").write_text("second")
    assert (out / "a").read_text() == "first"
    with atomic_dir(out, overwrite=True) as tmp:
        (tmp / "a").write_text("third")
    assert (out / "a").read_text() == "third"
    with pytest.raises(RuntimeError), atomic_dir(tmp_path / "failed") as tmp:
        (tmp / "a").write_text("half")
        raise RuntimeError("killed")
    host = _writer().split(".")[1]
    stale = tmp_path / f".m.999999999.{host}.x.tmp"  # left by a process of this machine that is gone
    elsewhere = tmp_path / ".m.999999999.0000ffff.x.tmp"  # another machine's, on a shared file system
    live = tmp_path / f".m.{os.getpid()}.{host}.y.tmp"  # a writer still running
    for d in (stale, elsewhere, live):
        d.mkdir()
    with atomic_dir(out, overwrite=True):
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([elsewhere.name, live.name, "m"])


def test_fine_tuned_cache_folder_gets_the_umask_modes(tmp_path, modes):
    """The fine-tune cache's save path (a real transformers save of a tiny model): 0644 / 0755 under umask 0022."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from iclft import models
    from iclft.learners.finetune import save_trained

    _, file_mode, dir_mode = modes
    tok = AutoTokenizer.from_pretrained(models.resolve(models.DEFAULT_MODEL))
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=8, intermediate_size=16,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    final = tmp_path / "ft" / "key"
    save_trained(final, model, tok, [{"step": 1, "loss": 1.0}], {"seed": 0})
    files = sorted(p.name for p in final.iterdir())
    assert {"model.safetensors", "loss.json", "train.json", "config.json"} <= set(files)
    assert {n: mode(final / n) for n in files} == dict.fromkeys(files, file_mode)
    assert mode(final) == dir_mode
