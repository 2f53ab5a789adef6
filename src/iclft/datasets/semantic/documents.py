"""Training documents of the semantic benchmark: short articles in several styles, and QA examples.

Each article is about one category (its topic) and states facts only in training (forward) wordings,
so no reversal, rephrasing or inference ever appears in training text. An article holds some of the
topic's own facts (all of them in the topic's first article, so every fact is in some document), facts
about its parent, children and the categories it relates to, and fact-free filler sentences in the
style's voice. A held-out category gets no article: its parent link is stated in its parent's articles.
Styles: encyclopedia (title + paragraphs), field_notes (first-person diary), qa (question/answer pairs),
list (a fact sheet, one sentence a line), lesson (a teacher's script that repeats a point or two).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from iclft.datasets.schema import Document
from iclft.datasets.semantic.world import ISA, Fact, World

STYLES = ("encyclopedia", "field_notes", "qa", "list", "lesson")
OVERHEAD = {"encyclopedia": 0, "field_notes": 1, "qa": 1, "list": 1, "lesson": 5}  # sentences a style adds
HOLDOUT_MENTION_P = 0.3  # chance a held-out category's parent link also appears in a later parent article

FILLERS = {
    "encyclopedia": (
        "This article is about {s}.",
        "{s} have been described in many reference works.",
        "Much of what is known about {s} comes from careful observation.",
        "The study of {s} has a rich history.",
        "Several older sources also mention {s}.",
        "Scholars continue to write about {s}.",
        "The name {s} appears in a number of early records.",
    ),
    "field_notes": (
        "Today I spent the morning studying {s}.",
        "I drew a sketch of the {s} in my notebook.",
        "The weather was mild, and I had plenty of time.",
        "My guide pointed out a few things worth writing down.",
        "I will return tomorrow to look again.",
        "I compared my notes on {s} with those of a colleague.",
        "It was a quiet day at the station.",
    ),
    "lesson": (
        "Please take out your notebooks.",
        "Try to remember these points for the quiz.",
        "Raise your hand if you have a question about {s}.",
        "We will come back to {s} next week.",
        "Write this down carefully.",
    ),
    "list": (
        "These notes were checked by the editors.",
        "More entries will be added over time.",
        "Entries are listed in no particular order.",
    ),
    "qa": (
        "Q: Why are {s} worth studying?\nA: There is still a great deal to learn about them.",
        "Q: Where can I read more about {s}?\nA: Any good reference work has a section on them.",
        "Q: Who studies {s}?\nA: Many researchers do, all over the world.",
    ),
}


def sentence(world: World, fact: Fact, rng: random.Random) -> str:
    """A fact in one of its training wordings."""
    rel = world.relations[fact.relation]
    return rel.render(rng.choice(rel.forward), fact.subject, fact.object) + "."


def question_for(world: World, fact: Fact) -> str:
    """The QA question a fact answers ("What do gruds have?")."""
    rel = world.relations[fact.relation]
    text = rel.question.format(s=fact.subject, v=rel.verb or "", vpp=rel.participle or "")
    return text[:1].upper() + text[1:] if not rel.question.startswith("{") else text


def _fill(style: str, topic: str, rng: random.Random, n: int) -> list[str]:
    pool = FILLERS[style]
    return [t.format(s=topic) for t in rng.sample(pool, min(n, len(pool)))]


def _encyclopedia(topic: str, facts: list[str], fill: list[str], rng: random.Random, n: int) -> str:
    body = facts[:1] + fill[:1] + facts[1:] + fill[1:]
    cut = max(1, len(body) // 2) if len(body) > 6 else len(body)
    paras = [" ".join(body[:cut]), " ".join(body[cut:])]
    return "\n\n".join([topic] + [p for p in paras if p])


def _field_notes(topic: str, facts: list[str], fill: list[str], rng: random.Random, n: int) -> str:
    body = facts + fill[1:]
    rng.shuffle(body)
    return f"Field notes, entry {n}. " + " ".join(fill[:1] + body)


def _qa(topic: str, facts: list[str], fill: list[str], rng: random.Random, n: int) -> str:
    return "\n\n".join([f"Questions and answers about {topic}."] + facts + fill)


def _list(topic: str, facts: list[str], fill: list[str], rng: random.Random, n: int) -> str:
    return "\n".join([f"Key facts about {topic}."] + facts + fill)


def _lesson(topic: str, facts: list[str], fill: list[str], rng: random.Random, n: int) -> str:
    review = rng.sample(facts, min(2, len(facts)))
    parts = [f"Lesson {n}: {topic}.", f"Today we will learn about {topic}."] + fill[:1] + facts
    return " ".join(parts + ["Let us go over the main points once more."] + review + fill[1:])


COMPOSE: dict[str, Callable[[str, list[str], list[str], random.Random, int], str]] = {
    "encyclopedia": _encyclopedia, "field_notes": _field_notes, "qa": _qa, "list": _list, "lesson": _lesson,
}  # fmt: skip


def _pools(world: World, held_out: set[str]) -> tuple[dict[str, list[Fact]], dict[str, list[Fact]]]:
    """Per topic: its own facts, and related facts (parent's, non-held-out children's, related categories')."""
    own: dict[str, list[Fact]] = {}
    for f in world.facts:
        own.setdefault(f.subject, []).append(f)
    related: dict[str, list[Fact]] = {}
    for c in world.categories:
        if c in held_out:
            continue
        near = {f.object for f in own.get(c, []) if world.words.get(f.object) == "category"}
        near |= {f.subject for f in world.facts if f.relation == ISA and f.object == c and f.subject not in held_out}
        related[c] = [f for x in sorted(near - {c}) for f in own.get(x, [])]
    return own, related


def articles(
    world: World,
    held_out: list[str],
    n_documents: int,
    rng: random.Random,
    min_sentences: int = 4,
    max_sentences: int = 20,
) -> list[Document]:
    """n_documents articles, topics dealt round-robin (reshuffled each round) over non-held-out categories."""
    held = set(held_out)
    own, related = _pools(world, held)
    topics = [c for c in world.categories if c not in held and own.get(c)]
    held_links = {c: [f for f in world.facts if f.relation == ISA and f.object == c and f.subject in held]
                  for c in topics}  # fmt: skip
    seen: set[str] = set()
    docs: list[Document] = []
    order: list[str] = []
    while len(docs) < n_documents:
        if not order:
            order = list(topics)
            rng.shuffle(order)
        topic = order.pop()
        first = topic not in seen
        seen.add(topic)
        style = STYLES[len(docs) % len(STYLES)] if first else rng.choice(STYLES)
        length = max(2, rng.randint(min_sentences, max_sentences) - OVERHEAD[style])
        if style == "qa":  # a question and its answer are two sentences
            length = max(2, length // 2)
        n_fill = rng.randint(1, max(1, length // 3))
        main = list(own[topic]) if first else rng.sample(own[topic], rng.randint(1, len(own[topic])))
        main += [f for f in held_links[topic] if first or rng.random() < HOLDOUT_MENTION_P]
        extra = max(0, length - n_fill - len(main))
        chosen = main + rng.sample(related[topic], min(extra, len(related[topic])))
        n_fill = max(n_fill, min_sentences - OVERHEAD[style] - len(chosen))
        text = _compose(world, style, topic, chosen, n_fill, rng, len(docs) + 1)
        docs.append(Document(id=f"article-{len(docs) + 1:04d}", text=text, facts=_ids(chosen)))
    return docs


def _compose(world: World, style: str, topic: str, facts: list[Fact], n_fill: int, rng: random.Random,
             n: int) -> str:  # fmt: skip
    if style == "encyclopedia":  # the membership sentence opens an encyclopedia article
        facts = sorted(facts, key=lambda f: (f.subject != topic, f.relation != ISA))
    sentences = [sentence(world, f, rng) for f in facts]
    if style == "qa":
        sentences = [f"Q: {question_for(world, f)}\nA: {s}" for f, s in zip(facts, sentences)]
    return COMPOSE[style](topic, sentences, _fill(style, topic, rng, n_fill), rng, n)


def qa_examples(world: World, held_out: list[str], n: int, rng: random.Random) -> list[Document]:
    """n question/answer documents on given facts (loss on the answer only), cycling over the facts."""
    facts = [f for f in world.facts if f.subject not in set(held_out)]
    docs: list[Document] = []
    order: list[Fact] = []
    while len(docs) < n and facts:
        if not order:
            order = list(facts)
            rng.shuffle(order)
        f = order.pop()
        prompt = f"Q: {question_for(world, f)}\nA:"
        docs.append(Document(id=f"qa-{len(docs) + 1:04d}", prompt=prompt, text=f"{prompt} {sentence(world, f, rng)}",
                             facts=[f.id]))
    return docs


def _ids(facts: list[Fact]) -> list[str]:
    return list(dict.fromkeys(f.id for f in facts))
