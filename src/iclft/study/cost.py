"""What a cell costs: its `cells.Estimate` (tokens trained, scored, generated) priced in seconds on this machine.

`estimate(grid)` fills every cell's `Estimate` (from its work plan, planned once: `grid.plan`) and its seconds, with
the rates `Pricing` gives: this machine's (`iclft.study.timing`, measured once and cached) or, with
`ICLFT_COST=reference`, the reference machine's (`iclft.study.rates.REFERENCE`: 2 CPU threads, fp32, SmolLM2-135M,
bf16 by fixed speedups), for tests and byte-stable output.
"""

from __future__ import annotations

from pathlib import Path

from iclft.cells import Job
from iclft.precision import resolve as resolve_precision
from iclft.study.grid import Cell, Grid, plan
from iclft.study.rates import Rates, cell_seconds, flops, reference, use_reference
from iclft.study.timing import Measurement, measure, parameter_count


def gpu_hours(grid: Grid, cells: list[Cell], tflops: float) -> tuple[float, float]:
    """Total FLOPs of a grid's cells and the GPU-hours they take at `tflops` effective TFLOP/s per GPU."""
    total = sum(flops(c.estimate, grid.params[c.model]) for c in cells if c.estimate)
    return total, total / (tflops * 1e12) / 3600


class Pricing:
    """Rates per (model, dtype, precision) for a study's cells: this machine's, measured once and cached
    (`measured=True`, unless ICLFT_COST=reference), or the reference machine's."""

    def __init__(self, measured: bool = True, device: str | None = None):
        self.measured = measured and not use_reference()
        self.device = device
        self.measurements: dict[tuple[str, str, str], Measurement] = {}

    def rates(self, model: str, dtype: str, precision: str, *, train: bool = True, generate: bool = True) -> Rates:
        if not self.measured:
            return reference(dtype, precision)
        key = (model, dtype, precision)
        if key not in self.measurements:
            self.measurements[key] = measure(model, dtype, precision, self.device, train=train, generate=generate)
        return self.measurements[key].rates

    def summary(self) -> str:
        """One line: where the rates come from (measured now, reused, or the reference machine)."""
        if not self.measured:
            return "priced at the reference machine's rates (ICLFT_COST=reference: 2 CPU threads, SmolLM2-135M)"
        parts = []
        for (model, dtype, prec), m in self.measurements.items():
            how = (f"reused this machine's timing (measured in {m.seconds:.1f} s)" if m.reused
                   else f"timed this machine in {m.seconds:.1f} s")
            scaled = f", scaled from {m.model} by parameters" if m.model != model else ""
            parts.append(f"{Path(model).name} {dtype}/{prec}: {how}{scaled}")
        return "; ".join(parts) or "nothing to price"


def calibration_tokens(job: Job) -> int:
    """Tokens of the calibrated normalization's second pass: each question's choices after the neutral prompt."""
    from iclft import tokens
    from iclft.scoring.likelihood import DEFAULT_CALIBRATION_PROMPT

    neutral = [q.model_copy(update={"prompt": DEFAULT_CALIBRATION_PROMPT}) for q in job.questions]
    return tokens.question_tokens(tokens.tokenizer(job.model), neutral)


def estimate(grid: Grid, cells: list[Cell] | None = None, pricing: Pricing | None = None) -> None:
    """Fill each cell's work estimate and its seconds, priced by `pricing` (default: the reference machine's
    rates; `Pricing(measured=True)` times this machine). Cells that do not train are priced with the rates of
    the precision their study's training resolves to, so one measurement serves a model and dtype."""
    from iclft.scoring.modes import DIRECT
    from iclft.scoring.test_time import mode_tokens

    pricing = pricing or Pricing(measured=False)
    todo = cells if cells is not None else grid.cells
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in todo:
        cell.estimate = plan(cell).estimate()
        if cell.job.calibrate:  # every question's choices scored again after the neutral prompt (a study setting)
            cell.estimate.calibration_tokens = calibration_tokens(cell.job)
        if list(cell.modes) != [DIRECT]:  # test-time modes: statements verified, texts generated and read
            scored, generated = mode_tokens(cell.job, cell.modes)
            cell.estimate.score_tokens += scored
            cell.estimate.generate_tokens += generated
        if cell.model not in grid.params:
            grid.params[cell.model] = parameter_count(cell.job.model)
        groups.setdefault((cell.job.model, cell.job.dtype), []).append(cell)
    for (model, dtype), group in groups.items():
        trained = {c.estimate.precision for c in group if c.estimate.train_steps}
        first = sorted(trained)[0] if trained else resolve_precision("auto", grid.study.config.device)
        generate = any(c.estimate.generate_tokens for c in group)
        rates = {prec: pricing.rates(model, dtype, prec, train=prec in trained, generate=generate)
                 for prec in sorted(trained | {first})}
        for c in group:
            c.rates = rates.get(c.estimate.precision, rates[first])
            c.seconds = cell_seconds(c.estimate, grid.params[c.model], dtype, c.rates)
