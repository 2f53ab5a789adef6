"""How a context and a question become the text the scorer reads: the `plain` and `chat` formats.

plain: `documents + "\\n\\n" + prompt`, the choices continue the prompt.
chat:  the model's chat template wraps `documents + "\\n\\n" + instruction + "\\n\\n" + prompt` as the
       user turn; the assistant's reply starts by restating the prompt, and each choice is scored as
       its continuation, so the choice is the first new content of the reply and still reads
       naturally ("glon are" + " less dangerous than femp"). Everything up to the end of the
       documents is shared by all questions, so its KV cache is computed once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from iclft.datasets.schema import Question
from iclft.errors import UserError

Format = Literal["auto", "plain", "chat"]
SEPARATOR = "\n\n"
DEFAULT_INSTRUCTION = "Complete the following statement."
_MARK = "\x00ICLFT\x00"


def resolve_format(lm, fmt: str) -> str:
    """'auto' is chat for models with a chat template, plain otherwise."""
    if fmt == "auto":
        return "chat" if lm.has_chat_template else "plain"
    if fmt == "chat" and not lm.has_chat_template:
        raise UserError(f"model {lm.name!r} has no chat template; use format: plain")
    return fmt


def frame(
    lm, fmt: str, documents: str, questions: Sequence[Question], instruction: str = DEFAULT_INSTRUCTION
) -> tuple[str, list[Question]]:
    """(shared context, questions with their prompts wrapped) for `score_questions`."""
    fmt = resolve_format(lm, fmt)
    head = documents + SEPARATOR if documents else ""
    if fmt == "plain":
        return head, list(questions)
    rendered = lm.chat_prompt(head + _MARK)
    if rendered.count(_MARK) != 1:
        raise UserError(f"model {lm.name!r}: its chat template does not keep the user text verbatim")
    context, tail = rendered.split(_MARK)
    framed = []
    for q in questions:
        ask = SEPARATOR.join(part for part in (instruction, q.prompt.strip()) if part)
        framed.append(q.model_copy(update={"prompt": f"{ask}{tail}{q.prompt.lstrip()}"}))
    return context, framed
