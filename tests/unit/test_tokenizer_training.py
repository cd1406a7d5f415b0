"""WordPiece and byte-level BPE tokenizers trained on a tiny corpus: specials, round trips, saving."""

import pytest
from transformers import AutoTokenizer

from tunelab.data.tokenizer_training import train_byte_bpe, train_tokenizer, train_wordpiece
from tunelab.errors import ConfigError

CORPUS = [
    "The patient was diagnosed with breast cancer and treated with tamoxifen.",
    "Hypertension and diabetes are common in elderly patients.",
    "Cisplatin induced nephrotoxicity was observed in the treated group.",
    "The tumour suppressor gene was mutated in most colorectal cancer samples.",
    "Patients with chronic kidney disease received dialysis twice a week.",
    "Adverse drug reactions were reported by twelve percent of participants.",
] * 20


@pytest.fixture(scope="module")
def wordpiece():
    return train_wordpiece(CORPUS, vocab_size=300)


@pytest.fixture(scope="module")
def bpe():
    return train_byte_bpe(CORPUS, vocab_size=400)


def test_wordpiece_special_tokens_and_template(wordpiece):
    tok = wordpiece
    assert [tok.pad_token, tok.unk_token, tok.cls_token, tok.sep_token, tok.mask_token] == [
        "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    # The ids an MLM collator needs all exist and are distinct.
    ids = [tok.pad_token_id, tok.unk_token_id, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id]
    assert None not in ids and len(set(ids)) == 5
    assert tok.num_special_tokens_to_add() == 2 and tok.num_special_tokens_to_add(pair=True) == 3
    enc = tok("The patient", "was treated")
    assert enc["input_ids"][0] == tok.cls_token_id and enc["input_ids"][-1] == tok.sep_token_id
    assert enc["input_ids"].count(tok.sep_token_id) == 2
    assert set(enc["token_type_ids"]) == {0, 1}
    assert "token_type_ids" in tok.model_input_names
    assert len(tok) <= 300


def test_wordpiece_lowercases_and_splits_unseen_words_into_pieces(wordpiece):
    tok = wordpiece
    assert tok.tokenize("PATIENT") == tok.tokenize("patient")
    pieces = tok.tokenize("cancerously")  # never seen whole
    assert len(pieces) > 1 and pieces[0] == "cancer" and all(p.startswith("##") for p in pieces[1:])
    assert tok.unk_token not in pieces
    assert tok.decode(tok("cancerously")["input_ids"], skip_special_tokens=True) == "cancerously"


def test_wordpiece_word_ids_for_pre_split_words(wordpiece):
    enc = wordpiece(["nephrotoxicity", "was", "observed"], is_split_into_words=True)
    word_ids = enc.word_ids()
    assert word_ids[0] is None and word_ids[-1] is None  # [CLS], [SEP]
    assert sorted(set(w for w in word_ids if w is not None)) == [0, 1, 2]


def test_bpe_round_trip_and_specials(bpe):
    tok = bpe
    assert tok.eos_token == tok.bos_token == tok.unk_token == tok.pad_token == "<|endoftext|>"
    assert tok.pad_token_id == tok.eos_token_id
    assert tok.num_special_tokens_to_add() == 0
    for text in ["The patient was treated.", "  unseen wörds, émojis 🧬 and\ttabs\nnewlines ", "x"]:
        ids = tok(text)["input_ids"]
        assert tok.eos_token_id not in ids  # no specials added
        assert tok.decode(ids) == text
    assert len(tok) <= 400


def test_train_tokenizer_saves_and_autotokenizer_loads_identically(tmp_path):
    text = ["The tumour was treated with cisplatin.", "Unseen: pharmacokinetics!"]
    for kind, size in (("wordpiece", 300), ("bpe", 300)):
        out = tmp_path / kind
        tok = train_tokenizer(kind, CORPUS, size, out)
        back = AutoTokenizer.from_pretrained(out)
        assert back(text)["input_ids"] == tok(text)["input_ids"]
        assert back.all_special_tokens == tok.all_special_tokens
        assert back.pad_token_id == tok.pad_token_id and len(back) == len(tok)
    assert AutoTokenizer.from_pretrained(tmp_path / "wordpiece").mask_token == "[MASK]"


def test_bad_kind_and_vocab_size():
    with pytest.raises(ConfigError, match="tokenizer.kind: unknown kind 'sentencepiece'"):
        train_tokenizer("sentencepiece", CORPUS, 300)
    with pytest.raises(ConfigError, match="model.train_tokenizer.vocab_size: must be an int >= 257"):
        train_byte_bpe(CORPUS, 100)
