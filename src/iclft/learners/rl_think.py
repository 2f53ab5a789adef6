"""`ft_think_rl`: thinking trained by reinforcement after the knowledge is fine-tuned in (Chaudhry, Thiagarajan,
Lampinen 2026).

An exposure that trains (`ft`, or any `ft_aug_*`, named by `exposure:` with its own options) fine-tunes the whole
training set in. The dataset's facts are then split, seeded, into an RL set (`share` of them) and a held-out set;
both were fine-tuned in. The fine-tuned model is trained with TRL's GRPO to write a thought before answering, on the
questions of one side (`questions: validation`, never test) whose facts all lie in the RL set: each sampled
thought is scored by iclft's own scorer exactly as the `think` test-time mode scores after a thought (the filled
prompt and the thought's first paragraph as context, then the question and its choices), and rewarded by the
correct choice's probability among the choices (`reward: probability`, the default: dense, so a group of samples
that all pick the same choice still ranks its thoughts) or by whether it wins (`reward: correct`).

Test questions are then scored like any exposure's, in the study's test-time modes: `think` with the same prompt
(the condition's `think:` block; its defaults are the mode's) is the one the RL trained. Every question belongs to
the RL set (all its facts there), the held-out set (none there) or neither (`mixed`): `knowledge_set`. A report
reads the split from the cell's info (`rl_facts`), so any other condition's records on the same dataset split the
same way.

Config (study YAML):

    ft_think_rl:
      exposure: {condition: ft, epochs: 3}    # the exposure RL starts from, with its options (default: ft)
      rl: {steps: 20, num_generations: 4, prompts_per_step: 2, lr: 1.0e-5, lora: {r: 16}}
      think: {max_new_tokens: 48}             # the thought (ThinkOptions: prompt, max_new_tokens)
      test_time: [direct, think]

Cached like FT (`cache_dir()/rl/<hash of the exposed model's weights, the RL questions, options, seed>`), written
atomically. A run killed during RL restarts RL from its first step (no trainer checkpoints); it is seeded, so on the
same device and library versions the rerun gives the same weights. Needs the `rl` extra (`pip install iclft[rl]`).
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iclft import models, precision, tokens
from iclft.cells import Estimate, Exposure, Job, Work
from iclft.datasets.schema import Dataset, Question
from iclft.errors import UserError
from iclft.io import describe_validation_error, dumps, read_json
from iclft.learners import Condition
from iclft.learners.finetune import save_trained
from iclft.learners.knowledge_split import HELDOUT, MIXED, RL, knowledge_set, rl_facts  # noqa: F401
from iclft.learners.lora import LoraOptions
from iclft.precision import Precision
from iclft.scoring.modes import ThinkOptions

RL_VERSION = 1  # bump when the recipe changes what a cached model contains
NAME = "ft_think_rl"


class RLOptions(BaseModel):
    """One GRPO run (everything here is part of the cache key)."""

    model_config = ConfigDict(extra="forbid")
    share: float = Field(0.5, gt=0, lt=1, description="share of the dataset's facts in the RL set")
    split_seed: int = Field(0, description="seeds the split of facts (the same split for every cell seed)")
    questions: Literal["validation"] = Field("validation", description="the side RL questions come from (never test)")
    steps: int = Field(20, gt=0, description="optimizer steps")
    prompts_per_step: int = Field(2, gt=0, description="questions per step (each sampled num_generations times)")
    num_generations: int = Field(4, ge=2, description="thoughts sampled per question (GRPO's group)")
    temperature: float = Field(1.0, gt=0, description="sampling temperature of the thoughts during RL")
    lr: float = Field(1e-5, gt=0)
    beta: float = Field(0.0, ge=0, description="KL penalty to the exposed model (0: none, TRL's default)")
    reward: Literal["probability", "correct"] = "probability"
    normalization: Literal["sum", "mean", "char"] = Field("sum", description="how choices are compared by the reward")
    lora: LoraOptions | None = None
    precision: Precision = "auto"
    trainer: dict[str, Any] = Field(default_factory=dict, description="further GRPOConfig options, passed through "
                                    "(e.g. use_vllm: true, vllm_mode: server, vllm_server_base_url: ...)")

    def resolved(self, device: str | None) -> RLOptions:
        return self.model_copy(update={"precision": precision.resolve(self.precision, device)})


class Options(BaseModel):
    """`ft_think_rl`: the exposure RL starts from, the RL run, and the thought it trains."""

    model_config = ConfigDict(extra="forbid")
    exposure: dict[str, Any] = Field(default_factory=lambda: {"condition": "ft"},
                                     description="the training condition RL starts from (condition: NAME) and its "
                                                 "options")
    rl: RLOptions = Field(default_factory=RLOptions)
    think: ThinkOptions = Field(default_factory=ThinkOptions, description="the thought's prompt and length (as the "
                                "`think` test-time mode takes them; score the cells in that mode with the same)")

    def resolved(self, device: str | None) -> Options:
        return self.model_copy(update={"rl": self.rl.resolved(device)})


# ---------------------------------------------------------------- the split of knowledge


def rl_questions(dataset: Dataset, opts: RLOptions) -> list[Question]:
    """The questions RL trains on: the `questions` side's, about the RL set only (one line if there are none)."""
    facts = rl_facts(dataset, opts.share, opts.split_seed)
    side = dataset.validation
    chosen = [q for q in side if knowledge_set(q.facts, facts) == RL]
    if not chosen:
        raise UserError(f"{NAME}: no {opts.questions} questions about the RL set's facts ({len(facts)} facts, "
                        f"{len(side)} {opts.questions} questions); RL needs training questions")
    unanswered = [q.id for q in chosen if q.answer is None]
    if unanswered:
        raise UserError(f"{NAME}: {opts.questions} question {unanswered[0]!r} has no answer; its reward cannot be "
                        "computed")
    return chosen


# ---------------------------------------------------------------- the GRPO run


def grpo_config_fields() -> set[str]:
    """The options TRL's GRPOConfig takes (one line if TRL is not installed)."""
    try:
        from trl import GRPOConfig
    except ImportError:
        raise UserError(f"{NAME} needs TRL: pip install 'iclft[rl]'") from None
    return {f.name for f in fields(GRPOConfig)}


def check_trainer_options(opts: RLOptions) -> None:
    """Refuse a `trainer:` key GRPOConfig does not know, or one iclft sets itself."""
    known, own = grpo_config_fields(), set(_OWN_ARGS)
    for key in opts.trainer:
        if key in own:
            raise UserError(f"{NAME}: rl.trainer.{key} is set by iclft (use the rl options instead)")
        if key not in known:
            raise UserError(f"{NAME}: rl.trainer.{key}: not a GRPOConfig option (TRL)")


_OWN_ARGS = ("output_dir", "per_device_train_batch_size", "num_generations", "max_completion_length", "temperature",
             "learning_rate", "max_steps", "beta", "seed", "data_seed", "use_cpu", "bf16", "logging_steps",
             "save_strategy", "report_to", "disable_tqdm", "gradient_accumulation_steps")


def cache_key(base: Path, questions: Sequence[Question], opts: Options, seed: int, fmt: str, instruction: str) -> str:
    payload = {
        "version": RL_VERSION, "base": models.digest(base),
        "questions": [q.model_dump(mode="json") for q in questions],
        "rl": opts.rl.model_dump(mode="json"), "think": opts.think.model_dump(mode="json"),
        "format": fmt, "instruction": instruction, "seed": seed,
    }
    return hashlib.sha256(dumps(payload).encode()).hexdigest()[:20]


def rl_root() -> Path:
    return models.cache_dir() / "rl"


def filled_prompt(think: ThinkOptions, q: Question) -> str:
    """The thought's prompt for a question (as `think` fills it)."""
    return think.prompt.replace("{question}", q.prompt.strip())


class _Quiet:  # the reward's scoring reports no progress (the cell's bar counts RL steps)
    def start(self, description: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class Reward:
    """The reward of sampled thoughts: each scored as `think` scores (iclft's scorer, the policy's current weights),
    then the correct choice's probability among the choices, or whether it wins."""

    __name__ = "think_reward"

    def __init__(self, job: Job, questions: Sequence[Question], opts: Options, fmt: str, instruction: str,
                 tokenizer, base: Path):
        self.job, self.questions, self.opts = replace(job, reporter=_Quiet()), list(questions), opts
        self.fmt, self.instruction, self.tokenizer, self.base = fmt, instruction, tokenizer, base
        self.model = None  # the policy, set once the trainer wraps it

    def __call__(self, prompts, completions, index, log_metric=None, **_) -> list[float]:
        from iclft.scoring.exposure import score_in_contexts
        from iclft.scoring.generated import joined

        policy = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model  # LoRA: live
        lm = models.LoadedModel(NAME, self.base, policy, self.tokenizer)
        exposure = Exposure(lm, None, self.fmt, self.instruction)
        asked = []
        for i, completion in zip(index, completions):
            q = self.questions[i]
            text = completion if isinstance(completion, str) else completion[-1]["content"]
            asked.append((joined(filled_prompt(self.opts.think, q), text), q))
        was_training = self.model.training
        self.model.eval()
        scores = score_in_contexts(self.job, exposure, asked)
        self.model.train(was_training)
        norm = self.opts.rl.normalization
        rewards, wins = [], []
        for score, (_, q) in zip(scores, asked):
            values = score.normalized(norm)
            if not all(math.isfinite(v) for v in values):
                raise UserError(f"{NAME}: question {q.id!r}: a choice's score is not finite; the reward cannot be "
                                "computed")
            top = max(values)
            weights = [math.exp(v - top) for v in values]
            p = sum(weights[c] for c in q.correct_choices) / sum(weights)
            win = float(q.is_correct(score.pred(norm)))
            wins.append(win)
            rewards.append(p if self.opts.rl.reward == "probability" else win)
        if log_metric is not None:
            log_metric("correct", sum(wins) / len(wins))
        return rewards


@dataclass
class RLResult:
    path: Path
    key: str
    curve: list[dict[str, float]]
    stats: dict[str, Any]
    trained: bool


def reinforce(job: Job, base: Path, questions: Sequence[Question], opts: Options, fmt: str, instruction: str,
              seed: int) -> RLResult:
    """GRPO on `questions` from the exposed model folder `base` (or the cached result)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback, set_seed
    from transformers.utils import logging as hf_logging

    check_trainer_options(opts.rl)
    from datasets import Dataset as HFDataset
    from trl import GRPOTrainer

    hf_logging.set_verbosity_error()
    rl = opts.rl.resolved(job.device)
    opts = opts.model_copy(update={"rl": rl})
    key = cache_key(base, questions, opts, seed, fmt, instruction)
    final = rl_root() / key
    trained = False
    if not (final / "train.json").exists():
        trained = True
        job.log(f"{NAME}: GRPO on {len(questions)} questions from {base} -> {final}")
        tokenizer = AutoTokenizer.from_pretrained(base)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        tokenizer.padding_side = "left"
        set_seed(seed)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        peft_config = rl.lora.config() if rl.lora is not None else None
        chat = fmt == "chat"
        rows = [{"prompt": [{"role": "user", "content": filled_prompt(opts.think, q)}] if chat
                 else filled_prompt(opts.think, q), "index": i} for i, q in enumerate(questions)]
        reward = Reward(job, questions, opts, fmt, instruction, AutoTokenizer.from_pretrained(base), base)
        device = precision.training_device(job.device)
        with tempfile.TemporaryDirectory(prefix="iclft-grpo-") as work:
            with warnings.catch_warnings():  # TRL's own use of transformers' renamed checkpointing options
                warnings.simplefilter("ignore", FutureWarning)
                args = _grpo_config(opts, work, device, seed)
                trainer = GRPOTrainer(model=model, reward_funcs=reward, args=args,
                                      train_dataset=HFDataset.from_list(rows), processing_class=tokenizer,
                                      peft_config=peft_config)
                trainer.remove_callback(PrinterCallback)  # the curve goes to loss.json, not to stdout
                trainer.add_callback(_progress(job.reporter))
                reward.model = trainer.model
                job.reporter.start("RL (GRPO)", rl.steps)
                out = trainer.train()
            model = trainer.model
        if rl.lora is not None:
            model = model.merge_and_unload()
        keys = ("step", "loss", "reward", "reward_std", "correct", "completions/mean_length", "learning_rate",
                "grad_norm", "kl")
        curve = [{k.split("/")[-1]: h[k] for k in keys if k in h} for h in trainer.state.log_history if "reward" in h]
        meta = {"base": str(base), "options": opts.model_dump(mode="json"), "seed": seed,
                "questions": len(questions), "steps": int(out.global_step)}
        save_trained(final, model, tokenizer, curve, meta)
    return RLResult(final, key, read_json(final / "loss.json"), read_json(final / "train.json"), trained)


def _grpo_config(opts: Options, work: str, device: str, seed: int):
    """TRL's GRPOConfig for a run of `opts` (its `trainer:` keys passed through)."""
    from trl import GRPOConfig

    rl = opts.rl
    return GRPOConfig(
        output_dir=work, per_device_train_batch_size=rl.prompts_per_step * rl.num_generations,
        gradient_accumulation_steps=1, num_generations=rl.num_generations,
        max_completion_length=opts.think.max_new_tokens, temperature=rl.temperature, learning_rate=rl.lr,
        max_steps=rl.steps, beta=rl.beta, seed=seed, data_seed=seed, use_cpu=device == "cpu",
        bf16=rl.precision == "bf16", logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True,
        **{**rl.trainer, "generation_kwargs": {**({"min_new_tokens": opts.think.min_new_tokens}
                                                  if opts.think.min_new_tokens else {}),
                                               **rl.trainer.get("generation_kwargs", {})}})


def _progress(reporter):
    from transformers import TrainerCallback

    class _Steps(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            reporter.advance(1)

    return _Steps()


# ---------------------------------------------------------------- the condition


def base_condition(opts: Options, device: str | None = None) -> tuple[Condition, BaseModel]:
    """The exposure RL starts from and its validated options (one line for an unknown or untrained one)."""
    from iclft import learners

    raw = dict(opts.exposure)
    kind = str(raw.pop("condition", "ft"))
    cond = learners.get(kind)
    if not cond.trains or kind == NAME:
        raise UserError(f"{NAME}: exposure.condition {kind!r} does not fine-tune; RL starts from ft or ft_aug_*")
    try:
        options = cond.options.model_validate(raw)
    except ValidationError as e:
        raise UserError(f"{NAME}: exposure: {describe_validation_error(e)}") from None
    resolve = getattr(options, "resolved", None)  # device-dependent defaults, as the runner resolves a cell's
    return cond, resolve(device) if resolve is not None else options


@dataclass
class ThinkRL:
    """The work of an `ft_think_rl` cell: the exposure's own work, then GRPO on the RL set's questions."""

    job: Job
    opts: Options
    base: Work
    questions: list[Question]
    facts: frozenset[str]

    def estimate(self) -> Estimate:
        """The exposure's cost plus RL's: steps x samples x thought tokens generated; each sample's prompt and
        thought trained on (forward and backward) and scored again with its question by the reward."""
        est = self.base.estimate()
        rl = self.opts.rl
        samples = rl.steps * rl.prompts_per_step * rl.num_generations
        tok = tokens.tokenizer(self.job.model)
        per_prompt = sum(tokens.count(tok, [filled_prompt(self.opts.think, q) for q in self.questions])) \
            / len(self.questions)
        per_question = tokens.question_tokens(tok, self.questions) / len(self.questions)
        thought = self.opts.think.max_new_tokens
        return replace(est, generate_tokens=est.generate_tokens + samples * thought,
                       train_tokens=est.train_tokens + int(samples * (per_prompt + thought)),
                       train_steps=est.train_steps + rl.steps,
                       score_tokens=est.score_tokens + int(samples * (per_question + per_prompt + thought)),
                       generate_context_tokens=max(est.generate_context_tokens, int(per_prompt)))

    def expose(self, job: Job) -> Exposure:
        exposed = self.base.expose(job)
        if exposed.lm is None:
            raise UserError(f"{NAME}: RL runs in one process (no distributed launch yet)")
        res = reinforce(job, Path(exposed.lm.path), self.questions, self.opts, exposed.format, exposed.instruction,
                        job.seed)
        info = {**exposed.info, "rl_model": res.key, "rl_questions": len(self.questions),
                "rl_steps": res.stats["steps"], "rl_facts": sorted(self.facts),
                "rl_exposure": self.opts.exposure.get("condition", "ft")}
        if res.curve:
            info["final_reward"] = res.curve[-1].get("reward")
        exposed.lm = None  # the exposed weights are not scored: free them before loading the RL-trained ones
        return Exposure(job.load(res.path), None, exposed.format, exposed.instruction, info,
                        {**exposed.artifacts, "rl": res.curve}, {**exposed.timing, "rl_trained": res.trained})


def plan(job: Job, opts: Options) -> ThinkRL:
    cond, base_opts = base_condition(opts, job.device)
    questions = rl_questions(job.dataset, opts.rl)
    check_trainer_options(opts.rl)
    facts = rl_facts(job.dataset, opts.rl.share, opts.rl.split_seed)
    return ThinkRL(job, opts, cond.plan(job, base_opts), questions, facts)


CONDITION = Condition(
    name=NAME,
    description="an exposure that fine-tunes (ft, ft_aug_*), then GRPO trains the model to think before answering "
                "on questions about a seeded share of the facts (score it in the think mode; reports split the test "
                "questions into the RL set and the held-out set)",
    options=Options,
    plan=plan,
    trains=True,
)
