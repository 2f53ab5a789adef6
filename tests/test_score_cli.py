"""`iclft score`: the CLI contract other tools rely on, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _questions(tmp_path: Path, lines: list[str]) -> list[str]:
    """Write `lines` as the questions file; the `iclft score` arguments that read it and write out.jsonl."""
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(lines) + "\n")
    return ["score", "--questions", str(questions), "--out", str(tmp_path / "out.jsonl")]


def test_contract_on_demo_questions(tmp_path):
    """A real process: exit code 0, the summary on stdout."""
    lines = (ROOT / "examples" / "demo_questions.jsonl").read_text().splitlines()
    lines.append(json.dumps({"id": "no-answer", "prompt": "Glon are", "choices": [" a", " b", " c"]}))
    cmd = [sys.executable, "-m", "iclft", *_questions(tmp_path, lines), "--context",
           str(ROOT / "examples" / "demo_context.txt"), "--normalize", "mean", "--batch-size", "2"]
    proc, out = subprocess.run(cmd, capture_output=True, text=True, timeout=600), tmp_path / "out.jsonl"
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [json.loads(line)["id"] for line in lines]
    for r in rows:
        assert set(r) == {"id", "logprobs", "pred", "correct"}
        assert 0 <= r["pred"] < len(r["logprobs"]) and all(lp < 0 for lp in r["logprobs"])
    assert rows[-1]["correct"] is None and all(isinstance(r["correct"], bool) for r in rows[:-1])
    n_right = sum(r["correct"] for r in rows[:-1])
    assert f"accuracy {n_right / 5:.3f} ({n_right}/5)" in proc.stdout


GOOD = '{"id": "a", "prompt": "Glon are", "choices": [" big", " small"], "answer": 1}'


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ('{"id": "b", "prompt": "x", "choices": [" y"', "q.jsonl:2: invalid JSON"),
        ('{"id": "b", "choices": [" y", " z"], "answer": 0}', "q.jsonl:2: prompt: Field required"),
        ('{"id": "b", "prompt": "x", "answer": 0}', "q.jsonl:2: choices: Field required"),
        ('{"id": "b", "prompt": "x", "choices": [" y", " z"], "answer": 2}', "answer 2 is out of range for 2 choices"),
        ('{"id": "b", "prompt": "x", "choices": [], "answer": 0}', "q.jsonl:2: choices: List should have at least 1"),
        ('{"id": "b", "prompt": "x", "choices": [" y", ""], "answer": 0}', "choices must be non-empty strings"),
        ('["not", "an", "object"]', "q.jsonl:2: expected a JSON object"),
        (GOOD, "duplicate id 'a'"),
    ],
)
def test_malformed_questions_give_one_clear_line(tmp_path, cli, bad_line, message):
    proc, out = cli(*_questions(tmp_path, [GOOD, bad_line])), tmp_path / "out.jsonl"
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("iclft: error: "), proc.stderr
    assert message in lines[0]
    assert not out.exists() and not list(tmp_path.glob(".out.jsonl*"))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--normalize", "median"], "unknown normalization 'median'"),
        (["--model", "no-such-model"], "unknown model 'no-such-model'"),
        (["--context", "/nonexistent/ctx.txt"], "context file not found"),
    ],
)
def test_bad_options_give_one_clear_line(tmp_path, cli, extra, message):
    proc, out = cli(*_questions(tmp_path, [GOOD]), *extra), tmp_path / "out.jsonl"
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
    assert not out.exists()
