"""A registry model or local Hugging Face folder as a generator: chat template, batched, seeded per request.

Hugging Face's own sampling draws from one global random stream, so a request's text would depend on what
else shared its batch. Here decoding is greedy over logits that `_RowSampler` has already reduced to one
token per row, drawn from that row's own `torch.Generator` seeded by the request: the same request gives
the same text in any batch, which is what makes cached and resumed runs consistent.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from transformers import GenerationConfig, LogitsProcessor, LogitsProcessorList

from iclft import models
from iclft.errors import UserError
from iclft.generation.generator import GENERATE_BATCH, GENERATE_TOKENS, Generation, Message, Request, Sampling
from iclft.generation.prefix import PrefixCache, common_prefix, fits_window, token_batches


class _RowSampler(LogitsProcessor):
    """Temperature + nucleus sampling with one seeded random stream per batch row."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float) -> None:
        self.rngs = [torch.Generator().manual_seed(s) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(scores.float() / self.temperature, dim=-1).cpu()
        if self.top_p < 1.0:
            sorted_p, order = probs.sort(dim=-1, descending=True)
            outside = sorted_p.cumsum(-1) - sorted_p >= self.top_p  # keep the smallest set reaching top_p
            sorted_p[outside] = 0.0
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p)
        picked = torch.stack([torch.multinomial(p, 1, generator=g) for p, g in zip(probs, self.rngs)])
        out = torch.full_like(scores, float("-inf"))
        return out.scatter(-1, picked.to(scores.device), 0.0)


class LocalGenerator:
    """Generate with a model in batches of at most `batch_size` prompts and `batch_tokens` tokens (rows x
    (prompt + max_new_tokens)); the prompts' shared prefix is encoded once (`prefix_cache`, see generation.prefix).

    `model` is a loaded model (`models.load`) or a registry name / folder, loaded only when first needed:
    a run whose generations are all cached never loads the weights.
    """

    def __init__(self, model: models.LoadedModel | str | Path = models.DEFAULT_MODEL, batch_size: int = GENERATE_BATCH,
                 device: str | None = None, dtype: str = models.DEFAULT_DTYPE, batch_tokens: int = GENERATE_TOKENS,
                 prefix_cache: bool = True) -> None:
        if batch_size < 1 or batch_tokens < 1:
            raise UserError("batch size and batch tokens must be at least 1")
        self.batch_size, self.batch_tokens, self.prefix_cache = batch_size, batch_tokens, prefix_cache
        if isinstance(model, models.LoadedModel):
            self._lm: models.LoadedModel | None = model
            name, path, dtype = model.name, Path(model.path), str(model.model.dtype).removeprefix("torch.")
        else:
            self._lm = None
            name, path = str(model), models.resolve(model)
            dtype = models.resolve_dtype(dtype, device)  # the identity names what generates, not "auto"
        self._load_args = {"device": device, "dtype": dtype}
        self._identity = {"kind": "local", "model": name, "dtype": dtype, "fingerprint": models.digest(path)[:16]}

    @classmethod
    def for_planning(cls, model: str | Path, device: str | None = None,
                     dtype: str = models.DEFAULT_DTYPE) -> LocalGenerator:
        """A generator that plans without weights: it counts tokens and knows the window (tokenizer and config
        alone) and has the identity, so the cache keys, of `LocalGenerator(model)`; it never generates."""
        from iclft import tokens

        gen = cls(model, device=device, dtype=dtype)
        gen._lm = tokens.weightless(str(model))
        return gen

    @property
    def lm(self) -> models.LoadedModel:
        if self._lm is None:
            self._lm = models.load(self._identity["model"], **self._load_args)
        return self._lm

    @property
    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def render(self, messages: Sequence[Message]) -> str:
        """The chat as the model's prompt text, ending where the reply begins (plain text without a template)."""
        tok = self.lm.tokenizer
        if not self.lm.has_chat_template:
            return "\n\n".join(m["content"] for m in messages) + "\n\n"
        return tok.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)

    def _ids(self, messages: Sequence[Message]) -> list[int]:
        return self.lm.tokenizer.encode(self.render(messages), add_special_tokens=not self.lm.has_chat_template)

    @property
    def context_length(self) -> int:
        return self.lm.max_length

    def count_tokens(self, text: str) -> int:
        return len(self.lm.tokenizer.encode(text, add_special_tokens=False))

    def prompt_tokens(self, messages: Sequence[Message]) -> int:
        return len(self._ids(messages))

    def iter_generate(self, requests: Sequence[Request], sampling: Sampling) -> Iterator[tuple[int, Generation]]:
        prompts = [self._ids(r.message_dicts()) for r in requests]
        limit = self.lm.max_length
        for ids in prompts:
            if len(ids) + sampling.max_new_tokens > limit:
                raise UserError(f"a prompt of {len(ids)} tokens plus max_new_tokens={sampling.max_new_tokens} "
                                f"exceeds the {limit}-token context of {self.lm.name}")
        if not prompts:
            return
        shared = common_prefix(prompts) if self.prefix_cache else 0
        if not fits_window(self.lm.model, max(map(len, prompts)) + sampling.max_new_tokens):
            shared = 0
        prefix = PrefixCache(self.lm.model, prompts[0][:shared]) if shared else None
        order = sorted(range(len(requests)), key=lambda i: len(prompts[i]))  # similar lengths: less padding
        lengths = [len(prompts[i]) for i in order]
        for run in token_batches(lengths, sampling.max_new_tokens, self.batch_tokens, self.batch_size):
            batch = [order[j] for j in run]
            texts = self._generate_batch([prompts[i] for i in batch], [requests[i].seed for i in batch], sampling,
                                         prefix)
            yield from zip(batch, texts)

    @torch.inference_mode()
    def _generate_batch(self, prompts: list[list[int]], seeds: list[int], sampling: Sampling,
                        prefix: PrefixCache | None = None) -> list[Generation]:
        """Rows laid out as prefix + padding + tail (plain left padding without a prefix cache); each row is charged
        an equal share of the batch's wall time."""
        t0 = time.perf_counter()
        tok, model = self.lm.tokenizer, self.lm.model
        shared = len(prefix) if prefix is not None else 0
        head = prompts[0][:shared]
        tails = [p[shared:] for p in prompts]
        width = max(map(len, tails))
        pad = tok.pad_token_id
        device = self.lm.device
        input_ids = torch.tensor([head + [pad] * (width - len(t)) + t for t in tails], device=device)
        mask = torch.tensor([[1] * shared + [0] * (width - len(t)) + [1] * len(t) for t in tails], device=device)
        eos = model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {tok.eos_token_id}
        config = GenerationConfig(
            max_new_tokens=sampling.max_new_tokens,
            min_new_tokens=sampling.min_new_tokens or None,
            do_sample=False,
            eos_token_id=sorted(i for i in eos_ids if i is not None),
            pad_token_id=pad,
        )
        processors = LogitsProcessorList()
        if sampling.temperature > 0:
            processors.append(_RowSampler(seeds, sampling.temperature, sampling.top_p))
        cache = {"past_key_values": prefix.expand(len(prompts))} if prefix is not None else {}
        out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config,
                             logits_processor=processors, **cache)
        results = []
        share = round((time.perf_counter() - t0) / len(prompts), 4)
        for prompt, row in zip(prompts, out[:, shared + width:].tolist()):
            stop = next((j for j, t in enumerate(row) if t in eos_ids), None)
            new = row if stop is None else row[:stop]
            text = tok.decode(new, skip_special_tokens=True)
            finish = "length" if stop is None and len(row) >= sampling.max_new_tokens else "stop"
            results.append(Generation(text.strip(), finish, len(prompt), len(new) + (stop is not None), share))
        return results
