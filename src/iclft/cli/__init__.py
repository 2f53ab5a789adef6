"""The `iclft` command. Each module in this package adds its commands through `register(app)`."""

from __future__ import annotations

import errno
import importlib
import os
import pkgutil
import sys

import typer

from iclft.errors import UserError

app = typer.Typer(
    help="iclft: how language models generalize from in-context learning versus fine-tuning. The study configs "
         "ship with it: `iclft configs list`, then e.g. `iclft study quick --dry-run`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for _mod in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_mod}").register(app)


def disk_full(e: BaseException) -> bool:
    """Whether `e` is the disk running out of space (an OSError, or a library's error that carries its message)."""
    return (isinstance(e, OSError) and e.errno == errno.ENOSPC) or "No space left on device" in str(e)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit code 2, never a traceback; a full disk is one
    line too (exit 1: writes are atomic, so the same command resumes once there is space)."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except UserError as e:
        print(f"iclft: error: {e}", file=sys.stderr)
        sys.exit(2)
    except Exception as e:
        if not disk_full(e):
            raise
        print("iclft: error: no space left on device; free some (models and fine-tuned weights are cached in "
              "ICLFT_CACHE, default ~/.cache/iclft) and run the same command again: it resumes", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("iclft: interrupted", file=sys.stderr)
        sys.exit(130)
