"""A study from config to report, top to bottom: what `iclft study CONFIG` does.

    load the config -> choose the output folder -> expand the grid -> this shard's pending cells -> price them
    -> show the plan (a dry run stops here) -> run the cells -> write the report

Everything a cell does (plan, expose, score, store) is in `iclft.study.run`; the CLI only parses arguments.
"""

from __future__ import annotations

from pathlib import Path

from iclft import distributed
from iclft.errors import UserError
from iclft.progress import console, output
from iclft.study import catalog, config, cost, grid, overview, run
from iclft.study.report import write_report
from iclft.study.store import Store


def output_folder(study: config.Study, source: str, out: Path | None, datasets: list[Path] | None) -> Path:
    """`--out`, else the config's `out` (with the --dataset folders' names appended: their results go beside, not
    into, the config's own)."""
    if out is not None:
        return out
    if study.out is None:
        raise UserError(f"{source}: no output folder: set `out:` in the config or pass --out")
    folder = study.out
    if datasets:
        folder = folder.with_name(folder.name + "-" + "-".join(config.dataset_label(d) for d in datasets))
    return folder


def run_study(name_or_path: str, out: Path | None = None, shard: str | None = None, dry_run: bool = False,
              report: bool = True, gpu_tflops: float = 100.0, datasets: list[Path] | None = None) -> Path | None:
    """Run (or, with `dry_run`, price and show) every pending cell of this shard; returns report.md's path once
    every cell of the study is done (None otherwise, and on the other ranks of a distributed launch)."""
    source = catalog.find(name_or_path)
    study = config.load(source, datasets)
    folder = output_folder(study, str(source), out, datasets)
    part = grid.Shard.parse(shard)
    study_grid = grid.expand(study)
    store = Store(folder)
    mine = grid.mine(study_grid, part)
    todo = [c for c in mine if not store.is_done(c.key)]
    main = distributed.is_main()  # under `accelerate launch`, the other ranks only help fine-tune
    pricing = cost.Pricing(measured=main, device=study.config.device)  # times this machine once (cached)
    cost.estimate(study_grid, None if dry_run else todo, pricing)
    show = output() if dry_run else console  # a dry run's estimates are its result; a run's are its log
    if main:
        if dry_run:
            show.print(overview.grid_table(study_grid, part, store))
        for line in overview.totals(todo, mine, part, pricing):
            show.print(line, highlight=False)
        if dry_run:
            show.print(overview.gpu_line(study_grid, todo, gpu_tflops), highlight=False)
    if dry_run:
        return None
    run.run_grid(study_grid, folder, part)
    if not main:
        return None
    remaining = [c for c in study_grid.cells if not store.is_done(c.key)]
    if remaining:
        console.print(f"{len(remaining)} cells of other shards remain; when they finish: iclft report {folder}",
                      highlight=False)
        return None
    return write_report(folder) if report else None
