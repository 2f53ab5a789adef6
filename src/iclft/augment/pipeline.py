"""Local and global augmentation of a list of Documents: plan the prompts, generate (cached), filter.

    plan(documents, generator, options, cache) -> GenerationPlan   the requests, and their cost in tokens
    run(plan, generator, cache, progress)      -> AugmentResult
    augment(documents, generator, options)     -> AugmentResult   (both in one call)

The options are `iclft.augment.options`, the plan `iclft.augment.planning`; this module runs a plan.

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

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from iclft.augment.filters import SelfVerifier
from iclft.augment.options import AugmentOptions, steps
from iclft.augment.planning import GenerationPlan, ItemRequest, items_of, pair_tasks, plan, sampling_of
from iclft.augment.postprocess import (
    RULES,
    ItemSource,
    SourceFilter,
    echoes_prompt,
    entity_forms,
    judge,
    judge_prose,
    parse_output,
)
from iclft.augment.prompts import PROSE_MODES
from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.generation.cache import GenerationCache, cached_generate
from iclft.generation.generator import Generation, Generator, Sampling
from iclft.lexicon import new_words

# Drop reasons in the order applied: the rules of `postprocess`, then the model's self-verification, then the control.
REASONS = (*RULES, "unsupported", "not_true")


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
        text = items_of(doc, plan.options)[task.item]
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
    filters = _source_filters(plan)
    sources: dict[tuple[int, int], ItemSource] = {}
    verdicts = _rule_verdicts(plan, tasks, gens, filters, sources)
    _model_verdicts(plan, tasks, verdicts, sources, generator, scorer, world)
    result = _assemble(plan, generator, tasks, spent, verdicts, filters, hits, sent)
    if options.mode == "entigraph":
        result.summary["pairs"] = len(tasks)
    return result


def _source_filters(plan: GenerationPlan) -> list[SourceFilter]:
    """Each document's rule filter; the words foreign to the corpus that outputs must not use: the examples' made-up
    words (not their capitalized common words), and for prose their numbers, unless the corpus uses them too."""
    options = plan.options
    corpus = set().union(*(entity_forms(d.text, options.rare_zipf) for d in plan.documents))
    examples = " ".join(t.example_text() for t in plan.templates.values())
    foreign = frozenset(entity_forms(examples, options.rare_zipf, names=False) - corpus)
    if options.mode in PROSE_MODES:  # and the examples' numbers: a 135M model copies "42 kilometres" into prose
        numbers = set().union(*(re.findall(r"\d+", d.text) for d in plan.documents))
        foreign |= set(re.findall(r"\d+", examples)) - numbers
    return [SourceFilter(doc.text, options.rare_zipf, foreign, options.grounded, options.faithful,
                         options.consistent, options.dedupe) for doc in plan.documents]


def _rule_verdicts(plan: GenerationPlan, tasks: list[ItemRequest], gens: list[Generation],
                   filters: list[SourceFilter], sources: dict[tuple[int, int], ItemSource]) -> list[list[list[Any]]]:
    """Pass 1, the rules needing no model: [sentence, reason, detail] per sentence of each task (prose: one verdict,
    the whole generation); `sources` gets each (document, item)'s ItemSource."""
    options = plan.options
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
    return verdicts


def _model_verdicts(plan: GenerationPlan, tasks: list[ItemRequest], verdicts: list[list[list[Any]]],
                    sources: dict[tuple[int, int], ItemSource], generator: Generator, scorer: Any,
                    world: Callable[[str], str] | None) -> None:
    """Pass 2, on what the rules kept: the model's own judgement (scored by `scorer`, else the generator's model),
    then the ground-truth control; each drop's reason and detail written into `verdicts`."""
    options = plan.options
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



def augment(documents: Sequence[Document], generator: Generator, options: AugmentOptions | None = None,
            cache: GenerationCache | None = None, progress: Callable[[int], None] = lambda n: None,
            scorer: Any = None, world: Callable[[str], str] | None = None) -> AugmentResult:
    """Augment documents in one call (the study runner's entry point); pass a cache to reuse generations."""
    options = options or AugmentOptions()
    return run(plan(documents, generator, options, cache), generator, cache, progress, scorer, world)
