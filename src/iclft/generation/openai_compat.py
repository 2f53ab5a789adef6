"""Any OpenAI-compatible chat endpoint (vLLM, llama.cpp server, `iclft serve`, a hosted API) as a generator.

Requests go out on `concurrency` threads, at most `rate` a second, each with a timeout; connection errors,
timeouts, HTTP 429 and 5xx are retried with exponential backoff (tenacity). When retries run out, or the
server answers something that is not a chat completion, the error is one UserError line. The API key is
read from the environment variable named by `api_key_env` and used only in the Authorization header.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Any

import httpx
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from iclft.errors import UserError
from iclft.generation.generator import Generation, Message, Request, Sampling

CHARS_PER_TOKEN = 4.0  # the usual rough estimate for English text, used only for cost estimates
RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


class _RetryableStatus(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def _retryable(e: BaseException) -> bool:
    return isinstance(e, (httpx.TransportError, _RetryableStatus))


def _error_message(response: httpx.Response) -> str:
    """The server's own error message if it sent one (OpenAI shape or FastAPI's), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        msg = (err.get("message") if isinstance(err, dict) else err) or body.get("detail")
        if msg:
            return str(msg)[:300]
    return response.text[:200].strip() or response.reason_phrase


class RateLimiter:
    """At most `per_second` acquisitions a second, shared by all threads (None: no limit)."""

    def __init__(self, per_second: float | None) -> None:
        if per_second is not None and per_second <= 0:
            raise UserError("rate must be positive (requests per second)")
        self.interval = 1.0 / per_second if per_second else 0.0
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next)
            self._next = at + self.interval
        time.sleep(max(0.0, at - now))


class OpenAIGenerator:
    """POST {base_url}/chat/completions for each request; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key_env: str | None = "OPENAI_API_KEY",
        concurrency: int = 4,
        rate: float | None = None,
        timeout: float = 600.0,
        retries: int = 4,
        backoff: float = 1.0,
    ) -> None:
        base_url = base_url.rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise UserError(f"base URL {base_url!r} must start with http:// or https://")
        if not model:
            raise UserError("an API model name is needed (--api-model)")
        if concurrency < 1 or retries < 0 or timeout <= 0:
            raise UserError("concurrency must be >= 1, retries >= 0 and timeout > 0")
        self.base_url, self.model = base_url, model
        self.api_key_env = api_key_env
        self.concurrency, self.timeout, self.retries, self.backoff = concurrency, timeout, retries, backoff
        self.limiter = RateLimiter(rate)
        key = os.environ.get(api_key_env) if api_key_env else None
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(headers=headers, timeout=timeout)

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIGenerator(base_url={self.base_url!r}, model={self.model!r})"

    def close(self) -> None:
        self._client.close()

    @property
    def identity(self) -> dict[str, Any]:
        return {"kind": "openai", "base_url": self.base_url, "model": self.model}

    @property
    def context_length(self) -> int | None:
        return None  # unknown: the server reports prompts that are too long

    def count_tokens(self, text: str) -> int:
        """An estimate: ~4 characters a token."""
        return math.ceil(len(text) / CHARS_PER_TOKEN)

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """An estimate: the messages' tokens plus a few of chat formatting each."""
        return sum(self.count_tokens(m["content"]) + 4 for m in messages)

    def iter_generate(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[tuple[int, Generation]]:
        """Yield generations as they finish; after the first failure, the requests already running still finish
        (and are yielded, so callers can keep them) before the error is raised."""
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="iclft-openai")
        futures: dict[Future[Generation], int] = {}
        done = False
        try:
            futures = {pool.submit(self.complete, r, sampling): i for i, r in enumerate(requests)}
            error: BaseException | None = None
            for fut in as_completed(futures):
                if fut.cancelled():
                    continue
                exc = fut.exception()
                if exc is not None:
                    if error is None:
                        error = exc
                        for f in futures:
                            f.cancel()
                    continue
                yield futures[fut], fut.result()
            done = True
            if error is not None:
                raise error
        finally:
            pool.shutdown(wait=done, cancel_futures=True)

    def complete(self, request: Request, sampling: Sampling) -> Generation:
        """One chat completion, with retries; any final failure is a UserError."""
        payload = {
            "model": self.model,
            "messages": request.message_dicts(),
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            **({"min_tokens": sampling.min_new_tokens} if sampling.min_new_tokens else {}),  # vLLM's extension
            "seed": request.seed,
        }
        body = self._post("/chat/completions", payload)
        return self._parse(body, request)

    def _post(self, path: str, payload: dict[str, Any]) -> Any:
        url = self.base_url + path
        retrying = Retrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_exponential_jitter(multiplier=self.backoff, max=60.0, jitter=self.backoff),
            reraise=False,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self.limiter.acquire()
                    response = self._client.post(url, json=payload)
                    if response.status_code in RETRY_STATUS:
                        raise _RetryableStatus(response.status_code, _error_message(response))
        except RetryError as e:
            raise UserError(self._describe(e.last_attempt.exception())) from None
        if response.status_code in (401, 403):
            hint = f" (is ${self.api_key_env} set to a valid key?)" if self.api_key_env else ""
            raise UserError(f"{url}: HTTP {response.status_code} {_error_message(response)}{hint}")
        if response.status_code >= 400:
            raise UserError(f"{url}: HTTP {response.status_code}: {_error_message(response)}")
        try:
            return response.json()
        except ValueError:
            raise UserError(f"malformed response from {url}: not JSON ({response.text[:80]!r})") from None

    def _describe(self, e: BaseException | None) -> str:
        tries = f"after {self.retries + 1} attempt{'s' if self.retries else ''}"
        if isinstance(e, httpx.ConnectError):
            text = str(e)
            reason = "connection refused" if "refused" in text.lower() else text or "connection failed"
            return f"cannot reach {self.base_url}: {reason} ({tries})"
        if isinstance(e, httpx.TimeoutException):
            return f"{self.base_url}: no answer within {self.timeout:g}s ({tries})"
        if isinstance(e, httpx.TransportError):
            return f"{self.base_url}: connection failed: {e or type(e).__name__} ({tries})"
        return f"{self.base_url}: {e} ({tries})"

    def _parse(self, body: Any, request: Request) -> Generation:
        url = self.base_url + "/chat/completions"
        try:
            choice = body["choices"][0]
            message = choice["message"]
            content = message["content"]
        except (KeyError, IndexError, TypeError):
            raise UserError(f"malformed response from {url}: no choices[0].message.content") from None
        if content is not None and not isinstance(content, str):
            raise UserError(f"malformed response from {url}: message content is {type(content).__name__}")
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        prompt_tokens = usage.get("prompt_tokens")
        return Generation(
            text=(content or "").strip(),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            prompt_tokens=int(prompt_tokens) if isinstance(prompt_tokens, int) else self.prompt_tokens(
                request.message_dicts()),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
