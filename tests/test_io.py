"""Reading the user's files: bytes that are not UTF-8 are one line naming the file and line, never a traceback."""

from __future__ import annotations

import json

import pytest

from iclft.errors import UserError
from iclft.io import iter_jsonl, read_json, read_text

GARBAGE = b"\xff\xfe\x00garbage\n"
GOOD_QUESTION = {"id": "q", "prompt": "glon are", "choices": [" big.", " small."], "answer": 0}


def test_jsonl_that_is_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_bytes(json.dumps(GOOD_QUESTION).encode() + b"\n" + GARBAGE)
    rows = iter_jsonl(path)
    assert next(rows)[0] == 1
    with pytest.raises(UserError, match=r"q\.jsonl:2: not UTF-8 text \(byte 0xff at column 1\)"):
        next(rows)


def test_text_and_json_that_are_not_utf8_name_file_and_line(tmp_path):
    path = tmp_path / "notes.md"
    path.write_bytes(b"fine\nstill fine \xe9\n")
    with pytest.raises(UserError, match=r"notes\.md:2: not UTF-8 text \(byte 0xe9 at column 12\)"):
        read_text(path)
    (tmp_path / "meta.json").write_bytes(GARBAGE)
    with pytest.raises(UserError, match=r"meta\.json:1: not UTF-8 text"):
        read_json(tmp_path / "meta.json")
    with pytest.raises(UserError, match="missing.txt: file not found"):
        read_text(tmp_path / "missing.txt")


def test_commands_reading_non_utf8_files_fail_on_one_line(tmp_path, cli):
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.jsonl").write_text(json.dumps({"id": "d", "text": "glon are big."}) + "\n")
    (folder / "test.jsonl").write_bytes(GARBAGE)
    (tmp_path / "study.yaml").write_bytes(b"name: x\n" + GARBAGE)
    for args, where in [(("data", "validate", "ds"), "test.jsonl:1"),
                        (("score", "--questions", "ds/test.jsonl", "--out", "out.jsonl"), "test.jsonl:1"),
                        (("study", "study.yaml", "--dry-run"), "study.yaml:2")]:
        proc = cli(*args, cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert proc.stderr.count("\n") == 1 and f"{where}: not UTF-8 text" in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "out.jsonl").exists()
