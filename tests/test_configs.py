"""The study configs ship inside the package: `iclft study NAME`, `iclft configs list|copy`, and all of it from an
installed wheel (no checkout, no `configs/` folder beside it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from iclft.cli import app
from iclft.study import catalog
from iclft.study import config as cfgmod

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def test_the_checkout_configs_folder_is_the_shipped_one():
    assert (ROOT / "configs").resolve() == catalog.ROOT
    assert {"quick", "full", "paper", "tuning/ft-batch16", "tuning/validation"} <= set(catalog.names())
    assert catalog.describe("paper").startswith("Paper-scale study (Lampinen et al. 2025)")


def test_a_name_or_a_path_finds_a_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for arg in ("quick", "quick.yaml", "configs/quick.yaml"):
        assert catalog.find(arg) == catalog.ROOT / "quick.yaml"
    assert catalog.find("tuning/ft-batch16") == catalog.ROOT / "tuning" / "ft-batch16.yaml"
    (tmp_path / "quick").write_text("name: mine\n")  # a file that exists wins over a shipped name
    assert catalog.find("quick") == Path("quick")
    res = runner.invoke(app, ["study", "nosuch", "--dry-run"])
    assert res.exit_code != 0 and "nosuch: no such config file" in str(res.exception)
    assert "quick, rl-thinking, rl-thinking-gpu, test-time, tuning/channel-statements, tuning/ft-batch" in str(res.exception)


def test_configs_copy_writes_an_editable_config_that_loads_and_refuses_to_overwrite(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["configs", "copy", "tuning/ft-batch16"])
    assert res.exit_code == 0, res.output
    copied = tmp_path / "ft-batch16.yaml"
    assert res.stdout.strip() == str(copied)
    assert copied.read_bytes() == (catalog.ROOT / "tuning" / "ft-batch16.yaml").read_bytes()
    # it refers to no file beside it: datasets are builders, models registry names (`out` is beside the copy)
    study = cfgmod.load(copied)
    assert all(d.path is None for d in study.datasets)
    copied.write_text("edited")
    res = runner.invoke(app, ["configs", "copy", "tuning/ft-batch16", str(tmp_path)])
    assert res.exit_code != 0 and "exists; pass --force" in str(res.exception)
    assert copied.read_text() == "edited"
    res = runner.invoke(app, ["configs", "copy", "quick", str(tmp_path / "sub" / "mine.yaml")])
    assert res.exit_code == 0 and (tmp_path / "sub" / "mine.yaml").read_bytes() == (catalog.ROOT / "quick.yaml").read_bytes()
    res = runner.invoke(app, ["configs", "copy", "tuning/ft-batch16", "--force"])
    assert res.exit_code == 0 and copied.read_text() != "edited"
    res = runner.invoke(app, ["configs", "copy", "nosuch"])
    assert res.exit_code != 0 and "nosuch: not a shipped config" in str(res.exception)


def test_an_installed_wheel_ships_the_configs(tmp_path):
    """Build a wheel from the sources, install it to a bare folder, and run it from outside the checkout."""
    src = tmp_path / "checkout"  # a copy of what the wheel is built from, so the build leaves nothing here
    shutil.copytree(ROOT / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("iclft-*.whl")
    site = tmp_path / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
                   check=True, capture_output=True)
    assert (site / "iclft" / "configs" / "tuning" / "ft-batch16.yaml").is_file()
    squad = site / "iclft" / "datasets" / "data" / "squad"
    assert (squad / "passages.json").is_file() and "CC BY-SA 4.0" in (squad / "README.md").read_text()
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def iclft(*args: str) -> str:
        res = subprocess.run([sys.executable, "-m", "iclft", *args], cwd=work, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-2000:]
        return res.stdout

    listing = iclft("configs", "list")
    assert str(site / "iclft" / "configs") in listing.replace("\n", "")
    assert "quick" in listing and "tuning/ft-batch16" in listing
    dry = iclft("study", "quick", "--dry-run")
    assert "study quick: 15 cells" in dry and "cells to run" in dry
    assert not (work / "runs").exists()  # a dry run writes nothing


def test_the_berglund_config_dry_runs_on_an_imported_release(tmp_path, monkeypatch):
    """configs/berglund.yaml on an imported folder named by ICLFT_BERGLUND: every condition, the controls marked."""
    from berglund_release import FIXTURE

    from iclft.datasets.reversal_curse import import_layout

    monkeypatch.delenv("ICLFT_BERGLUND", raising=False)
    res = runner.invoke(app, ["study", "berglund", "--dry-run"])
    assert res.exit_code != 0 and "environment variable ICLFT_BERGLUND is not set" in str(res.exception)
    folder = import_layout(FIXTURE, validation_people=1, people_per_group=3, paraphrases=2).save(tmp_path / "b")
    monkeypatch.setenv("ICLFT_BERGLUND", str(folder))
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["study", "berglund", "--dry-run"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "study berglund: 5 cells" in out and "ft_aug_local" in out
    assert "ft_aug_oracle" in out and "(CONTROL)" in out  # a narrow terminal wraps the label
    assert not (tmp_path / "runs").exists()
