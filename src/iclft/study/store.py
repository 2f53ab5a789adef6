"""Study results on disk: one record per (cell, question), written so a kill at any moment loses nothing.

    OUT/study.json                   the normalized config, its hash, and the grid (cell keys in order)
    OUT/cells/<key>/chunks/NNNNN.jsonl  records of one chunk of the cell's questions, each file atomic
    OUT/cells/<key>/<artifact>.json  e.g. loss.json (the fine-tuning loss curve)
    OUT/cells/<key>/cell.json        the cell's spec and info; written last: the cell is done
    OUT/cells/<key>/timing.json      wall time and whether a cached model was reused (not deterministic)

A chunk file exists whole or not at all (temporary file + rename), so a restarted study skips done
chunks and recomputes only missing ones; records never appear twice. Shards of a study write disjoint
cells into the same folder. Everything but timing.json is identical for the same config and seeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from iclft.errors import UserError
from iclft.io import iter_jsonl, read_json, write_json, write_jsonl

STUDY_FILE = "study.json"


class Store:
    def __init__(self, root: str | Path):
        self.root = Path(root)

    # -- the study
    def write_study(self, study: dict[str, Any]) -> None:
        write_json(self.root / STUDY_FILE, study)

    def study(self) -> dict[str, Any]:
        path = self.root / STUDY_FILE
        if not path.is_file():
            raise UserError(f"{self.root}: not a study folder (no {STUDY_FILE})")
        return read_json(path)

    # -- cells
    def cell_dir(self, key: str) -> Path:
        return self.root / "cells" / key

    def is_done(self, key: str) -> bool:
        return (self.cell_dir(key) / "cell.json").is_file()

    def done_chunks(self, key: str) -> set[int]:
        chunks = self.cell_dir(key) / "chunks"
        return {int(p.stem) for p in chunks.glob("[0-9]*.jsonl")} if chunks.is_dir() else set()

    def clean_partial(self, key: str) -> None:
        """Remove temporary files a killed writer left behind (they never count as results)."""
        for tmp in self.cell_dir(key).rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)

    def write_chunk(self, key: str, index: int, records: list[dict[str, Any]]) -> None:
        write_jsonl(self.cell_dir(key) / "chunks" / f"{index:05d}.jsonl", records)

    def finish_cell(self, key: str, cell: dict[str, Any], artifacts: dict[str, Any], timing: dict[str, Any]) -> None:
        d = self.cell_dir(key)
        for name, value in artifacts.items():
            write_json(d / f"{name}.json", value)
        write_json(d / "timing.json", timing)
        write_json(d / "cell.json", cell)

    def cell(self, key: str) -> dict[str, Any]:
        return read_json(self.cell_dir(key) / "cell.json")

    def artifact(self, key: str, name: str) -> Any | None:
        path = self.cell_dir(key) / f"{name}.json"
        return read_json(path) if path.is_file() else None

    def timing(self, key: str) -> dict[str, Any]:
        path = self.cell_dir(key) / "timing.json"
        return read_json(path) if path.is_file() else {}

    def records(self, key: str) -> Iterator[dict[str, Any]]:
        """A cell's records in question order (chunk by chunk)."""
        for path in sorted((self.cell_dir(key) / "chunks").glob("[0-9]*.jsonl")):
            for _, rec in iter_jsonl(path):
                yield rec

    def done_cells(self) -> list[str]:
        """Keys of the current grid's finished cells, in grid order."""
        return [c["key"] for c in self.study().get("cells", []) if self.is_done(c["key"])]

    def all_records(self) -> Iterator[dict[str, Any]]:
        for key in self.done_cells():
            yield from self.records(key)
