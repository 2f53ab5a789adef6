"""A generator described as data (CLI options, a study config): `GeneratorSpec(...).build()` makes a local or an
OpenAI-compatible generator."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from iclft.errors import UserError
from iclft.generation.generator import GENERATE_BATCH, GENERATE_TOKENS, Generator
from iclft.models import DEFAULT_DTYPE, DEFAULT_MODEL


class GeneratorSpec(BaseModel):
    """A generator described as data (CLI options, a study config); `build()` makes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["local", "openai"] = "local"
    model: str = Field(DEFAULT_MODEL, description="local: registry name or Hugging Face folder")
    device: str | None = None
    dtype: str = Field(DEFAULT_DTYPE, description="local: auto | float32 | bfloat16 | float16 (auto: bf16 if native)")
    batch_size: int = Field(GENERATE_BATCH, ge=1, description="local: prompts generated together, at most")
    batch_tokens: int = Field(GENERATE_TOKENS, ge=1, description="local: rows x (prompt + max_new_tokens), at most")
    base_url: str | None = Field(None, description="openai: e.g. http://127.0.0.1:8000/v1")
    api_model: str | None = Field(None, description="openai: the served model's name")
    api_key_env: str | None = Field("OPENAI_API_KEY", description="openai: environment variable with the key")
    concurrency: int = Field(4, ge=1)
    rate: float | None = Field(None, gt=0, description="openai: requests per second at most")
    timeout: float = Field(600.0, gt=0)
    retries: int = Field(4, ge=0)
    backoff: float = Field(1.0, ge=0)

    def build(self, planning: bool = False) -> Generator:
        """The generator; `planning`: a local one without weights (tokenizer and config: counts and cache keys)."""
        if self.kind == "local":
            from iclft.generation.local import LocalGenerator

            if planning:
                return LocalGenerator.for_planning(self.model, device=self.device, dtype=self.dtype)
            return LocalGenerator(self.model, batch_size=self.batch_size, device=self.device, dtype=self.dtype,
                                  batch_tokens=self.batch_tokens)
        from iclft.generation.openai_compat import OpenAIGenerator

        if not self.base_url or not self.api_model:
            raise UserError("the openai generator needs a base URL and an API model name (--base-url, --api-model)")
        return OpenAIGenerator(self.base_url, self.api_model, api_key_env=self.api_key_env,
                               concurrency=self.concurrency, rate=self.rate, timeout=self.timeout,
                               retries=self.retries, backoff=self.backoff)
