"""The generator interface shared by a local model and an OpenAI-compatible endpoint.

A `Request` is a chat (a list of {"role", "content"} messages) plus an integer seed; `Sampling` holds what
every request of a run shares (temperature, top_p, max_new_tokens). A generator answers requests with
`Generation`s. `iter_generate` yields (index, generation) as each finishes, in any order, so callers can
cache results as they arrive; `generate` returns them in request order.

The same (generator, messages, sampling, seed) gives the same text: a local model samples each request
from its own seeded random stream, and the endpoint is sent the seed (servers that honour it, like
`iclft serve` and vLLM, are then deterministic too).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": str}

# A local model generates prompts in batches of at most GENERATE_TOKENS tokens, rows x (prompt + max_new_tokens),
# and GENERATE_BATCH rows: local-augmentation prompts of SmolLM2-135M (~500 tokens with 96 new) go 32 at a time,
# global ones (~1,500) 10 at a time. On 2 CPU threads 32 rows gave 1.23x the tokens/s of 8 (16: 1.17x).
GENERATE_BATCH = 64
GENERATE_TOKENS = 16384


class Sampling(BaseModel):
    """Sampling settings shared by a batch of requests; temperature 0 means greedy decoding."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = Field(0.7, ge=0.0, le=5.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(128, ge=1)
    # left out of the dump (so of every generation's cache key) while 0: keys made before it existed hold
    min_new_tokens: int = Field(0, ge=0, exclude_if=lambda v: v == 0,
                                description="tokens written before an end of text is allowed (0: none)")

    @model_validator(mode="after")
    def _min_below_max(self) -> Sampling:
        if self.min_new_tokens > self.max_new_tokens:
            raise ValueError(f"min_new_tokens ({self.min_new_tokens}) is above max_new_tokens "
                             f"({self.max_new_tokens})")
        return self


@dataclass(frozen=True)
class Request:
    messages: tuple[tuple[str, str], ...]  # (role, content) pairs, hashable
    seed: int = 0

    @classmethod
    def chat(cls, messages: Sequence[Message], seed: int = 0) -> Request:
        return cls(tuple((m["role"], m["content"]) for m in messages), seed)

    def message_dicts(self) -> list[Message]:
        return [{"role": r, "content": c} for r, c in self.messages]


@dataclass(frozen=True)
class Generation:
    text: str
    finish_reason: Literal["stop", "length"]  # "length": cut by max_new_tokens
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # wall seconds its generation took (its share of a batch; kept in the cache, so a cached run still knows what
    # the text cost); not part of equality: the same text generated twice is the same generation
    seconds: float = field(default=0.0, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "seconds": self.seconds,
        }


class Generator(Protocol):
    """What the augmentation pipeline needs from a text generator."""

    @property
    def identity(self) -> dict[str, Any]:
        """What determines its outputs besides the request (model, endpoint; never a secret): part of cache keys."""

    @property
    def context_length(self) -> int | None:
        """The model's context window in tokens, if known."""

    def count_tokens(self, text: str) -> int:
        """Tokens of plain text (exact for a local model, estimated for an endpoint)."""

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        """Tokens of a whole chat prompt, formatting included (exact locally, estimated for an endpoint)."""

    def iter_generate(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[tuple[int, Generation]]:
        """Yield (request index, generation) as each finishes."""


def generate(generator: Generator, requests: Sequence[Request], sampling: Sampling) -> list[Generation]:
    """All generations, in request order."""
    out: list[Generation | None] = [None] * len(requests)
    for i, g in generator.iter_generate(requests, sampling):
        out[i] = g
    return [g for g in out if g is not None]


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (e.g. the run seed and a sample index)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
