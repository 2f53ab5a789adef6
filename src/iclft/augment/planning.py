"""The generation plan of an augmentation: every request it needs (per family and under the per-document token
budget, as `iclft.augment.pipeline` describes), which are cached already, and what the rest will cost in tokens."""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from iclft.augment.options import AugmentOptions
from iclft.augment.postprocess import echoes_prompt, entity_forms, extract_entities
from iclft.augment.prompts import (
    ENTITIES,
    PromptTemplate,
    entity_messages,
    global_messages,
    load_templates,
    local_messages,
    relation_messages,
    shape_of,
    spa_messages,
)
from iclft.context import fill_budget
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.generation.cache import GenerationCache
from iclft.generation.generator import Generation, Generator, Request, Sampling, derive_seed
from iclft.text import split_sentences

MIN_NEW_TOKENS = 32  # under a budget, no generation is allotted fewer tokens (a restatement or two)


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


def items_of(doc: Document, options: AugmentOptions) -> list[str]:
    """The items of a document that local augmentation restates (its sentences, or itself); other modes: itself."""
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
        items = list(enumerate(items_of(doc, options)))
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
    templates = _templates(options, template)
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
    pending = _pending(work, generator.identity, cache)
    work.to_generate, work.prompt_tokens = len(pending), _prompt_tokens(work, generator, pending, costs)
    work.pending_tokens = sum(t.max_new_tokens for t in pending)
    return work


def _templates(options: AugmentOptions, template: PromptTemplate | None) -> dict[str, PromptTemplate]:
    """The prompt templates by item shape or kind, each checked to be of the options' mode; `template`, when given,
    serves every shape or kind (entigraph: its relation prompt)."""
    templates = load_templates(options.mode, options.template)
    if template:
        templates = {k: t if k == ENTITIES else template for k, t in templates.items()}
    for kind, t in templates.items():
        if t.mode != (ENTITIES if kind == ENTITIES else options.mode):
            raise UserError(f"template {t.source} is a {t.mode} template, not {options.mode}")
    return templates


def _pending(work: GenerationPlan, identity: str, cache: GenerationCache | None) -> list[ItemRequest]:
    """The distinct requests not in the cache, in task order; counts the cached ones and the relation requests that
    follow an entity list not generated yet, and bounds the tokens that may become outputs."""
    options, pair_budget = work.options, work.pair_budget
    pending: dict[str, ItemRequest] = {}
    outputs = [t for t in work.tasks if t.kind != ENTITIES]
    for t in work.tasks:
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
    return list(pending.values())


def _prompt_tokens(work: GenerationPlan, generator: Generator, pending: list[ItemRequest], costs: list[int]) -> int:
    """Prompt tokens of the pending requests and of the relation prompts to follow; a prompt that cannot fit the
    generator's context with its max_new_tokens is an error."""
    options, documents, templates = work.options, work.documents, work.templates
    tokens = 0
    limit = generator.context_length if pending or work.followups else None  # (all cached: no model loaded)
    count = (_global_counter(documents, generator, templates["fact"], costs, limit, options)
             if options.mode == "global" else None)
    for t in pending:
        n = count(t) if count else generator.prompt_tokens(t.request.message_dicts())
        if limit is not None and n + t.max_new_tokens > limit:
            hint = " (choose a smaller context: --context budget --budget N)" if options.mode == "global" else ""
            raise UserError(f"document {documents[t.source].id!r}: its prompt of {n} tokens plus max_new_tokens="
                            f"{t.max_new_tokens} exceeds the generator's {limit}-token context{hint}")
        tokens += n
    if work.followups:  # a relation prompt: the document, the template and two names (~8 tokens each, a guess)
        relation = templates["relation"]
        for t in pending:
            if t.kind == ENTITIES:
                doc = documents[t.source].text
                tokens += work.pair_budget[t.source][0] * (
                    generator.prompt_tokens(relation_messages(relation, doc, "", "")) + 16)
    return tokens


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
