"""The dataset registry: dataset name -> the module that builds it.

Each dataset module exposes
    DESCRIPTION: str
    class Params(pydantic.BaseModel, extra="forbid")   # defaults are the paper's sizes
    def build(seed: int, params: Params) -> Dataset
and is imported lazily, so listing datasets stays cheap.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from iclft.datasets.schema import Dataset
from iclft.errors import UserError
from iclft.io import describe_validation_error

BUILDERS: dict[str, str] = {
    "reversals": "iclft.datasets.reversals",
    "syllogisms": "iclft.datasets.syllogisms",
    "celebrities": "iclft.datasets.celebrities",
    "semantic": "iclft.datasets.semantic",
    "derivatoids": "iclft.datasets.derivatoids",
    "squad": "iclft.datasets.squad",
    "squad_tuning": "iclft.datasets.squad_tuning",
}


def names() -> list[str]:
    """The registered dataset names, in registration order."""
    return list(BUILDERS)


def module(name: str) -> ModuleType:
    """The builder module of a dataset (imported on first use)."""
    if name not in BUILDERS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(names())}")
    return importlib.import_module(BUILDERS[name])


def param_fields(name: str) -> dict[str, tuple[str, Any, str]]:
    """Each parameter of a dataset: name -> (type name, default, description)."""
    out = {}
    for key, f in module(name).Params.model_fields.items():
        ann = f.annotation
        type_name = getattr(ann, "__name__", None) or str(ann).replace("typing.", "")
        out[key] = (type_name, f.default, f.description or "")
    return out


def make_params(name: str, params: dict[str, Any] | None = None) -> BaseModel:
    """Validate parameters for a dataset; a bad key or value is one UserError naming it."""
    cls = module(name).Params
    params = dict(params or {})
    unknown = [k for k in params if k not in cls.model_fields]
    if unknown:
        known = ", ".join(cls.model_fields) or "(none)"
        raise UserError(f"unknown parameter {unknown[0]!r} for dataset {name!r}; known: {known}")
    try:
        return cls(**params)
    except ValidationError as e:
        raise UserError(f"dataset {name!r}: bad parameters: {describe_validation_error(e)}") from None


def build(name: str, seed: int = 0, params: dict[str, Any] | None = None) -> Dataset:
    """Build a dataset by name; meta records generator, seed and the full (validated) parameters."""
    mod = module(name)
    p = make_params(name, params)
    ds = mod.build(seed, p)
    meta = dict(ds.meta)
    meta.setdefault("generator", f"{mod.__name__}")
    meta.setdefault("version", getattr(mod, "VERSION", 1))
    meta["seed"] = seed
    meta["params"] = p.model_dump(mode="json")
    ds.meta = meta
    return ds


def parse_param(kv: str) -> tuple[str, object]:
    """'key=value' from the command line; the value is parsed as YAML (ints, floats, bools, lists)."""
    key, sep, raw = kv.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError(f"bad --param {kv!r}: expected key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value
