"""Training precision: `auto` resolved for the device before anything is keyed (FT cache, study cells)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from iclft import models, precision
from iclft.datasets.schema import Document
from iclft.learners.finetune import FTOptions, cache_key
from iclft.learners.ft_data import examples
from iclft.study import config, grid


def test_auto_is_bf16_on_a_cpu_with_bf16_instructions_else_fp32(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert precision.resolve("auto", "cpu") == "bf16"
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert precision.resolve("auto", "cpu") == "fp32"
    assert precision.resolve("bf16", "cpu") == "bf16" and precision.resolve("fp32", "cuda") == "fp32"
    assert precision.resolve("auto", "mps") == "fp32"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert precision.resolve("auto", "cuda") == precision.resolve("auto", "cuda:1") == "bf16"
    assert precision.resolve("auto", None) == "bf16"  # no device given: CUDA when present
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert precision.resolve("auto", "cuda") == "fp32"


def test_cpu_bf16_detection_agrees_with_the_kernel_flags():
    flags = precision._cpuinfo_flags()
    if not flags:
        pytest.skip("no /proc/cpuinfo flags on this system")
    assert precision.cpu_has_bf16() == bool(flags & set(precision.CPU_BF16_FLAGS))


def test_cpuinfo_flags_are_read_from_the_flags_lines(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\nbugs\t\t: spectre\n")
    assert precision._cpuinfo_flags(info) == {"fpu", "avx512f", "avx512_bf16"}
    assert precision._cpuinfo_flags(tmp_path / "missing") == set()


def test_fine_tuning_cache_key_names_the_resolved_precision(monkeypatch):
    base = models.resolve(models.DEFAULT_MODEL)
    exs = examples([Document(id="d", text="The glon are heavier than the femp.")])
    auto = FTOptions(max_steps=1)
    fp32, bf16 = (auto.model_copy(update={"precision": p}) for p in ("fp32", "bf16"))
    assert cache_key(base, exs, fp32, 0) != cache_key(base, exs, bf16, 0)
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: True)
    assert cache_key(base, exs, auto, 0, "cpu") == cache_key(base, exs, bf16, 0, "cpu")
    monkeypatch.setattr(precision, "cpu_has_bf16", lambda: False)
    assert cache_key(base, exs, auto, 0, "cpu") == cache_key(base, exs, fp32, 0, "cpu")


def test_study_cells_key_and_record_the_resolved_precision(monkeypatch):
    data = {"datasets": {"reversals": {"params": {"n_facts": 2, "articles_per_fact": 1, "validation_facts": 1}}},
            "models": [models.DEFAULT_MODEL], "device": "cpu",
            "conditions": {"ft": {"max_steps": 1}, "ft_aug_local": {}}}
    specs = {}
    for has in (True, False):
        monkeypatch.setattr(precision, "cpu_has_bf16", lambda has=has: has)
        cells = grid.expand(config.from_dict(data, Path("study.yaml"))).cells
        specs[has] = {c.condition: c for c in cells}
    assert specs[True]["ft"].spec["options"]["precision"] == "bf16"
    assert specs[False]["ft"].spec["options"]["precision"] == "fp32"
    assert specs[True]["ft_aug_local"].spec["options"]["ft"]["precision"] == "bf16"
    assert specs[False]["ft_aug_local"].options.ft.precision == "fp32"
    assert all(specs[True][c].key != specs[False][c].key for c in ("ft", "ft_aug_local"))


def test_dtype_auto_is_resolved_before_cells_and_generators_are_keyed(monkeypatch):
    """`dtype: auto` (the default) names the weights' real dtype in cell keys, records and a generator's identity."""
    from iclft.generation.local import LocalGenerator

    data = {"datasets": {"reversals": {"params": {"n_facts": 2, "articles_per_fact": 1, "validation_facts": 1}}},
            "models": [models.DEFAULT_MODEL], "device": "cpu", "conditions": {"pretrained": {}}}
    cells = {}
    for has in (True, False):
        monkeypatch.setattr(precision, "cpu_has_bf16", lambda has=has: has)
        assert models.resolve_dtype("auto", "cpu") == ("bfloat16" if has else "float32")
        assert models.resolve_dtype("float16", "cpu") == "float16"
        (cells[has],) = grid.expand(config.from_dict(data, Path("study.yaml"))).cells
        assert LocalGenerator(models.DEFAULT_MODEL, device="cpu").identity["dtype"] == cells[has].job.dtype
    assert (cells[True].spec["dtype"], cells[False].spec["dtype"]) == ("bfloat16", "float32")
    assert cells[True].job.dtype == "bfloat16" and cells[True].key != cells[False].key
    with pytest.raises(models.UserError, match="unknown dtype"):
        models.resolve_dtype("int8")
