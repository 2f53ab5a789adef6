"""Sentence splitting, which FT sentence splitting and augmentation post-processing rely on."""

from iclft.text import split_sentences


def test_splits_lower_case_sentence_starts():
    text = "boox are a type of onsed. boox have itfuf.  femp are heavier than glon!"
    assert split_sentences(text) == ["boox are a type of onsed.", "boox have itfuf.", "femp are heavier than glon!"]


def test_keeps_quotes_abbreviations_numbers_and_paragraphs():
    text = 'Glon are "small." Dr. Femp ran 3.5 km, e.g. daily. Why?\n\nNew paragraph\nwith a line break'
    assert split_sentences(text) == [
        'Glon are "small."', "Dr. Femp ran 3.5 km, e.g. daily.", "Why?", "New paragraph with a line break",
    ]


def test_words_ending_like_abbreviations_still_end_sentences():
    text = "All freft are prast. No floal are items. Some glon are vs. Ok."
    assert split_sentences(text) == ["All freft are prast.", "No floal are items.", "Some glon are vs. Ok."]


def test_blank_text_gives_no_sentences():
    assert split_sentences("  \n\n ") == []
