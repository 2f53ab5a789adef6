"""The `ft` condition and the shared fine-tuning recipe (`Training`, also used by augmented conditions).

Training data: each Document becomes prompt/completion examples with the loss on the completion only, split into
sentences or not by `split` (`iclft.learners.ft_data`).

Training is a Hugging Face `Trainer` (accelerate underneath, so `accelerate launch` / torchrun give
data parallelism unchanged): full fine-tuning or LoRA (peft, merged into the weights when done), on
length-grouped batches that are packed without padding (`pack`: each batch's examples concatenated into one row,
attention kept within each example by their position ids: the loss and gradients of padding, none of its
compute; checked against padding on the first batch, which is used instead when the model does not honour
packed position ids). The result is cached in
`cache_dir()/ft/<hash of base weights, examples, options, seed>`: written to a temporary folder and
renamed into place when complete, so a killed run never leaves a half-written model; `loss.json` holds
the loss curve and `train.json` the run's facts (examples, tokens, padding share).
"""

from __future__ import annotations

import hashlib
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iclft import distributed, models, precision, tokens
from iclft.cells import Estimate, Exposure, Job, Reporter
from iclft.datasets.schema import Document
from iclft.framing import DEFAULT_INSTRUCTION, Format
from iclft.io import atomic_dir, dumps, read_json, write_json
from iclft.learners import Condition
from iclft.learners.ft_data import Batches, Example, encode, examples, packing_works
from iclft.learners.lora import LoraOptions
from iclft.learners.replay import Replay, mix_in
from iclft.precision import Precision

FT_VERSION = 1  # bump when the recipe changes what a cached model contains
DEFAULT_EPOCHS = 3.0


class FTOptions(BaseModel):
    """Hyperparameters of one fine-tuning run (everything here is part of the cache key). The defaults are the
    recipe chosen on validation worlds (configs/tuning/ft-batch16.yaml); other named recipes: `recipes()`."""

    model_config = ConfigDict(extra="forbid")
    lr: float = Field(2e-4, gt=0)
    epochs: float | None = Field(None, gt=0, description=f"passes over the data (default {DEFAULT_EPOCHS:g} unless "
                                                           "max_steps)")
    max_steps: int | None = Field(None, gt=0)
    batch_size: int = Field(16, gt=0, description="per device")
    grad_accum: int = Field(1, gt=0)
    warmup: float = Field(0.0, ge=0, description="warm-up steps, or a ratio of all steps if < 1")
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    split: Literal["none", "independent", "cumulative"] = "independent"
    max_length: int = Field(1024, gt=1, description="tokens per example (longer ones keep their end)")
    lora: LoraOptions | None = None
    gradient_checkpointing: bool = False
    # Left out of the options' dump (so of every cache and cell key) while unset: keys made before it existed hold.
    optim: str | None = Field(None, exclude_if=lambda v: v is None,
                              description="a Hugging Face optimizer name (TrainingArguments.optim), e.g. adafactor "
                                          "or adamw_8bit (needs bitsandbytes installed); default: the Trainer's "
                                          "(adamw_torch_fused)")
    replay: Replay | None = Field(None, exclude_if=lambda v: v is None, description="generic text mixed in against "
                                  "forgetting, {share, corpus} (learners/replay.py); unset: left out of every key")
    pack: bool = Field(True, description="padding-free batches: a batch's examples in one row, attention within each "
                                         "(the same loss as padding to the longest example, without its compute)")
    precision: Precision = Field(
        "auto", description="auto: bf16 mixed precision on a GPU or CPU with bf16 support, else fp32 (resolved "
                            "before keying: cache and cell keys name fp32 or bf16)")

    @field_validator("optim")
    @classmethod
    def _known_optim(cls, v: str | None) -> str | None:
        if v is not None:
            from transformers.training_args import OptimizerNames

            if v not in {o.value for o in OptimizerNames}:
                raise ValueError(f"unknown optimizer {v!r} (a TrainingArguments.optim name, e.g. adamw_torch_fused, "
                                 "adafactor, adamw_8bit)")
        return v

    @model_validator(mode="after")
    def _steps_or_epochs(self) -> FTOptions:
        if self.epochs is not None and self.max_steps is not None:
            raise ValueError("give epochs or max_steps, not both")
        return self

    @property
    def passes(self) -> float:
        """Epochs, the default filled in (ignored by the trainer when max_steps is set)."""
        return self.epochs if self.epochs is not None else DEFAULT_EPOCHS

    def resolved(self, device: str | None) -> Self:
        """These options with `precision: auto` resolved for the training device (`iclft.precision`)."""
        return self.model_copy(update={"precision": precision.resolve(self.precision, device)})


def recipes() -> dict[str, dict[str, Any]]:
    """The shipped named fine-tuning recipes (learners/recipes.yaml): name -> FTOptions values."""
    from importlib import resources

    import yaml

    return yaml.safe_load(resources.files("iclft.learners").joinpath("recipes.yaml").read_text())


class Options(FTOptions):
    """The `ft` condition: fine-tuning options, then how questions are scored (no context)."""

    format: Format = "plain"
    instruction: str = DEFAULT_INSTRUCTION

    def training(self) -> FTOptions:
        return FTOptions.model_validate(self.model_dump(include=set(FTOptions.model_fields)))



# ---------------------------------------------------------------- cache


def cache_key(base: Path, exs: Sequence[Example], opts: FTOptions, seed: int, device: str | None = None) -> str:
    """The run's cache key; `precision: auto` is resolved for `device` first (fp32 and bf16 runs differ)."""
    payload = {
        "version": FT_VERSION,
        "base": models.digest(base),
        "examples": [[e.prompt, e.completion] for e in exs],
        "options": opts.resolved(device).model_dump(mode="json"),
        "seed": seed,
    }
    return hashlib.sha256(dumps(payload).encode()).hexdigest()[:20]


def ft_root() -> Path:
    return models.cache_dir() / "ft"


# ---------------------------------------------------------------- training


def train(
    model, tokenizer, features: list[dict], opts: FTOptions, seed: int, output_dir: Path,
    reporter: Reporter | None = None, device: str | None = None, log=None, gather_to: Path | None = None,
) -> tuple[list[dict[str, float]], dict[str, Any]]:
    """Train `model` in place with HF Trainer; return (loss curve, stats). Works under accelerate launch; under
    FSDP `model` stays sharded, so give `gather_to`: every rank joins in gathering the full weights, which rank 0
    saves there (`trainer.save_model`: the whole model, or the LoRA adapter)."""
    from transformers import PrinterCallback, Trainer

    args = _training_arguments(opts, seed, output_dir, precision.training_device(device))
    model.config.use_cache = False  # also what lets the model read packed position ids (no cache, no mask)
    collator = Batches(tokenizer, opts.pack)
    if opts.pack and not packing_works(model, collator, features[: opts.batch_size]):
        collator.pack = False
        if log:
            log("fine-tuning: this model does not keep packed examples apart; batches are padded instead")
    trainer = Trainer(model=model, args=args, train_dataset=features, data_collator=collator,
                      callbacks=[_progress(reporter)])
    trainer.remove_callback(PrinterCallback)  # the loss goes to loss.json, not to stdout
    out = trainer.train()
    if gather_to is not None:
        trainer.save_model(str(gather_to))
    model.config.use_cache = True
    keys = ("step", "epoch", "loss", "learning_rate", "grad_norm")
    curve = [{k: h[k] for k in keys if k in h} for h in trainer.state.log_history if "loss" in h]
    stats = {
        "steps": int(out.global_step),
        "examples": len(features),
        "train_tokens": collator.real,
        "padding_share": round(1 - collator.real / collator.total, 6) if collator.total else 0.0,
        "packed": collator.pack,
        "world_size": int(args.world_size),
        "train_seconds": round(float(out.metrics.get("train_runtime", 0.0)), 3),  # the training loop alone
    }
    return curve, stats


def _training_arguments(opts: FTOptions, seed: int, output_dir: Path, device: str):
    """The Trainer's arguments for a run of `opts` on `device` (a training device: `precision.training_device`)."""
    from transformers import TrainingArguments

    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=opts.batch_size,
        gradient_accumulation_steps=opts.grad_accum,
        learning_rate=opts.lr,
        num_train_epochs=opts.passes,
        max_steps=opts.max_steps or -1,
        warmup_steps=opts.warmup,
        weight_decay=opts.weight_decay,
        lr_scheduler_type=opts.schedule,
        logging_strategy="steps",
        logging_steps=1,
        logging_nan_inf_filter=False,  # log a NaN loss as it is (the filter also syncs with a GPU every step)
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        seed=seed,
        data_seed=seed,
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,
        use_cpu=device == "cpu",
        bf16=precision.resolve(opts.precision, device) == "bf16",
        activation_checkpointing=opts.gradient_checkpointing,
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
        **({"optim": opts.optim} if opts.optim else {}),
    )


def _progress(reporter: Reporter | None):
    """A Trainer callback that reports the training steps to `reporter` (when given)."""
    from transformers import TrainerCallback

    class _Progress(TrainerCallback):
        def on_train_begin(self, args, state, control, **kw):
            if reporter:
                reporter.start("training", state.max_steps)

        def on_step_end(self, args, state, control, **kw):
            if reporter:
                reporter.advance(1)

    return _Progress()


@dataclass
class FTResult:
    path: Path  # the fine-tuned model folder (plain HF weights, LoRA merged)
    key: str
    losses: list[dict[str, float]]
    stats: dict[str, Any]
    trained: bool  # False when the cache already held it


def save_trained(final: Path, model, tokenizer, curve: list[dict[str, float]], meta: dict[str, Any]) -> None:
    """Save a fine-tuned model with its loss curve and facts as the cache folder `final`, atomically and readable
    as the umask allows; a folder another process finished first is kept."""
    with atomic_dir(final) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        write_json(tmp / "loss.json", curve)
        write_json(tmp / "train.json", meta)


def finetune(
    base: str, docs: Sequence[Document], opts: FTOptions, seed: int, *,
    reporter: Reporter | None = None, log=None, device: str | None = None,
) -> FTResult:
    """Fine-tune `base` on `docs` (or reuse the cached result); every rank calls it under accelerate."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    base_path = models.resolve(base)
    opts = opts.resolved(device)
    exs = examples(docs, opts.split)
    if not exs:
        from iclft.errors import UserError

        raise UserError("fine-tuning: no training examples (no documents, or none with sentences)")
    key = cache_key(base_path, exs, opts, seed, device)
    final = ft_root() / key
    trained = False
    if not (final / "train.json").exists():
        trained = True
        if log:
            log(f"fine-tuning {base} on {len(exs)} examples -> {final}")
        tokenizer = AutoTokenizer.from_pretrained(base_path)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "right"
        set_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(base_path, dtype=torch.float32)
        if opts.lora is not None:
            from peft import get_peft_model

            model = get_peft_model(model, opts.lora.config())
        features = [encode(tokenizer, e, opts.max_length) for e in exs]
        with tempfile.TemporaryDirectory(prefix="iclft-trainer-") as work:
            gathered = Path(work) / "gathered" if distributed.fsdp() else None
            curve, stats = train(model, tokenizer, features, opts, seed, Path(work), reporter, device, log, gathered)
            if gathered is not None and distributed.is_main():
                model = _reload(base_path, gathered, opts.lora is not None)
        if distributed.is_main():
            if opts.lora is not None:
                model = model.merge_and_unload()
            facts = {k: v for k, v in stats.items() if k != "train_seconds"}  # no timing: the same run, same bytes
            meta = {"base": str(base), "options": opts.model_dump(mode="json"), "seed": seed, **facts}
            save_trained(final, model, tokenizer, curve, meta)
        distributed.barrier(device)
    return FTResult(final, key, read_json(final / "loss.json"), read_json(final / "train.json"), trained)


def _reload(base: Path, gathered: Path, lora: bool):
    """The trained model from the full weights (or LoRA adapter) an FSDP run gathered onto rank 0."""
    import torch
    from transformers import AutoModelForCausalLM

    if not lora:
        return AutoModelForCausalLM.from_pretrained(gathered, dtype=torch.float32)
    from peft import PeftModel

    return PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32), gathered)


# ---------------------------------------------------------------- the condition


@dataclass
class Training:
    """The work of a fine-tuning cell: fine-tune the base model on `docs` (cached), then score with no context.
    The recipe every training condition shares (augmented conditions and the oracle control add documents)."""

    job: Job
    docs: list[Document]
    opts: FTOptions
    format: str = "plain"
    instruction: str = DEFAULT_INSTRUCTION
    info: dict[str, Any] = field(default_factory=dict)
    __post_init__ = mix_in  # replay documents joined to `docs` when opts.replay is set (learners/replay.py)

    def estimate(self) -> Estimate:
        score = tokens.question_tokens(tokens.tokenizer(self.job.model), self.job.questions)
        if is_cached(self.job.model, self.docs, self.opts, self.job.seed, self.job.device):
            return Estimate(score_tokens=score)
        _, steps, train = train_size(self.job.model, self.docs, self.opts)
        return Estimate(train_tokens=train, train_steps=steps, score_tokens=score,
                        precision=precision.resolve(self.opts.precision, self.job.device))

    def expose(self, job: Job) -> Exposure:
        res = finetune(job.model, self.docs, self.opts, job.seed, reporter=job.reporter, log=job.log,
                       device=job.device)
        summary = {k: res.stats[k] for k in ("examples", "steps", "train_tokens", "padding_share") if k in res.stats}
        info = {"ft_model": res.key, **summary, **self.info}
        if res.losses:
            info["final_loss"] = res.losses[-1]["loss"]
        lm = job.load(res.path) if job.is_main else None
        return Exposure(lm, None, self.format, self.instruction, info, {"loss": res.losses} if lm else {},
                        {"trained": res.trained})


def plan(job: Job, opts: Options) -> Training:
    return Training(job, list(job.dataset.train), opts.training(), opts.format, opts.instruction)


def train_size(model: str, docs: Sequence[Document], opts: FTOptions) -> tuple[int, int, int]:
    """(examples, optimizer steps, tokens processed by the whole run) for estimates; padding not counted."""
    tok = tokens.tokenizer(model)
    exs = examples(docs, opts.split)
    sizes = [min(n + 1, opts.max_length) for n in tokens.count(tok, [e.prompt + e.completion for e in exs])]
    if not sizes:
        return 0, 0, 0
    steps = optimizer_steps(len(sizes), opts)
    if opts.max_steps:
        return len(sizes), steps, int(steps * opts.batch_size * opts.grad_accum * sum(sizes) / len(sizes))
    return len(sizes), steps, int(opts.passes * sum(sizes))


def optimizer_steps(n_examples: int, opts: FTOptions, world: int = 1) -> int:
    """Optimizer steps of a run on n examples over `world` processes (as the HF Trainer counts them)."""
    if opts.max_steps:
        return opts.max_steps
    batches = math.ceil(math.ceil(n_examples / world) / opts.batch_size)
    return max(1, math.ceil(opts.passes * max(1, math.ceil(batches / opts.grad_accum))))


def train_tokens(model: str, docs: Sequence[Document], opts: FTOptions) -> tuple[int, int]:
    """(examples, tokens processed by the whole run): `train_size` without the steps."""
    n, _, toks = train_size(model, docs, opts)
    return n, toks


def is_cached(base: str, docs: Sequence[Document], opts: FTOptions, seed: int, device: str | None = None) -> bool:
    """Whether `finetune` would reuse a cached model (no training)."""
    key = cache_key(models.resolve(base), examples(docs, opts.split), opts, seed, device)
    return (ft_root() / key / "train.json").exists()


CONDITION = Condition(
    name="ft",
    description="fine-tune (full or LoRA) on the training documents, then score with no context",
    options=Options,
    plan=plan,
    trains=True,
)
