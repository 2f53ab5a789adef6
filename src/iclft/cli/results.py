"""`iclft results STUDY... --out docs/results.md`: the paper's claims checked against finished studies."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("results")
    def results(
        studies: list[Path] = typer.Argument(..., help="finished study folders (e.g. runs/quick runs/full); a claim "
                                                       "takes its rows from the first that ran it"),
        out: Path = typer.Option(Path("docs/results.md"), "--out", help="markdown file to write"),
        tuning: list[Path] = typer.Option([], "--tuning", help="a finished tuning study (validation only); repeatable"),
        notes: Path | None = typer.Option(None, "--notes", help="hand-written markdown without figures, included "
                                                               "verbatim (a figure in it is an error)"),
    ) -> None:
        """Write the results page: claims table, accuracy tables and figures, tuning runs, wall times."""
        from iclft.study.results_page import write_results

        print(write_results(studies, out, tuning, notes))
