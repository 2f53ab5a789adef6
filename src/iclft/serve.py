"""A small OpenAI-compatible server for a registry model or local folder (FastAPI + uvicorn).

    iclft serve --model smollm2-135m-instruct --host 127.0.0.1 --port 8000
    POST /v1/chat/completions   {"model", "messages", "temperature", "top_p", "max_tokens", "n", "seed"}
    GET  /v1/models             the one model served
    GET  /health

Generation is `LocalGenerator`'s, so a request with a seed (default 0) always gets the same text. Requests
arriving together are generated in one batch (up to `batch_size`, same sampling settings); batching does
not change any text. A request whose client disconnects (say, timed out) before its batch starts is
dropped, so retrying clients do not pile up work. Streaming, tools and logprobs are not supported (400).
"""

from __future__ import annotations

import asyncio
import queue
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from iclft.errors import UserError
from iclft.generation.generator import Generation, Sampling
from iclft.generation.generator import Request as GenRequest
from iclft.generation.local import LocalGenerator

DEFAULT_MAX_TOKENS = 256
_STOP = object()


class ContentPart(BaseModel):
    type: str
    text: str = ""


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int = Field(1, ge=1, le=16)
    seed: int | None = None
    stream: bool = False
    tools: list[Any] | None = None
    logprobs: bool | None = None


class _ApiError(Exception):
    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.kind = status, kind


def _error(status: int, message: str, kind: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": None}}, status_code=status)


class Batcher:
    """One worker thread owns the model; requests queue up and are generated in batches."""

    def __init__(self, generator: LocalGenerator, batch_size: int = 8, window: float = 0.01) -> None:
        self.generator, self.batch_size, self.window = generator, batch_size, window
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._work, name="iclft-serve-batcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def submit(self, request: GenRequest, sampling: Sampling) -> Future[Generation]:
        fut: Future[Generation] = Future()
        self._queue.put((request, sampling, fut))
        return fut

    def _work(self) -> None:
        carry = None  # an item taken while filling a batch that belongs to the next one
        while True:
            first = carry or self._queue.get()
            carry = None
            if first is _STOP:
                return
            batch = [first]
            deadline = time.monotonic() + self.window
            while len(batch) < self.batch_size:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is _STOP or item[1] != first[1]:  # stop, or other sampling settings: next batch
                    carry = item
                    break
                batch.append(item)
            self._run(batch)

    def _run(self, batch: list[tuple[GenRequest, Sampling, Future[Generation]]]) -> None:
        batch = [item for item in batch if item[2].set_running_or_notify_cancel()]  # skip abandoned requests
        if not batch:
            return
        try:
            for i, gen in self.generator.iter_generate([r for r, _, _ in batch], batch[0][1]):
                batch[i][2].set_result(gen)
        except Exception as e:  # noqa: BLE001 - every waiting request gets the error
            for _, _, fut in batch:
                if not fut.done():
                    fut.set_exception(e)


def create_app(generator: LocalGenerator, batch_size: int = 8) -> FastAPI:
    """The ASGI app serving `generator`'s model under its registry name (or folder path)."""
    name = generator.lm.name
    batcher = Batcher(generator, batch_size=batch_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        yield
        batcher.stop()

    app = FastAPI(title="iclft serve", lifespan=lifespan)
    _handle_errors(app)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def list_models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "iclft"}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> dict[str, Any]:
        if body.model not in (None, "", name):
            raise _ApiError(404, f"model {body.model!r} not found; this server has {name!r}", "not_found_error")
        if body.stream or body.tools or body.logprobs:
            raise _ApiError(400, "stream, tools and logprobs are not supported by iclft serve")
        return _completion(name, await _generate(batcher, body, request))

    return app


def _handle_errors(app: FastAPI) -> None:
    """Errors as OpenAI-style JSON bodies: ours with their status, invalid requests as 400 naming the field."""

    @app.exception_handler(_ApiError)
    async def api_error(request: Request, e: _ApiError) -> JSONResponse:
        return _error(e.status, str(e), e.kind)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        err = e.errors()[0]
        where = ".".join(str(p) for p in err["loc"] if p != "body") or "body"
        return _error(400, f"{where}: {err['msg']}", "invalid_request_error")


async def _generate(batcher: Batcher, body: ChatCompletionRequest, request: Request) -> list[Generation]:
    """The request's `n` generations (seeds seed, seed + 1, ...), given up on if the client disconnects first."""
    sampling = Sampling(temperature=body.temperature, top_p=body.top_p,
                        max_new_tokens=body.max_completion_tokens or body.max_tokens or DEFAULT_MAX_TOKENS)
    messages = [{"role": m.role, "content": m.text()} for m in body.messages]
    seed = body.seed if body.seed is not None else 0
    futures = [batcher.submit(GenRequest.chat(messages, seed + i), sampling) for i in range(body.n)]
    waiting = [asyncio.wrap_future(f) for f in futures]
    while not all(w.done() for w in waiting):
        await asyncio.wait(waiting, timeout=1.0)
        if await request.is_disconnected():  # the client gave up (e.g. timed out): don't generate for it
            for f in futures:
                f.cancel()
            raise _ApiError(499, "client disconnected")
    try:
        return [w.result() for w in waiting]
    except UserError as e:
        raise _ApiError(400, str(e)) from None


def _completion(name: str, gens: list[Generation]) -> dict[str, Any]:
    """The chat.completion response body for `gens`."""
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": g.text}, "finish_reason": g.finish_reason}
            for i, g in enumerate(gens)
        ],
        "usage": {
            "prompt_tokens": gens[0].prompt_tokens,
            "completion_tokens": sum(g.completion_tokens for g in gens),
            "total_tokens": gens[0].prompt_tokens + sum(g.completion_tokens for g in gens),
        },
    }


def check_port(host: str, port: int) -> None:
    """Fail with a UserError if (host, port) cannot be listened on."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as e:
        raise UserError(f"cannot listen on {host}:{port}: {e.strerror or e}") from None


@contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` on a background thread while the block runs; yields the base URL (".../v1").
    Port 0 picks a free port."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, name="iclft-serve", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise UserError(f"server on {host}:{port} did not start")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}/v1"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
