"""`iclft study CONFIG` runs a grid of learning conditions; `iclft report DIR` summarizes its records."""

from __future__ import annotations

from pathlib import Path

import typer

from iclft.errors import UserError


def _summary_table(p, shard, store):
    from rich.table import Table

    from iclft.study.cost import fmt_seconds, phase_seconds

    t = Table(title=f"study {p.study.config.name}: {len(p.cells)} cells", title_justify="left")
    numbers = ("#", "seed", "train tokens", "score tokens", "generate tokens")
    for col in ("#", "dataset", "condition", "model", "seed", "train tokens", "score tokens", "generate tokens",
                "est. time", "of it: train / generate", "status"):
        t.add_column(col, justify="right" if col in numbers else "left")
    for c in p.cells:
        mine = shard is None or c.index % shard[1] == shard[0]
        status = "done" if store.is_done(c.key) else ("pending" if mine else "other shard")
        est = c.estimate
        label = f"{c.condition} (CONTROL)" if c.control else c.condition  # reads the answers: a control
        phases = phase_seconds(est, p.params[c.model], c.job.dtype, c.rates) if est else {}
        split = (f"{fmt_seconds(phases['training'])} / {fmt_seconds(phases['generating'])}"
                 if est and (est.train_steps or est.generate_tokens) else "")
        t.add_row(str(c.index), c.dataset, label, c.model, str(c.seed),
                  f"{est.train_tokens:,}" if est else "", f"{est.score_tokens:,}" if est else "",
                  f"{est.generate_tokens:,}" if est and est.generate_tokens else "",
                  fmt_seconds(c.seconds) if est else "", split, status)
    return t


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
        from iclft import distributed
        from iclft.progress import console, output
        from iclft.study import config as cfgmod
        from iclft.study import cost, grid, run
        from iclft.study.report import write_report
        from iclft.study.store import Store

        if threads:
            import torch

            torch.set_num_threads(threads)
        from iclft.study import catalog

        config = catalog.find(config)
        st = cfgmod.load(config, dataset)
        folder = out or st.out
        if dataset and out is None and folder is not None:  # another dataset's results go beside, not into, these
            folder = folder.with_name(folder.name + "-" + "-".join(cfgmod.dataset_label(d) for d in dataset))
        if folder is None:
            raise UserError(f"{config}: no output folder: set `out:` in the config or pass --out")
        part = grid.parse_shard(shard)
        study_grid = grid.expand(st)
        store = Store(folder)
        mine = grid.mine(study_grid, part)
        todo = [c for c in mine if not store.is_done(c.key)]
        main = distributed.is_main()  # under `accelerate launch`, the other ranks only help fine-tune
        pricing = cost.Pricing(measured=main, device=st.config.device)  # times this machine once (cached)
        cost.estimate(study_grid, todo if not dry_run else None, pricing)
        show = output() if dry_run else console  # a dry run's estimates are its result; a run's are its log
        if dry_run and main:
            show.print(_summary_table(study_grid, part, store))
        if main:
            train = sum(c.estimate.train_tokens for c in todo if c.estimate)
            scored = sum(c.estimate.score_tokens for c in todo if c.estimate)
            show.print(
                f"{len(todo)} of {len(mine)} cells to run{f' (shard {shard})' if part else ''}: "
                f"~{train:,} tokens to train, ~{scored:,} to score; estimated "
                f"{cost.fmt_seconds(sum(c.seconds for c in todo))} on "
                f"{'this machine' if pricing.measured else 'the reference machine'} (training at each cell's "
                f"precision)",
                highlight=False)
            show.print(pricing.summary(), highlight=False)
            if dry_run:
                total, hours = cost.gpu_hours(study_grid, todo, gpu_tflops)
                show.print(f"on GPUs: ~{total:.2e} FLOPs = ~{hours:.2f} GPU-hours at {gpu_tflops:g} effective "
                              f"TFLOP/s (6 FLOPs per parameter per trained token, 2 per scored or generated one; "
                              f"--gpu-tflops to change)", highlight=False)
        if dry_run:
            return
        run.run_grid(study_grid, folder, part)
        if not main:
            return
        remaining = [c for c in study_grid.cells if not store.is_done(c.key)]
        if remaining:
            console.print(f"{len(remaining)} cells of other shards remain; when they finish: iclft report {folder}",
                          highlight=False)
        elif report:
            print(write_report(folder))

    @app.command("conditions")
    def conditions_cmd() -> None:
        """List the learning conditions a study can name, with their options and defaults."""
        from rich.table import Table

        from iclft import learners
        from iclft.progress import output

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
        output().print(t)

    @app.command("report")
    def report_cmd(folder: Path = typer.Argument(..., help="a study output folder")) -> None:
        """Write report.md, aggregates.csv and figures from a study's stored records."""
        from iclft.study.report import write_report

        print(write_report(folder))
