"""`iclft serve`: the embedded model behind an OpenAI-compatible API, used by the OpenAI generator."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from iclft.augment import AugmentOptions, GenerationCache, augment
from iclft.cli import main
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.generation.generator import Request, Sampling, generate
from iclft.generation.local import LocalGenerator
from iclft.generation.openai_compat import OpenAIGenerator
from iclft.serve import Batcher, check_port, create_app, running

NAME = "smollm2-135m-instruct"


@pytest.fixture(scope="module")
def server(lm):
    local = LocalGenerator(lm, batch_size=4)
    with running(create_app(local, batch_size=4)) as url:
        yield url, local


def test_models_and_request_errors(server):
    url, _ = server
    with httpx.Client(timeout=30) as http:
        assert http.get(url + "/models").json()["data"][0]["id"] == NAME
        bad = http.post(url + "/chat/completions", json={"messages": []})
        assert bad.status_code == 400 and bad.json()["error"]["message"].startswith("messages:")
        streaming = http.post(url + "/chat/completions", json={"messages": [{"role": "user", "content": "hi"}],
                                                                "stream": True})
        assert streaming.status_code == 400 and "not supported" in streaming.json()["error"]["message"]
        too_long = http.post(url + "/chat/completions", json={"messages": [{"role": "user", "content": "hi " * 9000}]})
        assert too_long.status_code == 400 and "exceeds the 8192-token context" in too_long.json()["error"]["message"]
    with pytest.raises(UserError, match=f"HTTP 404: model 'gpt-9' not found; this server has '{NAME}'"):
        generate(OpenAIGenerator(url, "gpt-9", retries=0), [Request.chat([{"role": "user", "content": "x"}])],
                 Sampling())


def test_http_generation_equals_local_generation(server):
    url, local = server
    remote = OpenAIGenerator(url, NAME, concurrency=2)
    requests = [Request.chat([{"role": "user", "content": f"Give one fact about the number {n}."}], seed=n)
                for n in (1, 2)]
    sampling = Sampling(temperature=0.9, max_new_tokens=5)
    over_http = generate(remote, requests, sampling)
    assert over_http == generate(local, requests, sampling)  # same seed, same text, batched or not
    assert all(g.text and g.finish_reason == "length" and g.completion_tokens == 5 for g in over_http)
    assert over_http[0].prompt_tokens == local.prompt_tokens(requests[0].message_dicts())


def test_augmentation_through_the_server(server, tmp_path):
    url, _ = server
    remote = OpenAIGenerator(url, NAME, concurrency=2)
    template = tmp_path / "t.txt"
    template.write_text("[user]\nRestate in $k ways: $text\n", encoding="utf-8")
    docs = [Document(id="a", text="Femp are more dangerous than glon.")]
    options = AugmentOptions(mode="local", k=2, max_new_tokens=8, template=str(template))
    first = augment(docs, remote, options, cache=GenerationCache(tmp_path / "cache"))
    assert first.generated == 1 and first.summary["tokens"]["completion"] <= 8
    again = augment(docs, remote, options, cache=GenerationCache(tmp_path / "cache"))
    assert again.cache_hits == 1 and again.generated == 0 and [a.row() for a in again.items] == [
        a.row() for a in first.items]


def test_abandoned_requests_are_not_generated(lm):
    class Counting(LocalGenerator):
        calls = 0

        def iter_generate(self, requests, sampling):
            Counting.calls += len(requests)
            return super().iter_generate(requests, sampling)

    batcher = Batcher(Counting(lm), batch_size=4)
    request = Request.chat([{"role": "user", "content": "Hi."}])
    abandoned, wanted = batcher.submit(request, Sampling(max_new_tokens=2)), batcher.submit(request, Sampling(
        max_new_tokens=2))
    abandoned.cancel()  # what the endpoint does when its client disconnects
    batcher.start()
    try:
        assert wanted.result(timeout=120).completion_tokens <= 2 and Counting.calls == 1
    finally:
        batcher.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_refuses_a_busy_port(monkeypatch, capsys):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        with pytest.raises(UserError, match=f"cannot listen on 127.0.0.1:{port}: "):
            check_port("127.0.0.1", port)
        monkeypatch.setattr(sys, "argv", ["iclft", "serve", "--port", str(port)])
        with pytest.raises(SystemExit) as exit_:
            main()
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(f"iclft: error: cannot listen on 127.0.0.1:{port}: ")


def test_iclft_serve_command_end_to_end():
    port = free_port()
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.Popen([sys.executable, "-c", "from iclft.cli import main; main()", "serve", "--host",
                             "127.0.0.1", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "iclft serve did not come up"
            time.sleep(0.5)
        [g] = generate(OpenAIGenerator(url, NAME), [Request.chat([{"role": "user", "content": "Hi."}])],
                       Sampling(max_new_tokens=4))
        assert g.text and g.completion_tokens <= 4
    finally:
        proc.terminate()
        proc.wait(timeout=30)
