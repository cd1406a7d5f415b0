"""Raw text <-> words with character spans (NER requests, feedback)."""

from __future__ import annotations

import pytest

from tunelab.serving.words import entity_spans, split_words, tags_from_spans


def test_split_words_reproduces_punctuation_split_tokens():
    tokens = ["Identification", "of", "APC2", ",", "a", "homologue", "of", "the", "adenomatous", "(", "APC", ")", "."]
    words, spans = split_words(" ".join(tokens))
    assert words == tokens
    text = " ".join(tokens)
    assert [text[s:e] for s, e in spans] == tokens


def test_split_words_chinese_per_character_emoji_alone_and_empty():
    assert split_words("")[0] == []
    words, spans = split_words("胸闷，abc😀x")
    assert words == ["胸", "闷", "，", "abc", "😀", "x"]
    assert spans[4] == (6, 7)


def test_entity_spans_strict_iob2_with_original_surface():
    text = "Breast  Cancer and diabetes"
    _, spans = split_words(text)
    ents = entity_spans(["B-Disease", "I-Disease", "O", "I-Disease"], spans, text, [0.9, 0.7, 0.5, 0.4])
    # An orphan I- starts nothing (strict, as the metric); the surface keeps the original spacing.
    assert ents == [{"label": "Disease", "start": 0, "end": 14, "text": "Breast  Cancer", "score": 0.8}]


def test_tags_from_spans_and_refusals():
    text = "breast cancer, then asthma"
    words, tags = tags_from_spans(text, [{"start": 20, "end": 26, "label": "Disease"},
                                         {"start": 0, "end": 13, "label": "Disease", "text": "breast cancer"}],
                                  ["Disease"])
    assert words == ["breast", "cancer", ",", "then", "asthma"]
    assert tags == ["B-Disease", "I-Disease", "O", "O", "B-Disease"]
    bad = [
        ([{"start": 0, "end": 3, "label": "Disease"}], "word boundaries"),
        ([{"start": 0, "end": 6, "label": "Drug"}], "unknown entity type"),
        ([{"start": 0, "end": 99, "label": "Disease"}], "outside the text"),
        ([{"start": 0, "end": 6, "label": "Disease", "text": "cancer"}], r"is not text\[0:6\]"),
        ([{"start": 0, "end": 13, "label": "Disease"}, {"start": 7, "end": 13, "label": "Disease"}], "overlaps"),
    ]
    for entities, message in bad:
        with pytest.raises(ValueError, match=message):
            tags_from_spans(text, entities, ["Disease"])
