"""`iclft results STUDY_DIR --out docs/results.md`: the paper's claims checked against a finished study."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("results")
    def results(
        study: Path = typer.Argument(..., help="a finished study folder (e.g. runs/quick)"),
        out: Path = typer.Option(Path("docs/results.md"), "--out", help="markdown file to write"),
        tuning: list[Path] = typer.Option([], "--tuning", help="a finished tuning study (validation only); repeatable"),
        notes: Path | None = typer.Option(None, "--notes", help="hand-written markdown included verbatim"),
    ) -> None:
        """Write the results page: claims table, accuracy tables and figures, tuning runs, wall times."""
        from iclft.study.results import write_results

        print(write_results(study, out, tuning, notes))
