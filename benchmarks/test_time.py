"""Test-time scoring cost: `channel` and `both` against `direct` on the same questions, same model, same run.

Data: a celebrities world (the reversal-curse generator) and its test questions; the embedded model, with no
context (as after fine-tuning) and with the world's documents in context (as ICL). Each mode is timed on its own
(`score_modes` with that mode alone; `both` alone scores what its switch reads: channel where the documents verify
a question, direct elsewhere), best of
`--repeats`, after one warm-up. Prints seconds and the ratio to `direct` per mode and `max_statements`, and the three
scored together as a study scores them (both reuses direct's and channel's passes).
Goal (issue: test time): channel and both cost at most 2x direct's scoring on a CPU.

    python benchmarks/test_time.py [--people 6] [--statements 1 4] [--repeats 2]
"""

from __future__ import annotations

import argparse
import time

from iclft import models
from iclft.cells import Exposure, Job
from iclft.datasets import registry
from iclft.scoring.modes import parse_modes
from iclft.scoring.test_time import score_modes


def timed(job: Job, exposure: Exposure, modes: dict, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        score_modes(job, exposure, job.questions, modes, ["sum"])
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=6, help="people a group (test questions: 5 splits x 6 templates)")
    ap.add_argument("--statements", type=int, nargs="+", default=[1, 4], help="channel's max_statements")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    ds = registry.build("celebrities", 0, {"people_per_group": args.people, "train_templates": 4,
                                           "test_templates": 6, "validation_people": 1})
    lm = models.load(models.DEFAULT_MODEL)
    job = Job(dataset=ds, model=models.DEFAULT_MODEL, seed=0, questions=list(ds.test))
    documents = "\n".join(d.text for d in ds.train)
    exposures = {"no context (after FT)": Exposure(lm), "documents in context (ICL)": Exposure(lm, lambda q: documents)}
    print(f"{len(job.questions)} questions, {len(ds.train)} training documents, {models.DEFAULT_MODEL}")
    for name, exposure in exposures.items():
        timed(job, exposure, parse_modes("direct", "bench"), 1)  # warm-up
        base = timed(job, exposure, parse_modes("direct", "bench"), args.repeats)
        print(f"{name}: direct {base:.2f} s")
        for k in args.statements:
            for mode in ("channel", "both"):
                s = timed(job, exposure, parse_modes({mode: {"max_statements": k}}, "bench"), args.repeats)
                print(f"  {mode:8s} max_statements={k}: {s:.2f} s = {s / base:.2f}x direct")
            # as a study scores them: direct, channel and both in one call (both reuses the other two)
            modes = parse_modes({"direct": {}, "channel": {"max_statements": k}, "both": {"max_statements": k}}, "b")
            s = timed(job, exposure, modes, args.repeats)
            print(f"  direct+channel+both max_statements={k}: {s:.2f} s = {s / base:.2f}x direct alone")


if __name__ == "__main__":
    main()
