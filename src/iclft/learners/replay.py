"""Replay against forgetting: generic text mixed into any fine-tuning cell's training set (`FTOptions.replay`).

    ft_replay: {condition: ft, replay: {share: 0.2}}                 # flat for `ft`
    ft_aug_cloze_replay: {condition: ft_aug_cloze, ft: {replay: {share: 0.2, corpus: path/to/generic.jsonl}}}

`share` is by tokens, of the mixed training set: replay documents are drawn until their tokens are about
share / (1 - share) times the training set's own, so that they make up `share` of all the tokens trained on (0.2:
one token in five is replay). Tokens are the cell tokenizer's tokens of each document's text (no special tokens),
counted over every document the recipe trains on (the training documents plus what an augmentation or cloze added).
Tokens rather than documents because a budget is in tokens and documents differ in length tenfold. The documents are
drawn whole, in a seeded order (`seed` plus the cell's seed), each taken when it brings the total closer to the target
(so the share is met to within half a document); a corpus too small to reach the target is an error, not a
smaller share. Replay documents are split into examples as the training documents are (`split`).

`corpus` is any corpus `datasets.corpus.load_documents` reads (a folder of .txt/.md, a JSONL, a dataset folder) or a
shipped one. The default, `iclft:squad-placebo`, is the shipped public text outside the study: 54 Wikipedia passages
(SQuAD, CC BY-SA 4.0) none of which is a passage of the shipped example, in the register of the documents a
knowledge study trains on, with none of their facts. For your own documents, generic text of the kind the model was
pretrained on (a folder of it) is the better replay. Documents of the corpus that are one of the dataset's own
(trained, or held aside for the forgetting check) are never drawn: replaying a held-aside passage would teach the
forgetting split's answers. The cell's info records what was mixed in (`replay`: documents, tokens, the share met).

Unset (the default) it is left out of the options' dump, so every cache and cell key made before it existed holds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from iclft import tokens
from iclft.datasets.corpus import load_documents
from iclft.datasets.schema import Document
from iclft.errors import UserError

DEFAULT_CORPUS = "iclft:squad-placebo"


class Replay(BaseModel):
    """How much generic text to mix into a fine-tuning run, and from where (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")
    share: float = Field(gt=0, lt=1, description="replay tokens as a share of all tokens trained on (0 < share < 1)")
    corpus: str = Field(DEFAULT_CORPUS, description="generic documents to replay: a folder, a JSONL or iclft:NAME "
                                                    "(default: iclft:squad-placebo, Wikipedia text outside the study)")
    seed: int = Field(0, description="added to the cell's seed: which documents are drawn")

    @field_validator("corpus")
    @classmethod
    def _readable(cls, v: str) -> str:
        try:
            load_documents(v)
        except UserError as e:
            raise UserError(f"replay corpus: {e}") from None
        return v


def draw(model: str, trained: Sequence[Document], own: set[str], replay: Replay, seed: int
         ) -> tuple[list[Document], dict[str, Any]]:
    """(replay documents, what was mixed in) for a training set `trained`; `own`: texts never drawn (the dataset's)."""
    corpus = load_documents(replay.corpus)
    pool = [d for d in corpus if d.text.strip() not in own]
    tok = tokens.tokenizer(model)
    trained_tokens = sum(tokens.count(tok, [d.text for d in trained]))
    target = replay.share / (1 - replay.share) * trained_tokens
    order = random.Random(f"replay:{seed}").sample(pool, len(pool))
    sizes = tokens.count(tok, [d.text for d in order])
    if sum(sizes) < target:
        raise UserError(f"replay corpus {replay.corpus}: {sum(sizes):,} tokens outside the study; a share of "
                        f"{replay.share:g} of this training set ({trained_tokens:,} tokens) needs {target:,.0f}: give "
                        "a larger corpus or a smaller share")
    chosen, total = [], 0
    for d, n in zip(order, sizes):
        if 2 * total + n <= 2 * target:  # closer to the target with it than without
            chosen.append(Document(id=f"replay/{d.id}", text=d.text))
            total += n
    facts = {"corpus": replay.corpus, "documents": len(chosen), "tokens": total, "training_tokens": trained_tokens,
             "share": round(total / (total + trained_tokens), 4), "not_drawn": len(corpus) - len(pool)}
    return chosen, facts


def mix_in(training: Any) -> None:
    """A `finetune.Training`'s replay (its `__post_init__`): the drawn documents joined to its documents and recorded
    in its info; nothing when its options set none."""
    replay = training.opts.replay
    if replay is None:
        return
    ds = training.job.dataset
    own = {d.text.strip() for d in ds.train} | {t.strip() for t in ds.meta.get("heldaside_documents", {}).values()}
    added, facts = draw(training.job.model, training.docs, own | {d.text.strip() for d in training.docs}, replay,
                        replay.seed + training.job.seed)
    training.docs = [*training.docs, *added]
    training.info = {**training.info, "replay": facts}
