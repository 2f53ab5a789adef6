"""Scoring: every condition's questions are scored the same way, by multiple-choice log-likelihood.

    likelihood   the scorer: each choice's log-likelihood as a continuation of context + prompt, a shared context's
                 KV cache reused, tree-masked packed rows (imports torch)
    framing      how a context and a question become the text the scorer reads (plain | chat)
    exposure     a condition's `Exposure` (model, context per question, format) scored in groups of shared context

Nothing here is imported by this package itself, so importing `iclft.framing` stays light.
"""
