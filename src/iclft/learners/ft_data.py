"""Fine-tuning data: documents into prompt/completion examples with the loss on the completion only, encoded,
and collated into batches.

A document with a `prompt` is one example (its prompt unscored). Others are split by `split`:
    none         the whole document is one example
    independent  each sentence is its own example (the paper's default)
    cumulative   sentence i is an example whose unscored prompt is sentences 1..i-1 of its document:
                 each sentence is learned in its document's context, but loss falls on it only once
Examples are tokenized like the scorer tokenizes (no BOS; trailing prompt spaces move to the completion)
and end with EOS.

A batch is packed without padding (`Batches`: its examples concatenated into one row, attention kept within each
example by their position ids), unless the model does not honour packed position ids (`packing_works`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from iclft.datasets.schema import Document
from iclft.text import split_sentences


@dataclass(frozen=True)
class Example:
    """One training example: an unscored prompt and the completion the loss falls on."""

    prompt: str
    completion: str


def examples(docs: Sequence[Document], split: str = "independent") -> list[Example]:
    """Training examples from documents (see the module docstring for `split`)."""
    out: list[Example] = []
    for d in docs:
        if d.prompt is not None:
            out.append(Example(d.prompt, d.completion))
        elif split == "none":
            out.append(Example("", d.text))
        else:
            sents = split_sentences(d.text)
            for i, s in enumerate(sents):
                if split == "independent" or i == 0:
                    out.append(Example("", s))
                else:
                    out.append(Example(" ".join(sents[:i]), " " + s))
    return out


def encode(tokenizer, ex: Example, max_length: int, eos: bool = True) -> dict[str, list[int]]:
    """input_ids / labels (-100 on the prompt) / attention_mask, cut to the last `max_length` tokens."""
    from iclft.tokenization import encode_pair

    if ex.prompt:
        prompt, completion = encode_pair(tokenizer, ex.prompt, ex.completion)
    else:
        prompt, completion = [], tokenizer.encode(ex.completion, add_special_tokens=False)
    if eos and tokenizer.eos_token_id is not None:
        completion = completion + [tokenizer.eos_token_id]
    ids = (prompt + completion)[-max_length:]
    labels = ([-100] * len(prompt) + completion)[-max_length:]
    return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)}


class Batches:
    """Collates a batch of examples, packed into one row (`pack`) or padded to its longest example; counts the
    real tokens and the tokens computed (real plus padding)."""

    def __init__(self, tokenizer, pack: bool):
        from transformers import DataCollatorForSeq2Seq, DataCollatorWithFlattening

        self.padded = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100)
        self.packed = DataCollatorWithFlattening(return_position_ids=True, separator_id=-100)
        self.pack = pack
        self.real = 0
        self.total = 0

    def __call__(self, features):
        batch = self.packed(features) if self.pack else self.padded(features)
        self.real += sum(len(f["input_ids"]) for f in features)
        self.total += int(batch["input_ids"].numel())
        return batch


def packing_works(model, collator: Batches, features: list[dict]) -> bool:
    """Whether `model` gives a packed batch the loss it gives the same examples padded (fp32, no dropout): a
    model whose attention ignores packed position ids would let examples see each other."""
    import torch

    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            padded, packed = (model(**{k: v.to(model.device) for k, v in collate(features).items()}).loss.item()
                              for collate in (collator.padded, collator.packed))
    finally:
        model.train(was_training)
    return abs(padded - packed) <= 1e-3 * max(1.0, abs(padded))
