"""LoRA options of a fine-tuning or RL run, and peft's config for them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class LoraOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    r: int = Field(16, gt=0)
    alpha: float = Field(32, gt=0)
    dropout: float = Field(0.0, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"

    def config(self):
        """peft's LoraConfig for a causal LM with these options."""
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=self.target_modules, task_type="CAUSAL_LM")
