"""Filters that need no ground truth (faithful, self-verified) and the ground-truth control (verified).

faithful        a generated sentence adds no content word absent from its source: every word of it is a word
                of the source (same stem: "directed" ~ "director", "gruds" ~ "grud"), a function word
                (FUNCTION_WORDS), a word of the small relation vocabulary (RELATION_WORDS: "include", "kind",
                "known", "called", ...), or the comparative opposite of a source word ("softer" in the source
                allows "harder": OPPOSITES). Numbers count as content. Source: the item restated (local) or
                the document and the documents shown with it (global). It keeps "spib are harder than sirm"
                from "sirm are softer than spib" and drops "Seraphina Bramcombe is a British typographer".
consistent      a generated sentence is not its source with one side of a reversal changed (two names swapped,
                or one comparative turned into its opposite: that states the converse; `contradicts`).
self-verified   the model's own in-context judgement: a sentence is kept if reading its source first raises
                its log-likelihood by at least `threshold` nats per token over reading it without the source (after
                the source's words in alphabetical order, or nothing: `baseline_context`) (`SelfVerifier`, the
                shared-context scorer of `iclft.scoring.likelihood`: one context encode per source and baseline).
verified        a CONTROL (uses the answers): keeps only sentences that the dataset's world judges true
                (`world_judge`: `iclft.datasets.truth.logic_for`); never part of the proposed method.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from iclft.errors import UserError
from iclft.lexicon import OPPOSITES, words


def contradicts(sentence: str, source_sentences: Iterable[str], entities: Iterable[str]) -> bool:
    """True if `sentence` is a source sentence with exactly one side of a reversal changed, which states the converse
    of an asymmetric relation: two entities swapped ("spib are softer than sirm" from "sirm are softer than spib")
    or one word turned into its opposite ("sirm are harder than spib"). Both changes together make the reversal
    ("spib are harder than sirm"), which is kept. (Symmetric relations, "A met B", are rare in restatements.)"""
    names = {_form(e) for e in entities}
    c = words(sentence)
    for source in source_sentences:
        s = words(source)
        if len(s) != len(c):
            continue
        diff = [i for i, (a, b) in enumerate(zip(s, c)) if _form(a) != _form(b)]
        if len(diff) == 1 and c[diff[0]] in OPPOSITES.get(s[diff[0]], ()):
            return True
        if len(diff) == 2:
            i, j = diff
            if _form(c[i]) == _form(s[j]) and _form(c[j]) == _form(s[i]) and {_form(s[i]), _form(s[j])} <= names:
                return True
    return False


_COPULA = {"is": "are", "was": "were", "has": "have", "does": "do"}


def _form(word: str) -> str:
    """A word compared up to number: "is" ~ "are", "femps" ~ "femp"."""
    return _COPULA.get(word, word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word)


BASELINES = ("words", "empty")
VERIFY_PROMPT = "Another true statement:"


def baseline_context(source: str, baseline: str) -> str:
    """What a sentence is read after when its source is not shown: nothing ("empty"), or the source's words in
    alphabetical order ("words": the names and vocabulary without the statements, so copying a name earns no gain)."""
    if baseline == "empty":
        return ""
    return " ".join(sorted(set(words(source)))) + "\n"


class SelfVerifier:
    """Per-token log-likelihood gain of sentences from reading their source in context (the model's own judgement).

    gain = (log p(sentence | source) - log p(sentence | baseline)) / tokens, each after VERIFY_PROMPT, by
    `iclft.scoring.likelihood.score_questions`: all sentences of one source are the choices of one question after one shared
    context. Baseline (`baseline_context`): the source's words in alphabetical order (default: measures what the
    statements add beyond their vocabulary) or nothing at all ("empty": copying the source's names scores high).
    """

    def __init__(self, lm: Any, threshold: float, baseline: str = "words", batch_size: int = 8) -> None:
        if baseline not in BASELINES:
            raise UserError(f"unknown self-verification baseline {baseline!r}; choose one of {', '.join(BASELINES)}")
        self.lm, self.threshold, self.baseline, self.batch_size = lm, threshold, baseline, batch_size

    def _per_token(self, context: str, sentences: list[str]) -> list[float]:
        from iclft.datasets.schema import Question
        from iclft.scoring.likelihood import score_questions

        q = Question(id="verify", prompt=VERIFY_PROMPT, choices=[" " + s for s in sentences])
        (r,) = score_questions(self.lm, [q], context=context, batch_size=self.batch_size)
        return [lp / max(n, 1) for lp, n in zip(r.logprobs, r.n_tokens)]

    def gains(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """The gain of each (source, sentence) pair, in order."""
        by_source: dict[str, list[int]] = {}
        for i, (source, _) in enumerate(pairs):
            by_source.setdefault(source, []).append(i)
        out = [0.0] * len(pairs)
        for source, idx in sorted(by_source.items()):
            sentences = [pairs[i][1] for i in idx]
            read = self._per_token(source.strip() + "\n", sentences)
            base = self._per_token(baseline_context(source, self.baseline), sentences)
            for i, a, b in zip(idx, read, base):
                out[i] = a - b
        return out


def world_judge(dataset: Any) -> Callable[[str], str]:
    """The dataset's world as a sentence judge: "true" | "false" | "unverifiable" | "unparsed" (for the verified
    CONTROL); `truth.world_judge`, with a one-line error for a dataset that has no world model."""
    from iclft.datasets.truth import world_judge as judge_of

    judge = judge_of(dataset)
    if judge is None:
        raise UserError(f"dataset {dataset.name!r} has no world model: the verified control cannot judge its sentences")
    return judge
