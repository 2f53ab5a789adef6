"""The OpenAI-compatible client against real local HTTP servers on 127.0.0.1: a dead endpoint, malformed
answers, transient failures, an endpoint that dies mid-run, rate limit, concurrency, the API key."""

from __future__ import annotations

import socket
import sys
import threading
import time

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from iclft.augment import AugmentOptions, GenerationCache, augment
from iclft.cli import main
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.generation.generator import Request as GenRequest
from iclft.generation.generator import Sampling, generate
from iclft.generation.openai_compat import OpenAIGenerator
from iclft.serve import running


class EchoServer:
    """A tiny OpenAI-shaped server: answers "Glon <n> echo: <last user message>." and records what it saw.

    `script` maps a request number (1-based) to a special answer: a status code, or "garbage" / a dict body;
    `fail_from` makes every request from that number on a 503; `delay` holds each request that long."""

    def __init__(self, script=None, fail_from=None, delay=0.0) -> None:
        self.script, self.fail_from, self.delay = script or {}, fail_from, delay
        self.count = self.in_flight = self.max_in_flight = 0
        self.auth: list[str | None] = []
        self.lock = threading.Lock()
        self.app = FastAPI()

        @self.app.post("/v1/chat/completions")
        def complete(body: dict, request: Request):
            with self.lock:
                self.count += 1
                n = self.count
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
                self.auth.append(request.headers.get("authorization"))
            time.sleep(self.delay)
            with self.lock:
                self.in_flight -= 1
            special = self.script.get(n)
            if self.fail_from is not None and n >= self.fail_from:
                special = 503
            if special == "garbage":
                return PlainTextResponse("<html>not json</html>")
            if isinstance(special, dict):
                return JSONResponse(special)
            if isinstance(special, int):
                return JSONResponse({"error": {"message": f"scripted {special}"}}, status_code=special)
            text = f"Glon {n} echo: {body['messages'][-1]['content']}."
            return {"choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 3}}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(url: str, **kw) -> OpenAIGenerator:
    return OpenAIGenerator(url, "echo", retries=kw.pop("retries", 2), backoff=0.01, timeout=10, **kw)


REQ = GenRequest.chat([{"role": "user", "content": "femp"}], seed=0)


def test_dead_endpoint_is_one_clear_error(tmp_path, monkeypatch, capsys):
    url = f"http://127.0.0.1:{closed_port()}/v1"
    with pytest.raises(UserError) as e:
        generate(client(url), [REQ], Sampling())
    assert str(e.value) == f"cannot reach {url}: connection refused (after 3 attempts)"

    docs = tmp_path / "docs.jsonl"
    docs.write_text('{"id": "a", "text": "Femp are glon."}\n', encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["iclft", "augment", "local", "--docs", str(docs), "--out",
                                      str(tmp_path / "o.jsonl"), "--generator", "openai", "--base-url", url,
                                      "--api-model", "m", "--retries", "0", "--cache-dir", str(tmp_path / "c")])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2
    assert err[-1] == f"iclft: error: cannot reach {url}: connection refused (after 1 attempt)"
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(("answer", "message"), [
    ("garbage", "malformed response from {url}/chat/completions: not JSON ('<html>not json</html>')"),
    ({"choices": []}, "malformed response from {url}: no choices[0].message.content"),
    ({"choices": [{"text": "old completions API"}]}, "malformed response from {url}: no choices[0].message.content"),
    ({"choices": [{"message": {"content": 42}}]}, "malformed response from {url}: message content is int"),
    (400, "{url}/chat/completions: HTTP 400: scripted 400"),
    (401, "{url}/chat/completions: HTTP 401 scripted 401 (is $OPENAI_API_KEY set to a valid key?)"),
])
def test_malformed_and_refused_answers_are_clear_errors(answer, message):
    server = EchoServer(script={1: answer})
    with running(server.app) as url:
        with pytest.raises(UserError) as e:
            generate(client(url), [REQ], Sampling())
    expected = message.format(url=url)
    if "no choices" in expected or "content is" in expected:
        expected = expected.replace(url, url + "/chat/completions")
    assert str(e.value) == expected
    assert server.count == 1  # not retried: retrying cannot fix it


def test_transient_errors_are_retried_then_exhausted():
    server = EchoServer(script={1: 503, 2: 429})
    with running(server.app) as url:
        [g] = generate(client(url), [REQ], Sampling())
        assert g.text == "Glon 3 echo: femp." and server.count == 3
        server.fail_from = 1
        with pytest.raises(UserError, match=r"HTTP 503: scripted 503 \(after 3 attempts\)$"):
            generate(client(url), [REQ], Sampling())


def test_endpoint_dying_mid_run_loses_nothing(tmp_path):
    docs = [Document(id=f"d{i}", text=f"Femp number {i} are glon.") for i in range(6)]
    # resume is what is tested here: the echo answers are not restatements, so the content filters are off
    options = AugmentOptions(mode="local", max_new_tokens=8, faithful=False, consistent=False, self_verify=None)
    cache = GenerationCache(tmp_path / "cache")
    server = EchoServer(fail_from=4)  # three good answers, then the endpoint is down
    with running(server.app) as url:
        with pytest.raises(UserError, match="HTTP 503"):
            augment(docs, client(url, concurrency=2, retries=1), options, cache=cache)
        assert len(list(cache.root.glob("??/*.json"))) == 3

        server.fail_from, before = None, server.count  # back up: only the missing three are asked for
        result = augment(docs, client(url, concurrency=2), options, cache=cache)
        assert server.count - before == 3 and (result.generated, result.cache_hits) == (3, 3)
    assert sorted({a.source for a in result.items}) == [d.id for d in docs]


def test_slow_endpoint_times_out_clearly():
    server = EchoServer(delay=1.0)
    with running(server.app) as url:
        with pytest.raises(UserError) as e:
            generate(OpenAIGenerator(url, "echo", timeout=0.2, retries=1, backoff=0.01), [REQ], Sampling())
    assert str(e.value) == f"{url}: no answer within 0.2s (after 2 attempts)"


def test_rate_limit_and_concurrency():
    server = EchoServer(delay=0.3)
    with running(server.app) as url:
        reqs = [GenRequest(REQ.messages, seed=i) for i in range(6)]
        start = time.monotonic()
        gens = generate(client(url, concurrency=3), reqs, Sampling())
        assert server.max_in_flight == 3 and time.monotonic() - start < 6 * 0.3
        assert len(gens) == 6 and {g.text for g in gens} == {f"Glon {n} echo: femp." for n in range(1, 7)}

        server.delay, server.max_in_flight = 0.0, 0
        start = time.monotonic()
        generate(client(url, concurrency=4, rate=10.0), reqs[:5], Sampling())
        assert time.monotonic() - start >= 0.4  # 5 requests at 10/s: the last leaves >= 0.4 s after the first


def test_api_key_comes_from_the_named_variable_and_goes_nowhere_else(tmp_path, monkeypatch):
    monkeypatch.setenv("MY_TEST_KEY", "sk-very-secret")
    server = EchoServer()
    with running(server.app) as url:
        gen = client(url, api_key_env="MY_TEST_KEY")
        result = augment([Document(id="a", text="Femp are glon.")], gen, AugmentOptions(max_new_tokens=8),
                         cache=GenerationCache(tmp_path))
        monkeypatch.delenv("MY_TEST_KEY")
        generate(client(url, api_key_env="MY_TEST_KEY"), [REQ], Sampling())
    assert server.auth == ["Bearer sk-very-secret", None]
    assert "sk-very" not in repr(gen) + str(gen.identity) + str(result.summary)
    assert not any("sk-very" in p.read_text(encoding="utf-8") for p in tmp_path.rglob("*.json"))
