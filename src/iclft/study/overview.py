"""What a study will do, shown before it runs: the grid table (one row a cell, its tokens and estimated time) and the
totals (cells to run, tokens, time on this machine, GPU-hours)."""

from __future__ import annotations

from rich.table import Table

from iclft.study.cost import Pricing, gpu_hours
from iclft.study.grid import Cell, Grid, Shard
from iclft.study.rates import fmt_seconds, phase_seconds
from iclft.study.store import Store

_COLUMNS = ("#", "dataset", "condition", "model", "seed", "train tokens", "score tokens", "generate tokens",
            "est. time", "of it: train / generate", "status")
_NUMBERS = ("#", "seed", "train tokens", "score tokens", "generate tokens")


def _status(cell: Cell, shard: Shard | None, store: Store) -> str:
    if store.is_done(cell.key):
        return "done"
    return "pending" if shard is None or shard.holds(cell) else "other shard"


def grid_table(grid: Grid, shard: Shard | None, store: Store) -> Table:
    """One row a cell: its labels (CONTROL marked), estimated tokens and time, and whether it is done."""
    t = Table(title=f"study {grid.study.config.name}: {len(grid.cells)} cells", title_justify="left")
    for col in _COLUMNS:
        t.add_column(col, justify="right" if col in _NUMBERS else "left")
    for c in grid.cells:
        est = c.estimate
        label = f"{c.condition} (CONTROL)" if c.control else c.condition  # reads the answers: a control
        phases = phase_seconds(est, grid.params[c.model], c.job.dtype, c.rates) if est else {}
        split = (f"{fmt_seconds(phases['training'])} / {fmt_seconds(phases['generating'])}"
                 if est and (est.train_steps or est.generate_tokens) else "")
        t.add_row(str(c.index), c.dataset, label, c.model, str(c.seed),
                  f"{est.train_tokens:,}" if est else "", f"{est.score_tokens:,}" if est else "",
                  f"{est.generate_tokens:,}" if est and est.generate_tokens else "",
                  fmt_seconds(c.seconds) if est else "", split, _status(c, shard, store))
    return t


def totals(todo: list[Cell], mine: list[Cell], shard: Shard | None, pricing: Pricing) -> list[str]:
    """The cells to run, their tokens and estimated time, and where the rates came from."""
    train = sum(c.estimate.train_tokens for c in todo if c.estimate)
    scored = sum(c.estimate.score_tokens for c in todo if c.estimate)
    where = "this machine" if pricing.measured else "the reference machine"
    return [f"{len(todo)} of {len(mine)} cells to run{f' (shard {shard})' if shard else ''}: ~{train:,} tokens to "
            f"train, ~{scored:,} to score; estimated {fmt_seconds(sum(c.seconds for c in todo))} on {where} "
            f"(training at each cell's precision)", pricing.summary()]


def gpu_line(grid: Grid, todo: list[Cell], gpu_tflops: float) -> str:
    total, hours = gpu_hours(grid, todo, gpu_tflops)
    return (f"on GPUs: ~{total:.2e} FLOPs = ~{hours:.2f} GPU-hours at {gpu_tflops:g} effective TFLOP/s (6 FLOPs per "
            f"parameter per trained token, 2 per scored or generated one; --gpu-tflops to change)")
