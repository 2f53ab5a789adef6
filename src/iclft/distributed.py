"""The process's place in a distributed launch (`accelerate launch`, torchrun): rank, world size, barrier.

Outside a launch (no RANK / WORLD_SIZE in the environment) this is rank 0 of 1 and `barrier` does nothing.
"""

from __future__ import annotations

import os


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def fsdp() -> bool:
    """Whether this is an FSDP launch (`accelerate launch` with distributed_type FSDP sets ACCELERATE_USE_FSDP)."""
    return world_size() > 1 and os.environ.get("ACCELERATE_USE_FSDP", "").lower() in ("1", "true")


def barrier(device: str | None = None) -> None:
    """Wait until every process gets here; joins the launch's process group first if none is set up yet (the
    same one the HF Trainer uses later; `device` decides its backend: gloo on a CPU, else the GPU's)."""
    if world_size() <= 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        from accelerate import PartialState

        from iclft.precision import training_device

        PartialState(cpu=training_device(device) == "cpu")
    dist.barrier()
