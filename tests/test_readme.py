"""Every command of the docs (README.md, docs/*.md) runs here as written, from a scratch folder, or is listed with
the reason it cannot; a command the docs gain that is neither fails the suite.

Command blocks are fenced ```bash, ```sh or ```shell (every line a command) and ```console (the lines after
`$ `). Not commands: ```text (the README's "Command line" block is a usage synopsis: placeholders such as CONFIG
and `[--out DIR]`), ```yaml, ```python, ```json. A fenced block of any other language, or an indented `iclft`
line outside a fence, fails: a command cannot hide from this test.

Each block runs in its own scratch folder, its commands in order (later ones read what earlier ones wrote), through
bash with the installed `iclft` console script (beside sys.executable) first on PATH, so environment-variable
prefixes work as written. Inputs a command names (a release, my-qa.json, my-docs/, ...) are made small first. To fit
the suite's time, `FORMS` adds flags: studies and augmentations are dry runs (the grid or the plan with its
estimate; running them takes minutes), probes are written by the rules alone (the model's rephrasings take
minutes). Commands are re-quoted by shlex, so a `$VAR` in a run command would stay literal: none has one.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COMMAND_BLOCKS = {"bash", "sh", "shell", "console"}
OTHER_BLOCKS = {"text", "yaml", "python", "json"}
FENCE = re.compile(r"^```(\S*)\s*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")

FORMS = {  # a command's leading words -> the flags it runs with here, unless it has them already
    ("iclft", "study"): ["--dry-run"],
    ("iclft", "augment"): ["--dry-run"],
    ("iclft", "data", "probes"): ["--generator", "none"],
}
NOT_RUN = {  # a command as the docs write it (comments dropped) -> why the suite does not run it
    "bash scripts/quickstart.sh": "installs iclft and runs the quick study (~10 minutes)",
    "bash scripts/test.sh": "installs iclft and runs this suite",
    "bash scripts/results.sh": "runs the tuning, quick and full studies (hours)",
    "STUDIES=quick bash scripts/results.sh": "runs the quick study (~10 minutes)",
    "less runs/knowledge-mine/report.md": "a pager on the report of the study above, which runs here as a dry run",
    "accelerate launch -m iclft study configs/paper.yaml": "the paper-scale study on GPUs",
    "accelerate launch -m iclft study configs/paper.yaml --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT":
        "one shard of the paper-scale study on a Slurm cluster",
    "iclft report runs/paper": "needs the paper-scale study's records",
    "accelerate launch --config_file configs/accelerate/fsdp.yaml --num_processes 8 -m iclft study my8b.yaml":
        "8 GPUs and the reader's own 8B-model config",
    "accelerate launch --config_file configs/accelerate/ddp.yaml --num_processes 4 -m iclft study my.yaml":
        "4 GPUs and the reader's own config",
    "iclft score --model /models/llama-3-70b --questions q.jsonl --out s.jsonl --device-map auto --max-memory "
    "0=70GiB,1=70GiB,cpu=200GiB": "a 70B model over several GPUs",
    "vllm serve /models/llama-3-8b-instruct --port 8000 --served-model-name gen": "a vLLM server on a GPU",
}
SLOW = {  # a command whose block runs only with `-m slow` -> why
    "iclft study configs/paper.yaml --dry-run": "builds the paper-scale datasets to count their tokens (2-5 minutes)",
    "iclft augment spa --docs notes/ --out aug.jsonl --tokens-per-document 256":
        "two dry runs that each load the model (~20 s); tests/test_cli_streams.py dry-runs the command",
    "iclft augment local --docs notes/ --out aug.jsonl --k 4":
        "three dry runs that each load the model (~30 s); tests/test_cli_streams.py dry-runs the command",
}


@dataclass(frozen=True)
class Block:
    where: str  # file:line of the opening fence
    language: str
    commands: tuple[str, ...]  # each as written, comments dropped, continuation lines joined


def _commands(body: list[str], language: str) -> tuple[str, ...]:
    if language not in COMMAND_BLOCKS:
        return ()
    if language == "console":
        body = [line[2:] for line in body if line.startswith("$ ")]
    lines = re.sub(r"\\\n", " ", "\n".join(body)).split("\n")
    return tuple(" ".join(words) for words in (shlex.split(line, comments=True) for line in lines) if words)


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a Markdown file, and each indented `iclft` line outside a fence as an "indented" one."""
    found, body, opened = [], [], None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = FENCE.match(line)
        if opened is None and fence:
            opened, body = (number, fence.group(1)), []
        elif opened is not None and line.rstrip() == "```":
            found.append(Block(f"{path.name}:{opened[0]}", opened[1], _commands(body, opened[1])))
            opened = None
        elif opened is not None:
            body.append(line)
        elif re.match(r"^\s{4,}iclft ", line):
            found.append(Block(f"{path.name}:{number}", "indented", (line.strip(),)))
    return found


def every_block() -> list[Block]:
    return [b for path in DOCS for b in blocks(path)]


def command_blocks() -> list[Block]:
    return [b for b in every_block() if b.language in COMMAND_BLOCKS]


def _program_at(words: list[str]) -> int:
    """Where the program's name is, after any VAR=value prefixes."""
    return next(i for i, w in enumerate(words) if not ASSIGNMENT.match(w))


def program(command: str) -> str:
    words = shlex.split(command)
    return words[_program_at(words)]


def run_form(command: str) -> list[str]:
    """The words a command runs with here: `FORMS`' flags added."""
    words = shlex.split(command)
    start = _program_at(words)
    for lead, flags in FORMS.items():
        if tuple(words[start:start + len(lead)]) == lead and flags[0] not in words:
            return [*words, *flags]
    return words


# ------------------------------------------------------------------ the inputs commands name


def _passages(n: int = 12) -> list[dict]:
    from iclft.datasets.squad import passages_file

    return json.loads(passages_file().read_text(encoding="utf-8"))[:n]


def _first_sentences() -> list[str]:
    return [p["context"].split(". ")[0].rstrip(".") + "." for p in _passages(10)]


def _release(path: Path) -> None:
    from berglund_release import release, write

    write(path, release())  # the whole-size shapes: the README's import keeps 8 people a group


def _seal(path: Path) -> None:
    path.write_text(json.dumps(_passages()), encoding="utf-8")


def _folder(path: Path) -> None:
    path.mkdir()
    for i, text in enumerate(_first_sentences()):
        (path / f"doc{i:02d}.txt").write_text(text + "\n", encoding="utf-8")


def _jsonl(path: Path) -> None:
    path.write_text("".join(json.dumps({"id": f"doc{i:02d}", "text": t}) + "\n"
                            for i, t in enumerate(_first_sentences())), encoding="utf-8")


def _dataset(path: Path) -> None:
    from iclft.datasets.qa_import import import_qa

    _seal(path.parent / "seal.json")
    import_qa(path.parent / "seal.json", seed=0, heldaside=8).save(path)


INPUTS: dict[str, Callable[[Path], None]] = {  # an argument a command reads -> how it is made when missing
    "june_version_7921032488": _release,
    "my-qa.json": _seal,
    "passages.json": _seal,
    "my-docs/": _folder,
    "notes/": _folder,
    "docs.jsonl": _jsonl,
    "data/mine": _dataset,  # docs/knowledge.md's study section reads the folder its first section writes
}


def make_inputs(words: list[str], folder: Path) -> None:
    for previous, word in zip(["", *words], words):
        if word in INPUTS and previous != "--out" and not (folder / word).exists():
            (folder / word).parent.mkdir(parents=True, exist_ok=True)
            INPUTS[word](folder / word)


# ------------------------------------------------------------------ the tests


def test_every_block_is_of_a_known_kind():
    odd = [f"{b.where}: {b.language or 'no language'}" for b in every_block()
           if b.language not in COMMAND_BLOCKS | OTHER_BLOCKS]
    assert not odd, f"blocks neither commands nor known others (an indented command belongs in ```bash): {odd}"


def test_every_command_is_run_or_listed():
    commands = [c for b in command_blocks() for c in b.commands]
    assert commands, "no command blocks found"
    unknown = [c for c in commands if c not in NOT_RUN and program(c) != "iclft"]
    assert not unknown, f"commands neither run (an iclft command) nor listed in NOT_RUN with a reason: {unknown}"
    stale = [c for c in [*NOT_RUN, *SLOW] if c not in commands]
    assert not stale, f"listed commands no longer in the docs: {stale}"
    assert not [c for c in commands if c not in NOT_RUN and "$" in c], "a run command names a variable"


def _params() -> list:
    params = []
    for b in command_blocks():
        if all(c in NOT_RUN for c in b.commands):
            continue
        slow = [c for c in b.commands if c in SLOW]
        params.append(pytest.param(b, id=b.where, marks=[pytest.mark.slow] if slow else []))
    return params


@pytest.mark.parametrize("block", _params())
def test_a_command_block_runs_as_written(block: Block, tmp_path):
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "iclft").is_file(), f"no iclft console script beside {sys.executable}: install iclft"
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in block.commands:
        if command in NOT_RUN:
            continue
        words = run_form(command)
        make_inputs(words, tmp_path)
        r = subprocess.run(["bash", "-c", shlex.join(words)], cwd=tmp_path, env=env, capture_output=True,
                           text=True, timeout=900)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (
            f"{block.where}: `{shlex.join(words)}` exited {r.returncode}:\n{r.stderr[-3000:]}")
