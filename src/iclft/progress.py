"""Where commands print: results to stdout (`output()`), progress bars and diagnostics to stderr (`console`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

console = Console(stderr=True)
OUTPUT_WIDTH = 160  # columns of tables written to a pipe or file (a terminal uses its own width)


def output() -> Console:
    """A console on stdout for a command's results (`| grep`, `> file` get them; tables keep whole columns)."""
    out = Console()
    return out if out.is_terminal else Console(width=OUTPUT_WIDTH)


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A bar on stderr with count, elapsed time and ETA; yields `advance(n)`."""
    if not enabled:
        yield lambda n=1: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
