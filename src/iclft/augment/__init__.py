"""Augmented fine-tuning data: the model's own in-context restatements (local) and inferences (global).

Entry point for code (the study runner, notebooks), no CLI involved:

    from iclft.augment import AugmentOptions, GenerationCache, LocalGenerator, augment
    gen = LocalGenerator("smollm2-135m-instruct")             # or OpenAIGenerator(base_url, model)
    result = augment(train_docs, gen, AugmentOptions(mode="global", seed=0), cache=GenerationCache())
    train_docs + result.documents                              # Documents "<src id>/global/<n>", facts inherited
    result.summary, result.drops                               # kept/dropped counts by reason; each drop

`plan(...)` then `run(...)` split the same work in two, so a caller can show `plan.describe()` (prompts,
cache hits, token cost) before generating. Generations are cached on disk (cache_dir()/generations/) one
file per generation as they arrive, so a rerun costs nothing and a killed run resumes where it stopped.

Modules: prompts (editable template files in templates/), postprocess (sentence parsing, filters), filters (the
rules and the self-verifier), options (AugmentOptions), planning (plan, GenerationPlan), pipeline (run, augment),
audit (generated sentences judged by a dataset's world).
The generators and their cache live in `iclft.generation`, a user's files are read by `iclft.datasets.corpus`; both
are re-exported here for convenience.
"""

from iclft.augment.options import AugmentOptions
from iclft.augment.pipeline import AugmentResult, augment, run
from iclft.augment.planning import GenerationPlan, plan
from iclft.datasets.corpus import load_documents
from iclft.generation.cache import GenerationCache
from iclft.generation.generator import Generation, Generator, Request, Sampling

__all__ = [
    "AugmentOptions", "AugmentResult", "Generation", "GenerationCache", "Generator", "LocalGenerator",
    "OpenAIGenerator", "GenerationPlan", "Request", "Sampling", "augment", "load_documents", "plan", "run",
]


def __getattr__(name: str):  # the generators import torch / httpx: load them only when asked for
    if name == "LocalGenerator":
        from iclft.generation.local import LocalGenerator

        return LocalGenerator
    if name == "OpenAIGenerator":
        from iclft.generation.openai_compat import OpenAIGenerator

        return OpenAIGenerator
    raise AttributeError(name)
