"""Every command's results go to stdout (so `| grep`, `| less`, `> file` get them); progress and diagnostics to
stderr. Run through the real CLI with the two streams kept apart."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from iclft import models
from iclft.cli import app

runner = CliRunner()
Q = {"id": "q", "prompt": "The glon are", "choices": [" heavy.", " light."], "answer": 0}


def _run(*args: str) -> tuple[str, str]:
    res = runner.invoke(app, list(args))
    assert res.exit_code == 0, (res.output, res.exception)
    return res.stdout, res.stderr


def test_listings_and_inspections_print_to_stdout(tmp_path):
    out, err = _run("data", "list")
    assert "reversals" in out and "n_facts" in out and err == ""
    out, err = _run("models", "list")
    assert models.DEFAULT_MODEL in out and err == ""
    out, err = _run("conditions")
    assert "ft_aug_local" in out and err == ""
    folder = tmp_path / "ds"
    out, _ = _run("data", "build", "reversals", "--out", str(folder), "--param", "n_facts=4",
                  "--param", "validation_facts=1")
    assert out.startswith(f"wrote {folder}")
    out, err = _run("data", "show", str(folder), "--no-tokens")
    assert "training documents" in out and "questions" in out and err == ""
    out, err = _run("data", "validate", str(folder))
    assert out.startswith("ok: ") and err == ""
    out, _ = _run("data", "export-lm-eval", str(folder), "--out", str(tmp_path / "tasks"))
    assert "wrote" in out and "lm_eval" in out


def test_results_of_working_commands_print_to_stdout(tmp_path):
    (tmp_path / "q.jsonl").write_text(json.dumps(Q) + "\n")
    out, _ = _run("score", "--questions", str(tmp_path / "q.jsonl"), "--out", str(tmp_path / "s.jsonl"))
    assert out.startswith("1 questions scored") and "accuracy" in out
    (tmp_path / "docs.txt").write_text("The glon are heavier than the femp.")
    out, _ = _run("augment", "local", "--docs", str(tmp_path / "docs.txt"), "--out", str(tmp_path / "a.jsonl"),
                  "--dry-run")
    assert out.startswith("augment local:")
    cfg = tmp_path / "study.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"reversals": {"params": {"n_facts": 4, "validation_facts": 1}}},
                                   "models": [models.DEFAULT_MODEL], "conditions": {"pretrained": {}},
                                   "out": str(tmp_path / "run")}))
    out, err = _run("study", str(cfg), "--dry-run")
    assert "study study: 1 cells" in out and "1 of 1 cells to run" in out and "GPU-hours" in out and err == ""


def test_a_full_disk_is_one_line_and_other_errors_stay_tracebacks(monkeypatch, capsys):
    import errno

    import pytest

    import iclft.cli as cli

    full = [OSError(errno.ENOSPC, "No space left on device"),
            RuntimeError("Error while serializing: I/O error: No space left on device (os error 28)")]  # safetensors
    for error in full:
        def boom(error=error):
            raise error
        monkeypatch.setattr(cli, "app", boom)
        with pytest.raises(SystemExit) as exit_:
            cli.main()
        assert exit_.value.code == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("iclft: error: no space left on device")

    def bug():
        raise ValueError("a bug")
    monkeypatch.setattr(cli, "app", bug)
    with pytest.raises(ValueError):
        cli.main()
