"""Small text utilities shared by fine-tuning (sentence splitting) and augmentation (post-processing)."""

from __future__ import annotations

import re

# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets) before whitespace. The next
# sentence may start lower-case: nonsense words keep their case at a sentence start ("... glon. femp are ...").
_BOUNDARY = re.compile(r"[.!?][\"')\]]*(?=\s+\S)")
_ABBREVIATIONS = frozenset({"e.g.", "i.e.", "etc.", "vs.", "cf.", "mr.", "mrs.", "ms.", "dr.", "st.", "no.", "approx."})


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping each sentence's end punctuation; blank pieces are dropped.

    Paragraph breaks always end a sentence; a period after a common abbreviation (e.g., Dr.) does not.
    """
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        start = 0
        for m in _BOUNDARY.finditer(para):
            words = para[start : m.end()].split()
            if words and words[-1].lower().lstrip("\"'([") in _ABBREVIATIONS:
                continue
            out.append(para[start : m.end()])
            start = m.end()
        out.append(para[start:])
    return [s for s in (" ".join(p.split()) for p in out) if s]
