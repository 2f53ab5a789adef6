"""Text generation for anyone who needs it (augmentation, probes, the server, test-time modes).

    generator      the interface: Request, Sampling, Generation, Generator, generate, derive_seed
    spec           GeneratorSpec: a generator described as data (CLI options, a study config), built on demand
    local          a registry model or Hugging Face folder as a seeded, batched generator
    openai_compat  an OpenAI-compatible endpoint (vLLM, `iclft serve`) as a generator
    prefix         the local generator's shared-prefix KV cache and token-budget batches
    cache          generations on disk, so a rerun costs nothing and a killed run resumes

Nothing here is imported by the package itself: `iclft.generation.generator` stays light (no torch).
"""
