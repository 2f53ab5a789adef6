"""Prompt templates: editable text files that become chat messages.

A template file (see templates/local.txt) is a comment, then sections started by a line `[system]`,
`[user]` or `[assistant]`; each section is one chat message (few-shot examples are user/assistant turns)
and the last must be `[user]`. Message text uses `string.Template` variables (`$text`, `${k}`); `$$` is a
literal dollar sign. Each mode has its variables:
    local:     $text (the sentence or document to restate), $k (restatements asked for)
    global:    $context (the selected documents, blank-line separated), $document (the one to link to them)
    spa:       $text (the document studied)
    entigraph: $text (the document), $first and $second (two of its entities); its first step, the entity
               listing (entigraph-entities.txt, kind "entities"), $text only

Local items come in shapes, each with its own packaged template whose few-shot examples look like the item
(`shape_of`): "fact" (a one-sentence statement: local.txt), "name" (a person's name, then a description:
local-name.txt, whose reversal puts the description first), "name-last" (a description, then the name:
local-name-last.txt, whose reversal puts the name first) and "article" (three or more sentences: local-article.txt).
A template file given by the user, or a packaged one named by its bare name ("local-name"), replaces all four.
SPA-style study prompts come in seven kinds (SPA_KINDS: spa-<kind>.txt, after Tang et al. 2026), cycled over a
document; a user's file replaces all seven. EntiGraph (after Yang et al. 2025) has two: the
entity listing (entigraph-entities.txt, always the packaged one) and the relation prompt (entigraph.txt, or a
user's file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from iclft.errors import UserError
from iclft.generation.generator import Message
from iclft.io import read_text
from iclft.lexicon import COMMON_ZIPF

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

MODES = ("local", "global", "spa", "entigraph")
PROSE_MODES = ("spa", "entigraph")  # free prose about a document, kept or dropped a generation at a time
SPA_KINDS = ("key-concepts", "mind-map", "implications", "qa", "case-study", "discussion", "teacher")
ENTITIES = "entities"  # the template kind of EntiGraph's first step
SHAPES = ("fact", "name", "name-last", "article")
ARTICLE_SENTENCES = 3  # an item of this many sentences or more is an article
_FULL_NAME = re.compile(r"\b[A-Z][a-z]+(?:[- ][A-Z][a-z]+)+\b")
# Words before a run of capitalized words that make it a thing or a place, not a person: "the Glass Symphony",
# "past Skeap Point", an opening quote ("The Halls of Prelm").
_THING_BEFORE = re.compile(r"(?:\b(?:the|past|on|at|in|into|over|near|across|under|beyond)\s*|[\"'\u201c\u2018])$",
                           re.IGNORECASE)
VARIABLES = {"local": ({"text"}, {"text", "k"}), "global": ({"context", "document"}, {"context", "document"}),
             "spa": ({"text"}, {"text"}), "entigraph": ({"text", "first", "second"}, {"text", "first", "second"}),
             ENTITIES: ({"text"}, {"text"})}
_SECTION = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template: (role, text template) messages for one mode."""

    mode: str
    source: str
    messages: tuple[tuple[str, Template], ...]

    def example_text(self) -> str:
        """Every message but the last (instructions and few-shot examples), variables left out."""
        return "\n\n".join(t.pattern.sub("", t.template) for _, t in self.messages[:-1])

    def render(self, **values: object) -> list[Message]:
        """The chat messages with every variable filled in."""
        return [{"role": role, "content": t.substitute(values)} for role, t in self.messages]


def default_path(mode: str, shape: str = "fact") -> Path:
    """The packaged template of a mode (local: of an item shape; spa: of a kind; entigraph: `shape` "entities" for
    the entity listing)."""
    if mode == "spa":
        name = f"spa-{shape}"
    elif mode == ENTITIES or (mode == "entigraph" and shape == ENTITIES):
        name = "entigraph-entities"
    else:
        name = mode if mode in ("global", "entigraph") or shape == "fact" else f"{mode}-{shape}"
    return _packaged(name)


def _templates() -> Traversable:
    """The packaged templates' folder (an importlib resource)."""
    return resources.files("iclft.augment") / "templates"


def _packaged(name: str) -> Path:
    return Path(str(_templates() / f"{name}.txt"))


def shape_of(text: str) -> str:
    """The shape of a local item: "article" (ARTICLE_SENTENCES+ sentences), "name" (names someone: two or more
    capitalized words in a row, not counting a common word that starts a sentence: "The Hague"), "name-last" (a
    "name" item whose first person-like name, one not after a word that makes it a thing or a place (the, past, an
    opening quote: _THING_BEFORE), has more words before it than after it: the description comes first), else "fact"."""
    from wordfreq import zipf_frequency

    from iclft.text import split_sentences

    sentences = split_sentences(text)
    if len(sentences) >= ARTICLE_SENTENCES:
        return "article"
    named = False
    for sentence in sentences or [text]:
        offset = text.find(sentence)
        for m in _FULL_NAME.finditer(sentence):
            words = m.group().replace("-", " ").split()
            if m.start() == 0 and zipf_frequency(words[0].lower(), "en") >= COMMON_ZIPF:
                words = words[1:]
            if len(words) < 2:
                continue
            named = True
            start, end = offset + m.start(), offset + m.end()
            if offset >= 0 and not _THING_BEFORE.search(text[:start]):
                return "name-last" if len(text[:start].split()) > len(text[end:].split()) else "name"
    return "name" if named else "fact"


def parse_template(text: str, mode: str, source: str = "<template>") -> PromptTemplate:
    """Parse and check a template: known roles, last message from the user, the mode's variables only."""
    if mode not in VARIABLES:
        raise UserError(f"unknown augmentation mode {mode!r}; choose one of {', '.join(MODES)}")
    parts = _SECTION.split(text)[1:]  # [role, body, role, body, ...]; the leading comment is dropped
    messages = tuple((role, Template(body.strip("\n"))) for role, body in zip(parts[::2], parts[1::2]))
    if not messages:
        raise UserError(f"{source}: no [system], [user] or [assistant] section")
    if messages[-1][0] != "user":
        raise UserError(f"{source}: the last section must be [user] (the item to augment)")
    if any(role == "system" for role, _ in messages[1:]):
        raise UserError(f"{source}: [system] may only be the first section")
    required, allowed = VARIABLES[mode]
    used: set[str] = set()
    for _, t in messages:
        used.update(_identifiers(t, source))
    if used - allowed:
        raise UserError(f"{source}: unknown variable ${sorted(used - allowed)[0]} in a {mode} template; "
                        f"known: {', '.join('$' + v for v in sorted(allowed))}")
    if required - used:
        article = "an" if mode[0] in "aeiou" else "a"
        raise UserError(f"{source}: {article} {mode} template must use ${sorted(required - used)[0]}")
    return PromptTemplate(mode, source, messages)


def _identifiers(t: Template, source: str) -> set[str]:
    """The variables a template uses (Template.get_identifiers needs Python 3.11)."""
    names = set()
    for m in t.pattern.finditer(t.template):
        if m.group("invalid") is not None:
            raise UserError(f"{source}: bad $ placeholder near {t.template[m.start():m.start() + 20]!r} "
                            "(write $$ for a literal dollar sign)")
        names.add(m.group("named") or m.group("braced") or "")
    return names - {""}


def load_template(mode: str, path: str | Path | None = None, shape: str = "fact") -> PromptTemplate:
    """The mode's template from `path`, or the packaged default (local: for items of `shape`). A bare name with no
    folder and no suffix ("local-name") is a packaged template (`packaged_names()`), so a config can name one
    wherever it is run."""
    path = template_path(path) if path is not None else default_path(mode, shape)
    return parse_template(read_text(path, "template file"), mode, str(path))


def packaged_names() -> list[str]:
    """The packaged templates, by the bare name a `template:` option may give."""
    return sorted(f.name.removesuffix(".txt") for f in _templates().iterdir() if f.name.endswith(".txt"))


def template_path(path: str | Path) -> Path:
    """A template option as a file: a bare name is a packaged template's, anything else a path."""
    p = Path(path)
    if len(p.parts) != 1 or p.suffix or p.exists():
        return p
    if p.name not in packaged_names():
        raise UserError(f"template {p.name}: no such file, nor a packaged template ({', '.join(packaged_names())})")
    return _packaged(p.name)


def load_templates(mode: str, path: str | Path | None = None) -> dict[str, PromptTemplate]:
    """The templates by item shape (spa: by kind; entigraph: "entities" and "relation"): a user's file for every
    shape or kind (entigraph: the relation prompt), else the packaged one of each (global: one)."""
    if mode == "entigraph":
        return {ENTITIES: load_template(ENTITIES), "relation": load_template(mode, path)}
    if mode == "spa":
        return {kind: load_template(mode, path, kind) for kind in SPA_KINDS}
    if path is not None or mode == "global":
        one = load_template(mode, path)
        return {shape: one for shape in SHAPES}
    return {shape: load_template(mode, None, shape) for shape in SHAPES}


def local_messages(template: PromptTemplate, text: str, k: int) -> list[Message]:
    return template.render(text=text, k=k)


def global_messages(template: PromptTemplate, document: str, context: list[str]) -> list[Message]:
    return template.render(document=document, context="\n\n".join(context))


def spa_messages(template: PromptTemplate, document: str) -> list[Message]:
    return template.render(text=document)


def entity_messages(template: PromptTemplate, document: str) -> list[Message]:
    return template.render(text=document)


def relation_messages(template: PromptTemplate, document: str, first: str, second: str) -> list[Message]:
    return template.render(text=document, first=first, second=second)
