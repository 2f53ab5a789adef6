"""Read a user's corpus as Documents: a folder of text files, a JSONL file, or an iclft dataset folder.

    DIR/ with train.jsonl   an iclft dataset folder: its training documents
    DIR/                    every .txt and .md file below it (hidden ones skipped), in path order;
                            id = the path relative to DIR (without its suffix with `stem_ids`: the
                            knowledge datasets' document ids); blank files are skipped
    FILE.jsonl              one {"text", "id"?, "facts"?} object a line (other keys are ignored);
                            id defaults to "line<N>"
    FILE.txt | FILE.md      one document, id = the file name
    iclft:NAME              a corpus shipped with iclft (`SHIPPED`: iclft:squad-placebo)

`placebo_documents` reads a recipe's PLACEBO corpus: documents outside the study, as many as it trains.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from iclft.datasets.schema import Document
from iclft.errors import UserError
from iclft.io import check_unique_ids, iter_jsonl, read_models, read_text

TEXT_SUFFIXES = (".txt", ".md")
SHIPPED = {"squad-placebo": "data/squad/placebo.jsonl"}  # iclft:NAME -> a file of iclft.datasets


def _read_text(path: Path) -> str:
    return read_text(path).strip()


def _from_folder(folder: Path, stem_ids: bool = False) -> list[Document]:
    files = sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in TEXT_SUFFIXES and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    docs = []
    for p in files:
        text = _read_text(p)
        if text:
            rel = p.relative_to(folder)
            docs.append(Document(id=(rel.with_suffix("") if stem_ids else rel).as_posix(), text=text))
    return docs


def _from_jsonl(path: Path) -> list[Document]:
    docs = []
    for n, row in iter_jsonl(path):
        text, facts = row.get("text"), row.get("facts", [])
        if not isinstance(text, str) or not text.strip():
            raise UserError(f"{path}:{n}: needs a non-empty \"text\" string")
        doc_id = row.get("id", f"line{n}")
        if not isinstance(doc_id, (str, int)) or isinstance(doc_id, bool) or str(doc_id) == "":
            raise UserError(f"{path}:{n}: \"id\" must be a non-empty string or an integer")
        if not isinstance(facts, list) or not all(isinstance(f, str) for f in facts):
            raise UserError(f"{path}:{n}: \"facts\" must be a list of strings")
        docs.append(Document(id=str(doc_id), text=text.strip(), facts=facts))
    return docs


def load_documents(path: str | Path, stem_ids: bool = False) -> list[Document]:
    """The documents at `path` (see the module docstring); an empty corpus or a repeated id is a UserError."""
    if str(path).startswith("iclft:"):
        return _shipped(str(path).removeprefix("iclft:"))
    path = Path(path)
    if path.is_dir():
        train = path / "train.jsonl"
        docs = read_models(train, Document) if train.is_file() else _from_folder(path, stem_ids)
        what = "training documents in train.jsonl" if train.is_file() else "non-blank .txt or .md files"
    elif path.is_file() and path.suffix.lower() == ".jsonl":
        docs, what = _from_jsonl(path), "rows"
    elif path.is_file() and path.suffix.lower() in TEXT_SUFFIXES:
        text = _read_text(path)
        docs, what = ([Document(id=path.name, text=text)] if text else []), "text"
    elif not path.exists():
        raise UserError(f"{path}: no such file or folder")
    else:
        raise UserError(f"{path}: expected a folder of .txt/.md files, a dataset folder, or a .jsonl file")
    if not docs:
        raise UserError(f"{path}: empty corpus (no {what})")
    check_unique_ids(docs, path, "document id")
    return docs


def _shipped(name: str) -> list[Document]:
    from importlib import resources

    if name not in SHIPPED:
        raise UserError(f"iclft:{name}: no such shipped corpus; shipped: {', '.join('iclft:' + n for n in SHIPPED)}")
    with resources.as_file(resources.files("iclft.datasets").joinpath(SHIPPED[name])) as path:
        return _from_jsonl(path)


def placebo_documents(path: str | Path, train: Sequence[Document]) -> list[Document]:
    """A PLACEBO corpus for a recipe trained on `train`: the first len(train) documents at `path` (as many as the
    recipe writes from, so the same count and budget), ids and facts their own ("placebo/ID"); one line if there
    are too few or one of them is a training document (then it would not be a placebo)."""
    docs = load_documents(path)
    if len(docs) < len(train):
        raise UserError(f"{path}: {len(docs)} placebo documents; a placebo needs as many as the study trains on "
                        f"({len(train)})")
    trained = {d.text.strip() for d in train}
    shared = next((d.id for d in docs[: len(train)] if d.text.strip() in trained), None)
    if shared is not None:
        raise UserError(f"{path}: document {shared!r} is one of the study's training documents; a placebo is "
                        "written from documents outside the study")
    return [Document(id=f"placebo/{d.id}", text=d.text, facts=[f"placebo/{d.id}"]) for d in docs[: len(train)]]
