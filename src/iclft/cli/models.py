"""`iclft models list|prepare`."""

from __future__ import annotations

import typer
from rich.table import Table

from iclft import models
from iclft.progress import output


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="The model registry: embedded models and local Hugging Face folders.", no_args_is_help=True)

    @sub.command("list")
    def list_models() -> None:
        """Show the registry: name, installed, converted, description."""
        table = Table("name", "installed", "converted", "description", title=f"models (cache: {models.cache_dir()})")
        for name, entry in models.REGISTRY.items():
            installed = "yes" if models.is_installed(name) else f"no: {entry.install}"
            converted = "yes" if (models.converted_path(name) / "config.json").exists() else "no"
            table.add_row(name + (" (default)" if name == models.DEFAULT_MODEL else ""), installed, converted,
                          entry.description)
        out = output()
        out.print(table)
        out.print("Any local Hugging Face model folder can be given by path instead of a name.")

    @sub.command("prepare")
    def prepare(
        name: str = typer.Argument(models.DEFAULT_MODEL, help="registry name"),
        force: bool = typer.Option(False, help="convert again even if cached"),
    ) -> None:
        """Convert an embedded model's GGUF to cached safetensors (done once; later loads are fast)."""
        print(models.prepare(name, force=force))

    app.add_typer(sub, name="models")
