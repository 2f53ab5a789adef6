"""The `iclft` command. Each module in this package adds its commands through `register(app)`."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

from iclft.errors import UserError

app = typer.Typer(
    help="iclft: how language models generalize from in-context learning versus fine-tuning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_mod}").register(app)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except UserError as e:
        print(f"iclft: error: {e}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("iclft: interrupted", file=sys.stderr)
        sys.exit(130)
