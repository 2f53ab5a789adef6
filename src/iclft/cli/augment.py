"""`iclft augment local|global|spa|entigraph|audit`: augment any corpus into fine-tuning data with a local model or
an endpoint.

The four families share their generator, sampling, budget (--tokens-per-document) and output options; `local` adds
--k, --granularity and the sentence filters (--faithful, --consistent, --unit), `global` adds --context, --fraction,
--budget and the sentence filters, `spa` adds --kinds and --prompts, `entigraph` --pairs, --entities and
--entity-tokens. Output: OUT ({"id", "text", "source"} a line), and
beside it OUT's stem + ".drops.jsonl" (every dropped sentence and why) and + ".summary.json".
`audit DATASET --aug AUG.jsonl|CELL_DIR` judges augmentations against a synthetic dataset's world
(iclft.augment.audit) and writes audit.json.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from typing import Any

import typer
from pydantic import BaseModel, ValidationError

from iclft.augment.options import AugmentOptions
from iclft.errors import UserError
from iclft.generation.spec import GeneratorSpec
from iclft.io import describe_validation_error, write_json, write_jsonl

Opt = typer.Option

def _field_option(model: type[BaseModel], field: str, *flags: str, **kw: Any) -> Any:
    """A typer option whose default (and help, unless given) come from a pydantic model's field: one source of
    each default for the CLI and study configs."""
    info = model.model_fields[field]
    return Opt(info.default, *(flags or ("--" + field.replace("_", "-"),)), help=kw.pop("help", info.description), **kw)


def _gen(field: str, *flags: str, **kw: Any) -> Any:
    return _field_option(GeneratorSpec, field, *flags, **kw)


def _opt(field: str, *flags: str, **kw: Any) -> Any:
    return _field_option(AugmentOptions, field, *flags, **kw)


COMMON: dict[str, tuple[Any, Any]] = {
    "docs": (Path, Opt(..., "--docs", help="corpus: a folder of .txt/.md files, a dataset folder, or a JSONL file")),
    "out": (Path, Opt(..., "--out", help="output JSONL of augmented documents")),
    "generator": (str, _gen("kind", "--generator",
                           help="local (a registry model / HF folder) | openai (an endpoint)")),
    "model": (str, _gen("model", "--model", help="local: registry name or Hugging Face folder")),
    "device": (str | None, _gen("device", "--device", help="local: cpu, cuda, ... (default: cuda if present)")),
    "dtype": (str, _gen("dtype", "--dtype")),
    "batch_size": (int, _gen("batch_size", "--batch-size", min=1,
                            help="local: prompts generated together, at most")),
    "batch_tokens": (int, _gen("batch_tokens", "--batch-tokens", min=1,
                              help="local: tokens generated together, at most: rows x (prompt + max new tokens)")),
    "base_url": (str | None, _gen("base_url", "--base-url",
                                 help="openai: endpoint, e.g. http://127.0.0.1:8000/v1")),
    "api_model": (str | None, _gen("api_model", "--api-model", help="openai: the served model's name")),
    "api_key_env": (str, _gen("api_key_env", "--api-key-env",
                             help="openai: environment variable holding the key")),
    "concurrency": (int, _gen("concurrency", "--concurrency", min=1, help="openai: requests in flight")),
    "rate": (float | None, _gen("rate", "--rate", help="openai: requests per second at most")),
    "timeout": (float, _gen("timeout", "--timeout", help="openai: seconds per request (CPU servers are slow)")),
    "retries": (int, _gen("retries", "--retries", min=0,
                         help="openai: retries of a failed request (exponential backoff)")),
    "samples": (int, _opt("samples", min=1)),
    "greedy": (bool, _opt("greedy", "--greedy/--no-greedy")),
    "temperature": (float, _opt("temperature", min=0.0, help="0 = greedy")),
    "top_p": (float, _opt("top_p")),
    "max_new_tokens": (int, _opt("max_new_tokens", min=1)),
    "tokens_per_document": (int | None, _opt("tokens_per_document", min=1)),
    "seed": (int, _opt("seed")),
    # filters (docs/augmentation.md)
    "grounded": (int, _opt("grounded")),
    "self_verify": (float, _opt("self_verify")),
    "verify_baseline": (str, _opt("verify_baseline")),
    "no_self_verify": (bool, Opt(False, "--no-self-verify", help="filter off: no self-verification")),
    "dedupe": (bool, _opt("dedupe", "--dedupe/--no-dedupe")),
    "template": (Path | None, Opt(None, "--template", help="prompt template file, or a packaged one's name such as "
                                                            "local-name (default: the packaged one of each item)")),
    "cache_dir": (Path | None, Opt(None, "--cache-dir", help="generation cache (default: <iclft cache>/generations)")),
    "no_cache": (bool, Opt(False, "--no-cache", help="neither read nor write the generation cache")),
    "dry_run": (bool, Opt(False, "--dry-run", help="print the plan and its token cost, generate nothing")),
}
SENTENCES: dict[str, tuple[Any, Any]] = {  # local and global: outputs judged a sentence at a time
    "unit": (str, _opt("unit")),
    "faithful": (bool, _opt("faithful", "--faithful/--no-faithful")),
    "consistent": (bool, _opt("consistent", "--consistent/--no-consistent")),
    "verified": (bool, _opt("verified", "--verified", help="CONTROL (uses the answers; --docs must be a dataset "
                                                            "folder): keep only sentences its world judges true")),
}
LOCAL: dict[str, tuple[Any, Any]] = {
    "k": (int, _opt("k", min=1)),
    "granularity": (str, _opt("granularity")),
    **SENTENCES,
}
GLOBAL: dict[str, tuple[Any, Any]] = {
    "context": (str, _opt("context", help="all | subsample | budget: the other documents shown")),
    "fraction": (float, _opt("fraction")),
    "budget": (int, _opt("budget", min=1)),
    **SENTENCES,
}
SPA: dict[str, tuple[Any, Any]] = {
    "kinds": (str | None, Opt(None, "--kinds", help="spa: comma-separated study kinds, cycled (default: all "
                                                   f"seven: {','.join(AugmentOptions.model_fields['kinds'].default)})")),
    "prompts": (int | None, _opt("prompts", min=1)),
}
ENTIGRAPH: dict[str, tuple[Any, Any]] = {
    "pairs": (int, _opt("pairs", min=1)),
    "entities": (int, _opt("entities", min=2)),
    "entity_tokens": (int, _opt("entity_tokens", min=1)),
}
GENERATOR_KEYS = ("model", "device", "dtype", "batch_size", "batch_tokens", "base_url", "api_model", "api_key_env",
                  "concurrency", "rate", "timeout", "retries")
OPTION_KEYS = ("samples", "greedy", "temperature", "top_p", "max_new_tokens", "tokens_per_document", "seed", "unit",
               "k", "granularity", "context", "fraction", "budget", "prompts", "pairs", "entities", "entity_tokens",
               "grounded", "faithful", "consistent", "self_verify", "verify_baseline", "dedupe", "verified")


def _validated(cls: type[BaseModel], **values: Any) -> Any:
    """`cls(**values)`; a bad value is a UserError naming the command-line option."""
    try:
        return cls(**values)
    except ValidationError as e:
        raise UserError(describe_validation_error(e, name=_option)) from None


def _option(field: str) -> str:
    """The command-line option of a GeneratorSpec / AugmentOptions field."""
    return "--" + {"kind": "generator"}.get(field, field).replace("_", "-")


def side_paths(out: Path) -> tuple[Path, Path]:
    """The drops and summary files written beside OUT."""
    stem = out.name[: -len(out.suffix)] if out.suffix else out.name
    return out.with_name(stem + ".drops.jsonl"), out.with_name(stem + ".summary.json")


def _world(docs: Path) -> Any:
    """The sentence judge of a dataset folder's world, for the verified control."""
    from iclft.augment.filters import world_judge
    from iclft.datasets.schema import Dataset

    if not (docs.is_dir() and (docs / "meta.json").is_file()):
        raise UserError(f"--verified is a control that judges sentences in a dataset's world: {docs} is not a "
                        "dataset folder")
    return world_judge(Dataset.load(docs))


def run_augment(mode: str, **kw: Any) -> None:
    """Load the corpus, plan, show the cost, generate (cached), write the outputs."""
    from iclft.augment import GenerationCache, load_documents, plan, run
    from iclft.progress import console, output, progress_bar

    if kw["out"].resolve() == kw["docs"].resolve():
        raise UserError(f"--out {kw['out']} would overwrite the corpus")
    docs = load_documents(kw["docs"])
    values = {k: kw[k] for k in OPTION_KEYS if k in kw}
    if kw["no_self_verify"]:
        values["self_verify"] = None
    if kw.get("kinds"):
        values["kinds"] = tuple(k.strip() for k in kw["kinds"].split(",") if k.strip())
    options = _validated(AugmentOptions, mode=mode, template=str(kw["template"]) if kw["template"] else None, **values)
    world = _world(kw["docs"]) if options.verified else None
    spec = _validated(GeneratorSpec, kind=kw["generator"], **{k: kw[k] for k in GENERATOR_KEYS})
    cache = None if kw["no_cache"] else GenerationCache(kw["cache_dir"])
    generator = spec.build(planning=kw["dry_run"])  # a dry run counts: no weights loaded
    work = plan(docs, generator, options, cache)
    (output() if kw["dry_run"] else console).print(f"augment {mode}: {work.describe()}")  # a dry run's result
    if kw["dry_run"]:
        return
    with progress_bar(work.to_generate, f"augment {mode}", enabled=work.to_generate > 0) as advance:
        result = run(work, generator, cache, advance, world=world)
    drops_path, summary_path = side_paths(kw["out"])
    write_jsonl(kw["out"], [a.row() for a in result.items])
    write_jsonl(drops_path, result.drops)
    write_json(summary_path, result.summary)
    dropped = ", ".join(f"{r} {n}" for r, n in result.summary["dropped"].items())
    budget = result.summary["budget"]
    print(f"wrote {len(result.items)} augmented documents to {kw['out']} from {len(docs)} documents "
          f"({result.generated} generated, {result.cache_hits} from cache); {budget['spent']:,} generated tokens, at "
          f"most {budget['spent_per_document_max']:,} for a document, {result.seconds:.1f} s of generation; "
          f"dropped: {dropped}; details: {drops_path}, {summary_path}")


def _command(mode: str, specific: dict[str, tuple[Any, Any]], doc: str):
    """A typer command for `mode` taking the COMMON options plus `specific` ones."""
    params = {**COMMON, **specific}

    def command(**kw: Any) -> None:
        run_augment(mode, **kw)

    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=o, annotation=t) for n, (t, o) in params.items()]
    )
    command.__doc__ = doc
    command.__name__ = mode
    return command


def audit(
    dataset: Path = typer.Argument(..., help="the dataset folder the augmentations came from (train, test, meta)"),
    aug: list[Path] = Opt(..., "--aug", help="augmentations: AUG.jsonl, a study cell's folder or its augmented.json"),
    out: Path | None = Opt(None, "--out", help="report file (default: audit.json beside the first --aug)"),
) -> None:
    """Judge generated sentences true / false / unverifiable in the dataset's world; test coverage."""
    from iclft.augment.audit import audit as run_audit
    from iclft.augment.audit import read_augmentations, tables
    from iclft.datasets.schema import Dataset
    from iclft.progress import output

    ds = Dataset.load(dataset)
    rows = [row for path in aug for row in read_augmentations(path)]
    report = {**run_audit(ds, rows), "augmentations": [str(p) for p in aug]}
    target = out or (aug[0] if aug[0].is_dir() else aug[0].parent) / "audit.json"
    for table in tables(report):
        output().print(table)
    if "note" in report:
        print(report["note"], file=sys.stderr)
    write_json(target, report)
    print(f"wrote {target}")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Augment fine-tuning data with the model's own restatements, inferences, study notes and "
                           "texts about entity pairs.",
                      no_args_is_help=True)
    sub.command("local")(_command("local", LOCAL, "Restate each sentence (or document) K ways: rephrasings, "
                                  "reversals, converses."))
    sub.command("global")(_command("global", GLOBAL, "Show the corpus in context, then each document: write the "
                                   "inferences linking it to the rest."))
    sub.command("spa")(_command("spa", SPA, "Study each document with prompts of seven kinds, cycled: key concepts, "
                                "mind map, implications, questions with answers, case study, discussion, teacher."))
    sub.command("entigraph")(_command("entigraph", ENTIGRAPH, "List each document's entities, then write about the "
                                      "relation between seeded pairs of them as the document states it."))
    sub.command("audit")(audit)
    app.add_typer(sub, name="augment")
