"""Where a study config's values come from: its YAML file (safe loading, no anchors or aliases), `${VAR}`s from the
environment, `--dataset` folders from the command line, and the folder each path resolves against
(`iclft.study.config`'s docstring gives the rule)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from iclft.errors import UserError
from iclft.study import catalog

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Refused(yaml.YAMLError):
    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}")
        self.line = line


class _NoAliasLoader(yaml.SafeLoader):
    """yaml.SafeLoader refusing anchors and aliases: a kilobyte of nested aliases expands to billions of values."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(event.start_mark.line + 1)
        return super().compose_node(parent, index)


def parse_yaml(text: str, path: Path) -> Any:
    """A config file's YAML; malformed YAML, an anchor or an alias is one error line naming file and line."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except _Refused as e:
        raise UserError(f"{path}:{e.line}: YAML anchors and aliases (&name, *name) are not allowed in a study "
                        "config; write the values out") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise UserError(f"{path}: invalid YAML{where}: {getattr(e, 'problem', None) or e}") from None


def expand_env(text: str, where: str) -> str:
    """`${VAR}` and `${VAR:-default}` replaced from the environment (an empty variable counts as unset); an unset
    variable without a default is one error line naming it."""
    def value(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if os.environ.get(name):
            return os.environ[name]
        if default is not None:
            return default
        raise UserError(f"{where}: environment variable {name} is not set (set it, or write ${{{name}:-DEFAULT}})")

    return _ENV.sub(value, text)


def expanded(value: Any, where: str) -> Any:
    """Every string of a parsed config with its `${VAR}`s expanded (`where`: the key path, for errors)."""
    if isinstance(value, str):
        return expand_env(value, where)
    if isinstance(value, dict):
        return {k: expanded(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [expanded(v, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def _starts_with_env(value: Any) -> bool:
    """Whether a value starts with a `${VAR}` that the environment sets (not with its default)."""
    m = _ENV.match(value) if isinstance(value, str) else None
    return bool(m and os.environ.get(m.group(1)))


def env_rooted(raw: dict[str, Any], expanded: dict[str, Any]) -> frozenset[str]:
    """The keys ("out", "datasets.mine.path", "models.big.path", ...) whose value starts with a set `${VAR}` in the
    config as written (`raw`); an item of a `models:` list counts as `models.LABEL.path` (LABEL: as expanded)."""
    keys = {"out"} if _starts_with_env(raw.get("out")) else set()
    for field in ("datasets", "models"):
        entries = raw.get(field)
        if isinstance(entries, list) and field == "models":
            keys |= {f"models.{Path(e).name}.path" for v, e in zip(entries, expanded["models"]) if _starts_with_env(v)}
        elif isinstance(entries, dict):
            keys |= {f"{field}.{label}.{k}" for label, entry in entries.items() if isinstance(entry, dict)
                     for k, v in entry.items() if _starts_with_env(v)}
    return frozenset(keys)


@dataclass(frozen=True)
class Bases:
    """The folder each path of a config resolves against."""

    folder: Path | None  # a user's config file's folder; None: the current directory (a shipped config, or none)
    from_env: frozenset[str] = frozenset()  # keys whose value the environment gave: the current directory's

    @classmethod
    def of(cls, source: Path | None, raw: dict[str, Any], expanded: dict[str, Any]) -> Bases:
        """The bases of a config read from `source` (None: built in code), as written and as expanded."""
        shipped = source is None or source.resolve().is_relative_to(catalog.ROOT)
        return cls(None if shipped else source.parent, env_rooted(raw, expanded))

    def place(self, text: str, key: str) -> Path:
        """The path `text` (the value of `key`) names: under its base, or as it is where that is the current
        directory (relative stays relative)."""
        path = Path(text).expanduser()
        return path if self.folder is None or key in self.from_env else self.folder / path


def dataset_label(folder: str | Path) -> str:
    """A dataset folder's label in a study: its name, with anything but letters, digits, '-' and '_' as '-'."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", Path(folder).resolve().name).lstrip("-_") or "data"


def with_folders(data: dict[str, Any], folders: list[str | Path]) -> dict[str, Any]:
    """A parsed config with `--dataset` folders (relative to the current directory) for its datasets. A config with
    one dataset passes its options (limit, seed, `conditions:` overrides) on to the folders, and when that dataset
    is itself a folder (`path:`) and one folder is given, its label too: the same cells as its `path:` naming the
    folder. Otherwise each folder is labelled by its name, and condition restrictions (`datasets:`) are dropped."""
    for folder in folders:
        if not Path(folder).is_dir():
            raise UserError(f"--dataset {folder}: not a dataset folder (no such directory)")
    own = data.get("datasets")
    only = next(iter(own.values())) if isinstance(own, dict) and len(own) == 1 else None
    entry = only if isinstance(only, dict) else {}
    options = {k: v for k, v in entry.items() if k not in ("builder", "params", "path")}
    if "path" in entry and len(folders) == 1:
        return {**data, "datasets": {next(iter(own)): {**options, "path": str(Path(folders[0]).resolve())}}}
    out = {**data, "datasets": {dataset_label(f): {**options, "path": str(Path(f).resolve())} for f in folders}}
    if isinstance(data.get("conditions"), dict):  # restrictions named the config's own datasets
        out["conditions"] = {k: {kk: vv for kk, vv in v.items() if kk != "datasets"} if isinstance(v, dict) else v
                             for k, v in data["conditions"].items()}
    return out


BUDGET_SEP = "-b"  # a budget axis's point: LABEL-b2 (budget 2), LABEL-b0.5 -> LABEL-b0p5


def budget_points(label: str, opts: dict[str, Any], source: Path | None) -> list[tuple[str, dict[str, Any]]]:
    """A condition with `budgets: [B, ...]` (written tokens per document as multiples of the documents' mean
    tokens) as one condition a budget, LABEL-bB with `budget: B`; any other as itself."""
    budgets = opts.pop("budgets", None)
    if budgets is None:
        return [(label, opts)]
    if (not isinstance(budgets, list) or not budgets or len(set(map(str, budgets))) != len(budgets)
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and b > 0 for b in budgets)):
        raise UserError(f"{source}: conditions.{label}.budgets: expected a list of distinct positive numbers "
                        "(multiples of the documents' tokens), e.g. [1, 2, 4]")
    if "budget" in opts:
        raise UserError(f"{source}: conditions.{label}: budget and budgets both set; keep one")
    return [(f"{label}{BUDGET_SEP}{b:g}".replace(".", "p"), {**opts, "budget": b}) for b in budgets]


def point_overrides(overrides: dict[str, dict[str, Any]], labels: list[str]) -> dict[str, dict[str, Any]]:
    """Per-dataset condition options with a budget axis's points given their condition's (LABEL-bB <- LABEL)."""
    for over in overrides.values():
        for label in labels:
            base = label.rsplit(BUDGET_SEP, 1)[0]
            if label != base and base in over:
                over.setdefault(label, over[base])
    return overrides
