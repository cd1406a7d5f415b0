"""Sequence classification: ``{"text": str, "label": str}`` records (optionally ``"text_pair"``,
e.g. PubMedQA's question + abstract), one label per example, accuracy and macro-F1."""

from __future__ import annotations

from typing import Mapping

from tunelab.data.hub_columns import text_label_records
from tunelab.tasks import register
from tunelab.tasks.base import ALL_METHODS, SupervisedTask


def encode_texts(records: list[dict], tokenizer, label2id: Mapping[str, int], max_length: int) -> list[dict]:
    """``text`` (+ ``text_pair`` when the records have one) -> token ids, ``labels``, ``truncated``.

    ``truncated`` comes from the fast tokenizer's overflow, so a pair cut anywhere (either text)
    is counted, not only a single text that grew past ``max_length``.
    """
    if not records:
        return []
    texts = [r["text"] for r in records]
    pairs = [r["text_pair"] for r in records] if "text_pair" in records[0] else None
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    out = []
    for i, rec in enumerate(records):
        item = {k: enc[k][i] for k in enc.keys()}
        item["labels"] = label2id[rec["label"]]
        item["truncated"] = int(bool(enc.encodings[i].overflowing))
        out.append(item)
    return out


def perturb_texts(record: dict, edit_text, keys=("text", "text_pair")) -> dict:
    return {**record, **{k: edit_text(record[k]) for k in keys if record.get(k) is not None}}


@register
class SequenceClassification(SupervisedTask):
    name = "sequence_classification"
    record_keys = ("text", "label")
    auto_class = "AutoModelForSequenceClassification"
    peft_task_type = "SEQ_CLS"
    methods = ALL_METHODS
    default_monitor = "val/macro_f1"
    truncation_note = "the text was cut at max_length (longest_first for pairs)"
    serve_io = "classify"  # a text, or a text pair (the encoder takes both)

    def encode(self, records, tokenizer, label2id, max_length):
        return encode_texts(records, tokenizer, label2id, max_length)

    def records_from_hub(self, dataset, columns, label_names):
        # Optional second text; a dotted name reaches into a struct column (PubMedQA:
        # "context.contexts"), and a list value is joined with spaces, as the local reader does.
        return text_label_records(dataset, columns, label_names)

    def perturb(self, record, edit_text, edit_words):
        return perturb_texts(record, edit_text)
