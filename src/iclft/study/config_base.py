"""A study config that starts from another: `base: NAME` names a shipped config (`iclft configs list`: quick,
tuning/validation) or, ending in .yaml, a config file's path relative to this one.

    base: quick                             # quick.yaml's settings, with this file's over them
    name: full                              # name and out are never taken from the base
    out: runs/full
    datasets:                               # merged into the base's label by label
      semantic: {params: {max_per_subtype: 15}}
    conditions: {pretrained: {}, ft: {}}    # any other key replaces the base's whole

The merge: every top-level key this file writes replaces the base's, except `datasets`. A mapping of datasets is
merged into the base's label by label: an entry's keys over the base entry's, mappings in it (`params`,
`conditions`) key by key, a new label after the base's. A list of labels keeps only those of the base's datasets,
as the base builds them (builder, params, seed), without their `conditions:`, which belong to the base's
conditions. A base may have its own base. Paths in a base (a dataset folder, a model folder) are read against the
file loaded, so a base that others name should hold registry names and builders only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from iclft.errors import UserError
from iclft.io import read_text

OWN = ("name", "out")  # never taken from a base: a study's identity and output folder


def merged(data: Any, path: Path, seen: tuple[Path, ...] = ()) -> Any:
    """The parsed config `data` of the file `path`, over its `base:` when it names one."""
    if not isinstance(data, dict) or "base" not in data:
        return data
    own = dict(data)
    name = own.pop("base")
    found = _find(name, path)
    if found in (*seen, path.resolve()):
        raise UserError(f"{path}: base: {name!r} leads back to {found}: a loop")
    base = merged(_read(found), found, (*seen, path.resolve()))
    if not isinstance(base, dict):
        raise UserError(f"{found}: expected a mapping of settings at the top level (the base of {path})")
    out = {k: v for k, v in base.items() if k not in OWN}
    for key, value in own.items():
        out[key] = _datasets(base.get("datasets"), value, f"{path}: datasets") if key == "datasets" else value
    return out


def _find(name: Any, path: Path) -> Path:
    """The file a `base:` value names."""
    from iclft.study import catalog

    if not isinstance(name, str) or not name.strip():
        raise UserError(f"{path}: base: expected a shipped config's name or a .yaml path, not {name!r}")
    if name.endswith((".yaml", ".yml")):
        found = (path.parent / name).expanduser().resolve()
        if not found.is_file():
            raise UserError(f"{path}: base: {found} is not a file")
        return found
    if name not in catalog.names():
        raise UserError(f"{path}: base: {name!r} is not a shipped config; shipped: {', '.join(catalog.names())}")
    return (catalog.ROOT / f"{name}.yaml").resolve()


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(read_text(path, "base config"))
    except yaml.YAMLError as e:
        raise UserError(f"{path}: invalid YAML: {getattr(e, 'problem', None) or e}") from None


def _entries(datasets: Any) -> dict[str, Any]:
    """A `datasets:` value as label -> entry (a list of names, or empty entries, as config.StudyConfig reads them)."""
    if isinstance(datasets, list):
        return {str(label): {} for label in datasets}
    return {k: v or {} for k, v in datasets.items()} if isinstance(datasets, dict) else {}


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, mappings merged key by key (a dataset's condition overrides, a base's datasets)."""
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _datasets(base: Any, own: Any, where: str) -> Any:
    """This file's `datasets:` merged into the base's (see the module's docstring)."""
    entries = _entries(base)
    if isinstance(own, list):
        unknown = [label for label in own if label not in entries]
        if unknown:
            raise UserError(f"{where}: {unknown[0]!r} is not a dataset of the base ({', '.join(entries)})")
        return {label: {k: v for k, v in entries[label].items() if k != "conditions"} for label in own}
    if isinstance(own, dict):
        return {**entries, **{label: merge(entries.get(label, {}), entry) if isinstance(entry, dict) else
                              entries.get(label, {}) if entry is None else entry for label, entry in own.items()}}
    return own
