"""How diverse a written corpus is and how much of it copies its sources: the numbers the report puts beside a
recipe's accuracy (pure functions of the text; no model).

    measure(rows, sources=None) -> dict      rows: {"id", "text", "source"} (the `augmented` artifact's rows);
                                             sources: source document id -> its text

Words are `lexicon.words` (lowercased word tokens); n-grams never cross a row's boundary. Every measure pools the
whole corpus:

    words           word tokens of all rows
    compression     raw bytes / gzip bytes of the rows' texts joined by newlines (UTF-8; gzip level 9, mtime 0, so
                    deterministic): SPA's diversity measure (Lin et al. 2025); higher = more repetitive. It grows with
                    length, so compare corpora of about one size (a shared tokens_per_document budget).
    distinct_n      unique / total word n-grams, n = 1, 2, 3 (Li et al. 2016); 1.0 = no n-gram repeats
    copied          of the rows' word 8-grams, the share that occur verbatim in the document that row was written
                    from (None without `sources`, or when no row has 8 words). 8 words: shorter n-grams recur by
                    chance in ordinary English (a name with its article, "one of the most"), while eight words in a
                    row almost only recur when copied (8- to 13-gram overlap is the usual test for text taken from
                    a source, e.g. contamination checks); it still catches a copied clause inside a restatement.
"""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from iclft.lexicon import words

DISTINCT = (1, 2, 3)
COPY_N = 8


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    """The word n-grams of one text, in order (none if it has fewer than n words)."""
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def compression_ratio(texts: Iterable[str]) -> float | None:
    """Raw bytes / gzip bytes of the texts joined by newlines (None for no text)."""
    raw = "\n".join(texts).encode("utf-8")
    if not raw:
        return None
    return len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))


def distinct(token_lists: Iterable[Sequence[str]], n: int) -> float | None:
    """Unique / total word n-grams over every text (n-grams within each text); None when there are none."""
    counts: Counter[tuple[str, ...]] = Counter()
    for tokens in token_lists:
        counts.update(ngrams(tokens, n))
    total = sum(counts.values())
    return len(counts) / total if total else None


def copied_share(pairs: Iterable[tuple[Sequence[str], Sequence[str]]], n: int = COPY_N) -> float | None:
    """Of the written texts' word n-grams, the share found verbatim in their own source: `pairs` are (written words,
    source words). None when no written text has n words."""
    found = total = 0
    for written, source in pairs:
        grams = ngrams(written, n)
        seen = set(ngrams(source, n))
        total += len(grams)
        found += sum(g in seen for g in grams)
    return found / total if total else None


def measure(rows: Sequence[Mapping[str, Any]], sources: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The corpus's measures (see the module docstring): rows, words, compression, distinct_1..3, copied."""
    tokens = [words(r["text"]) for r in rows]
    out: dict[str, Any] = {"rows": len(rows), "words": sum(map(len, tokens)),
                           "compression": compression_ratio(r["text"] for r in rows)}
    out.update({f"distinct_{n}": distinct(tokens, n) for n in DISTINCT})
    copied = None
    if sources is not None:
        pairs = [(t, words(sources[r["source"]])) for t, r in zip(tokens, rows) if r.get("source") in sources]
        copied = copied_share(pairs)
    out["copied"] = copied
    return out
