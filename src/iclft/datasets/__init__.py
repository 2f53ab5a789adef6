"""Datasets of novel knowledge: a folder with train.jsonl, test.jsonl, optional validation.jsonl, meta.json."""

from iclft.datasets.schema import Dataset, Document, Question

__all__ = ["Dataset", "Document", "Question"]
