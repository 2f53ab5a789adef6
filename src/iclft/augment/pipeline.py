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

SPA (after Tang et al. 2026): each document is studied with prompts of seven kinds (`prompts.SPA_KINDS`: key
concepts, mind map, implications, questions with answers, case study, discussion, teacher's explanation), cycled
from a seeded kind, `prompts` of them per document (default: one of each kind). EntiGraph (after Yang et al. 2025):
one generation lists a document's entities; those found in the document are kept (`entities` at most), and for
`pairs` seeded pairs of them a generation writes about their relation as the document states it. Both write free
prose, judged a generation at a time (`postprocess.judge_prose`), one output Document per kept generation.

Budget: `tokens_per_document` B holds every family to the same generated tokens per document: the sum of
max_new_tokens over a document's generations never exceeds B, so neither do the tokens generated. Local splits B
over the document's items (each item ceil(share / max_new_tokens) generations; when a share is below
MIN_NEW_TOKENS, only B // MIN_NEW_TOKENS seeded items are restated); global and spa make ceil(B / max_new_tokens)
generations of B // that many tokens; entigraph spends min(entity_tokens, B // 2) on the entity list and the rest
on pairs the same way (fewer when the document has fewer pairs). The summary's `budget` records what was allotted
and spent.

Each kept sentence becomes a Document "<source id>/<mode>/<n>" (n counts the source's kept outputs) that
inherits the source's facts; with unit="generation", a generation's kept sentences form one Document.
"""

from __future__ import annotations

import itertools
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iclft.generation.cache import GenerationCache, cached_generate
from iclft.augment.filters import SelfVerifier
from iclft.lexicon import new_words
from iclft.generation.generator import Generation, Generator, Request, Sampling, derive_seed
from iclft.augment.postprocess import (
    RARE_ZIPF,
    RULES,
    ItemSource,
    SourceFilter,
    echoes_prompt,
    entity_forms,
    extract_entities,
    judge,
    judge_prose,
    parse_output,
)
from iclft.augment.prompts import (
    ENTITIES,
    PROSE_MODES,
    SPA_KINDS,
    PromptTemplate,
    entity_messages,
    global_messages,
    load_templates,
    local_messages,
    relation_messages,
    shape_of,
    spa_messages,
    template_path,
)
from iclft.context import fill_budget
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.text import split_sentences

# Drop reasons in the order applied: the rules of `postprocess`, then the model's self-verification, then the control.
REASONS = (*RULES, "unsupported", "not_true")
SELF_VERIFY = 0.0  # nats per token over the `words` baseline; docs/augmentation.md "Validation" for the measurement
MIN_NEW_TOKENS = 32  # under a budget, no generation is allotted fewer tokens (a restatement or two)
# the prose families' settings of the sentence filters, which do not apply to them (postprocess: judge_prose)
PROSE_SETTINGS = {"faithful": False, "consistent": False, "unit": "generation", "verified": False}


class AugmentOptions(BaseModel):
    """Everything that decides an augmentation besides the documents and the generator."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["local", "global", "spa", "entigraph"] = "local"
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
    tokens_per_document: int | None = Field(
        None, ge=1, description="generated tokens per document at most, for every family alike: sets how many "
                                "prompts and max_new_tokens (at most the option's) each document gets (None: off)")
    kinds: tuple[str, ...] = Field(SPA_KINDS, min_length=1, description="spa: the study-prompt kinds, cycled")
    prompts: int | None = Field(None, ge=1, description="spa: study prompts per document (default: one per kind)")
    pairs: int = Field(6, ge=1, description="entigraph: entity pairs written about per document")
    entities: int = Field(12, ge=2, description="entigraph: entities kept from a document's list, at most")
    entity_tokens: int = Field(64, ge=1, description="entigraph: max_new_tokens of the entity list")
    seed: int = Field(0, description="sampling seed (generation s of an item: derive_seed(seed, s))")
    unit: Literal["sentence", "generation"] = Field(
        "sentence", description="one output document per kept sentence | per generation")
    template: str | None = Field(None, description="template file, or a packaged template's bare name such as "
                                 "local-name (default: the packaged one for each item)")
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

    @field_validator("template")
    @classmethod
    def _known_template(cls, template: str | None) -> str | None:
        if template is not None:
            try:
                template_path(template)
            except UserError as e:
                raise ValueError(str(e)) from None
        return template

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in kinds if k not in SPA_KINDS]
        if unknown:
            raise ValueError(f"unknown spa kind {unknown[0]!r}; known: {', '.join(SPA_KINDS)}")
        return kinds

    @model_validator(mode="before")
    @classmethod
    def _prose_settings(cls, data: Any) -> Any:
        """spa and entigraph: the sentence filters off and one output per generation (PROSE_SETTINGS); asking for
        them otherwise is an error."""
        if isinstance(data, dict) and data.get("mode") in PROSE_MODES:
            for key, value in PROSE_SETTINGS.items():
                if data.get(key, value) != value:
                    raise ValueError(f"{key}={data[key]!r} does not apply to {data['mode']} augmentation (free prose, "
                                     f"judged a whole generation at a time); leave it out")
            data = {**data, **PROSE_SETTINGS}
        return data

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
    """One request: generation `sample` for item `item` of document `source`, of at most `max_new_tokens`; `kind`:
    its template (local: the item's shape; spa: the study kind; entigraph: "entities" or "relation"); `names`: the
    entities a relation text is about."""

    source: int  # index into GenerationPlan.documents
    item: int
    sample: int
    request: Request
    max_new_tokens: int = 0
    kind: str = ""
    names: tuple[str, ...] = ()


def sampling_of(options: AugmentOptions, task: ItemRequest) -> Sampling:
    """A task's sampling: the options' for its sample (greedy for sample 0 with `greedy`) at its max_new_tokens."""
    return options.sampling_of(task.sample).model_copy(update={"max_new_tokens": task.max_new_tokens})


@dataclass
class GenerationPlan:
    documents: list[Document]
    options: AugmentOptions
    templates: dict[str, PromptTemplate]  # by item shape (one for global or a user's file)
    tasks: list[ItemRequest]
    cached: int  # requests already in the cache
    to_generate: int  # distinct requests not in the cache
    prompt_tokens: int  # of those (and of the `followups`)
    skipped: int = 0  # local items naming no entity, not restated
    pending_tokens: int = 0  # max_new_tokens summed over the requests to generate
    # entigraph: (pairs, max_new_tokens) per document index; relation requests whose entity list is not generated
    # yet, at most (their number and max_new_tokens are known, their prompts not)
    pair_budget: dict[int, tuple[int, int]] = field(default_factory=dict)
    followups: int = 0
    followup_tokens: int = 0
    outputs_bound: int = 0  # max_new_tokens summed over every request whose text may become an output

    @property
    def max_completion_tokens(self) -> int:
        return self.pending_tokens + self.followup_tokens

    def describe(self) -> str:
        """One line for users: the work and its cost before any is done."""
        skipped = f", {self.skipped} items without entities skipped" if self.skipped else ""
        later = f" + at most {self.followups} relation prompts after the entity lists" if self.followups else ""
        budget = self.options.tokens_per_document
        per_doc = f"; budget {budget} generated tokens per document" if budget else ""
        return (f"{len(self.documents)} documents -> {len(self.tasks)} {self.options.mode} prompts "
                f"({self.cached} cached{skipped}); to generate: {self.to_generate} prompts{later}, "
                f"~{self.prompt_tokens:,} prompt tokens + at most {self.max_completion_tokens:,} completion "
                f"tokens{per_doc}")


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
    seconds: float = 0.0  # generation wall time of every generation used (cached ones: as recorded when generated)

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
    if options.mode != "local" or options.granularity == "document":
        return [doc.text]
    return split_sentences(doc.text) or [doc.text]


def split_budget(budget: int, cap: int) -> tuple[int, int]:
    """(generations, max_new_tokens of each): the fewest generations of at most `cap` tokens that spend `budget`,
    which they share evenly (their sum never exceeds it)."""
    n = -(-budget // cap)
    return n, budget // n


def _allotment(options: AugmentOptions, natural: int) -> tuple[int, int]:
    """(generations, max_new_tokens) for a family that can make any number of generations per document (global,
    spa, entigraph pairs): `natural` at max_new_tokens without a budget, else the budget split (`split_budget`)."""
    if options.tokens_per_document is None:
        return natural, options.max_new_tokens
    return split_budget(options.tokens_per_document, options.max_new_tokens)


def local_allotment(options: AugmentOptions, items: list[int], source_id: str) -> dict[int, tuple[int, int]]:
    """Local: item -> (generations, max_new_tokens): `samples` each at max_new_tokens without a budget; else each
    item's share of it split (`split_budget`), or, when a share is below MIN_NEW_TOKENS, a seeded choice of
    budget // MIN_NEW_TOKENS items sharing it."""
    budget = options.tokens_per_document
    if budget is None or not items:
        return {i: (options.samples, options.max_new_tokens) for i in items}
    if budget // len(items) < MIN_NEW_TOKENS:
        rng = random.Random(derive_seed(options.seed, "items", source_id))
        items = sorted(rng.sample(items, max(1, budget // MIN_NEW_TOKENS)))
    share = split_budget(budget // len(items), options.max_new_tokens)
    return {i: share for i in items}


def _document_tasks(d: int, doc: Document, documents: list[Document], options: AugmentOptions,
                    templates: dict[str, PromptTemplate], costs: list[int]) -> tuple[list[ItemRequest], int]:
    """The first requests of document `d` (entigraph: its entity list; the relation requests follow it) and the
    local items skipped for naming no entity."""
    seed = options.seed
    if options.mode == "local":
        items = list(enumerate(_items(doc, options)))
        named = [i for i, text in items if not (options.skip_entityless and not entity_forms(text, options.rare_zipf))]
        tasks = []
        for i, (n, max_new) in local_allotment(options, named, doc.id).items():
            text = items[i][1]
            shape = shape_of(text)
            messages = local_messages(templates.get(shape, templates["fact"]), text, options.k)
            tasks += [ItemRequest(d, i, s, Request.chat(messages, derive_seed(seed, s)), max_new, shape)
                      for s in range(n)]
        return tasks, len(items) - len(named)
    if options.mode == "global":
        messages = global_messages(templates["fact"], doc.text, select_context(documents, d, options, costs))
        n, max_new = _allotment(options, options.samples)
        return [ItemRequest(d, 0, s, Request.chat(messages, derive_seed(seed, s)), max_new) for s in range(n)], 0
    if options.mode == "spa":
        kinds = options.kinds
        n, max_new = _allotment(options, options.prompts or len(kinds))
        start = derive_seed(seed, "kinds", doc.id) % len(kinds)
        tasks = []
        for i in range(n):
            kind, sample = kinds[(start + i) % len(kinds)], i // len(kinds)  # each kind's first pass is sample 0
            messages = spa_messages(templates[kind], doc.text)
            tasks.append(ItemRequest(d, i, sample, Request.chat(messages, derive_seed(seed, kind, sample)), max_new,
                                     kind))
        return tasks, 0
    tokens = options.entity_tokens
    if options.tokens_per_document is not None:
        tokens = min(tokens, max(1, options.tokens_per_document // 2))
    messages = entity_messages(templates[ENTITIES], doc.text)
    return [ItemRequest(d, 0, 0, Request.chat(messages, derive_seed(seed, ENTITIES)), tokens, ENTITIES)], 0


def _pair_budget(options: AugmentOptions, entity_tokens: int) -> tuple[int, int]:
    """entigraph: (pairs, max_new_tokens) of a document whose entity list was allotted `entity_tokens`."""
    if options.tokens_per_document is None:
        return options.pairs, options.max_new_tokens
    rest = options.tokens_per_document - entity_tokens
    return split_budget(rest, options.max_new_tokens) if rest > 0 else (0, 0)


_LIST_ITEM = re.compile(r"^\s*(?:[-*\u2022\u00b7]+|\(?\d{1,3}[.)])?\s*(.+?)\s*[.,;:]?\s*$")


def document_entities(text: str, document: str, limit: int, rare_zipf: float) -> list[str]:
    """The entities of a generated list that occur in the document (whole words, any case; as the document writes
    them), in list order, at most `limit`; fewer than two found: the document's own rare words and names
    (`postprocess.extract_entities`) fill in."""
    found: dict[str, str] = {}
    candidates = [m.group(1) for line in text.splitlines() if (m := _LIST_ITEM.match(line))]
    candidates = [c for c in candidates if len(c.split()) <= 8 and not echoes_prompt(c)]
    for name in candidates:
        hit = re.search(rf"(?<!\w){re.escape(name)}(?!\w)", document, re.IGNORECASE)
        if hit and hit.group().lower() not in found:
            found[hit.group().lower()] = hit.group()
    if len(found) < 2:
        for word in sorted(extract_entities(document, rare_zipf), key=lambda w: document.lower().find(w)):
            hit = re.search(rf"(?<!\w){re.escape(word)}(?!\w)", document, re.IGNORECASE)
            if hit and hit.group().lower() not in found:
                found[hit.group().lower()] = hit.group()
    return list(found.values())[:limit]


def pair_tasks(plan: GenerationPlan, task: ItemRequest, listing: Generation) -> list[ItemRequest]:
    """entigraph: the relation requests of a document once its entity list is generated: a seeded choice of the
    allotted number of pairs of its entities."""
    doc = plan.documents[task.source]
    options = plan.options
    names = document_entities(listing.text, doc.text, options.entities, options.rare_zipf)
    count, max_new = plan.pair_budget[task.source]
    combos = list(itertools.combinations(names, 2))
    rng = random.Random(derive_seed(options.seed, "pairs", doc.id))
    chosen = rng.sample(combos, min(count, len(combos)))
    template = plan.templates["relation"]
    return [ItemRequest(task.source, j, 0, Request.chat(relation_messages(template, doc.text, a, b),
                                                        derive_seed(options.seed, "pair", a, b)), max_new, "relation",
                        (a, b)) for j, (a, b) in enumerate(chosen)]


def plan(documents: Sequence[Document], generator: Generator, options: AugmentOptions,
         cache: GenerationCache | None = None, template: PromptTemplate | None = None) -> GenerationPlan:
    """Every request the augmentation needs, and how many tokens the uncached ones will cost (entigraph: the
    relation requests of a document whose entity list is cached are known exactly; the others at most)."""
    documents = list(documents)
    if not documents:
        raise UserError("no documents to augment (empty corpus)")
    templates = load_templates(options.mode, options.template)
    if template:  # serves every shape or kind (entigraph: its relation prompt)
        templates = {k: t if k == ENTITIES else template for k, t in templates.items()}
    for kind, t in templates.items():
        if t.mode != (ENTITIES if kind == ENTITIES else options.mode):
            raise UserError(f"template {t.source} is a {t.mode} template, not {options.mode}")
    costs = [generator.count_tokens(d.text) for d in documents] if options.mode == "global" else []
    tasks: list[ItemRequest] = []
    skipped = 0
    for d, doc in enumerate(documents):
        more, n = _document_tasks(d, doc, documents, options, templates, costs)
        tasks += more
        skipped += n
    pair_budget = ({t.source: _pair_budget(options, t.max_new_tokens) for t in tasks}
                   if options.mode == "entigraph" else {})
    work = GenerationPlan(documents, options, templates, tasks, 0, 0, 0, skipped, pair_budget=pair_budget)
    identity = generator.identity
    pending: dict[str, ItemRequest] = {}
    outputs = [t for t in tasks if t.kind != ENTITIES]
    for t in tasks:
        key = GenerationCache.key(identity, t.request, sampling_of(options, t))
        listing = cache.get(key) if cache is not None else None
        if listing is None:
            pending.setdefault(key, t)
            if t.kind == ENTITIES:
                work.followups += pair_budget[t.source][0]
                work.followup_tokens += pair_budget[t.source][0] * pair_budget[t.source][1]
            continue
        work.cached += 1
        if t.kind == ENTITIES:  # known now: its relation requests
            for p in pair_tasks(work, t, listing):
                outputs.append(p)
                key = GenerationCache.key(identity, p.request, sampling_of(options, p))
                if cache.get(key) is None:
                    pending.setdefault(key, p)
                else:
                    work.cached += 1
    work.outputs_bound = sum(t.max_new_tokens for t in outputs) + work.followup_tokens
    tokens = 0
    limit = generator.context_length if pending or work.followups else None  # (all cached: no model loaded)
    count = (_global_counter(documents, generator, templates["fact"], costs, limit, options)
             if options.mode == "global" else None)
    for t in pending.values():
        n = count(t) if count else generator.prompt_tokens(t.request.message_dicts())
        if limit is not None and n + t.max_new_tokens > limit:
            hint = " (choose a smaller context: --context budget --budget N)" if options.mode == "global" else ""
            raise UserError(f"document {documents[t.source].id!r}: its prompt of {n} tokens plus max_new_tokens="
                            f"{t.max_new_tokens} exceeds the generator's {limit}-token context{hint}")
        tokens += n
    if work.followups:  # a relation prompt: the document, the template and two names (~8 tokens each, a guess)
        relation = templates["relation"]
        for t in pending.values():
            if t.kind == ENTITIES:
                doc = documents[t.source].text
                tokens += pair_budget[t.source][0] * (generator.prompt_tokens(relation_messages(relation, doc, "", ""))
                                                      + 16)
    work.to_generate, work.prompt_tokens = len(pending), tokens
    work.pending_tokens = sum(t.max_new_tokens for t in pending.values())
    return work


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


def _generate(tasks: list[ItemRequest], options: AugmentOptions, generator: Generator,
              cache: GenerationCache | None, progress: Callable[[int], None]) -> tuple[list[Generation], int, int]:
    """Every task's generation, in task order (requests of different sampling settings requested separately)."""
    out: list[Generation | None] = [None] * len(tasks)
    hits = sent = 0
    groups: dict[Sampling, list[int]] = {}
    for i, t in enumerate(tasks):
        groups.setdefault(sampling_of(options, t), []).append(i)
    for sampling, idx in groups.items():
        gens, h, n = cached_generate(generator, [tasks[i].request for i in idx], sampling, cache, progress)
        hits, sent = hits + h, sent + n
        for i, g in zip(idx, gens):
            out[i] = g
    return [g for g in out if g is not None], hits, sent


def _item_source(plan: GenerationPlan, task: ItemRequest) -> ItemSource:
    """What a task's outputs must be grounded in, be faithful to and be read after for self-verification: local, the
    item restated; global, the document (entities) and everything the prompt showed (words, self-verification);
    spa and entigraph, the document."""
    doc = plan.documents[task.source]
    if plan.options.mode == "local":
        text = _items(doc, plan.options)[task.item]
        return ItemSource(text, text, plan.options.rare_zipf)
    if plan.options.mode == "global":
        return ItemSource(doc.text, task.request.messages[-1][1], plan.options.rare_zipf)
    return ItemSource(doc.text, doc.text, plan.options.rare_zipf)


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
    """Generate what the plan needs (cache first; entigraph: the entity lists, then the relation texts), then parse
    and filter into augmented documents.

    `scorer`: the LoadedModel that self-verifies (default: the local generator's model); `world`: a sentence judge
    ("true" | ...: `filters.world_judge`) for the verified CONTROL, required when options.verified."""
    options = plan.options
    if options.verified and world is None:
        raise UserError("the verified control needs the dataset's world to judge sentences (a dataset, not a corpus)")
    tasks = plan.tasks
    gens, hits, sent = _generate(tasks, options, generator, cache, progress)
    spent = list(zip(tasks, gens))  # every generation, for the token and time accounting
    if options.mode == "entigraph":
        listings = list(zip(tasks, gens))
        tasks = [p for t, g in listings for p in pair_tasks(plan, t, g)]
        gens, h, n = _generate(tasks, options, generator, cache, progress)
        hits, sent = hits + h, sent + n
        spent += list(zip(tasks, gens))
    corpus = set().union(*(entity_forms(d.text, options.rare_zipf) for d in plan.documents))
    # the examples' made-up words (not their capitalized common words), unless the corpus uses them too
    examples = " ".join(t.example_text() for t in plan.templates.values())
    foreign = frozenset(entity_forms(examples, options.rare_zipf, names=False) - corpus)
    if options.mode in PROSE_MODES:  # and the examples' numbers: a 135M model copies "42 kilometres" into prose
        numbers = set().union(*(re.findall(r"\d+", d.text) for d in plan.documents))
        foreign |= set(re.findall(r"\d+", examples)) - numbers
    filters = [SourceFilter(doc.text, options.rare_zipf, foreign, options.grounded, options.faithful,
                            options.consistent, options.dedupe) for doc in plan.documents]
    sources: dict[tuple[int, int], ItemSource] = {}
    # pass 1, the rules needing no model; verdicts[t] = [sentence, reason, detail] per sentence of task t (prose: one
    # verdict, the whole generation)
    verdicts: list[list[list[Any]]] = []
    for task, gen in zip(tasks, gens):
        item = sources.get((task.source, task.item))
        if item is None:
            item = sources[(task.source, task.item)] = _item_source(plan, task)
        if options.mode in PROSE_MODES:
            verdicts.append([list(judge_prose(gen.text, filters[task.source], gen.finish_reason == "length",
                                              task.names)) + [None]])
            continue
        cut = gen.finish_reason == "length" and not echoes_prompt(gen.text)
        verdicts.append([[s, r, new_words(s, item.vocabulary) if r == "unfaithful" else None]
                         for s, r in judge(parse_output(gen.text), filters[task.source], cut, item)])
    # pass 2, the model's own judgement, then the ground-truth control, on what survived
    alive = [(t, j) for t, vs in enumerate(verdicts) for j, v in enumerate(vs) if v[1] is None]
    if options.self_verify is not None and alive:
        verifier = SelfVerifier(_scorer(generator, scorer), options.self_verify, options.verify_baseline)
        pairs = [(sources[(tasks[t].source, tasks[t].item)].vocabulary_of, verdicts[t][j][0]) for t, j in alive]
        gains = verifier.gains(pairs)
        for (t, j), gain in zip(alive, gains):
            verdicts[t][j][2] = round(gain, 4)
            if gain < options.self_verify:
                verdicts[t][j][1] = "unsupported"
    if options.verified and world is not None:
        for t, j in alive:
            if verdicts[t][j][1] is None and (v := world(verdicts[t][j][0])) != "true":
                verdicts[t][j][1], verdicts[t][j][2] = "not_true", v
    result = _assemble(plan, generator, tasks, spent, verdicts, filters, hits, sent)
    if options.mode == "entigraph":
        result.summary["pairs"] = len(tasks)
    return result


def budget_summary(plan: GenerationPlan, spent: list[tuple[ItemRequest, Generation]]) -> dict[str, Any]:
    """Generated tokens against the per-document budget: allotted (max_new_tokens summed) and spent, in all and for
    the document that spent most."""
    per_document: Counter[int] = Counter()
    for task, gen in spent:
        per_document[task.source] += gen.completion_tokens
    return {"tokens_per_document": plan.options.tokens_per_document,
            "allotted": sum(t.max_new_tokens for t, _ in spent),
            "spent": sum(per_document.values()),
            "spent_per_document_max": max(per_document.values(), default=0),
            "documents": len(plan.documents)}


def _assemble(plan: GenerationPlan, generator: Generator, tasks: list[ItemRequest],
              spent: list[tuple[ItemRequest, Generation]], verdicts: list[list[list[Any]]],
              filters: list[SourceFilter], hits: int, sent: int) -> AugmentResult:
    """Documents from the kept sentences (prose: generations); every drop recorded; the summary."""
    options = plan.options
    counters: Counter[int] = Counter()
    items: list[Augmented] = []
    drops: list[dict[str, Any]] = []
    reasons: Counter[str] = Counter()
    n_kept = 0
    for task, vs in zip(tasks, verdicts):
        doc = plan.documents[task.source]
        kept = [sentence for sentence, reason, _ in vs if reason is None]
        n_kept += len(kept)
        for sentence, reason, detail in vs:
            if reason is not None:
                reasons[reason] += 1
                drop = {"source": doc.id, "item": task.item, "sample": task.sample, "reason": reason, "text": sentence}
                if options.mode in PROSE_MODES:
                    drop["kind"] = task.kind if not task.names else " / ".join(task.names)
                if detail is not None:
                    drop["detail"] = detail
                drops.append(drop)
        texts = kept if options.unit == "sentence" else ([" ".join(kept)] if kept else [])
        for text in texts:
            n = counters[task.source]
            counters[task.source] += 1
            aug = Document(id=f"{doc.id}/{options.mode}/{n}", text=text, facts=doc.facts)
            items.append(Augmented(aug, doc.id, task.sample))
    gens = [g for _, g in spent]
    summary = {
        "mode": options.mode,
        "options": options.model_dump(mode="json"),
        "generator": generator.identity,
        "documents": len(plan.documents),
        "prompts": len(spent),
        "skipped_items": plan.skipped,
        "kept_sentences": n_kept,
        "outputs": len(items),
        "dropped": {r: reasons[r] for r in REASONS},
        "steps": steps(options),
        "sources_without_entities": sum(not f.entities for f in filters),
        "tokens": {"prompt": sum(g.prompt_tokens for g in gens), "completion": sum(g.completion_tokens for g in gens)},
        "budget": budget_summary(plan, spent),
    }
    if options.mode in PROSE_MODES:
        summary["kinds"] = dict(Counter(t.kind for t, _ in spent))
    return AugmentResult(items, drops, summary, cache_hits=hits, generated=sent,
                         seconds=round(sum(g.seconds for g in gens), 3))


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
