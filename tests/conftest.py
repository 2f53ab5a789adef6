"""Shared fixtures: the real embedded model, loaded once per test session, and the `iclft` command run in-process."""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

torch.set_num_threads(2)
os.environ.setdefault("ICLFT_COST", "reference")  # dry runs price at fixed rates (byte-stable; test_cost times)


@pytest.fixture(scope="session")
def lm():
    """SmolLM2-135M-Instruct, the embedded default model (converted once, then cached)."""
    from iclft import models

    return models.load(models.DEFAULT_MODEL, dtype="float32")  # the equality tests are in fp32


@dataclass
class CliResult:
    """What `iclft ARGS` did: its exit code and what it wrote to each stream."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(monkeypatch):
    """`cli(*args, cwd=None)` runs `iclft ARGS` through its real entry point (`iclft.cli.main`: the same error
    handling and exit codes) inside this process, so it costs no new Python importing torch. An exception the
    entry point lets through (a traceback in a real process) fails the test."""
    from iclft.cli import main

    def run(*args: str, cwd=None) -> CliResult:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        monkeypatch.setattr(sys, "argv", ["iclft", *map(str, args)])
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                main()
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        return CliResult(code, out.getvalue(), err.getvalue())

    return run


def make_tiny_model(folder: Path) -> Path:
    """A randomly initialised 2-layer Llama (seeded) with the embedded model's tokenizer, saved to `folder`."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from iclft import models

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


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """The tiny random model's folder, made once per session: tests that only check plumbing (training, scoring,
    sharding, processes) run on it in seconds. Read-only: a test that changes weights copies it first."""
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
