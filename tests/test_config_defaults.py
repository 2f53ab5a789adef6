"""One source per default: a shipped study config writes only what differs from the code's defaults and named
recipes, no two shipped configs copy the same block, and `base:` merges as study/config_base.py says."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from iclft.errors import UserError
from iclft.study import catalog, config, config_base
from iclft.study.config import ConditionSpec, Study

STUDIES = sorted(n for n in catalog.names() if not n.startswith("accelerate/"))  # accelerate: launch configs
SMALLEST_BLOCK = 3  # keys of a mapping that counts as a copied block


@pytest.fixture(scope="module", autouse=True)
def berglund(tmp_path_factory):
    """configs/berglund.yaml's ${ICLFT_BERGLUND}: the fixture release, imported."""
    from berglund_release import FIXTURE

    from iclft.datasets.reversal_curse import import_layout

    folder = import_layout(FIXTURE, validation_people=1).save(tmp_path_factory.mktemp("berglund") / "b")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ICLFT_BERGLUND", str(folder))
        yield


def _leaves(options: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every written key path of an options mapping and its value (a non-empty mapping is walked into)."""
    for key, value in options.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*prefix, key))
        else:
            yield (*prefix, key), value


def _without(options: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """`options` with the key at `path` left out."""
    head, *rest = path
    out = dict(options)
    if rest:
        out[head] = _without(out[head], tuple(rest))
    else:
        del out[head]
    return out


def _dump(study: Study, cond: ConditionSpec, dataset: str | None) -> dict[str, Any] | None:
    try:
        return {**study.options_for(cond, dataset).model_dump(mode="json"),
                "test_time": study.modes_for(cond, dataset)[0]}  # the modes its cells are scored in
    except UserError:
        return None


def redundant(study: Study) -> Iterator[str]:
    """Every written condition option whose removal changes nothing: it equals its default (or its recipe's value,
    or, in a dataset's `conditions:`, what the condition already has)."""
    for cond in study.conditions:
        whole = _dump(study, cond, None)
        for path, value in _leaves(cond.options):
            if _dump(study, replace(cond, options=_without(cond.options, path)), None) == whole:
                yield f"conditions.{cond.label}.{'.'.join(path)} = {value!r}"
    for dataset, over in study.overrides.items():
        for label, options in over.items():
            cond = next(c for c in study.conditions if c.label == label)
            whole = _dump(study, cond, dataset)
            for path, value in _leaves(options):
                less = {**study.overrides, dataset: {**over, label: _without(options, path)}}
                if _dump(replace(study, overrides=less), cond, dataset) == whole:
                    yield f"datasets.{dataset}.conditions.{label}.{'.'.join(path)} = {value!r}"


def blocks(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every mapping of a parsed YAML document with at least SMALLEST_BLOCK keys, with its key path. A condition's
    `datasets:` (where it runs, not what it is) is not counted: two studies may run the same arm."""
    if isinstance(node, dict):
        settings = {k: v for k, v in node.items() if k != "datasets"} if path.count(".") == 1 and path.startswith(
            "conditions.") else node
        if len(settings) >= SMALLEST_BLOCK:
            yield path or "(top level)", settings
        for key, value in node.items():
            yield from blocks(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from blocks(value, f"{path}[{i}]")


def copies(files: dict[str, Any]) -> list[str]:
    """Each block written the same in two files (name -> parsed YAML): one line naming both places."""
    seen: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for name, data in files.items():
        for path, block in blocks(data):
            seen[json.dumps(block, sort_keys=True, default=str)].append((name, path))
    out = []
    for text, places in seen.items():
        first = places[0]
        out += [f"{first[0]}: {first[1]} and {name}: {path} copy {text}" for name, path in places[1:]
                if name != first[0] and not _measured_on_a_tuning_world(first, (name, path))]
    return out


def _measured_on_a_tuning_world(*places: tuple[str, str]) -> bool:
    """A tuning config may run a shipped study's whole arm as written there (the reference a searched-for recipe is
    compared with on its tuning world): a condition, not a block of options inside one."""
    tuning = [name.startswith("configs/tuning/") for name, _ in places]
    return any(tuning) and not all(tuning) and all(path.count(".") == 1 and path.startswith("conditions.")
                                                    for _, path in places)


@pytest.mark.parametrize("name", STUDIES)
def test_a_shipped_config_writes_no_default(name):
    study = config.load(catalog.ROOT / f"{name}.yaml")
    found = [f"configs/{name}.yaml: {line} changes nothing (its default)" for line in redundant(study)]
    assert not found, "\n".join(found)


def test_no_two_shipped_configs_copy_a_block():
    files = {f"configs/{n}.yaml": yaml.safe_load((catalog.ROOT / f"{n}.yaml").read_text()) for n in catalog.names()}
    found = copies(files)
    assert not found, "\n".join(found)


def test_the_checks_find_a_default_and_a_copy():
    data = {"datasets": {"reversals": {"params": {"n_facts": 4, "validation_facts": 1},
                                       "conditions": {"ft": {"lr": 1.0e-3, "split": "none"}}}},
            "models": ["smollm2-135m-instruct"],
            "conditions": {"ft": {"lr": 1.0e-3, "batch_size": 16}, "icl": {"selection": "all", "budget": 64},
                           "ft_b8": {"condition": "ft", "recipe": "batch8", "epochs": 3}}}
    study = config.from_dict(data, Path("/x/study.yaml"))
    assert sorted(redundant(study)) == ["conditions.ft.batch_size = 16", "conditions.ft_b8.epochs = 3",
                                        "conditions.icl.selection = 'all'",
                                        "datasets.reversals.conditions.ft.lr = 0.001"]
    block = {"a": 1, "b": 2, "c": {"d": 3}}
    assert copies({"x.yaml": {"one": block}, "y.yaml": {"two": {"deeper": dict(block)}}, "z.yaml": {"a": 1}}) == [
        f"x.yaml: one and y.yaml: two.deeper copy {json.dumps(block, sort_keys=True)}"]
    assert copies({"x.yaml": {"one": {"a": 1, "b": 2}}, "y.yaml": {"two": {"a": 1, "b": 2}}}) == []  # 2 keys: no block
    arm = {"condition": "ft", "lr": 1.0e-3, "datasets": ["reversals"]}  # where it runs is not a setting
    assert copies({"x.yaml": {"conditions": {"a": arm}}, "y.yaml": {"conditions": {"b": dict(arm)}}}) == []
    arm = {**arm, "epochs": 2}
    settings = json.dumps({"condition": "ft", "epochs": 2, "lr": 1.0e-3}, sort_keys=True)
    assert copies({"x.yaml": {"conditions": {"a": arm}}, "y.yaml": {"conditions": {"b": dict(arm)}}}) == [
        f"x.yaml: conditions.a and y.yaml: conditions.b copy {settings}"]
    shipped, tuning = {"conditions": {"a": arm}}, {"conditions": {"b": dict(arm)}}
    assert copies({"configs/x.yaml": shipped, "configs/tuning/y.yaml": tuning}) == []  # the shipped arm, measured
    assert copies({"configs/tuning/x.yaml": shipped, "configs/tuning/y.yaml": tuning}) != []


def _write(folder: Path, name: str, data: dict[str, Any]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_base_merges_datasets_label_by_label_and_replaces_every_other_key(tmp_path):
    base = {"name": "b", "out": "runs/b", "models": ["smollm2-135m-instruct"], "seeds": [0, 1],
            "datasets": {"reversals": {"params": {"n_facts": 4, "validation_facts": 1},
                                       "conditions": {"icl": {"selection": "budget"}}},
                         "syllogisms": {"params": {"n_items": 4, "validation_items": 1}}},
            "conditions": {"pretrained": {}, "icl": {"selection": "all"}}, "scoring": {"normalizations": ["mean"]}}
    _write(tmp_path, "base.yaml", base)
    own = {"base": "base.yaml", "name": "mine",
           "datasets": {"reversals": {"params": {"n_facts": 6}, "conditions": {"icl": {"budget": 64}}},
                        "celebrities": None},
           "conditions": {"icl": {}}}
    merged = config_base.merged(own, tmp_path / "mine.yaml")
    assert merged == {
        "models": ["smollm2-135m-instruct"], "seeds": [0, 1], "scoring": {"normalizations": ["mean"]},  # the base's
        "name": "mine",  # name and out are never the base's
        "datasets": {"reversals": {"params": {"n_facts": 6, "validation_facts": 1},
                                   "conditions": {"icl": {"selection": "budget", "budget": 64}}},
                     "syllogisms": {"params": {"n_items": 4, "validation_items": 1}},
                     "celebrities": {}},  # a new label after the base's
        "conditions": {"icl": {}},  # replaced whole
    }
    picked = config_base.merged({"base": "base.yaml", "datasets": ["reversals"], "conditions": {"pretrained": {}}},
                                tmp_path / "mine.yaml")
    assert picked["datasets"] == {"reversals": {"params": {"n_facts": 4, "validation_facts": 1}}}  # no conditions


def test_base_loads_through_config_load_with_shipped_names_and_chains(tmp_path):
    own = _write(tmp_path, "mine.yaml", {"base": "tuning/ft-batch16", "name": "mine",
                                         "datasets": ["reversals"], "conditions": {"ft": {"max_steps": 1}}})
    study = config.load(own)
    assert [(d.label, d.seed, d.params["validation_facts"]) for d in study.datasets] == [("reversals", 1, 20)]
    assert study.config.name == "mine" and study.config.out is None and study.config.questions == ["validation"]
    assert [c.label for c in study.conditions] == ["ft"]


@pytest.mark.parametrize(("base", "message"), [
    ("nosuch", "mine.yaml: base: 'nosuch' is not a shipped config; shipped: "),
    ("other.yaml", "other.yaml is not a file"),
    ("mine.yaml", "base: 'mine.yaml' leads back to"),
    (3, "base: expected a shipped config's name or a .yaml path, not 3"),
])
def test_a_bad_base_is_one_line_naming_it(tmp_path, base, message):
    path = _write(tmp_path, "mine.yaml", {"base": base, "conditions": {"pretrained": {}}})
    with pytest.raises(UserError, match=message.replace(".", r"\.").replace("(", r"\(")) as e:
        config.load(path)
    assert "\n" not in str(e.value)


def test_a_dataset_the_base_lacks_is_named(tmp_path):
    path = _write(tmp_path, "mine.yaml", {"base": "quick", "datasets": ["squad"], "conditions": {"pretrained": {}}})
    with pytest.raises(UserError, match="mine.yaml: datasets: 'squad' is not a dataset of the base"):
        config.load(path)


def test_a_studys_local_block_has_its_own_new_tokens_default():
    from iclft.augment import AugmentOptions
    from iclft.learners.augmented import LOCAL_NEW_TOKENS, BothOptions, GlobalOptions, LocalOptions, SpaOptions

    assert LocalOptions().local.max_new_tokens == LocalOptions.model_validate({"local": {"k": 2}}).local.max_new_tokens
    assert LocalOptions().local.max_new_tokens == BothOptions().local.max_new_tokens == LOCAL_NEW_TOKENS == 96
    assert LocalOptions.model_validate({"local": {"max_new_tokens": 128}}).local.max_new_tokens == 128
    # `iclft augment` (AugmentOptions' own default) and the other families keep 128
    assert AugmentOptions(mode="local").max_new_tokens == GlobalOptions().global_.max_new_tokens == 128
    assert SpaOptions.model_validate({"spa": {}}).spa.max_new_tokens == BothOptions().global_.max_new_tokens == 128
