"""`iclft study CONFIG` runs a grid of learning conditions; `iclft report DIR` summarizes its records."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("study")
    def study(
        config: str = typer.Argument(..., help="a study YAML file, or a shipped config's name: quick, full, paper, "
                                               "tuning/... (`iclft configs list`; a file that exists wins)"),
        out: Path | None = typer.Option(None, "--out", help="output folder (default: the config's `out`)"),
        shard: str | None = typer.Option(None, "--shard", help="i/n: run cells i, i+n, ... (0 <= i < n)"),
        dry_run: bool = typer.Option(False, "--dry-run", help="print the grid and estimates, run nothing"),
        report: bool = typer.Option(True, "--report/--no-report", help="write the report when all cells are done"),
        gpu_tflops: float = typer.Option(100.0, "--gpu-tflops", min=0.001,
                                         help="effective TFLOP/s per GPU for the GPU-hours estimate (default: an "
                                              "A100 in bf16 at ~30% utilization)"),
        dataset: list[Path] | None = typer.Option(None, "--dataset",
                                                  help="a dataset folder (`iclft data import-qa`, `probes`, "
                                                       "`import-reversal-curse`, ...) to run the config's conditions "
                                                       "on, instead of its datasets; repeatable. Default --out: "
                                                       "the config's out + '-' + the folder's name"),
        threads: int | None = typer.Option(None, "--threads", min=1,
                                           help="CPU threads for torch (default: one per core; 1 is faster on a "
                                                "busy machine). Identical records assume the same thread count."),
    ) -> None:
        """Run every cell (dataset x model x condition x seed) of a study; resumable, shardable."""
        from iclft.study.main import run_study

        if threads:
            import torch

            torch.set_num_threads(threads)
        report_path = run_study(config, out=out, shard=shard, dry_run=dry_run, report=report, gpu_tflops=gpu_tflops,
                                datasets=dataset)
        if report_path is not None:
            print(report_path)

    @app.command("conditions")
    def conditions_cmd() -> None:
        """List the learning conditions a study can name, with their options and defaults, and the test-time modes."""
        from iclft.progress import output

        output().print(_conditions_table())
        output().print(_modes_table())

    @app.command("report")
    def report_cmd(folder: Path = typer.Argument(..., help="a study output folder")) -> None:
        """Write report.md, aggregates.csv and figures from a study's stored records."""
        from iclft.study.report import write_report

        print(write_report(folder))


def _modes_table():
    """The test-time modes a study or a condition can name (`test_time:`), with their options."""
    from rich.table import Table

    from iclft.scoring.modes import DESCRIPTIONS, MODES

    t = Table(title="test-time modes (study YAML: test_time: \\[direct, channel, ...] at the top or in a condition, or "
                    "a mapping mode -> options; default: direct alone). Each mode's records carry test_time: MODE",
              title_justify="left", show_lines=True)
    for col in ("mode", "description", "options (default)"):
        t.add_column(col)
    for name, options in MODES.items():
        opts = "\n".join(f"{k} ({f.default!r})" for k, f in options.model_fields.items())
        t.add_row(name, DESCRIPTIONS[name], opts or "-")
    return t


def _conditions_table():
    """The learning conditions a study can name, with their options and defaults."""
    from rich.table import Table

    from iclft import learners

    t = Table(title="conditions (study YAML: conditions: {label: {condition: NAME, option: value}}; "
                    "add datasets: [LABEL, ...] to run a condition on those datasets only). A cell whose options "
                    "read the dataset's answers or world (e.g. verified: true) is a CONTROL whatever its label",
              title_justify="left", show_lines=True)
    for col in ("condition", "description", "options (default)"):
        t.add_column(col)
    for name in learners.names():
        c = learners.get(name)
        opts = "\n".join(f"{f.alias or k} ({f.default!r})" if f.default_factory is None else f"{f.alias or k} (...)"
                         for k, f in c.options.model_fields.items())
        t.add_row(f"{name}\n(CONTROL)" if c.control else name, c.description, opts)
    return t
