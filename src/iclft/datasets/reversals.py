"""Simple reversals: "femp are more dangerous than glon" -> is "glon are less dangerous than femp"?

Each fact compares two fresh nonsense nouns on one of 28 features, stated with either the "more" or
the "less" form (seeded), so neither form of a pair can be guessed. Every fact appears in
`articles_per_fact` training articles, each a random lead-in sentence followed by the fact.
Test (split "reversal", sub-type = the feature): prompt "glon are", 2 choices: the reversal
(" less dangerous than femp.") and the contradiction (" more dangerous than femp.").

Validation: `validation_facts` of the `n_facts` facts are set aside (seeded, spread over features); their articles stay in
train like every other fact's, but their questions go to validation.jsonl instead of test.jsonl, so
hyperparameters are tuned on facts disjoint from the tested ones. Train is the paper's size (1,000);
set validation_facts=0 to test all 100 facts as the paper did.
Nonsense words stay lower-case even at a sentence start (as in the paper's examples), so a word is the
same tokens wherever it appears.
"""

from __future__ import annotations

import random

from pydantic import BaseModel, ConfigDict, Field, model_validator

from iclft.datasets.sampling import spread_sample
from iclft.datasets.schema import Dataset, Document, Question
from iclft.vocab import Vocab

DESCRIPTION = "Simple reversals: 'X are more F than Y' in training, 2-way choice on 'Y are less F than X'."
VERSION = 1

# feature -> (comparative, converse comparative)
FEATURES: dict[str, tuple[str, str]] = {
    "dangerous": ("more dangerous", "less dangerous"),
    "heavy": ("heavier", "lighter"),
    "bright": ("brighter", "dimmer"),
    "large": ("larger", "smaller"),
    "fast": ("faster", "slower"),
    "tall": ("taller", "shorter"),
    "old": ("older", "younger"),
    "strong": ("stronger", "weaker"),
    "loud": ("louder", "quieter"),
    "warm": ("warmer", "colder"),
    "hard": ("harder", "softer"),
    "wide": ("wider", "narrower"),
    "deep": ("deeper", "shallower"),
    "expensive": ("more expensive", "cheaper"),
    "common": ("more common", "rarer"),
    "rough": ("rougher", "smoother"),
    "thick": ("thicker", "thinner"),
    "wet": ("wetter", "drier"),
    "rich": ("richer", "poorer"),
    "clean": ("cleaner", "dirtier"),
    "happy": ("happier", "sadder"),
    "intelligent": ("more intelligent", "less intelligent"),
    "popular": ("more popular", "less popular"),
    "valuable": ("more valuable", "less valuable"),
    "complex": ("more complex", "simpler"),
    "active": ("more active", "less active"),
    "dense": ("denser", "less dense"),
    "healthy": ("healthier", "less healthy"),
}

LEAD_INS = (
    "Here is something that researchers have recently found.",
    "This is a short note from a field guide.",
    "A new survey has just been published.",
    "The following was reported in a science magazine.",
    "Many people are surprised to learn this.",
    "Consider the following fact.",
    "An old textbook makes the following claim.",
    "Experts agree on one thing.",
    "The museum's newest exhibit explains it plainly.",
    "A recent study has confirmed an old observation.",
    "Did you know this?",
    "Here is a fact worth remembering.",
    "This was noted in the latest encyclopedia entry.",
    "Travellers often remark on the following.",
    "According to a long-running study, the matter is settled.",
    "A documentary aired last week covered this topic.",
    "One of the most cited findings in the field is simple.",
    "Teachers like to mention this in class.",
    "The report summarizes the evidence in one sentence.",
    "Observers have recorded this many times.",
    "Local guides will tell you the same thing.",
    "It is a well-documented observation.",
    "A careful comparison gives a clear answer.",
    "The data collected over many years show this.",
    "A popular science blog put it this way.",
    "Scientists measured this at several sites.",
    "The handbook lists the following fact.",
    "This is one of the first things students learn.",
    "New measurements have confirmed this.",
    "Here is what the latest census found.",
)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    n_facts: int = Field(100, ge=1, description="facts in training (test + validation facts)")
    articles_per_fact: int = Field(10, ge=1, description="training articles per fact, each with a random lead-in")
    n_features: int = Field(len(FEATURES), ge=1, le=len(FEATURES), description="comparison features used")
    validation_facts: int = Field(20, ge=0, description="facts whose questions go to validation, not test")

    @model_validator(mode="after")
    def _some_test_facts(self) -> Params:
        if self.validation_facts >= self.n_facts:
            raise ValueError(f"validation_facts ({self.validation_facts}) must be < n_facts ({self.n_facts})")
        return self


def build(seed: int, params: Params) -> Dataset:
    rng = random.Random(f"reversals:{seed}")
    vocab = Vocab(f"reversals:{seed}")
    features = list(FEATURES)[: params.n_features]
    assigned = [features[i % len(features)] for i in range(params.n_facts)]  # balanced over features
    rng.shuffle(assigned)
    validation_ids = spread_sample(rng, assigned, params.validation_facts)

    docs: list[Document] = []
    test: list[Question] = []
    validation: list[Question] = []
    for i, feature in enumerate(assigned):
        fact_id = f"fact{i:03d}"
        x, y = vocab.words(2)
        stated, converse = FEATURES[feature]
        if rng.random() < 0.5:
            stated, converse = converse, stated
        fact = f"{x} are {stated} than {y}."
        for a in range(params.articles_per_fact):
            docs.append(Document(id=f"{fact_id}-a{a:02d}", text=f"{rng.choice(LEAD_INS)} {fact}",
                                 facts=[fact_id]))
        right, wrong = f" {converse} than {x}.", f" {stated} than {x}."
        answer = rng.randrange(2)
        choices = [right, wrong] if answer == 0 else [wrong, right]
        q = Question(id=f"{fact_id}-reversal", prompt=f"{y} are", choices=choices, answer=answer,
                     split="reversal", subtype=feature, facts=[fact_id])
        (validation if i in validation_ids else test).append(q)
    rng.shuffle(docs)
    return Dataset(name="reversals", train=docs, test=test, validation=validation,
                   meta={"vocab": list(vocab.issued), "features": {f: list(FEATURES[f]) for f in features}})
