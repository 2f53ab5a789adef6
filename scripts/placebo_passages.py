"""Write the PLACEBO documents for `ft_aug_cloze` on the shipped SQuAD example: passages of a SEAL/SPA-layout file
that the example does not hold (so none of its facts), as many as it trains, as JSONL {"id", "text"}.

    python3 scripts/placebo_passages.py SQUAD.json data/placebo.jsonl
    ICLFT_PLACEBO=data/placebo.jsonl iclft study knowledge     # with the ft_cloze_placebo line of the config uncommented

SQUAD.json: any SQuAD passages in that layout (e.g. the 94 development passages the example's 40 were drawn from;
SQuAD v1.1 is CC BY-SA 4.0, see src/iclft/datasets/data/squad/README.md).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from iclft.datasets import registry
from iclft.datasets.squad import passages_file
from iclft.errors import UserError
from iclft.io import atomic_open, read_json


def main(src: str, out: str) -> None:
    shipped = {p["context"] for p in json.loads(passages_file().read_text(encoding="utf-8"))}
    others = [p["context"] for p in read_json(Path(src)) if p["context"] not in shipped]
    n = len(registry.build("squad").train)
    if len(others) < n:
        sys.exit(f"{src}: {len(others)} passages not in the example; the placebo needs {n}")
    rows = [{"id": f"placebo-{i:03d}", "text": text} for i, text in enumerate(others[:n])]
    with atomic_open(out) as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    print(f"wrote {out}: {n} passages")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    try:
        main(sys.argv[1], sys.argv[2])
    except UserError as e:
        sys.exit(str(e))
