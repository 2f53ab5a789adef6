"""`iclft data ...`: build, import, show, validate, export; bad input is one clear line and exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from test_celebrities import public_files, write_files
from typer.testing import CliRunner

from iclft.cli import app
from iclft.datasets import registry
from iclft.datasets.schema import Dataset
from iclft.errors import UserError

runner = CliRunner()


def run(*args: str):
    return runner.invoke(app, ["data", *args])


def test_list_names_every_dataset_and_its_parameters():
    res = run("list")
    assert res.exit_code == 0, res.output
    for name in ("reversals", "syllogisms", "celebrities", "n_facts", "people_per_group"):
        assert name in res.output


def test_build_validate_show_export(tmp_path):
    out = tmp_path / "rev"
    res = run("build", "reversals", "--out", str(out), "--seed", "3", "--param", "n_facts=12",
              "--param", "validation_facts=2")
    assert res.exit_code == 0, res.output
    ds = Dataset.load(out)
    assert (len(ds.train), len(ds.test), len(ds.validation)) == (120, 10, 2)
    assert ds.meta["seed"] == 3 and ds.meta["params"]["n_facts"] == 12

    res = run("validate", str(out))
    assert res.exit_code == 0 and "ok:" in res.output and "0 warnings" in res.output

    res = run("show", str(out), "--n", "2")
    assert res.exit_code == 0, res.output
    assert "reversal" in res.output and ds.train[0].text.split()[0] in res.output
    assert "24 nonsense words; tokens per word" in res.output  # 12 facts x 2 words

    res = run("export-lm-eval", str(out), "--out", str(tmp_path / "tasks"))
    assert res.exit_code == 0 and "lm_eval --model hf" in res.output
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == [
        "iclft_reversals.yaml", "iclft_reversals_reversal.jsonl", "iclft_reversals_reversal.yaml"]


def test_build_is_byte_identical_from_the_command_line(tmp_path):
    for d in ("a", "b"):
        assert run("build", "syllogisms", "--out", str(tmp_path / d), "--seed", "5").exit_code == 0
    for f in ("train.jsonl", "test.jsonl", "validation.jsonl", "meta.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


def test_import_reversal_curse(tmp_path):
    src = write_files(tmp_path / "public", public_files())
    res = run("import-reversal-curse", str(src), "--out", str(tmp_path / "rc"), "--validation-people", "0")
    assert res.exit_code == 0, res.output
    ds = Dataset.load(tmp_path / "rc")
    assert ds.name == "reversal-curse" and len(ds.test) == 12 and ds.meta["source"] == str(src.resolve())
    res = run("show", str(tmp_path / "rc"), "--no-tokens")
    assert res.exit_code == 0 and "p2d_reverse" in res.output and "Mira Quellstone" in res.output


def test_show_works_for_any_dataset_folder(tmp_path):
    folder = tmp_path / "custom"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"id": "d1", "text": "Q: hi A: yo", "prompt": "Q: hi A:"}) + "\n")
    (folder / "test.jsonl").write_text(json.dumps({"id": "q1", "prompt": "x", "choices": [" a", " b"], "answer": 0}) + "\n")
    res = run("show", str(folder))
    assert res.exit_code == 0, res.output
    assert "Q: hi A: yo" in res.output and "no nonsense vocabulary recorded" in res.output


def _folder(tmp_path, test_rows, name="bad"):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"id": "d", "text": "glon are big.", "facts": ["f1"]}) + "\n")
    (folder / "test.jsonl").write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n" for r in test_rows))
    return folder


def test_validate_reports_errors_and_warnings(tmp_path):
    good = {"id": "q", "prompt": "glon are", "choices": [" big.", " small."], "answer": 0, "facts": ["f1"]}
    bad_json = _folder(tmp_path, [good, "{nope\n"], "json")
    res = run("validate", str(bad_json))
    assert isinstance(res.exception, UserError) and "test.jsonl:2: invalid JSON" in str(res.exception)

    bad_answer = _folder(tmp_path, [{**good, "answer": 5}], "answer")
    res = run("validate", str(bad_answer))
    assert isinstance(res.exception, UserError)
    assert "test.jsonl:1:" in str(res.exception) and "answer 5 is out of range" in str(res.exception)

    dup = _folder(tmp_path, [{**good, "choices": [" big.", " big."]}], "dup")
    res = run("validate", str(dup))
    assert isinstance(res.exception, UserError) and "duplicate choices" in str(res.exception)

    style = _folder(tmp_path, [{**good, "prompt": "glon are ", "facts": ["f9"]}], "style")
    res = run("validate", str(style))
    assert res.exit_code == 0
    assert "prompt ends with whitespace" in res.output and "fact 'f9' is in no training document" in res.output


@pytest.mark.parametrize("args,message", [
    (["build", "nope", "--out", "x"], "unknown dataset 'nope'; known: reversals"),
    (["build", "reversals", "--out", "x", "--param", "n_facts=lots"],
     "bad parameters: n_facts: Input should be a valid integer, unable to parse string as an integer (got 'lots')"),
    (["build", "reversals", "--out", "x", "--param", "n_facts"], "bad --param 'n_facts': expected key=value"),
    (["import-reversal-curse", "no/such/dir", "--out", "x"], "no/such/dir: not a directory"),
    (["show", "no/such/dir"], "not a dataset folder"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, cli, args, message):
    proc = cli("data", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("iclft: error: ") and message in proc.stderr
    assert not (tmp_path / "x").exists()  # nothing half-written


def test_a_data_command_in_a_real_process_exits_2_on_one_line_without_importing_torch(tmp_path):
    """The real process (exit code, stderr) of a command that needs no model: importing the CLI and running it
    loads neither torch nor transformers (each costs seconds at every start)."""
    script = ("import sys\nfrom iclft.cli import main\nsys.argv = ['iclft', 'data', 'build', 'nope', '--out', 'x']\n"
              "try:\n    main()\nfinally:\n    print(sorted({'torch', 'transformers'} & set(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          check=False)
    assert proc.returncode == 2 and proc.stdout == "[]\n"
    assert proc.stderr == "iclft: error: unknown dataset 'nope'; known: " + ", ".join(registry.names()) + "\n"
    assert not (tmp_path / "x").exists()
