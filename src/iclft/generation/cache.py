"""A disk cache of generations, so a rerun costs nothing and a killed augmentation resumes.

Each generation is one small JSON file, `<root>/<key[:2]>/<key>.json`, written atomically as soon as it
arrives; the key hashes (cache version, generator identity, messages, sampling, seed). A kill leaves at
most a temporary file, never a half-written entry; an unreadable entry counts as a miss. Secrets never
enter the key (generator identities hold no API key). The default root is `cache_dir()/generations`.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from iclft.generation.generator import Generation, Generator, Request, Sampling
from iclft.io import dumps, write_json
from iclft.models import cache_dir

CACHE_VERSION = 1


def default_root() -> Path:
    return cache_dir() / "generations"


class GenerationCache:
    """Generations on disk under `root`, keyed by `key(...)`."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_root()

    @staticmethod
    def key(identity: dict[str, Any], request: Request, sampling: Sampling) -> str:
        blob = dumps({
            "v": CACHE_VERSION,
            "generator": identity,
            "messages": request.message_dicts(),
            "sampling": sampling.model_dump(mode="json"),
            "seed": request.seed,
        })
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> Generation | None:
        path = self.path(key)
        try:
            row = json.loads(path.read_text(encoding="utf-8"))
            return Generation(row["text"], row["finish_reason"], int(row["prompt_tokens"]),
                              int(row["completion_tokens"]), float(row.get("seconds", 0.0)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, generation: Generation, identity: dict[str, Any]) -> None:
        write_json(self.path(key), {**generation.to_json(), "generator": identity})


def cached_generate(
    generator: Generator,
    requests: Sequence[Request],
    sampling: Sampling,
    cache: GenerationCache | None,
    on_generated: Callable[[int], None] = lambda n: None,
) -> tuple[list[Generation], int, int]:
    """Generations for all requests (cache hits first, then the misses, each stored as it arrives).

    Returns (generations in request order, requests found in the cache, requests sent to the generator;
    identical requests are sent once); `on_generated(1)` is called per new generation.
    If the generator fails, everything it produced before the failure is already in the cache.
    A generation whose generator did not time it is charged the wall time since the previous one arrived (their
    sum is the run's wall time; an endpoint's concurrent requests share it).
    """
    identity = generator.identity
    keys = [GenerationCache.key(identity, r, sampling) for r in requests]
    out: list[Generation | None] = [cache.get(k) if cache else None for k in keys]
    hits = sum(g is not None for g in out)
    waiting: dict[str, list[int]] = {}  # key -> requests awaiting it (identical requests are sent once)
    for i, (k, g) in enumerate(zip(keys, out)):
        if g is None:
            waiting.setdefault(k, []).append(i)
    todo = [idx[0] for idx in waiting.values()]
    last = time.perf_counter()
    for j, gen in generator.iter_generate([requests[i] for i in todo], sampling):
        now = time.perf_counter()
        gen = replace(gen, seconds=round(gen.seconds or now - last, 4))
        last = now
        key = keys[todo[j]]
        if cache:
            cache.put(key, gen, identity)
        for i in waiting[key]:
            out[i] = gen
        on_generated(1)
    missing = sum(g is None for g in out)
    if missing:  # never a shorter list: results are paired with their requests by position
        raise RuntimeError(f"generator {identity.get('kind')!r} returned no generation for {missing} of "
                           f"{len(requests)} requests")
    return [g for g in out if g is not None], hits, len(todo)
