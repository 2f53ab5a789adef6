"""Study configs: shipped configs validate; every bad input is one clear line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from iclft.errors import UserError
from iclft.study import config, config_source

ROOT = Path(__file__).resolve().parents[1]
BASE = {
    "datasets": {"reversals": {"params": {"n_facts": 4, "validation_facts": 1}}},
    "models": ["smollm2-135m-instruct"],
    "conditions": {"pretrained": {}, "icl": {"selection": "budget"}, "ft": {"max_steps": 2}},
}


def with_(**changes):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data.update(changes)
    return data


def error(data) -> str:
    with pytest.raises(UserError) as e:
        config.from_dict(data, Path("/x/study.yaml"))
    msg = str(e.value)
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("name", sorted(str(p.relative_to(ROOT / "configs")) for p in (ROOT / "configs").rglob("*.yaml")
                                         if "accelerate" not in p.parts))  # accelerate launch configs
def test_shipped_configs_validate(name, monkeypatch, tmp_path):
    if "${ICLFT_BERGLUND}" in (ROOT / "configs" / name).read_text():  # an imported release folder (the fixture's)
        from berglund_release import FIXTURE

        from iclft.datasets.reversal_curse import import_layout

        monkeypatch.setenv("ICLFT_BERGLUND", str(import_layout(FIXTURE, validation_people=1).save(tmp_path / "b")))
    study = config.load(ROOT / "configs" / name)
    assert study.datasets and study.models and study.conditions
    assert len(study.hash) == 12


def test_valid_config_resolves_labels_kinds_and_overrides():
    data = with_(conditions={"ft": {"max_steps": 2}, "ft_lora": {"condition": "ft", "lora": {"r": 4}}})
    data["datasets"]["reversals"]["conditions"] = {"ft": {"split": "none"}}
    study = config.from_dict(data, Path("/x/study.yaml"))
    assert [(c.label, c.kind) for c in study.conditions] == [("ft", "ft"), ("ft_lora", "ft")]
    ft = study.conditions[0]
    assert study.options_for(ft, None).split == "independent"
    assert study.options_for(ft, "reversals").split == "none"
    assert study.options_for(ft, "reversals").max_steps == 2
    assert study.options_for(study.conditions[1], "reversals").lora.r == 4
    assert study.models[0].label == "smollm2-135m-instruct"


def test_a_condition_can_be_restricted_to_some_datasets():
    from iclft.study import grid

    data = with_(conditions={"pretrained": {}, "icl": {"datasets": ["syllogisms"]}})
    data["datasets"]["syllogisms"] = {"params": {"n_items": 4, "validation_items": 1}}
    study = config.from_dict(data, Path("/x/study.yaml"))
    assert study.conditions[1].datasets == ("syllogisms",)
    assert study.normalized()["conditions"]["icl"]["datasets"] == ["syllogisms"]
    cells = grid.expand(study).cells
    assert [(c.dataset, c.condition) for c in cells] == [
        ("reversals", "pretrained"), ("syllogisms", "pretrained"), ("syllogisms", "icl")]


@pytest.mark.parametrize(
    "data, expected",
    [
        (with_(colour="red"), "unknown key 'colour'"),
        (with_(seeds=[0, 0]), "seeds: duplicate entries"),
        (with_(seeds="zero"), "seeds:"),
        (with_(questions=["train"]), "questions.0:"),
        (with_(scoring={"normalizations": ["median"]}), "scoring.normalizations.0:"),
        (with_(scoring={"batch_size": 0}), "scoring.batch_size:"),
        (with_(datasets={"nosuch": {}}), "unknown dataset 'nosuch'"),
        (with_(datasets={"reversals": {"params": {"n_fax": 3}}}), "unknown parameter 'n_fax'"),
        (with_(datasets={"reversals": {"params": {"n_facts": "many"}}}), "datasets.reversals.params"),
        (with_(datasets={"reversals": {"limit": -1}}), "datasets.reversals.limit"),
        (with_(datasets={"mine": {"path": "/no/such/folder"}}), "datasets.mine.path"),
        (with_(models=["no-such-model"]), "unknown model 'no-such-model'"),
        (with_(conditions={"telepathy": {}}), "unknown condition 'telepathy'"),
        (with_(conditions={"icl": {"selection": "most"}}), "conditions.icl.selection"),
        (with_(conditions={"icl": {"fraction": 2}}), "conditions.icl.fraction"),
        (with_(conditions={"ft": {"lr": 1e-4, "epochs": 1, "max_steps": 3}}), "epochs or max_steps"),
        (with_(conditions={"ft": {"lora": {"rank": 8}}}), "conditions.ft.lora: unknown key 'rank'"),
        (with_(conditions={"ft": {"learning_rate": 1e-4}}), "conditions.ft: unknown key 'learning_rate'"),
        (with_(datasets={"reversals": {"conditions": {"ftt": {}}}}), "'ftt' is not a condition"),
        (with_(datasets={"reversals": {"conditions": {"ft": {"split": "words"}}}}),
         "datasets.reversals.conditions.ft.split"),
        (with_(conditions={"ft": {"datasets": ["semantic"]}}), "conditions.ft.datasets: 'semantic' is not a dataset"),
        (with_(conditions={"ft": {"datasets": []}}), "conditions.ft.datasets: expected a non-empty list"),
        (with_(models={"bad label!": {"path": "smollm2-135m-instruct"}}), "label 'bad label!'"),
        (with_(test_time=["direct", "telepathy"]), "test_time: unknown test-time mode 'telepathy'"),
        (with_(test_time={"channel": {"max_statements": 0}}), "test_time.channel.max_statements"),
        (with_(test_time={"recall": {"prompt": "no slot"}}), "test_time.recall.prompt: must contain {subject}"),
        (with_(test_time={"think": {"tokens": 3}}), "test_time.think.tokens: Extra inputs"),
        (with_(test_time={"think": {"generator": {"kind": "cloud"}}}), "test_time.think.generator.kind"),
        (with_(test_time=[1]), "test_time: expected mode names"),
        (with_(conditions={"ft": {"test_time": "psychic"}}), "conditions.ft.test_time: unknown test-time mode"),
        (with_(datasets={"reversals": {"conditions": {"ft": {"test_time": {"both": {"weight": -1}}}}}}),
         "datasets.reversals.conditions.ft.test_time.both.weight"),
        ([1, 2], "expected a mapping"),
    ],
)
def test_bad_configs_are_one_clear_line(data, expected):
    msg = error(data)
    assert expected in msg, msg
    assert msg.startswith("/x/study.yaml") or "mapping" in msg


def test_cli_reports_config_errors_on_one_line_and_exits_2(tmp_path, cli):
    bad = tmp_path / "bad.yaml"
    bad.write_text("datasets: {reversals: {}}\nmodels: [smollm2-135m-instruct]\nconditions: {icl: {selection: most}}\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("datasets: [reversals\n")
    for path, expected in ((bad, "conditions.icl.selection"), (broken, "invalid YAML"),
                           (tmp_path / "missing.yaml", "no such config file")):
        r = cli("study", path, "--dry-run", "--out", tmp_path)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("iclft: error: ") and expected in lines[0], r.stderr


def test_conditions_command_lists_every_registered_condition_and_its_options():
    from typer.testing import CliRunner

    from iclft import learners
    from iclft.cli import app

    r = CliRunner().invoke(app, ["conditions"])
    assert r.exit_code == 0, r.output
    for name in learners.names():
        assert name in r.output
    assert "selection ('all')" in r.output and "split ('independent')" in r.output


def test_every_claim_the_quick_study_runs_rests_on_at_least_30_test_questions():
    from collections import Counter

    from iclft.study import claims, grid

    study = config.load(ROOT / "configs" / "quick.yaml")
    planned = grid.expand(study).cells
    ran = {(c.dataset, c.kind, c.control) for c in planned}  # what each cell is, as claims select it

    def has(dataset, select):
        return select is None or (dataset, select.kind, select.control) in ran

    run = [c for c in claims.PAPER if has(c.dataset, c.a) and has(c.dataset, c.b)]
    assert {c.dataset for c in run} >= {"reversals", "syllogisms", "celebrities", "semantic"}
    built: dict = {}
    for name, seed in {(c.dataset, c.seed) for c in planned if c.dataset in {r.dataset for r in run}}:
        dataset, _ = grid.build_dataset(study, name, seed, built)  # as the runner builds the cells' datasets
        counts = Counter(q.split for q in dataset.test)
        for claim in (c for c in run if c.dataset == name):
            assert counts[claim.split] >= 30, (name, claim.split, counts[claim.split])


def test_named_recipes_expand_to_values_before_keying():
    shipped = config.from_dict(with_(conditions={"ft": {"recipe": "batch8", "max_steps": 2, "epochs": None}}))
    explicit = config.from_dict(with_(conditions={"ft": {"lr": 1e-4, "batch_size": 8, "max_steps": 2}}))
    assert shipped.hash == explicit.hash  # a cell's key names the values, not the recipe
    (cond,) = shipped.conditions
    opts = shipped.options_for(cond, None)
    assert (opts.lr, opts.batch_size, opts.max_steps) == (1e-4, 8, 2)  # keys beside the recipe win
    own = config.from_dict(with_(recipes={"tiny": {"lr": 5e-5, "max_steps": 1}},
                                 conditions={"ft_aug_oracle": {"ft": {"recipe": "tiny", "batch_size": 4}}}))
    ft = own.options_for(own.conditions[0], None).ft
    assert (ft.lr, ft.max_steps, ft.batch_size) == (5e-5, 1, 4)


def test_an_unknown_recipe_is_one_line_naming_the_key_and_the_known_ones():
    msg = error(with_(conditions={"ft": {"recipe": "fast"}}))
    assert "conditions.ft.recipe: unknown recipe 'fast'" in msg and "batch8" in msg


def test_the_default_recipe_is_the_tuned_one():
    from iclft.learners.finetune import FTOptions

    opts = FTOptions()
    assert (opts.lr, opts.batch_size, opts.passes, opts.split) == (2e-4, 16, 3.0, "independent")


def test_dataset_folders_replace_the_configs_datasets(tmp_path):
    from iclft.datasets import registry

    folder = registry.build("reversals", params={"n_facts": 4, "validation_facts": 1}).save(tmp_path / "my docs.v2")
    st = config.load(ROOT / "configs" / "quick.yaml", [folder])
    assert [(d.label, d.path) for d in st.datasets] == [("my-docs-v2", folder.resolve())]
    assert all(c.datasets is None for c in st.conditions)  # ft_aug_local ran on celebrities only: now on this one
    with pytest.raises(UserError, match="--dataset .*nope: not a dataset folder"):
        config.load(ROOT / "configs" / "quick.yaml", [tmp_path / "nope"])


def test_dataset_paths_expand_environment_variables(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    data = with_(datasets={"mine": {"path": "${ICLFT_TEST_DATA}"}})
    monkeypatch.delenv("ICLFT_TEST_DATA", raising=False)
    assert error(data) == ("/x/study.yaml: datasets.mine.path: environment variable ICLFT_TEST_DATA is not set "
                           "(set it, or write ${ICLFT_TEST_DATA:-DEFAULT})")
    monkeypatch.setenv("ICLFT_TEST_DATA", str(tmp_path / "data"))
    assert config.from_dict(data, Path("/x/study.yaml")).datasets[0].path == tmp_path / "data"
    monkeypatch.setenv("ICLFT_TEST_DATA", "")  # empty counts as unset: the default is taken
    fallback = with_(datasets={"mine": {"path": f"${{ICLFT_TEST_DATA:-{tmp_path}}}/data"}})
    assert config.from_dict(fallback, Path("/x/study.yaml")).datasets[0].path == tmp_path / "data"
    assert config_source.expand_env("$HOME/${NOT_A_VAR:-}x", "w") == "$HOME/x"  # only ${...} is expanded


def test_any_value_expands_environment_variables(monkeypatch):
    monkeypatch.setenv("ICLFT_TEST_MODEL", "smollm2-135m-instruct")
    data = with_(models={"big": {"path": "${ICLFT_TEST_MODEL}"}},
                 conditions={"ft_aug_local": {"generator": {"kind": "openai", "api_model": "m",
                                                            "base_url": "${ICLFT_TEST_URL:-http://h:8000/v1}"}}})
    monkeypatch.delenv("ICLFT_TEST_URL", raising=False)
    cfg = config.from_dict(data, Path("/x/study.yaml")).config
    assert cfg.models["big"].path == "smollm2-135m-instruct"
    assert cfg.conditions["ft_aug_local"]["generator"]["base_url"] == "http://h:8000/v1"
    monkeypatch.delenv("ICLFT_TEST_MODEL")
    assert error(data) == ("/x/study.yaml: models.big.path: environment variable ICLFT_TEST_MODEL is not set "
                           "(set it, or write ${ICLFT_TEST_MODEL:-DEFAULT})")


def test_yaml_anchors_and_aliases_are_refused_at_once(tmp_path, cli):
    import time

    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]" for a, b in zip("abcdefgh", "bcdefghi")]  # 9 ** 9 strings
    laughs = tmp_path / "laughs.yaml"
    laughs.write_text("\n".join(lines) + "\ndatasets: {reversals: {}}\nmodels: [smollm2-135m-instruct]\n"
                      "conditions: {pretrained: {}}\n")
    assert laughs.stat().st_size < 1024
    start = time.monotonic()
    r = cli("study", laughs, "--dry-run", "--out", tmp_path / "out")
    assert time.monotonic() - start < 5
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"{laughs}:1: YAML anchors and aliases (&name, *name) are not allowed in a study config" in r.stderr
    merged = tmp_path / "merged.yaml"
    merged.write_text("name: x\nbase: &base {epochs: 1}\nconditions:\n  ft: {<<: *base}\n")
    with pytest.raises(UserError, match=r"merged\.yaml:2: YAML anchors and aliases"):
        config.load(merged)


def _folder(path: Path) -> Path:
    from iclft.datasets import registry

    return registry.build("reversals", params={"n_facts": 4, "validation_facts": 1}).save(path)


def test_paths_resolve_where_their_writer_stands(tmp_path, monkeypatch):
    """Written in the file: its folder's; from the environment (or the command line): the current directory's."""
    monkeypatch.chdir(tmp_path)
    _folder(tmp_path / "data" / "here")
    _folder(tmp_path / "studies" / "data" / "beside")
    study = tmp_path / "studies" / "s.yaml"
    study.write_text(yaml.safe_dump({**BASE, "out": "runs/s", "datasets": {
        "env": {"path": "${ICLFT_TEST_DATA}"}, "written": {"path": "data/beside"},
        "fallback": {"path": "${ICLFT_TEST_UNSET:-data/beside}"}}}))
    monkeypatch.setenv("ICLFT_TEST_DATA", "data/here")
    monkeypatch.delenv("ICLFT_TEST_UNSET", raising=False)
    st = config.load(study)
    beside = tmp_path / "studies" / "data" / "beside"
    assert [d.path for d in st.datasets] == [tmp_path / "data" / "here", beside, beside]
    assert st.out == tmp_path / "studies" / "runs" / "s"
    study.write_text(yaml.safe_dump({**BASE, "out": "${ICLFT_TEST_OUT}"}))
    monkeypatch.setenv("ICLFT_TEST_OUT", "runs/mine")
    assert config.load(study).out == Path("runs/mine")


def test_a_shipped_config_resolves_a_users_paths_in_the_current_directory(tmp_path, monkeypatch):
    from berglund_release import FIXTURE

    from iclft.datasets.reversal_curse import import_layout
    from iclft.study import catalog, grid

    monkeypatch.chdir(tmp_path)
    import_layout(FIXTURE, validation_people=1, people_per_group=3, paraphrases=2).save(tmp_path / "data" / "b-cpu")
    monkeypatch.setenv("ICLFT_BERGLUND", "data/b-cpu")
    by_env = config.load(catalog.find("berglund"))
    assert by_env.datasets[0].path == tmp_path / "data" / "b-cpu" and by_env.out == Path("runs/berglund")
    monkeypatch.delenv("ICLFT_BERGLUND")
    by_flag = config.load(catalog.find("berglund"), [Path("data/b-cpu")])  # --dataset fills the one folder
    assert by_flag.overrides == by_env.overrides == {"berglund": {"icl": {"selection": "relevant", "budget": 256}}}
    keys = [c.key for c in grid.expand(by_env).cells]
    assert len(keys) == 5 and [c.key for c in grid.expand(by_flag).cells] == keys


def test_one_datasets_overrides_pass_to_the_folder_that_replaces_it(tmp_path):
    folder = _folder(tmp_path / "mine")
    data = with_()
    data["datasets"]["reversals"].update(conditions={"ft": {"split": "none"}}, limit=3)
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    st = config.load(tmp_path / "s.yaml", [folder])
    assert [(d.label, d.path, d.limit) for d in st.datasets] == [("mine", folder.resolve(), 3)]
    ft = next(c for c in st.conditions if c.label == "ft")
    assert st.options_for(ft, "mine").split == "none"
