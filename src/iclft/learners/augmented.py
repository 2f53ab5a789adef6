"""Augmented fine-tuning: `ft_aug_local`, `ft_aug_global`, `ft_aug_both` (the paper's proposed method), and the
knowledge-injection recipes `ft_aug_spa` (SPA-style study prompts) and `ft_aug_entigraph` (EntiGraph-style text about
pairs of a document's entities).

The training documents are augmented with a generator's restatements (local) and/or inferences linking
each document to the rest (global, a reasoning trace), see `iclft.augment`; the augmented sentences are
added to the original documents (split as `ft.split` says), and the union is fine-tuned with the shared
recipe (`finetune.Training`), then scored with no context. Config (study YAML):

    ft_aug_local:
      ft: {lr: 1.0e-4, epochs: 3}             # FTOptions, as the `ft` condition takes them (flat there)
      local: {k: 4, temperature: 0.7}       # AugmentOptions of iclft.augment (mode implied; max_new_tokens: 96)
      # filters, in the same block: grounded: 1, faithful: true, self_verify: 0.0 (nats/token; null: off),
      # dedupe: true; verified: true is a CONTROL (keeps what the dataset's world judges true: uses the answers)
    ft_aug_global:
      ft: {lr: 1.0e-4, epochs: 3}
      global: {context: budget, budget: 1500, max_new_tokens: 160}
    ft_aug_both: {local: {k: 2}, global: {max_new_tokens: 160}}   # both sets of outputs are added
    ft_aug_spa: {spa: {max_new_tokens: 128}}                # study prompts of seven kinds, cycled
    ft_aug_entigraph: {entigraph: {pairs: 6}}              # entity list, then text about pairs of entities
    # tokens_per_document: 256 (top level) holds a recipe to that many generated tokens per document (split evenly
    # between ft_aug_both's two blocks); give every augmented condition the same number for a fair comparison
    # optional everywhere: generator: {kind: openai, base_url: ..., api_model: ...}  (iclft.augment GeneratorSpec)
    #                      match_steps: true, format: plain, instruction: ...

Generator: by default the cell's own model, run locally (the model's own in-context inferences, as in the
paper); `generator:` names another local model or an OpenAI-compatible endpoint. The augmentation seed
is the block's `seed` plus the cell's seed, so seed 0 shares its cache with `iclft augment local|global`.
Generations are cached (cache_dir()/generations), so a rerun or resumed study generates nothing.

Data-matched control. `match_steps: true` fixes the number of optimizer steps to what `ft` with the same
`ft` options takes on the original data alone (ceil(epochs x batches per epoch)), so the augmented run
spends the same compute and the augmented data replaces repetition instead of adding steps. Equivalently,
give both conditions the same `ft: {max_steps: N}` (flat `max_steps: N` for `ft`).

Self-verification scores with the cell's model (the model judging its own outputs in context), whatever the
generator; the verified control judges with the dataset's world (`iclft.augment.filters.world_judge`).

Stored per cell: info `augmentation` (per mode: prompts, kept sentences, drops by reason, filter steps, generator
tokens, the budget allotted and spent), timing `augment_seconds` (per mode: the generation's wall time, cached
generations as recorded when generated; timing.json, as it differs between runs) and the artifacts `augmented` (every added document as {"id", "text", "source"}), `augment_drops` (every
dropped sentence and why) and `audit` (`iclft.augment.audit` of the added documents against the dataset's
world: true / false / unverifiable sentences, hallucination rate, test coverage; plus `filters`: each mode's
filter steps and drop counts; the report shows it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iclft import distributed, precision, tokens
from iclft.augment import AugmentOptions, AugmentResult, GenerationCache, GenerationPlan, run
from iclft.augment import plan as generation_plan
from iclft.augment.audit import audit
from iclft.augment.diversity import measure
from iclft.augment.filters import world_judge
from iclft.cells import Estimate, Exposure, Job
from iclft.datasets.corpus import placebo_documents
from iclft.datasets.schema import Document
from iclft.framing import DEFAULT_INSTRUCTION, Format
from iclft.generation.generator import Generator
from iclft.generation.spec import GeneratorSpec
from iclft.learners import Condition
from iclft.learners.finetune import FTOptions, Training, optimizer_steps, train_size, train_tokens
from iclft.learners.ft_data import examples

MODES = ("local", "global", "spa", "entigraph")
# Share of asked-for local restatements that pass the filters (measured on the quick study with SmolLM2-135M:
# 210 of 480 on reversals, 216 of 432 on celebrities, 140 of 240 on syllogisms); for the training estimate only.
KEPT_SHARE = 0.5
# max_new_tokens of a study's local block: room for k restatements of one item (AugmentOptions' own default, 128,
# stays that of `iclft augment` and of the other blocks)
LOCAL_NEW_TOKENS = 96


def _block(mode: str, **defaults: Any):
    """A validator filling an augmentation block's `mode` from its key (and refusing another), and `defaults` where
    the block leaves them out."""

    def check(v: Any) -> Any:
        if isinstance(v, dict):
            if v.get("mode", mode) != mode:
                raise ValueError(f"mode is implied by the key ({mode}); remove it")
            return {**defaults, **v, "mode": mode}
        return v

    return check


class _Base(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, serialize_by_alias=True)
    ft: FTOptions = Field(default_factory=FTOptions, description="fine-tuning options (as for `ft`)")
    generator: GeneratorSpec | None = Field(None, description="default: the cell's model, run locally")
    match_steps: bool = Field(False, description="as many steps as `ft` takes on the original data alone")
    format: Format = "plain"
    instruction: str = DEFAULT_INSTRUCTION
    tokens_per_document: int | None = Field(None, ge=1, description="generated tokens per document, shared evenly "
                                            "by the blocks (sets each block's tokens_per_document; None: theirs)")
    budget: float | None = Field(None, gt=0, description="generated tokens per document as a multiple of the "
                                 "training documents' mean tokens (sets tokens_per_document; a study's `budgets:` "
                                 "list makes one condition a point)")
    documents: str | None = Field(None, description="generate from these documents instead (as many as the training "
                                  "documents: a folder, a JSONL, or iclft:squad-placebo): the PLACEBO, a control, the "
                                  "recipe's form and budget without the training documents' facts")

    @model_validator(mode="after")
    def _shared_budget(self) -> Self:
        """A top-level tokens_per_document split evenly between the blocks (one given there too is an error)."""
        if self.budget is not None and (self.tokens_per_document is not None
                                        or any(b.tokens_per_document is not None for b in self.blocks())):
            raise ValueError("budget and tokens_per_document both set; keep one (budget: a multiple of the "
                             "documents' tokens)")
        if self.tokens_per_document is None:
            return self
        blocks = self._block_names()
        share = self.tokens_per_document // len(blocks)
        if share < 1:
            raise ValueError(f"tokens_per_document={self.tokens_per_document} leaves nothing for {len(blocks)} blocks")
        for name in blocks:
            block = getattr(self, name)
            if block.tokens_per_document not in (None, share):
                raise ValueError(f"tokens_per_document is given twice (top level and in {name.rstrip('_')}); "
                                 "keep one")
            setattr(self, name, block.model_copy(update={"tokens_per_document": share}))
        return self

    def _block_names(self) -> list[str]:
        return [n for n in ("local", "global_", "spa", "entigraph") if getattr(self, n, None) is not None]

    def resolved(self, device: str | None) -> Self:
        """These options with the FT precision resolved for the training device (as `FTOptions.resolved`)."""
        return self.model_copy(update={"ft": self.ft.resolved(device)})

    def blocks(self) -> list[AugmentOptions]:
        return [getattr(self, n) for n in self._block_names()]

    def uses_answers(self) -> bool:
        """A control when any block's filters read the dataset's world (`verified: true`)."""
        return any(b.uses_answers() for b in self.blocks())


class LocalOptions(_Base):
    local: AugmentOptions = Field(default_factory=lambda: AugmentOptions(mode="local", max_new_tokens=LOCAL_NEW_TOKENS))
    _local_mode = field_validator("local", mode="before")(_block("local", max_new_tokens=LOCAL_NEW_TOKENS))


class GlobalOptions(_Base):
    global_: AugmentOptions = Field(default_factory=lambda: AugmentOptions(mode="global"), alias="global")
    _global_mode = field_validator("global_", mode="before")(_block("global"))


class BothOptions(LocalOptions, GlobalOptions):
    pass


class SpaOptions(_Base):
    spa: AugmentOptions = Field(default_factory=lambda: AugmentOptions(mode="spa"))
    _spa_mode = field_validator("spa", mode="before")(_block("spa"))


class EntigraphOptions(_Base):
    entigraph: AugmentOptions = Field(default_factory=lambda: AugmentOptions(mode="entigraph"))
    _entigraph_mode = field_validator("entigraph", mode="before")(_block("entigraph"))


def generator_for(job: Job, opts: _Base, planning: bool = False) -> Generator:
    """The configured generator; by default the cell's model (shared with the job's loader, or without weights
    for planning: tokenizer and config only)."""
    if opts.generator is not None:
        return opts.generator.build(planning)
    from iclft.generation.local import LocalGenerator

    return LocalGenerator.for_planning(job.model, dtype=job.dtype) if planning else LocalGenerator(job.load())


def _seeded(block: AugmentOptions, job: Job) -> AugmentOptions:
    return block.model_copy(update={"seed": block.seed + job.seed})


def matched_steps(n_examples: int, ft: FTOptions) -> int:
    """Optimizer steps of `ft` on n examples (what the HF Trainer computes for epochs, per device)."""
    return optimizer_steps(n_examples, ft.model_copy(update={"max_steps": None}), distributed.world_size())


def training_options(job: Job, opts: _Base) -> FTOptions:
    """The FT options, with max_steps fixed when match_steps asks for the plain `ft` run's steps."""
    if not opts.match_steps or opts.ft.max_steps is not None:
        return opts.ft
    n = len(examples(job.dataset.train, opts.ft.split))
    return opts.ft.model_copy(update={"max_steps": matched_steps(n, opts.ft), "epochs": None})


def _summary(r: AugmentResult) -> dict[str, Any]:
    keys = ("prompts", "kept_sentences", "outputs", "dropped", "steps", "tokens", "budget", "generator")
    return {k: r.summary[k] for k in keys}


def documents(results: Sequence[AugmentResult]) -> list[Document]:
    return [d for r in results for d in r.documents]


@dataclass
class AugmentedTraining:
    """The work of an augmented cell: the generation plan of each configured mode (made with the tokenizer alone),
    then fine-tuning on the documents plus what the filters keep."""

    job: Job
    opts: _Base
    plans: list[GenerationPlan]
    cache: GenerationCache

    def estimate(self) -> Estimate:
        """Generation cost from the plan (cached prompts cost nothing; completions at max_new_tokens, an upper
        bound; entigraph's relation prompts counted at most before the entity lists exist); prompt prefill is
        counted with scoring. Training: exact when every generation is cached, else the original data plus k
        restatements per local item / every token a global, spa or entigraph generation may write."""
        job, ft = self.job, training_options(self.job, self.opts)
        docs: list[Document] = list(job.dataset.train)
        extra, per_sentence = 0, 1.0  # tokens (and their examples, at a sentence's size) still to be generated
        if all(p.to_generate == 0 for p in self.plans):  # the model-based filters off: an upper bound, no weights
            generator = generator_for(job, self.opts, planning=True)
            unverified = [replace(p, options=p.options.model_copy(update={"self_verify": None, "verified": False}))
                          for p in self.plans]
            docs += [d for p in unverified for d in run(p, generator, self.cache).documents]
        else:
            n, toks = train_tokens(job.model, job.dataset.train, FTOptions(split=ft.split, epochs=1))
            per_sentence = max(toks / max(n, 1), 1.0)
            for p in self.plans:  # local: k restatements per item, half kept; the others: every token, a bound
                extra += int(len(p.tasks) * KEPT_SHARE * p.options.k * per_sentence if p.options.mode == "local"
                             else p.outputs_bound)
        n, steps, train = train_size(job.model, docs, ft)
        if extra:
            steps = optimizer_steps(n + round(extra / per_sentence), ft)
            if not ft.max_steps:
                train += int(extra * ft.passes)
        score = tokens.question_tokens(tokens.tokenizer(job.model), job.questions)
        prompts = sum(p.prompt_tokens for p in self.plans)  # generation prompts run as prefills (and self-verification)
        requests = sum(p.to_generate + p.followups for p in self.plans)
        return Estimate(train_tokens=train, train_steps=steps, score_tokens=score + prompts, prefill_tokens=prompts,
                        generate_tokens=sum(p.max_completion_tokens for p in self.plans),
                        generate_context_tokens=prompts // requests if requests else 0,
                        precision=precision.resolve(ft.precision, job.device))

    def augmentations(self, job: Job) -> list[AugmentResult]:
        """One AugmentResult per configured mode (generations cached). Under a distributed launch the main process
        generates; the others wait, then read its generations from the cache (every rank must fine-tune on the
        same data, hence under the same cache key)."""
        main = distributed.is_main()
        results = self._generate(job, generator_for(job, self.opts)) if main else []
        distributed.barrier(job.device)
        if not main:
            results = self._generate(job, generator_for(job, self.opts, planning=True), cached_only=True)
        return results

    def _generate(self, job: Job, generator: Generator, cached_only: bool = False) -> list[AugmentResult]:
        results = []
        for work in self.plans:
            if cached_only and work.to_generate:
                # the main process generated since this plan was made
                work = generation_plan(work.documents, generator, work.options, self.cache)
                if work.to_generate:
                    raise RuntimeError(f"rank {distributed.rank()}: {work.to_generate} generations are not in the "
                                       f"cache {self.cache.root} after the main process generated them (is it shared "
                                       f"by all ranks?)")
            job.log(f"augment {work.options.mode}: {work.describe()}")
            job.reporter.start(f"augmenting ({work.options.mode})", work.to_generate)
            scorer = job.load() if work.options.self_verify is not None else None  # the model judges its own outputs
            world = world_judge(job.dataset) if work.options.verified else None  # the CONTROL's ground truth
            results.append(run(work, generator, self.cache, job.reporter.advance, scorer=scorer, world=world))
        return results

    def expose(self, job: Job) -> Exposure:
        results = self.augmentations(job)
        added = documents(results)
        ft = training_options(job, self.opts)
        info = {"augmented_documents": len(added), "original_documents": len(job.dataset.train),
                "augmentation": {r.summary["mode"]: _summary(r) for r in results}}
        if self.opts.match_steps:
            info["matched_steps"] = ft.max_steps
        training = Training(job, list(job.dataset.train) + added, ft, self.opts.format, self.opts.instruction, info)
        exposure = training.expose(job)
        exposure.artifacts["augmented"] = [a.row() for r in results for a in r.items]
        exposure.artifacts["audit"] = {
            **audit(job.dataset, exposure.artifacts["augmented"], examples=3),
            "filters": {r.summary["mode"]: {"steps": r.summary["steps"], "dropped": r.summary["dropped"]}
                        for r in results},
        }
        written_from = {d.id: d.text for p in self.plans for d in p.documents}  # diversity and copying, for the report
        exposure.artifacts["corpus"] = measure(exposure.artifacts["augmented"], written_from)
        exposure.artifacts["augment_drops"] = [d for r in results for d in r.drops]
        exposure.timing["augment_generated"] = sum(r.generated for r in results)
        exposure.timing["augment_seconds"] = {r.summary["mode"]: r.seconds for r in results}
        exposure.timing["augment_cache_hits"] = sum(r.cache_hits for r in results)
        return exposure


def plan(job: Job, opts: _Base) -> AugmentedTraining:
    """Each mode's generation plan, made with the tokenizer alone (cached prompts are known to cost nothing)."""
    cache = GenerationCache()
    generator = generator_for(job, opts, planning=True)
    if opts.budget is not None:  # a multiple of the documents' tokens, in tokens per document (split by the blocks)
        per_document = tokens.budget_tokens(job.model, [d.text for d in job.dataset.train], opts.budget)
        opts = type(opts).model_validate({**opts.model_dump(by_alias=True), "budget": None,
                                          "tokens_per_document": per_document})
    source = placebo_documents(opts.documents, job.dataset.train) if opts.documents else job.dataset.train
    return AugmentedTraining(job, opts, [generation_plan(source, generator, _seeded(b, job), cache)
                                         for b in opts.blocks()], cache)


def _condition(name: str, options: type[_Base], description: str) -> Condition:
    return Condition(name=name, description=description, options=options, plan=plan, trains=True)


LOCAL = _condition("ft_aug_local", LocalOptions,
                   "fine-tune on the training documents plus the model's restatements of each sentence")
GLOBAL = _condition("ft_aug_global", GlobalOptions,
                    "fine-tune on the training documents plus in-context inferences linking each document to the rest")
BOTH = _condition("ft_aug_both", BothOptions, "fine-tune on the documents plus local and global augmentations")
SPA = _condition("ft_aug_spa", SpaOptions, "fine-tune on the documents plus the model's study notes of seven kinds "
                                           "(SPA-style: key concepts, mind map, implications, QA, case study, "
                                           "discussion, teacher)")
ENTIGRAPH = _condition("ft_aug_entigraph", EntigraphOptions, "fine-tune on the documents plus the model's texts about "
                                                             "pairs of each document's entities (EntiGraph-style)")

