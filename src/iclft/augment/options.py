"""Augmentation options (`AugmentOptions`): everything that decides an augmentation besides the documents and the
generator, validated; the filter steps they set, as reported."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from iclft.augment.postprocess import RARE_ZIPF
from iclft.augment.prompts import PROSE_MODES, SPA_KINDS, template_path
from iclft.errors import UserError
from iclft.generation.generator import Sampling

SELF_VERIFY = 0.0  # nats per token over the `words` baseline; docs/augmentation.md "Validation" for the measurement
# the prose families' settings of the sentence filters, which do not apply to them (postprocess: judge_prose)
PROSE_SETTINGS = {"faithful": False, "consistent": False, "unit": "generation", "verified": False}


class AugmentOptions(BaseModel):
    """Everything that decides an augmentation besides the documents and the generator."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    mode: Literal["local", "global", "spa", "entigraph"] = "local"
    k: int = Field(4, ge=1, le=100, description="local: restatements asked for per item and generation")
    samples: int = Field(1, ge=1, description="generations per item (local) or per document (global)")
    granularity: Literal["sentence", "document"] = Field(
        "sentence", description="local: the item restated: each sentence | each whole document")
    context: Literal["all", "subsample", "budget"] = Field("all", description="global: which other documents")
    fraction: float = Field(0.25, gt=0.0, le=1.0, description="global, context=subsample: share of documents")
    budget: int = Field(2048, ge=1, description="global, context=budget: tokens of context at most")
    temperature: float = Field(0.7, ge=0.0, le=5.0, description="sampling temperature (0: greedy)")
    top_p: float = Field(0.95, gt=0.0, le=1.0, description="nucleus sampling: the smallest set of tokens of this mass")
    max_new_tokens: int = Field(128, ge=1, description="tokens generated per prompt at most")
    tokens_per_document: int | None = Field(
        None, ge=1, description="generated tokens per document at most, for every family alike: sets how many "
                                "prompts and max_new_tokens (at most the option's) each document gets (None: off)")
    kinds: tuple[str, ...] = Field(SPA_KINDS, min_length=1, description="spa: the study-prompt kinds, cycled")
    prompts: int | None = Field(None, ge=1, description="spa: study prompts per document (default: one per kind)")
    pairs: int = Field(6, ge=1, description="entigraph: entity pairs written about per document")
    entities: int = Field(12, ge=2, description="entigraph: entities kept from a document's list, at most")
    entity_tokens: int = Field(64, ge=1, description="entigraph: max_new_tokens of the entity list")
    seed: int = Field(0, description="sampling seed (generation s of an item: derive_seed(seed, s))")
    unit: Literal["sentence", "generation"] = Field(
        "sentence", description="one output document per kept sentence | per generation")
    template: str | None = Field(None, description="template file, or a packaged template's bare name such as "
                                 "local-name (default: the packaged one for each item)")
    rare_zipf: float = Field(RARE_ZIPF, description="entity words: wordfreq zipf below this")
    skip_entityless: bool = Field(True, description="local: do not restate items that name no entity (lead-ins, "
                                                    "filler): the grounded filter would drop their outputs")
    greedy: bool = Field(True, description="generation 0 of each item is greedy decoding (the others sampled)")
    # filters (steps of augmentation; docs/augmentation.md): none uses the answers except `verified`, a control
    grounded: int = Field(1, ge=0, description="filter: names at least this many distinct entities of its source "
                                               "(capped at the source's; 0: off)")
    faithful: bool = Field(True, description="filter: no content word absent from its source (adds no facts)")
    consistent: bool = Field(True, description="filter: not its source with one side of a reversal changed (the "
                                               "converse: names swapped, or a comparative turned into its opposite)")
    self_verify: float | None = Field(SELF_VERIFY, description="filter: the source in context raises the sentence's "
                                      "log-likelihood by at least this many nats per token (None: off)")
    verify_baseline: Literal["words", "empty"] = Field("words", description="self-verification reads the sentence "
                                                       "without its source after: the source's words | nothing")
    dedupe: bool = Field(True, description="filter: drop copies of the source and repeated sentences")
    verified: bool = Field(False, description="CONTROL (uses the answers): keep only sentences the dataset's world "
                                              "judges true")

    @field_validator("template")
    @classmethod
    def _known_template(cls, template: str | None) -> str | None:
        if template is not None:
            try:
                template_path(template)
            except UserError as e:
                raise ValueError(str(e)) from None
        return template

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [k for k in kinds if k not in SPA_KINDS]
        if unknown:
            raise ValueError(f"unknown spa kind {unknown[0]!r}; known: {', '.join(SPA_KINDS)}")
        return kinds

    @model_validator(mode="before")
    @classmethod
    def _prose_settings(cls, data: Any) -> Any:
        """spa and entigraph: the sentence filters off and one output per generation (PROSE_SETTINGS); asking for
        them otherwise is an error."""
        if isinstance(data, dict) and data.get("mode") in PROSE_MODES:
            for key, value in PROSE_SETTINGS.items():
                if data.get(key, value) != value:
                    raise ValueError(f"{key}={data[key]!r} does not apply to {data['mode']} augmentation (free prose, "
                                     f"judged a whole generation at a time); leave it out")
            data = {**data, **PROSE_SETTINGS}
        return data

    def uses_answers(self) -> bool:
        """Whether these options read the dataset's world (the `verified` control filter)."""
        return self.verified

    @property
    def sampling(self) -> Sampling:
        return Sampling(temperature=self.temperature, top_p=self.top_p, max_new_tokens=self.max_new_tokens)

    def sampling_of(self, sample: int) -> Sampling:
        """Generation `sample`'s settings: greedy for sample 0 when `greedy`, else `sampling`."""
        if self.greedy and sample == 0:
            return self.sampling.model_copy(update={"temperature": 0.0})
        return self.sampling


def steps(options: AugmentOptions) -> dict[str, Any]:
    """The filter steps and their settings, as reported beside their drop counts (the control labelled)."""
    return {"grounded": options.grounded, "faithful": options.faithful, "consistent": options.consistent,
            "dedupe": options.dedupe, "self_verify": options.self_verify, "verify_baseline": options.verify_baseline,
            "verified (CONTROL: uses the answers)": options.verified}
