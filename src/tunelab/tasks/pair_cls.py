"""Sentence-pair classification: ``{"text", "text_pair", "label"}`` records (question matching,
paraphrase, entailment), encoded as one ``[CLS] a [SEP] b [SEP]`` sequence.

It differs from sequence classification in its schema (the pair is required: a reader that drops
the second text fails here instead of silently training on single sentences) and its hub default
columns (``sentence1``/``sentence2``, the GLUE/CLUE convention).
"""

from __future__ import annotations

from tunelab.data.hub_columns import text_label_records
from tunelab.tasks import register
from tunelab.tasks.base import ALL_METHODS, SupervisedTask
from tunelab.tasks.seq_cls import encode_texts, perturb_texts


@register
class SentencePairClassification(SupervisedTask):
    name = "sentence_pair_classification"
    record_keys = ("text", "text_pair", "label")
    auto_class = "AutoModelForSequenceClassification"
    peft_task_type = "SEQ_CLS"
    methods = ALL_METHODS
    default_monitor = "val/macro_f1"
    truncation_note = "the pair was cut at max_length (longest_first)"
    serve_io = "pair"  # always a text pair
    # Its head is sequence classification's: a folder with that head and no record of its task
    # is served as sequence classification, which takes pairs too.
    serve_default_for_head = False

    def encode(self, records, tokenizer, label2id, max_length):
        return encode_texts(records, tokenizer, label2id, max_length)

    def records_from_hub(self, dataset, columns, label_names):
        columns = {"text": "sentence1", "text_pair": "sentence2", **columns}
        return text_label_records(dataset, columns, label_names)

    def perturb(self, record, edit_text, edit_words):
        return perturb_texts(record, edit_text)
