"""`iclft serve`: an OpenAI-compatible endpoint for a registry model or local Hugging Face folder."""

from __future__ import annotations

import sys

import typer

from iclft.models import DEFAULT_DTYPE, DEFAULT_MODEL


def register(app: typer.Typer) -> None:
    @app.command("serve")
    def serve(
        model: str = typer.Option(DEFAULT_MODEL, "--model", help="registry name or local HF folder"),
        host: str = typer.Option("127.0.0.1", "--host", help="address to listen on (keep 127.0.0.1 unless needed)"),
        port: int = typer.Option(8000, "--port", min=0, max=65535),
        batch_size: int = typer.Option(8, "--batch-size", min=1, help="requests generated together"),
        device: str | None = typer.Option(None, "--device", help="cpu, cuda, ... (default: cuda if present)"),
        dtype: str = typer.Option(DEFAULT_DTYPE, "--dtype",
                                  help="auto | float32 | bfloat16 | float16 (auto: bfloat16 where computed natively)"),
    ) -> None:
        """Serve /v1/chat/completions and /v1/models (seeded sampling: same request, same text)."""
        import uvicorn

        from iclft.generation.local import LocalGenerator
        from iclft.serve import check_port, create_app

        check_port(host, port)
        app_ = create_app(LocalGenerator(model, device=device, dtype=dtype), batch_size=batch_size)
        print(f"iclft: serving {model} at http://{host}:{port}/v1 (Ctrl-C to stop)", file=sys.stderr, flush=True)
        uvicorn.run(app_, host=host, port=port, log_level="warning")
