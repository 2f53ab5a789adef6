"""The derivatoids dataset's parameters (`Params`): sizes, held-out rule combinations, expression limits, choices."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iclft.datasets.derivatoids.transform import COMBOS, RULES


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = Field(1.0, gt=0, le=1, description="multiplies the numbers of examples and questions")
    n_functions: int = Field(5, ge=3, le=8, description="named nonsense functions")
    n_examples: int = Field(400, ge=1, description="worked-example training documents")
    rule_docs: int = Field(3, ge=1, le=3, description="training documents stating each rule (different wordings)")
    n_test: int = Field(200, ge=1, description="test questions per split")
    n_validation: int = Field(50, ge=0, description="validation questions per split")
    heldout: list[str] = Field(["nest+product", "nest+product+sum"],
                               description="rule combinations kept out of training")
    max_depth: int = Field(3, ge=2, le=5, description="deepest expression tree")
    max_functions: int = Field(4, ge=2, description="most function applications in an expression")
    n_choices: int = Field(4, ge=2, le=6, description="choices per question")
    choice_order: Literal["shuffled", "canonical"] = Field(
        "shuffled", description="terms and factors of the choices in random order, or in the canonical (sympy) order "
                                "the training documents print results in")

    @model_validator(mode="after")
    def _combos(self) -> Params:
        bad = [c for c in self.heldout if c not in COMBOS]
        if bad:
            raise ValueError(f"unknown combination {bad[0]!r}; choose from {', '.join(COMBOS)}")
        taught = {r for c in COMBOS if c not in self.heldout for r in c.split("+")}
        if not self.heldout or taught != set(RULES):
            raise ValueError("hold out at least one combination, and leave every rule in some trained combination")
        return self
