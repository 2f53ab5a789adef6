"""Export a dataset's questions as lm-evaluation-harness tasks (run with `lm_eval --include_path TASKDIR`).

One task per split, `<prefix>_<split>`, each a YAML file plus its JSONL data, and a group `<prefix>`
over them (accuracy averaged over questions). The tasks score exactly like iclft's scorer with
normalize="sum": the context is the prompt, each choice is a continuation (`target_delimiter: ""`,
since iclft choices carry their own leading space), and a prediction counts as correct if it is the
answer or one of the `accepted` choices (lm-eval's multiple-target mode: `doc_to_target` is a list).
The YAML points at its data file by absolute path: export again if you move the folder.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from iclft.datasets.schema import Dataset, Question
from iclft.errors import UserError
from iclft.io import atomic_open, write_jsonl

QUESTION_FILES = ("test", "validation")


def task_prefix(name: str) -> str:
    """A task-name-safe prefix: 'iclft_' + the dataset name in [a-z0-9_]."""
    return "iclft_" + (re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "dataset")


def _row(q: Question) -> dict:
    return {"id": q.id, "prompt": q.prompt, "choices": q.choices, "gold": sorted(q.correct_choices),
            "split": q.split, "subtype": q.subtype}


def _write_yaml(path: Path, obj: dict) -> None:
    with atomic_open(path) as f:
        yaml.safe_dump(obj, f, sort_keys=False, allow_unicode=True)


def export(ds: Dataset, out: str | Path, questions: str = "test", prefix: str | None = None) -> list[str]:
    """Write tasks for one question file ("test" or "validation"); returns the task names, group last."""
    if questions not in QUESTION_FILES:
        raise UserError(f"unknown question file {questions!r}; choose one of {', '.join(QUESTION_FILES)}")
    qs = ds.test if questions == "test" else ds.validation
    if not qs:
        raise UserError(f"dataset {ds.name!r} has no {questions} questions")
    out = Path(out).resolve()
    prefix = prefix or task_prefix(ds.name) + ("" if questions == "test" else "_validation")
    splits: dict[str, list[Question]] = {}
    for q in qs:
        splits.setdefault(q.split, []).append(q)
    tasks = []
    for split, rows in sorted(splits.items()):
        task = f"{prefix}_{re.sub(r'[^a-z0-9]+', '_', split.lower()).strip('_')}"
        data = out / f"{task}.jsonl"
        write_jsonl(data, (_row(q) for q in rows))
        _write_yaml(out / f"{task}.yaml", {
            "task": task,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(data)}},
            "test_split": "test",
            "output_type": "multiple_choice",
            "doc_to_text": "prompt",
            "doc_to_choice": "choices",
            "doc_to_target": "gold",
            "target_delimiter": "",
            "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
            "metadata": {"version": 1.0, "iclft_dataset": ds.name, "split": split, "questions": questions},
        })
        tasks.append(task)
    _write_yaml(out / f"{prefix}.yaml", {
        "group": prefix,
        "task": tasks,
        "aggregate_metric_list": [{"metric": "acc", "aggregation": "mean", "weight_by_size": True}],
        "metadata": {"version": 1.0},
    })
    return [*tasks, prefix]
