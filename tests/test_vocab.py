"""The nonsense-word generator: pronounceable shapes, never English, never repeated, seeded."""

from __future__ import annotations

import re

from wordfreq import zipf_frequency

from iclft.vocab import Vocab, is_real_word, related_forms, token_costs


def test_words_are_distinct_short_lowercase_and_not_english():
    words = Vocab(0).words(400)
    assert len(set(words)) == 400
    for w in words:
        assert re.fullmatch(r"[a-z]{4,5}", w), w
        assert re.search(r"[aeiou]", w), w  # has a vowel: pronounceable
        for form in (w, w + "s"):
            assert zipf_frequency(form, "en") == 0, form


def test_real_words_and_their_inflections_are_rejected():
    assert is_real_word("table")
    assert is_real_word("dog")  # via its plural, too
    assert "dogs" in related_forms("dog") and "dog" in related_forms("dogs")
    assert is_real_word("cats")  # via its singular
    assert not is_real_word("zorab")


def test_seeded_and_excludes():
    assert Vocab(3).words(50) == Vocab(3).words(50)
    assert Vocab(3).words(50) != Vocab(4).words(50)
    assert Vocab("reversals:0").words(20) != Vocab("syllogisms:0").words(20)
    first = Vocab(5).words(30)
    again = Vocab(5, exclude=first[:10]).words(30)
    assert not set(again) & set(first[:10])


def test_vocab_records_issued_words():
    v = Vocab(1)
    words = v.words(5) + [v.word()]
    assert v.issued == words


def test_token_costs_reports_the_distribution(lm):
    tok = lm.tokenizer
    words = Vocab(0).words(60)
    tc = token_costs(words, tok)
    counts = [len(tok.encode(" " + w, add_special_tokens=False)) for w in words]
    assert tc["n_words"] == 60 and sum(tc["histogram"].values()) == 60
    assert tc["min"] == min(counts) and tc["max"] == max(counts)
    assert abs(tc["mean"] - sum(counts) / 60) < 1e-3
    assert token_costs(["the"], tok)["histogram"] == {"1": 1}  # " the" is one token
    bare = token_costs(words, tok, leading_space=False)
    assert bare["leading_space"] is False and bare["n_words"] == 60
