"""Question-answer sets over passages, imported as a knowledge dataset (`iclft data import-qa`).

Two layouts:
    FILE.json    SEAL/SPA's: [{"title"?, "context", "questions": [{"question", "answer"}, ...]}, ...]; each passage
                 is a document, id "doc-0001", ... in file order; titles go to meta["titles"] (not to the text)
    FILE.jsonl   one {"question", "answer", "passage"} a line (a document per distinct passage, numbered in order
                 of first use), or one {"question", "answer", "doc_id"} a line with --documents (a JSONL of
                 {"id", "text"} or a folder of .txt/.md files whose stems are the ids: `datasets.corpus`);
                 documents no question asks about are trained too
Each question becomes a multiple-choice Question in split "qa": prompt "Question: <question>\\nAnswer:", the
answer among distractors of its kind drawn from the corpus's other answers (`iclft.datasets.answers`), subtype
its kind, facts [its document]. `iclft.datasets.knowledge.assemble` holds documents aside or for validation.

Refused with one line naming file and place, before anything is written: an empty file, malformed JSON (line
and column), a missing key or a value of the wrong type, a passage without questions, an answer that does not
occur in its passage (ignoring case), a doc_id with no document, a file mixing "passage" and "doc_id" rows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from iclft.datasets.answers import AnswerPool, choices_for, kind
from iclft.datasets.knowledge import Item, assemble
from iclft.datasets.schema import Dataset, Document
from iclft.errors import UserError
from iclft.io import iter_jsonl, parse_json, read_text

VERSION = 1
SPLIT = "qa"
N_CHOICES = 4


@dataclass
class Passage:
    doc: Document
    title: str | None = None
    questions: list[tuple[str, str, str]] = field(default_factory=list)  # (question, answer, where)


def prompt_for(question: str) -> str:
    return f"Question: {question.strip()}\nAnswer:"


def _string(obj: dict[str, Any], key: str, where: str, optional: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if key not in obj:
        raise UserError(f"{where}: missing key {key!r}")
    if not isinstance(value, str) or not value.strip():
        raise UserError(f"{where}: {key!r} must be a non-empty string (got {type(value).__name__})")
    return value


def _read_seal(path: Path, text: str) -> list[Passage]:
    data = parse_json(text, path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of passages, got {type(data).__name__}")
    if not data:
        raise UserError(f"{path}: no passages")
    passages = []
    for i, row in enumerate(data, 1):
        where = f"{path}: passage {i}"
        if not isinstance(row, dict):
            raise UserError(f"{where}: expected an object, got {type(row).__name__}")
        context, title = _string(row, "context", where), _string(row, "title", where, optional=True)
        qs = row.get("questions")
        if qs is None:
            raise UserError(f"{where}: missing key 'questions'")
        if not isinstance(qs, list):
            raise UserError(f"{where}: 'questions' must be a list (got {type(qs).__name__})")
        if not qs:
            raise UserError(f"{where}{f' ({title})' if title else ''}: no questions")
        p = Passage(Document(id=f"doc-{i:04d}", text=str(context)), title)
        for j, q in enumerate(qs, 1):
            qwhere = f"{where} question {j}"
            if not isinstance(q, dict):
                raise UserError(f"{qwhere}: expected an object, got {type(q).__name__}")
            p.questions.append((str(_string(q, "question", qwhere)), str(_string(q, "answer", qwhere)), qwhere))
        passages.append(p)
    return passages


def _read_jsonl(path: Path, documents: Path | None) -> list[Passage]:
    rows = list(iter_jsonl(path))
    if not rows:
        raise UserError(f"{path}: no questions (empty file)")
    styles = {"doc_id" if "doc_id" in row else "passage" for _, row in rows}
    if len(styles) > 1:
        raise UserError(f"{path}: mixes \"passage\" and \"doc_id\" rows; use one")
    by_id: dict[str, Passage] = {}
    if "doc_id" in styles:
        if documents is None:
            raise UserError(f"{path}: rows name a \"doc_id\"; give the documents with --documents")
        from iclft.datasets.corpus import load_documents

        by_id = {d.id: Passage(d) for d in load_documents(documents, stem_ids=True)}
    elif documents is not None:
        raise UserError(f"{path}: rows carry their \"passage\"; --documents is for rows with a \"doc_id\"")
    by_text: dict[str, Passage] = {}
    for n, row in rows:
        where = f"{path}:{n}"
        question, answer = str(_string(row, "question", where)), str(_string(row, "answer", where))
        if "doc_id" in row:
            doc_id = row["doc_id"]
            if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool):
                raise UserError(f"{where}: 'doc_id' must be a string or an integer (got {type(doc_id).__name__})")
            if str(doc_id) not in by_id:
                raise UserError(f"{where}: doc_id {str(doc_id)!r} has no document in {documents}")
            p = by_id[str(doc_id)]
        else:
            text = str(_string(row, "passage", where)).strip()
            if text not in by_text:
                by_text[text] = Passage(Document(id=f"doc-{len(by_text) + 1:04d}", text=text))
            p = by_text[text]
        p.questions.append((question, answer, where))
    return list(by_id.values()) if by_id else list(by_text.values())


def read_qa(path: str | Path, documents: str | Path | None = None) -> list[Passage]:
    """The passages of a QA file with their questions, checked (see the module docstring)."""
    path = Path(path)
    text = read_text(path, "QA file")
    if not text.strip():
        raise UserError(f"{path}: empty file")
    if path.suffix.lower() == ".jsonl":
        passages = _read_jsonl(path, Path(documents) if documents is not None else None)
    else:
        if documents is not None:
            raise UserError(f"{path}: --documents is for a JSONL of questions with a \"doc_id\"; this layout holds "
                            "its passages")
        passages = _read_seal(path, text)
    for p in passages:
        for _, answer, where in p.questions:
            if answer.strip().lower() not in p.doc.text.lower():
                raise UserError(f"{where}: answer {answer.strip()!r} does not occur in its passage")
    return passages


def import_qa(path: str | Path, documents: str | Path | None = None, seed: int = 0, validation_documents: int = 0,
              heldaside: int = 0, n_choices: int = N_CHOICES) -> Dataset:
    """A knowledge dataset from a QA file (see the module docstring)."""
    if n_choices < 2:
        raise UserError(f"--choices {n_choices}: a question needs at least 2 choices")
    passages = read_qa(path, documents)
    pool = AnswerPool(a for p in passages for _, a, _ in p.questions)
    answers_of: dict[tuple[str, str], list[str]] = {}  # the same question twice about one passage: all its answers
    for p in passages:
        for q, a, _ in p.questions:
            answers_of.setdefault((p.doc.id, q.strip()), []).append(a)
    items = []
    for p in passages:
        for j, (q, a, where) in enumerate(p.questions):
            rng = random.Random(f"qa:{seed}:{p.doc.id}:{j}")
            choices, answer = choices_for(a, pool, n_choices, rng, also_correct=answers_of[(p.doc.id, q.strip())])
            if len(choices) < 2:
                raise UserError(f"{where}: no other answer in the file to draw a distractor from")
            items.append(Item(p.doc.id, SPLIT, kind(a), prompt_for(q), choices, answer))
    path = Path(path)
    meta: dict[str, Any] = {
        "generator": f"{__name__}.import_qa", "version": VERSION, "source": path.name,
        "params": {"choices": n_choices, "validation_documents": validation_documents, "heldaside": heldaside,
                   "documents": Path(documents).name if documents is not None else None},
    }
    titles = {p.doc.id: p.title for p in passages if p.title}
    if titles:
        meta["titles"] = titles
    unasked = [p.doc.id for p in passages if not p.questions]
    if unasked:
        meta["documents_without_questions"] = unasked
    return assemble(path.stem, [p.doc for p in passages], items, seed, validation_documents, heldaside, meta)
