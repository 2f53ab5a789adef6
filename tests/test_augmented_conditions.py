"""Augmented fine-tuning conditions: options in study configs, matched steps, and a tiny real study on the
embedded model (augmented sentences reach the fine-tuning data; a rerun generates nothing)."""

from __future__ import annotations

import json
import os

import pytest
import yaml
from test_study import private_cache

from iclft import models
from iclft.errors import UserError
from iclft.generation.local import LocalGenerator
from iclft.learners import finetune
from iclft.learners.augmented import BothOptions, matched_steps
from iclft.learners.ft_data import examples
from iclft.study import config, cost, grid, run

DATA = {"reversals": {"params": {"n_facts": 2, "articles_per_fact": 1, "validation_facts": 0}}}


def load(tmp_path, conditions: dict, datasets: dict | None = None):
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": datasets or DATA, "models": [models.DEFAULT_MODEL],
                                   "conditions": conditions}))
    return config.load(cfg)


def test_options_validate_nested_blocks(tmp_path):
    study = load(tmp_path, {"both": {"condition": "ft_aug_both", "ft": {"max_steps": 3}, "match_steps": True,
                                     "local": {"k": 2}, "global": {"context": "budget", "budget": 300}}})
    opts = study.options_for(study.conditions[0], None)
    assert isinstance(opts, BothOptions)
    assert [(b.mode, b.k, b.context) for b in opts.blocks()] == [("local", 2, "all"), ("global", 4, "budget")]
    assert opts.ft.max_steps == 3 and opts.generator is None
    normalized = study.normalized()["conditions"]["both"]
    assert normalized["global"]["budget"] == 300 and "global_" not in normalized  # YAML spelling round-trips


@pytest.mark.parametrize(("options", "message"), [
    ({"local": {"kk": 1}}, "conditions.ft_aug_local.local: unknown key 'kk'"),
    ({"local": {"mode": "global"}}, "mode is implied by the key"),
    ({"global": {}}, "unknown key 'global'"),
    ({"ft": {"epochs": 1, "max_steps": 2}}, "give epochs or max_steps"),
    ({"local": {"k": 0}}, "conditions.ft_aug_local.local.k"),
    ({"generator": {"kind": "vllm"}}, "conditions.ft_aug_local.generator.kind"),
    ({"lr": 1e-4}, "unknown key 'lr'"),  # FT options are nested under ft:
])
def test_bad_options_are_one_line_errors(tmp_path, options, message):
    with pytest.raises(UserError, match=message.replace(".", r"\.")) as e:
        study = load(tmp_path, {"ft_aug_local": options})
        study.options_for(study.conditions[0], None)
    assert "\n" not in str(e.value)


def test_dataset_override_merges_into_blocks(tmp_path):
    data = {"reversals": {**DATA["reversals"], "conditions": {"ft_aug_global": {"global": {"max_new_tokens": 9}}}}}
    study = load(tmp_path, {"ft_aug_global": {"global": {"temperature": 0.0}}}, data)
    block = study.options_for(study.conditions[0], "reversals").blocks()[0]
    assert (block.temperature, block.max_new_tokens) == (0.0, 9)


def test_matched_steps():
    ft = finetune.FTOptions(batch_size=2, epochs=1)
    assert matched_steps(6, ft) == 3
    assert matched_steps(7, finetune.FTOptions(batch_size=2, grad_accum=2, epochs=3)) == 6  # 4 batches, 2 steps/epoch
    assert matched_steps(7, finetune.FTOptions(batch_size=8)) == 3  # default 3 epochs


TINY = {
    "name": "aug",
    "datasets": DATA,
    "models": [models.DEFAULT_MODEL],
    # the plumbing is tested here (generations into the FT data, drops recorded, reruns from the cache); the
    # content filters, which drop every restatement the 135M model makes of these two articles, in test_augment_filters
    "conditions": {"ft_aug_local": {"ft": {"epochs": 1, "batch_size": 2}, "match_steps": True,
                                    "local": {"k": 1, "max_new_tokens": 32, "temperature": 0.0, "faithful": False,
                                              "consistent": False, "self_verify": None}}},
    "seeds": [0],
    "questions": ["test"],
}


def run_study(root, out: str):
    cfg = root / "study.yaml"
    cfg.write_text(yaml.safe_dump(TINY, sort_keys=False))
    study_grid = grid.expand(config.load(cfg))
    cost.estimate(study_grid)
    run.run_grid(study_grid, root / out, show_progress=False, log=lambda m: None)
    return study_grid, next((root / out / "cells").iterdir())


def test_tiny_study_adds_augmentations_and_reruns_from_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ICLFT_CACHE", private_cache(tmp_path / "cache")["ICLFT_CACHE"])
    study_grid, cell = run_study(tmp_path, "A")
    # 2 articles x 2 sentences; each article's lead-in names no entity and is skipped: 2 prompts, none cached
    assert study_grid.cells[0].estimate.generate_tokens == 2 * 32
    info = json.loads((cell / "cell.json").read_text())["info"]
    added = json.loads((cell / "augmented.json").read_text())
    drops = json.loads((cell / "augment_drops.json").read_text())
    original = len(examples(study_grid.cells[0].job.dataset.train))  # 4 sentences
    assert info["augmented_documents"] == len(added) >= 1
    assert info["examples"] == original + len(added)  # the augmented sentences are in the FT data
    assert info["matched_steps"] == info["steps"] == 2  # as many steps as `ft` on the 4 original examples
    assert info["augmentation"]["local"]["prompts"] == 2
    assert sum(info["augmentation"]["local"]["dropped"].values()) == len(drops)
    assert all(a["id"].split("/")[1] == "local" for a in added)
    assert json.loads((cell / "timing.json").read_text())["augment_generated"] == 2

    def refuse(self, requests, sampling):
        if requests:  # (the cache asks for the empty list of misses)
            raise AssertionError("the generator was asked for generations on a rerun")
        return iter(())

    monkeypatch.setattr(LocalGenerator, "iter_generate", refuse)
    plan_b, cell_b = run_study(tmp_path, "B")
    assert plan_b.cells[0].estimate.generate_tokens == 0 and plan_b.cells[0].estimate.train_steps == 2  # exact
    timing = json.loads((cell_b / "timing.json").read_text())
    assert timing["augment_generated"] == 0 and timing["augment_cache_hits"] == 2 and timing["trained"] is False
    for name in ("cell.json", "augmented.json", "augment_drops.json"):
        assert (cell / name).read_bytes() == (cell_b / name).read_bytes()
    assert os.environ["ICLFT_CACHE"].startswith(str(tmp_path))
