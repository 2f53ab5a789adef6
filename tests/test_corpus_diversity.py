"""The generated corpus's measures (`augment.diversity`) on small hand-computed cases, and the report's table of them
from stored artifacts (`study.corpus_stats`)."""

from __future__ import annotations

import gzip

import pytest

from iclft.augment.audit import NO_WORLD
from iclft.augment.diversity import compression_ratio, copied_share, distinct, measure, ngrams
from iclft.io import write_json
from iclft.study import corpus_stats
from iclft.study.store import Store


def test_ngrams_stay_within_a_text():
    assert ngrams(["a", "b", "c"], 2) == [("a", "b"), ("b", "c")]
    assert ngrams(["a"], 2) == []


def test_distinct_n_counts_unique_over_total_ngrams_of_every_text():
    texts = [["the", "cat", "the", "cat"], ["the", "dog"]]
    assert distinct(texts, 1) == pytest.approx(3 / 6)  # the, cat, dog of 6 words
    # bigrams: (the cat) (cat the) (the cat) | (the dog): 3 unique of 4; none across the two texts
    assert distinct(texts, 2) == pytest.approx(3 / 4)
    assert distinct(texts, 3) == pytest.approx(2 / 2)
    assert distinct([["one"]], 2) is None


def test_compression_ratio_is_raw_over_gzip_bytes_and_higher_when_repetitive():
    raw = "abc\nabc".encode()
    assert compression_ratio(["abc", "abc"]) == len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))
    varied = compression_ratio([f"sentence {i} about topic {i * 7919 % 104729}" for i in range(50)])
    repeated = compression_ratio(["the same sentence about one topic"] * 50)
    assert repeated > varied > 1
    assert compression_ratio([]) is None


def test_copied_share_counts_eight_grams_found_in_their_own_source():
    source = "one two three four five six seven eight nine ten".split()
    copied = source[:9]                                   # 2 eight-grams, both in the source
    mixed = source[:8] + ["new"]                          # 2 eight-grams, the first in the source
    assert copied_share([(copied, source)]) == 1.0
    assert copied_share([(mixed, source)]) == 0.5
    assert copied_share([(copied, source), (mixed, source)]) == pytest.approx(3 / 4)
    assert copied_share([(copied, ["unrelated"])]) == 0.0  # only its own source counts
    assert copied_share([(["too", "short"], source)]) is None


def test_measure_pools_the_rows_and_copies_against_each_rows_source():
    src = {"d1": "Alpha beta gamma delta epsilon zeta eta theta iota.", "d2": "Something else entirely here."}
    rows = [{"id": "d1/spa/0", "text": "Alpha beta gamma delta epsilon zeta eta theta.", "source": "d1"},
            {"id": "d2/spa/0", "text": "Alpha beta gamma delta epsilon zeta eta theta.", "source": "d2"}]
    m = measure(rows, src)
    assert m["rows"] == 2 and m["words"] == 16
    assert m["distinct_1"] == pytest.approx(8 / 16) and m["distinct_3"] == pytest.approx(6 / 12)
    assert m["copied"] == pytest.approx(1 / 2)  # the first row copies its source; the second is not from d1's text
    assert measure(rows)["copied"] is None


def test_the_report_table_reads_stored_measures_or_measures_the_augmented_rows(tmp_path):
    store = Store(tmp_path)
    rows = [{"id": "p/spa/0", "text": "A written sentence about the passage and its many facts.", "source": "p"}]
    for key, artifacts in {"new": {"corpus": measure(rows, {"p": "A written sentence about the passage and its many facts."}),
                                   "audit": {"note": NO_WORLD, "verdicts": {}}},
                           "old": {"augmented": rows,
                                   "audit": {"verdicts": {"true": 3, "false": 1, "unverifiable": 2}}},
                           "plain": {}}.items():
        for name, value in artifacts.items():
            write_json(store.cell_dir(key) / f"{name}.json", value)
    cells = [{"key": k, "dataset": "d", "model": "m", "condition": c, "seed": 0}
             for k, c in (("new", "ft_aug_spa"), ("old", "ft_spa_placebo"), ("plain", "ft"))]
    study = {"cells": cells, "config": {}}
    got = corpus_stats.lines(store, study, ["new", "old", "plain"], "d", "m")
    table = [line for line in got if line.startswith("| ft")]
    assert len(table) == 2  # plain ft wrote nothing
    assert table[0].startswith("| ft_aug_spa | 0 | 1 | 10 |") and "| 100% | – |" in table[0]
    assert table[1].endswith("| – | 3 / 1 / 2 |")  # stored before `corpus`: no copied share
    assert corpus_stats.lines(store, study, ["plain"], "d", "m") == []
