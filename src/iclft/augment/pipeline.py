"""Local and global augmentation of a list of Documents: plan the prompts, generate (cached), filter.

    plan(documents, generator, options, cache) -> GenerationPlan   the requests, and their cost in tokens
    run(plan, generator, cache, progress)      -> AugmentResult
    augment(documents, generator, options)     -> AugmentResult   (both in one call)

Local: each item (a sentence of a document, or the whole document with granularity="document") is
restated `k` ways per generation with few-shot examples of its shape (`prompts.shape_of`), `samples`
generations per item; items naming no entity (a rare word or a name: lead-ins, filler) are skipped, since
their outputs could not pass the grounded filter. Global: each document is shown after a context of the
*other* documents (all of them, a seeded `fraction`, or as many as fit `budget` tokens, in seeded random
choice), and the model writes the inferences linking it to them, `samples` traces per document.
Generation `s` of any item is sampled with seed derive_seed(seed, s); with `greedy`, generation 0 is greedy.

Filters: the rules of `postprocess` (grounded, faithful, consistent, dedupe, ...), then the model's own
self-verification (`filters.SelfVerifier`, scored with `scorer`), then, only when asked, the verified CONTROL
(`world`: the dataset's judge). Every drop is recorded with its reason (REASONS) and detail.

Each kept sentence becomes a Document "<source id>/<mode>/<n>" (n counts the source's kept outputs) that
inherits the source's facts; with unit="generation", a generation's kept sentences form one Document.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from iclft.augment.cache import GenerationCache, cached_generate
from iclft.augment.filters import SelfVerifier, new_words
from iclft.augment.generators import Generation, Generator, Request, Sampling, derive_seed
from iclft.augment.postprocess import (
    RARE_ZIPF,
    RULES,
    ItemSource,
    SourceFilter,
    echoes_prompt,
    entity_forms,
    judge,
    parse_output,
)
from iclft.augment.prompts import PromptTemplate, global_messages, load_templates, local_messages, shape_of
from iclft.context import fill_budget
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.text import split_sentences

# Drop reasons in the order applied: the rules of `postprocess`, then the model's self-verification, then the control.
REASONS = (*RULES, "unsupported", "not_true")
SELF_VERIFY = 0.0  # nats per token over the `words` baseline; docs/augmentation.md "Validation" for the measurement


class AugmentOptions(BaseModel):
    """Everything that decides an augmentation besides the documents and the generator."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["local", "global"] = "local"
    k: int = Field(4, ge=1, le=100, description="local: restatements asked for per item and generation")
    samples: int = Field(1, ge=1, description="generations per item (local) or per document (global)")
    granularity: Literal["sentence", "document"] = Field(
        "sentence", description="local: the item restated: each sentence | each whole document")
    context: Literal["all", "subsample", "budget"] = Field("all", description="global: which other documents")
    fraction: float = Field(0.25, gt=0.0, le=1.0, description="global, context=subsample: share of documents")
    budget: int = Field(2048, ge=1, description="global, context=budget: tokens of context at most")
    temperature: float = Field(0.7, ge=0.0, le=5.0, description="sampling temperature (0: greedy)")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="nucleus sampling: the smallest set of tokens of this mass")
    max_new_tokens: int = Field(128, ge=1, description="tokens generated per prompt at most")
    seed: int = Field(0, description="sampling seed (generation s of an item: derive_seed(seed, s))")
    unit: Literal["sentence", "generation"] = Field(
        "sentence", description="one output document per kept sentence | per generation")
    template: str | None = Field(None, description="template file (default: the packaged one for the mode)")
    rare_zipf: float = Field(RARE_ZIPF, description="entity words: wordfreq zipf below this")
    skip_entityless: bool = Field(True, description="local: do not restate items that name no entity (lead-ins, "
                                                    "filler): the grounded filter would drop their outputs")
    greedy: bool = Field(True, description="generation 0 of each item is greedy decoding (the others sampled)")
    # filters (steps of augmentation; docs/augmentation.md): none uses the answers except `verified`, a control
    grounded: int = Field(1, ge=0, description="filter: names at least this many distinct entities of its source "
                                               "(capped at the source's; 0: off)")
    faithful: bool = Field(True, description="filter: no content word absent from its source (adds no facts)")
    consistent: bool = Field(True, description="filter: not its source with one side of a reversal changed (the "
                                               "converse: names swapped, or a comparative turned into its opposite)")
    self_verify: float | None = Field(SELF_VERIFY, description="filter: the source in context raises the sentence's "
                                      "log-likelihood by at least this many nats per token (None: off)")
    verify_baseline: Literal["words", "empty"] = Field("words", description="self-verification reads the sentence "
                                                       "without its source after: the source's words | nothing")
    dedupe: bool = Field(True, description="filter: drop copies of the source and repeated sentences")
    verified: bool = Field(False, description="CONTROL (uses the answers): keep only sentences the dataset's world "
                                              "judges true")

    def uses_answers(self) -> bool:
        """Whether these options read the dataset's world (the `verified` control filter)."""
        return self.verified

    @property
    def sampling(self) -> Sampling:
        return Sampling(temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens)

    def sampling_of(self, sample: int) -> Sampling:
        """Generation `sample`'s settings: greedy for sample 0 when `greedy`, else `sampling`."""
        if self.greedy and sample == 0:
            return self.sampling.model_copy(update={"temperature": 0.0})
        return self.sampling


@dataclass(frozen=True)
class ItemRequest:
    """One request: generation `sample` for item `item` of document `source`."""

    source: int  # index into GenerationPlan.documents
    item: int
    sample: int
    request: Request


@dataclass
class GenerationPlan:
    documents: list[Document]
    options: AugmentOptions
    templates: dict[str, PromptTemplate]  # by item shape (one for global or a user's file)
    tasks: list[ItemRequest]
    cached: int  # requests already in the cache
    to_generate: int  # distinct requests not in the cache
    prompt_tokens: int  # of those
    skipped: int = 0  # local items naming no entity, not restated

    @property
    def max_completion_tokens(self) -> int:
        return self.to_generate * self.options.max_new_tokens

    def describe(self) -> str:
        """One line for users: the work and its cost before any is done."""
        skipped = f", {self.skipped} items without entities skipped" if self.skipped else ""
        return (f"{len(self.documents)} documents -> {len(self.tasks)} {self.options.mode} prompts "
                f"({self.cached} cached{skipped}); to generate: {self.to_generate} prompts, ~{self.prompt_tokens:,} prompt "
                f"tokens + at most {self.max_completion_tokens:,} completion tokens")


@dataclass
class Augmented:
    """One output document and where it came from."""

    document: Document
    source: str
    sample: int

    def row(self) -> dict[str, Any]:
        """The output line: ready for fine-tuning with iclft or any trainer reading {"text"}."""
        row: dict[str, Any] = {"id": self.document.id, "text": self.document.text, "source": self.source}
        if self.document.facts:
            row["facts"] = self.document.facts
        return row


@dataclass
class AugmentResult:
    items: list[Augmented]
    drops: list[dict[str, Any]]
    summary: dict[str, Any]
    cache_hits: int = 0
    generated: int = 0

    @property
    def documents(self) -> list[Document]:
        return [a.document for a in self.items]


def select_context(documents: Sequence[Document], index: int, options: AugmentOptions,
                   costs: Sequence[int] = ()) -> list[str]:
    """The texts shown before document `index` in global mode (never itself), in corpus order.
    `costs`: each document's tokens (needed for context="budget")."""
    others = [i for i in range(len(documents)) if i != index]
    rng = random.Random(derive_seed(options.seed, "context", documents[index].id))
    if options.context == "subsample" and others:
        others = sorted(rng.sample(others, max(1, round(options.fraction * len(others)))))
    elif options.context == "budget":
        # each document is charged its tokens + 2 for the blank line that follows it
        charged = [c + 2 for c in costs]
        others = sorted(fill_budget(rng.sample(others, len(others)), charged, sep=0, capacity=options.budget))
    return [documents[i].text for i in others]


def _items(doc: Document, options: AugmentOptions) -> list[str]:
    if options.mode == "global" or options.granularity == "document":
        return [doc.text]
    return split_sentences(doc.text) or [doc.text]


def plan(documents: Sequence[Document], generator: Generator, options: AugmentOptions,
         cache: GenerationCache | None = None, template: PromptTemplate | None = None) -> GenerationPlan:
    """Every request the augmentation needs, and how many tokens the uncached ones will cost."""
    documents = list(documents)
    if not documents:
        raise UserError("no documents to augment (empty corpus)")
    templates = {"fact": template} if template else load_templates(options.mode, options.template)
    for t in templates.values():
        if t.mode != options.mode:
            raise UserError(f"template {t.source} is a {t.mode} template, not {options.mode}")
    costs = [generator.count_tokens(d.text) for d in documents] if options.mode == "global" else []
    tasks = []
    skipped = 0
    for d, doc in enumerate(documents):
        for item, text in enumerate(_items(doc, options)):
            if options.mode == "local" and options.skip_entityless and not entity_forms(text, options.rare_zipf):
                skipped += 1
                continue
            if options.mode == "local":
                messages = local_messages(templates.get(shape_of(text), templates["fact"]), text, options.k)
            else:
                messages = global_messages(templates["fact"], text, select_context(documents, d, options, costs))
            for s in range(options.samples):
                tasks.append(ItemRequest(d, item, s, Request.chat(messages, derive_seed(options.seed, s))))
    identity = generator.identity
    pending: dict[str, ItemRequest] = {}
    cached = 0
    for t in tasks:
        key = GenerationCache.key(identity, t.request, options.sampling_of(t.sample))
        if cache is not None and cache.get(key) is not None:
            cached += 1
        else:
            pending.setdefault(key, t)
    tokens = 0
    limit = generator.context_length if pending else None  # (all cached: a local model is never loaded)
    count = (_global_counter(documents, generator, templates["fact"], costs, limit, options)
             if options.mode == "global" else None)
    for t in pending.values():
        n = count(t) if count else generator.prompt_tokens(t.request.message_dicts())
        if limit is not None and n + options.max_new_tokens > limit:
            hint = " (choose a smaller context: --context budget --budget N)" if options.mode == "global" else ""
            raise UserError(f"document {documents[t.source].id!r}: its prompt of {n} tokens plus max_new_tokens="
                            f"{options.max_new_tokens} exceeds the generator's {limit}-token context{hint}")
        tokens += n
    return GenerationPlan(documents, options, templates, tasks, cached, len(pending), tokens, skipped)


def _global_counter(documents: list[Document], generator: Generator, template: PromptTemplate, costs: list[int],
                    limit: int | None, options: AugmentOptions) -> Callable[[ItemRequest], int]:
    """Prompt tokens of a global task without tokenizing its (long) prompt: the template's own tokens plus
    each shown document's (+2 for the blank line between documents: a slight overestimate); exact near the
    window's limit."""
    overhead = generator.prompt_tokens(global_messages(template, "", []))
    cost_of = {d.text: c for d, c in zip(documents, costs)}

    def count(t: ItemRequest) -> int:
        shown = select_context(documents, t.source, options, costs)
        n = overhead + costs[t.source] + sum(cost_of[text] + 2 for text in shown)
        if limit is not None and n + options.max_new_tokens > 0.95 * limit:
            n = generator.prompt_tokens(t.request.message_dicts())
        return n

    return count


def _generate(plan: GenerationPlan, generator: Generator, cache: GenerationCache | None,
              progress: Callable[[int], None]) -> tuple[list[Generation], int, int]:
    """Every task's generation, in task order (greedy and sampled ones requested separately)."""
    out: list[Generation | None] = [None] * len(plan.tasks)
    hits = sent = 0
    groups: dict[Sampling, list[int]] = {}
    for i, t in enumerate(plan.tasks):
        groups.setdefault(plan.options.sampling_of(t.sample), []).append(i)
    for sampling, idx in groups.items():
        gens, h, n = cached_generate(generator, [plan.tasks[i].request for i in idx], sampling, cache, progress)
        hits, sent = hits + h, sent + n
        for i, g in zip(idx, gens):
            out[i] = g
    return [g for g in out if g is not None], hits, sent


def _item_source(plan: GenerationPlan, task: ItemRequest) -> ItemSource:
    """What a task's outputs must be grounded in, be faithful to and be read after for self-verification: local, the
    item restated; global, the document (entities) and everything the prompt showed (words, self-verification)."""
    doc = plan.documents[task.source]
    if plan.options.mode == "local":
        text = _items(doc, plan.options)[task.item]
        return ItemSource(text, text, plan.options.rare_zipf)
    return ItemSource(doc.text, task.request.messages[-1][1], plan.options.rare_zipf)


def _scorer(generator: Generator, scorer: Any) -> Any:
    if scorer is not None:
        return scorer
    lm = getattr(generator, "lm", None)
    if lm is None or not hasattr(lm, "model"):
        raise UserError("self-verification scores with a local model: use a local generator, pass a scorer, "
                        "or turn it off (self_verify: null / --no-self-verify)")
    return lm


def run(plan: GenerationPlan, generator: Generator, cache: GenerationCache | None = None,
        progress: Callable[[int], None] = lambda n: None, scorer: Any = None,
        world: Callable[[str], str] | None = None) -> AugmentResult:
    """Generate what the plan needs (cache first), then parse and filter into augmented documents.

    `scorer`: the LoadedModel that self-verifies (default: the local generator's model); `world`: a sentence judge
    ("true" | ...: `filters.world_judge`) for the verified CONTROL, required when options.verified."""
    options = plan.options
    if options.verified and world is None:
        raise UserError("the verified control needs the dataset's world to judge sentences (a dataset, not a corpus)")
    gens, hits, sent = _generate(plan, generator, cache, progress)
    corpus = set().union(*(entity_forms(d.text, options.rare_zipf) for d in plan.documents))
    # the examples' made-up words (not their capitalized common words), unless the corpus uses them too
    examples = " ".join(t.example_text() for t in plan.templates.values())
    foreign = frozenset(entity_forms(examples, options.rare_zipf, names=False) - corpus)
    filters = [SourceFilter(doc.text, options.rare_zipf, foreign, options.grounded, options.faithful,
                            options.consistent, options.dedupe) for doc in plan.documents]
    sources: dict[tuple[int, int], ItemSource] = {}
    # pass 1, the rules needing no model; verdicts[t] = [sentence, reason, detail] per sentence of task t
    verdicts: list[list[list[Any]]] = []
    for task, gen in zip(plan.tasks, gens):
        item = sources.get((task.source, task.item))
        if item is None:
            item = sources[(task.source, task.item)] = _item_source(plan, task)
        cut = gen.finish_reason == "length" and not echoes_prompt(gen.text)
        verdicts.append([[s, r, new_words(s, item.vocabulary) if r == "unfaithful" else None]
                         for s, r in judge(parse_output(gen.text), filters[task.source], cut, item)])
    # pass 2, the model's own judgement, then the ground-truth control, on what survived
    alive = [(t, j) for t, vs in enumerate(verdicts) for j, v in enumerate(vs) if v[1] is None]
    if options.self_verify is not None and alive:
        verifier = SelfVerifier(_scorer(generator, scorer), options.self_verify, options.verify_baseline)
        pairs = [(sources[(plan.tasks[t].source, plan.tasks[t].item)].vocabulary_of, verdicts[t][j][0])
                 for t, j in alive]
        gains = verifier.gains(pairs)
        for (t, j), gain in zip(alive, gains):
            verdicts[t][j][2] = round(gain, 4)
            if gain < options.self_verify:
                verdicts[t][j][1] = "unsupported"
    if options.verified and world is not None:
        for t, j in alive:
            if verdicts[t][j][1] is None and (v := world(verdicts[t][j][0])) != "true":
                verdicts[t][j][1], verdicts[t][j][2] = "not_true", v
    return _assemble(plan, generator, gens, verdicts, filters, hits, sent)


def _assemble(plan: GenerationPlan, generator: Generator, gens: list[Generation], verdicts: list[list[list[Any]]],
              filters: list[SourceFilter], hits: int, sent: int) -> AugmentResult:
    """Documents from the kept sentences; every drop recorded; the summary."""
    options = plan.options
    counters: Counter[int] = Counter()
    items: list[Augmented] = []
    drops: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    n_kept = 0
    for task, vs in zip(plan.tasks, verdicts):
        doc = plan.documents[task.source]
        kept = [sentence for sentence, reason, _ in vs if reason is None]
        n_kept += len(kept)
        for sentence, reason, detail in vs:
            if reason is not None:
                reasons[reason] += 1
                drop = {"source": doc.id, "item": task.item, "sample": task.sample, "reason": reason, "text": sentence}
                if detail is not None:
                    drop["detail"] = detail
                drops.append(drop)
        texts = kept if options.unit == "sentence" else ([" ".join(kept)] if kept else [])
        for text in texts:
            n = counters[task.source]
            counters[task.source] += 1
            aug = Document(id=f"{doc.id}/{options.mode}/{n}", text=text, facts=doc.facts)
            items.append(Augmented(aug, doc.id, task.sample))
    summary = {
        "mode": options.mode,
        "options": options.model_dump(mode="json"),
        "generator": generator.identity,
        "documents": len(plan.documents),
        "prompts": len(plan.tasks),
        "skipped_items": plan.skipped,
        "kept_sentences": n_kept,
        "outputs": len(items),
        "dropped": {r: reasons[r] for r in REASONS},
        "steps": steps(options),
        "sources_without_entities": sum(not f.entities for f in filters),
        "tokens": {"prompt": sum(g.prompt_tokens for g in gens), "completion": sum(g.completion_tokens for g in gens)},
    }
    return AugmentResult(items, drops, summary, cache_hits=hits, generated=sent)


def steps(options: AugmentOptions) -> dict[str, Any]:
    """The filter steps and their settings, as reported beside their drop counts (the control labelled)."""
    return {"grounded": options.grounded, "faithful": options.faithful, "consistent": options.consistent,
            "dedupe": options.dedupe, "self_verify": options.self_verify, "verify_baseline": options.verify_baseline,
            "verified (CONTROL: uses the answers)": options.verified}


def augment(documents: Sequence[Document], generator: Generator, options: AugmentOptions | None = None,
            cache: GenerationCache | None = None, progress: Callable[[int], None] = lambda n: None,
            scorer: Any = None, world: Callable[[str], str] | None = None) -> AugmentResult:
    """Augment documents in one call (the study runner's entry point); pass a cache to reuse generations."""
    options = options or AugmentOptions()
    return run(plan(documents, generator, options, cache), generator, cache, progress, scorer, world)
