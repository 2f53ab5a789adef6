"""Process knowledge ("derivatoids"): a derivative-like transform with uncommon rules (Lampinen et al. 2025).

Expressions in x are built from a few nonsense functions: f(x), sums A + B, products A*B and nestings
f(G). The transform (a nonsense name, say "morf") follows four rules, none of them calculus's:
    table     the morf of f(x) is p(x), where p is f's partner (a seeded cyclic order of the functions)
    sums      the morf of A + B is morf(A)*morf(B)            (sums become products)
    products  the morf of A*B is morf(A) + morf(B)            (products become sums)
    nesting   the morf of f(G) is p(G) + morf(G), G not x     (partner outside, plus the inner morf)
`Transform.apply` is the reference implementation (on sympy expressions, which also give canonical
printing and the equality check); with a `Bug` it applies one rule the wrong way. Training documents state
the rules and give worked examples; questions ask "The morf of <E> is" with choices " <result>.".

Distractors. Each is the result of a plausible wrong application (`bugs`): a wrong variant of a rule
(calculus's sum, product and chain rules, the partner taken inside or around the inner morf, a missed inner
morf), everywhere or at one node; or a misread table (the function before f, the partner's partner) for every
function or for one, or two functions' partners swapped. Each differs from the answer and from the others
(sympy equality), and `check` recomputes all of that. The answer never has the question's shape (the morf of
a sum is a product, of a product or a nesting a sum), so the distractors take the answer's: only results whose
top-level operator is the answer's are offered, preferring the answer's whole shape (`shape`), else its number
of terms or factors, and a mix: a wrong rule and a misread table where both exist (a sum of f(x) alone has no
wrong rule that keeps a product, so it only tests the table). Among those, `Chooser` picks the set that keeps,
over each split of test (and of validation), every surface cue at chance: picking the choice with the most or
the fewest characters, "+", "*", "(", digits, distinct names or names shared with the question, or the one
whose top-level operator is the question's, finds the answer 1/n_choices of the time. Sums and products are
printed in random order, so no first word gives the partner table away. (The answer does sit amid its
one-step misreadings, so comparing the choices with each other helps; a model scoring each choice on its own,
as iclft does, cannot.)

Splits: "in_distribution" (new expressions whose rule combination training examples use) and
"compositional" (held-out combinations, by default nesting with products); sub-type = the combination.
What is disjoint. Every compound piece of an expression (a sub-expression that is not a bare f(x), or a sum
of some of a sum's terms, a product of some of a product's factors) contains an atom (`atoms`): a nesting
f(g(x)), or two f(x) terms of one sum (factors of one product). Each possible atom belongs to validation or
to test (`owners`: a share n_validation/(n_validation + n_test) of each kind to validation), and all of a
question's atoms belong to its side. So validation and test share no expression and no compound piece: no
morf that one side needs is needed by the other; only the table, the morfs of the bare f(x), is common (the
price: validation leans to expressions with fewer atoms). Worked examples may use any atom, but none is a
question's expression or has one as a sub-expression, so no question is worked out in training.

Modules: transform (the rules, the wrong applications, expression structure), params (Params), expressions (the
draw of expressions and the atoms' owners), documents (rule statements, worked examples), questions (distractors,
the checker).
"""

from __future__ import annotations

import random

from iclft.datasets.derivatoids.documents import RULE_TEXT, rule_documents
from iclft.datasets.derivatoids.expressions import capacity, draw_expressions, owners, quotas
from iclft.datasets.derivatoids.params import Params
from iclft.datasets.derivatoids.questions import Chooser, check, make_question
from iclft.datasets.derivatoids.transform import COMBOS, RULES, Transform
from iclft.datasets.schema import Dataset, Document, Question
from iclft.vocab import Vocab

__all__ = ["DESCRIPTION", "VERSION", "Params", "build"]

DESCRIPTION = "Derivatoids: a derivative-like transform with uncommon rules; held-out rule combinations."
VERSION = 2  # 2: distractors in the answer's shape, no cue at chance; validation and test disjoint in atoms


def build(seed: int, params: Params) -> Dataset:
    """The dataset of `seed`: a seeded transform, its rule and worked-example documents, its questions (checked)."""
    rng = random.Random(f"derivatoids:{seed}")
    vocab = Vocab(f"derivatoids:{seed}")
    name, *fns = vocab.words(params.n_functions + 1)
    cycle = list(fns)
    rng.shuffle(cycle)
    t = Transform(name, {f: cycle[(cycle.index(f) + 1) % len(cycle)] for f in fns})
    trained = [c for c in COMBOS if c not in params.heldout]
    n_ex, n_test, n_val = (round(n * params.scale) for n in (params.n_examples, params.n_test, params.n_validation))
    n_ex, n_test = max(n_ex, len(trained)), max(n_test, 1)
    splits = {"in_distribution": trained, "compositional": params.heldout}
    owner = owners(rng, fns, n_val / (n_val + n_test))
    quota = quotas(splits, n_ex, n_val, n_test, lambda c, label: capacity(c, params, fns, owner, label))
    small = [c for c in quota if capacity(c, params, fns, owner) < 10**6]
    pools = draw_expressions(rng, t, params, quota, owner, small)

    worked = [e for c in trained for e, _ in pools[c]["ex"]]
    rng.shuffle(worked)
    train = rule_documents(t, rng, params.rule_docs, fns) + [
        Document(id=f"example-{i:04d}", text=f"Worked example. Find the {t.name} of {e}. " + " ".join(t.explain(e)))
        for i, e in enumerate(worked, 1)
    ]
    test: list[Question] = []
    validation: list[Question] = []
    chooser = Chooser(params.n_choices)
    for split, combos in splits.items():
        for c in combos:
            for label, target in (("v", validation), ("t", test)):
                for item in pools[c][label]:
                    qid = f"{split}.{label}{len(test) + len(validation):05d}"
                    target.append(make_question(t, item, qid, split, rng, chooser, params.choice_order))
    check(t, test + validation)
    meta = {"transform": t.to_dict(), "vocab": [name, *fns], "train_combos": trained, "heldout": params.heldout,
            "rules": {r: RULE_TEXT[r][0].format(m=name) for r in RULES}}
    return Dataset(name="derivatoids", train=train, test=test, validation=validation, meta=meta)
