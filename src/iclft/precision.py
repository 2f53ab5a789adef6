"""The precision `auto` resolved for a device: one function, used by the fine-tuning cache key, the study's cell
keys and records, its estimates, and (through `models.resolve_dtype`) the dtype `auto` that weights load in.

    auto  ->  bf16 (mixed precision: fp32 weights, bf16 compute) on a CUDA GPU that supports it, and on a
              CPU with bf16 instructions (AVX512-BF16 or AMX); fp32 everywhere else
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

Precision = Literal["auto", "fp32", "bf16"]
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of x86 CPUs with native bf16 arithmetic


def _cpuinfo_flags(path: Path = Path("/proc/cpuinfo")) -> set[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    return {f for line in text.splitlines() if line.startswith("flags") for f in line.partition(":")[2].split()}


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (torch's own probe, else the kernel's CPU flags)."""
    import torch

    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    try:
        if any(getattr(torch.cpu, p)() for p in probes if hasattr(torch.cpu, p)):
            return True
    except (RuntimeError, OSError):  # a private probe: fall through to the flags
        pass
    return bool(_cpuinfo_flags() & set(CPU_BF16_FLAGS))


def pick_device(device: str | None = None) -> str:
    """`device` if given, else CUDA when present, else CPU (where models load, train and generate)."""
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def training_device(device: str | None) -> str:
    """The device fine-tuning runs on: `device` if given, else CUDA when present, else CPU."""
    return pick_device(device)


def resolve(precision: str, device: str | None) -> Literal["fp32", "bf16"]:
    """`fp32` or `bf16` for `precision` on `device` (None: the default training device); `auto` as above."""
    if precision != "auto":
        return "bf16" if precision == "bf16" else "fp32"
    dev = training_device(device)
    if dev.startswith("cuda"):
        import torch

        return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "fp32"
    if dev == "cpu":
        return "bf16" if cpu_has_bf16() else "fp32"
    return "fp32"
