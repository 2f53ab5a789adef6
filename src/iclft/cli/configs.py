"""`iclft configs list|copy`: the study configs shipped inside the package (as torchtune's `tune ls` / `tune cp`)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    sub = typer.Typer(
        help="The study configs shipped with iclft. `iclft study NAME` runs one by name (e.g. `iclft study quick`); "
             "copy one to edit it.",
        no_args_is_help=True,
    )

    @sub.command("list")
    def list_configs() -> None:
        """Show each shipped config's name and what it is (the first line of its header)."""
        from rich.table import Table

        from iclft.progress import output
        from iclft.study import catalog

        table = Table("name", "what", title=f"study configs ({catalog.ROOT})", title_justify="left")
        for name in catalog.names():
            table.add_row(name, catalog.describe(name))
        output().print(table)

    @sub.command("copy")
    def copy_config(
        name: str = typer.Argument(..., help="a shipped config's name (see `iclft configs list`)"),
        dest: str | None = typer.Argument(None, help="file or folder to copy to (default: the current folder)"),
        force: bool = typer.Option(False, "--force", help="overwrite an existing file"),
    ) -> None:
        """Copy a shipped config for editing; then run it with `iclft study FILE`."""
        from iclft.study import catalog

        print(catalog.copy(name, dest, force))

    app.add_typer(sub, name="configs")
