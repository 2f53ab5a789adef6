"""The test-time modes a study can name (`test_time:`), their options and the parser of a config's value; scored by
`iclft.scoring.test_time`. Light: no torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from iclft.errors import UserError
from iclft.generation.spec import GeneratorSpec

if TYPE_CHECKING:
    from iclft.scoring.likelihood import QuestionScore

DIRECT = "direct"
# training documents a question is verified in, at most: 1, because more lost nothing on validation questions of
# seed-1 worlds (configs/tuning/channel-statements.yaml: celebrities, semantic, two imported releases) at 1/k the cost
MAX_STATEMENTS = 1
TRAINED, GENERIC = "trained", "generic"  # channel's forms: the training documents' wording, or the choice then the question


class DirectOptions(BaseModel):
    """`direct`: P(choice | question), as every condition is scored."""

    model_config = ConfigDict(extra="forbid")


class ChannelOptions(BaseModel):
    """`channel`: each choice verified in the trained form (the training documents' wording)."""

    model_config = ConfigDict(extra="forbid")
    max_statements: int = Field(MAX_STATEMENTS, ge=1, description="training documents a question is verified in")
    # left out of the options' dump (so of every cell key) while true: keys made before it existed hold
    generic: bool = Field(True, exclude_if=lambda v: v is True,
                          description="where no training document verifies a question, the generic form (the "
                                      "choice, then the question); false: a dataset with such a question is refused")


class BothOptions(ChannelOptions):
    """`both`: direct and channel together, with no knowledge of which direction was trained. `switch`: channel
    where the training documents verify the question in their own wording (form trained), else direct; `sum`:
    their log-probabilities over the choices summed, channel's times `weight`. Chosen on validation questions of a
    world built with another seed (docs/test-time.md)."""

    rule: Literal["switch", "sum"] = "switch"
    weight: float = Field(1.0, ge=0.0, description="sum: channel's weight against direct's")


class GeneratedContextOptions(BaseModel):
    """What `recall` and `think` share: a prompt the exposed model (or `generator`) continues, seeded sampling."""

    model_config = ConfigDict(extra="forbid")
    prompt: str
    max_new_tokens: int = Field(48, ge=1, le=1024)
    # left out of the options' dump (so of every cell key) while 0: keys made before it existed hold
    min_new_tokens: int = Field(0, ge=0, le=1024, exclude_if=lambda v: v == 0,
                                description="tokens written before an end of text is allowed (a fine-tuned model "
                                            "often stops at once)")
    temperature: float = Field(0.0, ge=0.0, le=5.0, description="0: greedy")
    samples: int = Field(1, ge=1, le=16, description="generations per question; choices scored after each, averaged")


class RecallOptions(GeneratedContextOptions):
    """`recall`: the exposed model writes what it remembers about each choice; that becomes the context."""

    prompt: str = Field("{subject}", description="continued by the exposed model; {subject}: a choice")


class ThinkOptions(GeneratedContextOptions):
    """`think`: a short reasoning trace for the question, written before the choices are scored."""

    prompt: str = Field("Question: {question}\nLet me think step by step.", description="{question}: its prompt")
    max_new_tokens: int = Field(64, ge=1, le=1024)
    generator: GeneratorSpec | None = Field(None, description="who thinks (default: the exposed model itself)")


MODES: dict[str, type[BaseModel]] = {"direct": DirectOptions, "channel": ChannelOptions, "both": BothOptions,
                                     "recall": RecallOptions, "think": ThinkOptions}
DESCRIPTIONS = {
    "direct": "P(choice | question): the scoring every condition has",
    "channel": "each choice verified in the trained form: the training documents' wording with the choice in its "
               "slot, scoring what they state (generic where none fits: the choice, then the question)",
    "both": "direct and channel combined with no knowledge of the trained direction: channel where the training "
            "documents verify the question in their wording, else direct (rule: switch), or their log-probabilities "
            "summed (rule: sum)",
    "recall": "the exposed model writes what it remembers about each choice; the question is then scored after "
              "those recollections, as in ICL (kept and audited)",
    "think": "the exposed model (or a named generator) writes a reasoning trace; the choices are scored after it "
             "(kept)",
}
PLACEHOLDERS = {"recall": "{subject}", "think": "{question}"}


@dataclass
class ModeScore:
    """A question scored in a test-time mode: per-choice scores as the scorer gives them, plus how it was formed."""

    score: QuestionScore
    form: str = TRAINED  # channel: trained | generic; both: as its channel part; recall, think: generated
    statements: int = 0  # channel: training statements it was verified in; recall, think: generations read
    extra: dict = field(default_factory=dict)


def parse_modes(value: Any, where: str) -> dict[str, BaseModel]:
    """A config's `test_time:` (a mode name, a list of names, or name -> options) as validated options by mode."""
    if value is None:
        return {DIRECT: DirectOptions()}
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise UserError(f"{where}: expected mode names ({', '.join(MODES)}) or a mapping of mode -> options")
        value = {v: {} for v in value}
    if not isinstance(value, dict) or not value:
        raise UserError(f"{where}: expected mode names ({', '.join(MODES)}) or a mapping of mode -> options")
    out: dict[str, BaseModel] = {}
    for mode, options in value.items():
        if mode not in MODES:
            raise UserError(f"{where}: unknown test-time mode {mode!r}; known: {', '.join(MODES)}")
        if options is not None and not isinstance(options, dict):
            raise UserError(f"{where}.{mode}: expected a mapping of options, got {type(options).__name__}")
        try:
            out[mode] = MODES[mode].model_validate(options or {})
        except ValidationError as e:
            err = e.errors()[0]
            key = ".".join(str(x) for x in err["loc"])
            raise UserError(f"{where}.{mode}{'.' + key if key else ''}: {err['msg']}") from None
        if mode in PLACEHOLDERS and PLACEHOLDERS[mode] not in out[mode].prompt:
            raise UserError(f"{where}.{mode}.prompt: must contain {PLACEHOLDERS[mode]}")
    return out
