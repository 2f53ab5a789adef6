"""Budget filling shared by ICL context selection and global augmentation."""

from iclft.augment.options import AugmentOptions
from iclft.augment.planning import select_context
from iclft.context import fill_budget
from iclft.datasets.schema import Document


def test_fill_budget_charges_separators_between_documents_and_skips_what_does_not_fit():
    sizes = [5, 50, 3, 2]
    assert fill_budget([0, 1, 2, 3], sizes, sep=1, capacity=12) == [0, 2, 3]  # 5 + (1+3) + (1+2) = 12
    assert fill_budget([0, 1, 2, 3], sizes, sep=1, capacity=11) == [0, 2]
    assert fill_budget([3, 2, 0], sizes, sep=0, capacity=5) == [3, 2]
    assert fill_budget([1], sizes, sep=0, capacity=10) == []


def test_global_budget_charges_each_document_two_extra_tokens():
    docs = [Document(id=f"d{i}", text=f"doc {i}") for i in range(4)]
    opts = AugmentOptions(mode="global", context="budget", budget=12, seed=0)
    chosen = select_context(docs, 0, opts, costs=[4, 4, 4, 4])
    assert len(chosen) == 2 and "doc 0" not in chosen  # (4+2) x 2 = 12 fits, a third would not
    assert len(select_context(docs, 0, opts.model_copy(update={"budget": 11}), costs=[4, 4, 4, 4])) == 1
