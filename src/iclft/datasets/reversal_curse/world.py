"""What the world model of an imported release needs (meta.json "world"; read only by
`iclft.datasets.reversal_curse_truth`, the ground truth of the audit and the controls): each person's description
texts and the training templates, from the training rows only."""

from __future__ import annotations

import os
import re
from typing import Any

from iclft.datasets.reversal_curse.layout import TRAIN_FILES, Layout, People, Row, positions_in_person, template_of

_ARTICLE = re.compile(r"(?:the|a|an) ", re.IGNORECASE)


def _common_prefix(texts: list[str]) -> str:
    """The longest common prefix of texts, cut back to end at a space (whole words) and without a trailing
    article (an article starts the description it was filled with: "the acclaimed director ...")."""
    prefix = os.path.commonprefix(texts)
    if any(len(t) > len(prefix) for t in texts) and not prefix.endswith(" "):
        prefix = prefix[: prefix.rfind(" ") + 1]
    return re.sub(r"(?:^|(?<= ))(?:the|a|an|The|A|An) $", "", prefix)


def _common_suffix(texts: list[str]) -> str:
    """The longest common suffix, cut to begin at a space or a punctuation mark that follows a word's end."""
    suffix = os.path.commonprefix([t[::-1] for t in texts])[::-1]
    while suffix and suffix[0].isalnum() and any(len(t) > len(suffix) and t[-len(suffix) - 1].isalnum()
                                                 for t in texts):
        suffix = suffix[1:]
    return suffix


def world_meta(layout: Layout) -> dict[str, Any]:
    """People's descriptions and the training templates, from the TRAINING rows only (test rows never): a p2d
    row's description is its completion; a d2p row's is its prompt minus the template, recovered by aligning row k
    of every person (the release writes each person's rows in template order): the words all of them share at the
    start and end. Templates: p2d prompts with "{name}"; d2p [prompt prefix, prompt suffix, completion with
    "{name}"]."""
    people = People(layout)
    by: dict[str, dict[str, list[tuple[str, Row]]]] = {"p2d": {}, "d2p": {}}  # direction -> k -> [(person, row)]
    for f in TRAIN_FILES:
        for r, (p, d, k) in zip(layout[f], positions_in_person(layout[f], people)):
            by[d].setdefault(str(k), []).append((p, r))
    descriptions: dict[str, list[str]] = {}
    p2d_templates, d2p_templates = [], []
    for k in sorted(by["p2d"], key=int):
        completions = [r.completion.strip() for _, r in by["p2d"][k]]
        for (p, _), c in zip(by["p2d"][k], completions):
            descriptions.setdefault(p, []).append(c)
        lead = _common_prefix([c + " " for c in completions]) if len(completions) > 1 else ""
        noun_phrases = sum(bool(_ARTICLE.match(c[len(lead):])) for c in completions)
        p2d_templates.append([_most_common([template_of(r, p) for p, r in by["p2d"][k]]),
                              lead.strip() if 2 * noun_phrases >= len(completions) else None])
    for k in sorted(by["d2p"], key=int):
        rows = by["d2p"][k]
        prompts = [r.prompt for _, r in rows]
        pre, suf = (_common_prefix(prompts), _common_suffix(prompts)) if len(rows) > 1 else ("", "")
        for p, r in rows:
            middle = r.prompt[len(pre): len(r.prompt) - len(suf)] if len(pre) + len(suf) < len(r.prompt) else r.prompt
            descriptions.setdefault(p, []).append(middle.strip())
        completion = _most_common([r.completion.replace(p, "{name}", 1) for p, r in rows])
        d2p_templates.append([pre, suf, completion])
    return {"descriptions": {p: sorted(set(ds), key=lambda t: (-ds.count(t), t)) for p, ds in
                             sorted(descriptions.items())},
            "templates": {"p2d": p2d_templates, "d2p": d2p_templates}}


def _most_common(xs: list[str]) -> str:
    return min(set(xs), key=lambda x: (-xs.count(x), x))
