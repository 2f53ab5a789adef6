"""`iclft data list|build|import-reversal-curse|show|validate|export-lm-eval`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.text import Text

from iclft import models
from iclft.datasets import registry
from iclft.datasets.reversal_curse import DEFAULT_DISTRACTORS
from iclft.datasets.schema import Dataset
from iclft.errors import UserError
from iclft.progress import output

MAX_LISTED = 10
data_app = typer.Typer(help="Datasets: build, import, inspect, validate, export.", no_args_is_help=True)


def _saved(ds: Dataset, out: Path) -> None:
    ds.save(out)
    c = ds.counts()
    output().print(f"wrote {out}: {c['train']} documents, {c['test']} test and {c['validation']} validation questions")


def _counts_table(ds: Dataset) -> Table:
    c = ds.counts()
    table = Table("file", "split", "sub-type", "n", title=f"{ds.name}: {c['train']} training documents")
    for label in ("test", "validation"):
        for split, subs in c[f"{label}_splits"].items():
            for sub, n in subs.items():
                table.add_row(label, split, sub or "-", str(n))
            if len(subs) > 1:
                table.add_row(label, split, "[bold]all[/]", f"[bold]{sum(subs.values())}[/]")
    return table


def _show_examples(ds: Dataset, n: int) -> None:
    output().rule("documents")
    for d in ds.train[:n]:
        text = Text(f"[{d.id}] ", style="dim")
        if d.prompt is not None:
            text.append(d.prompt, style="cyan").append(d.completion, style="bold")
        else:
            text.append(d.text)
        output().print(text)
    output().rule("questions (one per split; the correct choices marked)")
    seen: set[str] = set()
    for q in ds.test:
        if q.split in seen or len(seen) >= n * 3:
            continue
        seen.add(q.split)
        output().print(Text(f"[{q.id}] {q.split}/{q.subtype}  ", style="dim").append(q.prompt, style="cyan"))
        for i, c in enumerate(q.choices):
            mark = "✓" if i in q.correct_choices else " "
            output().print(Text(f"   {mark} {i}:{c}", style="green" if mark == "✓" else ""))


def _show_token_costs(ds: Dataset, model: str) -> None:
    words = ds.meta.get("vocab")
    if not isinstance(words, list) or not words:
        output().print("(no nonsense vocabulary recorded in meta.json)")
        return
    from transformers import AutoTokenizer

    from iclft.vocab import token_costs

    try:
        tokenizer = AutoTokenizer.from_pretrained(models.resolve(model))
    except UserError as e:
        output().print(f"(token costs skipped: {e})")
        return
    tc = token_costs(words, tokenizer)
    hist = ", ".join(f"{k} tokens: {v}" for k, v in tc["histogram"].items())
    output().print(f"vocabulary: {tc['n_words']} nonsense words; tokens per word (after a space) in {model}: "
                  f"mean {tc['mean']}, min {tc['min']}, max {tc['max']} ({hist})")


@data_app.command("list")
def list_datasets() -> None:
    """The datasets `data build` can make, with their parameters and defaults."""
    table = Table("name", "description", "parameters (--param k=v; defaults are the paper's sizes)")
    for name in registry.names():
        params = "\n".join(f"{k}={d!r}  [dim]{desc}[/]" for k, (_, d, desc) in registry.param_fields(name).items())
        table.add_row(name, registry.module(name).DESCRIPTION, params)
    output().print(table)


@data_app.command("build")
def build(
    name: str = typer.Argument(..., help="dataset name (see `iclft data list`)"),
    out: Path = typer.Option(..., "--out", help="folder to write"),
    seed: int = typer.Option(0, "--seed", help="same seed, same bytes"),
    param: list[str] = typer.Option([], "--param", help="k=v, repeatable (see `iclft data list`)"),
) -> None:
    """Generate a dataset folder: train.jsonl, test.jsonl, validation.jsonl, meta.json."""
    params = dict(registry.parse_param(kv) for kv in param)
    _saved(registry.build(name, seed, params), out)


@data_app.command("import-reversal-curse")
def import_reversal_curse(
    src: Path = typer.Argument(..., help="folder in the Berglund et al. layout (p2d_prompts_train.jsonl, ...)"),
    out: Path = typer.Option(..., "--out", help="folder to write"),
    seed: int = typer.Option(0, "--seed", help="seeds the distractors and the validation people"),
    validation_people: int = typer.Option(3, "--validation-people", min=0,
                                          help="people per group whose questions go to validation (0: none)"),
    distractors: str = typer.Option(DEFAULT_DISTRACTORS, "--distractors",
                                    help="all | group: where wrong choices come from"),
    people_per_group: int | None = typer.Option(None, "--people-per-group",
                                                help="keep this many people of each group (seeded; default all)"),
    paraphrases: int | None = typer.Option(None, "--paraphrases",
                                           help="keep this many training rows per person and direction "
                                                "(seeded; default all)"),
    questions_per_person: int | None = typer.Option(
        None, "--questions-per-person",
        help="keep this many test rows per test person, file and direction (seeded; validation people keep all; "
             "default all)"),
) -> None:
    """Convert Berglund et al.'s reversal-curse files into an iclft dataset: 4-way questions per test row, and
    2-way correct-vs-randomized ones (splits *_randomized) where the *_randomized files are present; with
    --people-per-group / --paraphrases / --questions-per-person a seeded subset (CPU-sized:
    configs/berglund.yaml)."""
    from iclft.datasets.reversal_curse import import_layout

    if distractors not in ("all", "group"):
        raise UserError(f"unknown --distractors {distractors!r}; choose all or group")
    _saved(import_layout(src, seed, validation_people, distractors, people_per_group, paraphrases,
                         questions_per_person), out)


@data_app.command("import-qa")
def import_qa(
    src: Path = typer.Argument(..., help="questions over passages: SEAL/SPA .json, or .jsonl rows"),
    out: Path = typer.Option(..., "--out", help="folder to write"),
    documents: Path | None = typer.Option(None, "--documents",
                                          help="JSONL of {id, text} or a folder of .txt/.md, for doc_id rows"),
    seed: int = typer.Option(0, "--seed", help="seeds the distractors and the documents set apart"),
    validation_documents: int = typer.Option(0, "--validation-documents", min=0,
                                             help="trained documents whose questions go to validation"),
    heldaside: int = typer.Option(0, "--heldaside", min=0,
                                  help="documents not trained: their questions are the forgetting control"),
    choices: int = typer.Option(4, "--choices", min=2, help="choices per question (answer + distractors)"),
) -> None:
    """Import question-answer sets over passages as multiple-choice questions (docs/knowledge.md)."""
    from iclft.datasets.qa_import import import_qa as run_import

    _saved(run_import(src, documents, seed, validation_documents, heldaside, choices), out)


@data_app.command("probes")
def probes(
    docs: Path = typer.Argument(..., help="documents: a folder of .txt/.md files or a JSONL of {id, text}"),
    out: Path = typer.Option(..., "--out", help="folder to write"),
    seed: int = typer.Option(0, "--seed", help="seeds the questions written, the distractors, the documents"),
    generator: str = typer.Option("local", "--generator",
                                  help="who writes the rephrased questions: local | openai | none (no split)"),
    model: str = typer.Option(models.DEFAULT_MODEL, "--model", help="local: registry name or Hugging Face folder"),
    device: str | None = typer.Option(None, "--device", help="local: cpu, cuda, ..."),
    base_url: str | None = typer.Option(None, "--base-url", help="openai: e.g. http://127.0.0.1:8000/v1"),
    api_model: str | None = typer.Option(None, "--api-model", help="openai: the served model's name"),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="openai: variable holding the key"),
    samples: int = typer.Option(2, "--samples", min=1, help="questions written per answer; the first kept wins"),
    choices: int = typer.Option(4, "--choices", min=2, help="choices per question (answer + distractors)"),
    validation_documents: int = typer.Option(0, "--validation-documents", min=0,
                                             help="trained documents whose probes go to validation"),
    heldaside: int = typer.Option(0, "--heldaside", min=0,
                                  help="documents not trained: their probes are the forgetting control"),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="generation cache (default: iclft's)"),
    no_cache: bool = typer.Option(False, "--no-cache", help="neither read nor write the generation cache"),
) -> None:
    """Probe questions about plain documents: recall, rephrased and reversed splits (docs/knowledge.md)."""
    from iclft.datasets.probes import probes_from_path
    from iclft.generation.cache import GenerationCache
    from iclft.generation.spec import GeneratorSpec

    if generator not in ("local", "openai", "none"):
        raise UserError(f"unknown --generator {generator!r}; choose local, openai or none")
    gen = None if generator == "none" else GeneratorSpec(
        kind=generator, model=model, device=device, base_url=base_url, api_model=api_model,  # type: ignore[arg-type]
        api_key_env=api_key_env).build()
    cache = None if no_cache else GenerationCache(cache_dir)
    _saved(probes_from_path(docs, seed=seed, generator=gen, cache=cache, samples=samples, n_choices=choices,
                            validation_documents=validation_documents, heldaside=heldaside), out)


@data_app.command("show")
def show(
    folder: Path = typer.Argument(..., help="dataset folder"),
    n: int = typer.Option(3, "--n", min=0, help="example documents to print"),
    model: str = typer.Option(models.DEFAULT_MODEL, "--model", help="tokenizer for the vocabulary's token costs"),
    tokens: bool = typer.Option(True, "--tokens/--no-tokens", help="report the nonsense words' token costs"),
) -> None:
    """Counts per split and sub-type, a few documents and questions, and the vocabulary's token costs."""
    ds = Dataset.load(folder)
    output().print(_counts_table(ds))
    gen = ", ".join(f"{k}={ds.meta[k]}" for k in ("generator", "seed") if k in ds.meta)
    if gen:
        output().print(f"[dim]{gen}; params {ds.meta.get('params', {})}[/]")
    _show_examples(ds, n)
    if tokens:
        _show_token_costs(ds, model)


@data_app.command("validate")
def validate(folder: Path = typer.Argument(..., help="dataset folder")) -> None:
    """Check a dataset folder: schema, ids, choices, conventions. Exit 2 on errors; warnings are printed."""
    from iclft.datasets.checks import lint

    ds = Dataset.load(folder)
    errors, warnings = lint(ds)
    for w in warnings[:MAX_LISTED]:
        output().print(f"[yellow]warning:[/] {w}")
    if len(warnings) > MAX_LISTED:
        output().print(f"[yellow]... and {len(warnings) - MAX_LISTED} more warnings[/]")
    if errors:
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        raise UserError(f"{folder}: {errors[0]}{more}")
    c = ds.counts()
    output().print(f"ok: {folder}: {c['train']} documents, {c['test']} test and {c['validation']} validation "
                  f"questions, {len(warnings)} warnings")


@data_app.command("export-lm-eval")
def export_lm_eval(
    folder: Path = typer.Argument(..., help="dataset folder"),
    out: Path = typer.Option(..., "--out", help="task folder to write (for lm_eval --include_path)"),
    questions: str = typer.Option("test", "--questions", help="test | validation"),
) -> None:
    """Write lm-evaluation-harness tasks (one per split, plus a group) for the dataset's questions."""
    from iclft.datasets.lm_eval_export import export

    tasks = export(Dataset.load(folder), out, questions)
    output().print(f"wrote {len(tasks)} tasks to {out}: {', '.join(tasks)}")
    output().print(f"run: lm_eval --model hf --model_args pretrained=MODEL_DIR --include_path {out} "
                  f"--tasks {tasks[-1]}")


def register(app: typer.Typer) -> None:
    """Attach `iclft data` and its commands."""
    app.add_typer(data_app, name="data")
