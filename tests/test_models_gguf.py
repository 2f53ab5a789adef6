"""A local GGUF file by path: converted once into a cached safetensors folder named by its bytes; bad files are one
line."""

from __future__ import annotations

from pathlib import Path

import pytest

from iclft import models
from iclft.errors import UserError


@pytest.fixture
def gguf(tmp_path, monkeypatch) -> Path:
    """The embedded model's own GGUF file, under a user's name, with a fresh cache."""
    monkeypatch.setenv("ICLFT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "my-model.Q4_1.gguf"
    path.symlink_to(models.REGISTRY[models.DEFAULT_MODEL].locate())
    return path


@pytest.mark.slow  # 15-35 s: dequantizes the embedded model's 272 tensors
def test_a_gguf_file_loads_by_path_as_the_registry_model_does(gguf, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("ICLFT_COST", "reference")  # the dry run prices at fixed rates: no timing of this machine
    folder = models.resolve(gguf)
    assert folder.parent == tmp_path / "cache" / "models" and folder.name.startswith("gguf-my-model.Q4_1-")
    assert (folder / "config.json").is_file() and list(folder.glob("*.safetensors"))
    assert models.resolve(gguf) == folder  # converted once
    study = tmp_path / "study.yaml"
    study.write_text(f"name: g\ndatasets: {{reversals: {{params: {{n_facts: 4, articles_per_fact: 1, "
                     f"validation_facts: 1}}}}}}\nmodels: {{mine: {{path: {gguf.name}}}}}\nconditions: {{pretrained: {{}}}}\n")
    r = cli("study", str(study), "--dry-run", "--out", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert "mine" in r.stdout


def test_a_file_that_is_not_gguf_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLFT_CACHE", str(tmp_path / "cache"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file at all")
    with pytest.raises(UserError, match="broken.gguf: cannot read as a GGUF model"):
        models.resolve(bad)
    with pytest.raises(UserError, match="no such GGUF file"):
        models.resolve(tmp_path / "missing.gguf")
    assert not list((tmp_path / "cache").rglob("config.json"))  # nothing half-written
