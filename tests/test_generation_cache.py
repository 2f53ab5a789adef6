"""The generation cache: a lost generation is an error (never a shorter list), and the local generator's
identity follows the model's content (a retrained model of the same shape at the same path is a new model)."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

from iclft.generation.cache import GenerationCache, cached_generate
from iclft.generation.generator import Generation, Request, Sampling
from iclft.generation.local import LocalGenerator


class _Losing:
    """A generator that never answers its second request (as a failing backend might)."""

    identity = {"kind": "losing"}

    def iter_generate(self, requests, sampling):
        for i, r in enumerate(requests):
            if i != 1:
                yield i, Generation(f"answer {r.messages[-1][1]}", "stop", 1, 2)


def test_a_missing_generation_raises_instead_of_shifting_the_rest(tmp_path):
    requests = [Request.chat([{"role": "user", "content": f"q{i}"}]) for i in range(3)]
    with pytest.raises(RuntimeError, match="1 of 3 requests"):
        cached_generate(_Losing(), requests, Sampling(), GenerationCache(tmp_path))
    # what did arrive is cached, paired with its own request
    again = GenerationCache(tmp_path).get(GenerationCache.key(_Losing.identity, requests[2], Sampling()))
    assert again is not None and again.text == "answer q2"


def test_local_generator_identity_changes_with_the_weights_not_just_their_shape(tmp_path, tiny_model):
    from transformers import AutoModelForCausalLM

    folder = shutil.copytree(tiny_model, tmp_path / "m")  # its weights change below
    before = LocalGenerator(str(folder)).identity
    assert LocalGenerator(str(folder)).identity == before  # stable for the same files
    model = AutoModelForCausalLM.from_pretrained(folder)
    with torch.no_grad():
        next(model.parameters()).add_(0.01)  # "retrained": same shapes, same file sizes, other numbers
    weights = folder / "model.safetensors"
    size = weights.stat().st_size
    model.save_pretrained(folder)
    assert weights.stat().st_size == size
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1))
    assert LocalGenerator(str(folder)).identity["fingerprint"] != before["fingerprint"]
