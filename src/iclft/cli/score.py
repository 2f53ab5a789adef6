"""`iclft score`: multiple-choice log-likelihood scoring of a questions file."""

from __future__ import annotations

from pathlib import Path

import typer

from iclft import models
from iclft.datasets.schema import Question
from iclft.errors import UserError
from iclft.io import check_unique_ids, read_models, read_text, write_jsonl
from iclft.progress import progress_bar


def score(
    questions: Path = typer.Option(..., "--questions", help="JSONL: {id, prompt, choices, answer?} a line"),
    out: Path = typer.Option(..., "--out", help="JSONL output: {id, logprobs, pred, correct} a line"),
    model: str = typer.Option(models.DEFAULT_MODEL, "--model", help="registry name or local HF folder"),
    context: Path | None = typer.Option(None, "--context", help="text file read once as a shared context"),
    normalize: str | None = typer.Option(None, "--normalize", show_default=False,
                                         help="sum | mean | char | calibrated (default: sum, the paper's rule)"),
    batch_size: int | None = typer.Option(None, "--batch-size", min=1,
                                          help="questions per forward (default: no cap)"),
    batch_tokens: int | None = typer.Option(None, "--batch-tokens", min=1,
                                            help="prompt and choice tokens per forward (default: by device)"),
    truncate: str = typer.Option("error", "--truncate", help="error | left (drop the context's start)"),
    device: str | None = typer.Option(None, "--device", help="cpu, cuda, ... (default: cuda if present)"),
    dtype: str = typer.Option(models.DEFAULT_DTYPE, "--dtype",
                              help="auto | float32 | bfloat16 | float16 (auto: bfloat16 where computed natively)"),
    device_map: str | None = typer.Option(None, "--device-map",
                                          help="spread a model too big for one device: auto | balanced | "
                                               "balanced_low_0 | sequential (accelerate)"),
    max_memory: str | None = typer.Option(None, "--max-memory",
                                          help="with --device-map: caps per device, e.g. 0=70GiB,cpu=100GiB "
                                               "(the rest is offloaded to disk)"),
    offload_folder: Path | None = typer.Option(None, "--offload-folder",
                                               help="with --device-map: where offloaded weights of a "
                                                    "non-safetensors model are written"),
) -> None:
    """Score each question's choices as continuations of (context + prompt); choices are never shown."""
    from iclft.scoring.likelihood import (  # imports torch
        DEFAULT_NORMALIZATION,
        NORMALIZATIONS,
        TRUNCATIONS,
        score_questions,
    )

    normalize = normalize or DEFAULT_NORMALIZATION
    if normalize not in NORMALIZATIONS:
        raise UserError(f"unknown normalization {normalize!r}; choose one of {', '.join(NORMALIZATIONS)}")
    if truncate not in TRUNCATIONS:
        raise UserError(f"unknown truncation {truncate!r}; choose one of {', '.join(TRUNCATIONS)}")
    qs = read_models(questions, Question)
    if not qs:
        raise UserError(f"{questions}: no questions")
    check_unique_ids(qs, questions)
    ctx = read_text(context, "context file") if context else ""
    placement = models.Placement.of(device_map, max_memory, offload_folder)
    lm = models.load(model, device=device, dtype=dtype, placement=placement)
    with progress_bar(len(qs), "scoring", enabled=len(qs) >= 20) as advance:
        scores = score_questions(lm, qs, ctx, batch_size=batch_size, batch_tokens=batch_tokens,
                                 calibrate=normalize == "calibrated",
                                 truncation=truncate, progress=advance)
    rows = []
    for q, s in zip(qs, scores):
        pred = s.pred(normalize)
        rows.append({"id": q.id, "logprobs": s.logprobs, "pred": pred, "correct": q.is_correct(pred)})
    write_jsonl(out, rows)
    graded = [r["correct"] for r in rows if r["correct"] is not None]
    summary = f"{len(rows)} questions scored ({normalize})"
    if graded:
        summary += f"; accuracy {sum(graded) / len(graded):.3f} ({sum(graded)}/{len(graded)})"
    print(summary)


def register(app: typer.Typer) -> None:
    """Attach `iclft score`."""
    app.command("score")(score)
