"""Small text utilities shared by fine-tuning (sentence splitting) and augmentation (post-processing)."""

from __future__ import annotations

import re

# A sentence ends at . ! or ? (optionally followed by closing quotes/brackets) before whitespace and a
# capital letter, digit or opening quote. Abbreviations are rare in generated data; this is deliberately simple.
_BOUNDARY = re.compile(r"[.!?][\"')\]]*(?=\s+[A-Z0-9\"'(\[])")


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping each sentence's end punctuation; blank pieces are dropped."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        start = 0
        for m in _BOUNDARY.finditer(para):
            out.append(para[start : m.end()])
            start = m.end()
        out.append(para[start:])
    return [s for s in (" ".join(p.split()) for p in out) if s]
