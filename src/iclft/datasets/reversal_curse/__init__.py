"""Berglund et al.'s reversal-curse files (their release: data/reverse_experiments/june_version_7921032488) imported
as an iclft Dataset: `import_layout` reads the folder (`layout`), cuts an optional seeded subset (`subset`), turns it
into documents and questions (`questions.convert`) and stores the world the controls read (`world.world_meta`).
The distractor and subset choices, and what they were measured to give: docs/reversal-curse.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from iclft.datasets.reversal_curse.layout import RANDOMIZED, read_layout
from iclft.datasets.reversal_curse.questions import convert
from iclft.datasets.reversal_curse.subset import subset
from iclft.datasets.reversal_curse.world import world_meta
from iclft.datasets.schema import Dataset

VERSION = 4
DEFAULT_DISTRACTORS: Literal["all", "group"] = "group"  # chosen on validation people: docs/reversal-curse.md


def import_layout(src: str | Path, seed: int = 0, validation_people: int = 3,
                  distractors: Literal["all", "group"] = DEFAULT_DISTRACTORS, people_per_group: int | None = None,
                  paraphrases: int | None = None, questions_per_person: int | None = None) -> Dataset:
    """Read the public Berglund et al. layout into an iclft Dataset (optionally a seeded subset: `subset`, and
    fewer test questions a person: `questions_per_person`)."""
    whole = read_layout(src)
    layout = subset(whole, people_per_group, paraphrases, seed)
    ds = convert(layout, seed, validation_people, distractors, name="reversal-curse",
                 questions_per_person=questions_per_person)
    params: dict[str, Any] = {"validation_people": validation_people, "distractors": distractors}
    if people_per_group is not None or paraphrases is not None:
        params |= {"people_per_group": people_per_group, "paraphrases": paraphrases}
    if questions_per_person is not None:
        params["questions_per_person"] = questions_per_person
    if "randomized" in ds.meta and layout is not whole:
        original = {r.where: r.completion for f in RANDOMIZED if f in whole for r in whole[f]}
        ds.meta["randomized"]["redrawn_in_subset"] = sum(
            r.completion != original[r.where] for f in RANDOMIZED if f in layout for r in layout[f])
    ds.meta = {"generator": f"{__name__}.import_layout", "version": VERSION, "source": str(Path(src).resolve()),
               "seed": seed, "params": params, **ds.meta, "world": world_meta(layout)}
    return ds
