"""Shared fixtures: the real embedded model, loaded once per test session."""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def lm():
    """SmolLM2-135M-Instruct, the embedded default model (converted once, then cached)."""
    from iclft import models

    return models.load(models.DEFAULT_MODEL, dtype="float32")  # the equality tests are in fp32
