"""Checks of a loaded dataset beyond its schema: problems (errors) and convention breaks (warnings)."""

from __future__ import annotations

import math

from iclft.datasets.schema import Dataset, Question


def lint(ds: Dataset) -> tuple[list[str], list[str]]:
    """(errors, warnings). Errors make scoring ambiguous; warnings break iclft's conventions."""
    errors: list[str] = []
    warnings: list[str] = []
    shared = {q.id for q in ds.test} & {q.id for q in ds.validation}
    if shared:
        errors.append(f"question id {min(shared)!r} is in both test.jsonl and validation.jsonl")
    trained = {f for d in ds.train for f in d.facts}
    untrained_split = ds.meta.get("forgetting_split")  # its questions are about documents held out of training
    test_facts = {f for q in ds.test for f in q.facts}
    for label, qs in (("test", ds.test), ("validation", ds.validation)):
        for q in qs:
            where = f"{label}.jsonl: question {q.id!r}"
            if len(set(q.choices)) != len(q.choices):
                errors.append(f"{where}: duplicate choices")
            if q.prompt != q.prompt.rstrip():
                warnings.append(f"{where}: prompt ends with whitespace (choices should carry the leading space)")
            if any(not c[0].isspace() for c in q.choices) and q.prompt and not q.prompt[-1].isspace():
                warnings.append(f"{where}: a choice does not start with a space")
            if trained and q.split != untrained_split and any(f not in trained for f in q.facts):
                missing = next(f for f in q.facts if f not in trained)
                warnings.append(f"{where}: fact {missing!r} is in no training document")
    overlap = test_facts & {f for q in ds.validation for f in q.facts}
    if overlap:
        warnings.append(f"{len(overlap)} fact(s) are asked about in both test and validation "
                        f"(e.g. {min(overlap)!r}): tuning on validation then sees test items")
    return errors, warnings


def chance(questions: list[Question]) -> tuple[float, float]:
    """Expected accuracy of a uniform random guesser, and its standard deviation over these questions.

    A question with k correct choices out of n is a Bernoulli(k/n) trial; the accuracy over N questions
    has mean sum(p)/N and standard deviation sqrt(sum(p(1-p)))/N.
    """
    ps = [len(q.correct_choices) / len(q.choices) for q in questions]
    if not ps:
        return 0.0, 0.0
    return sum(ps) / len(ps), math.sqrt(sum(p * (1 - p) for p in ps)) / len(ps)
