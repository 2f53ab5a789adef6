"""`recall` and `think`: text the exposed model writes at test time becomes the context its question is scored after.

    recall   for each choice, the exposed model continues `prompt` with the choice as {subject} ("Mara Velt" ->
             "Mara Velt is the author of ..."): what it remembers about each candidate, in its own words. A
             question reads the recollections of all its choices (in choice order), then is scored as in ICL, so
             knowledge trained in one direction can be read in the other in context.
    think    the exposed model (or `generator`) continues `prompt` with the question as {question}: a reasoning
             trace, read before the question is asked again and its choices scored.

Generation is seeded (request seed: the cell's seed times 16 plus the sample), cached on disk like augmentations
(keyed by the generating model's weights, the prompt text and the sampling), and done in the exposure's own
format: a plain-text model continues the raw text, a chat exposure gets the chat template. What an exposure puts
in context (ICL's documents) comes first in both the generation prompt and the scoring context. With `samples` > 1
each choice's score is the mean over the samples' contexts.
"""

from __future__ import annotations

from collections.abc import Sequence

from iclft.cells import Exposure, Job
from iclft.datasets.schema import Question
from iclft.framing import SEPARATOR, resolve_format
from iclft.generation.cache import GenerationCache, cached_generate
from iclft.generation.generator import Generator, Message, Request, Sampling
from iclft.generation.local import LocalGenerator
from iclft.scoring.exposure import context_of, score_in_contexts
from iclft.scoring.likelihood import QuestionScore
from iclft.scoring.modes import GeneratedContextOptions, ModeScore, RecallOptions

GENERATED = "generated"


class _PlainGenerator(LocalGenerator):
    """The exposed model continuing raw text (a plain-format exposure reads no chat template)."""

    def render(self, messages: Sequence[Message]) -> str:
        return "".join(m["content"] for m in messages)

    @property
    def identity(self) -> dict:
        return {**super().identity, "render": "plain"}


def exposed_generator(exposure: Exposure, options: GeneratedContextOptions) -> Generator:
    """Who writes the text: `think`'s named generator, else the exposed model in its exposure's format."""
    spec = getattr(options, "generator", None)
    if spec is not None:
        return spec.build()
    if resolve_format(exposure.lm, exposure.format) == "plain":
        return _PlainGenerator(exposure.lm)
    return LocalGenerator(exposure.lm)


def _subjects(mode_options: GeneratedContextOptions, question: Question) -> list[str]:
    """The filled prompts a question needs generated: one per choice (recall) or one (think)."""
    if isinstance(mode_options, RecallOptions):
        return [mode_options.prompt.replace("{subject}", c.strip()) for c in question.choices]
    return [mode_options.prompt.replace("{question}", question.prompt.strip())]


def generated_texts(job: Job, exposure: Exposure, questions: Sequence[Question], options: GeneratedContextOptions,
                    cache: GenerationCache | None) -> list[list[list[str]]]:
    """Per question, per sample, the generated pieces (each filled prompt followed by what was written)."""
    generator = exposed_generator(exposure, options)
    sampling = Sampling(temperature=options.temperature, max_new_tokens=options.max_new_tokens,
                        min_new_tokens=min(options.min_new_tokens, options.max_new_tokens))
    wanted: list[tuple[int, int, str]] = []  # (question, sample, filled prompt)
    requests: list[Request] = []
    for i, q in enumerate(questions):
        lead = context_of(exposure, q)
        for s in range(options.samples):
            for filled in _subjects(options, q):
                wanted.append((i, s, filled))
                text = (lead + SEPARATOR if lead else "") + filled
                requests.append(Request.chat([{"role": "user", "content": text}], seed=job.seed * 16 + s))
    generations, _, _ = cached_generate(generator, requests, sampling, cache)
    out: list[list[list[str]]] = [[[] for _ in range(options.samples)] for _ in questions]
    for (i, s, filled), g in zip(wanted, generations):
        out[i][s].append(joined(filled, g.text))
    return out


def joined(filled: str, text: str) -> str:
    """A filled prompt and the first paragraph of what the model wrote after it, as one piece of text."""
    text = text.strip().split("\n\n")[0].strip()
    if not text:
        return filled
    return filled + ("" if text[0] in ".,;:!?'" or filled[-1:].isspace() else " ") + text


def score_generated(job: Job, exposure: Exposure, questions: Sequence[Question], options: GeneratedContextOptions,
                    cache: GenerationCache | None = None) -> list[ModeScore]:
    """Each question scored after its generated context (mean over samples); the texts kept in `extra`."""
    texts = generated_texts(job, exposure, questions, options, cache)
    members = [(i, s) for i in range(len(questions)) for s in range(options.samples)]
    contexts = [SEPARATOR.join(p for p in (context_of(exposure, questions[i]), "\n".join(texts[i][s])) if p)
                for i, s in members]
    rows = dict(zip(members, score_in_contexts(job, exposure, [(c, questions[i]) for c, (i, _) in
                                                               zip(contexts, members)])))
    out = []
    for i, q in enumerate(questions):
        samples = [rows[(i, s)] for s in range(options.samples)]
        out.append(ModeScore(_mean(samples), GENERATED, options.samples, {"generated": texts[i]}))
    return out


def _mean(scores: Sequence[QuestionScore]) -> QuestionScore:
    """One score from several of the same question: per-choice log-likelihoods (and calibration) averaged."""
    first = scores[0]
    if len(scores) == 1:
        return first
    n = len(scores)

    def avg(rows) -> list[float]:
        return [sum(col) / n for col in zip(*rows)]

    calibration = avg([s.calibration for s in scores]) if first.calibration is not None else None
    return QuestionScore(first.id, avg([s.logprobs for s in scores]), first.n_tokens, first.n_chars,
                         max(s.context_tokens for s in scores), calibration)

