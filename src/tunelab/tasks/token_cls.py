"""Token classification (NER): ``{"tokens": [str], "tags": [str]}`` records, IOB2 tags.

Labels go on the first sub-token of each word; every other sub-token, special token and pad gets
-100 (ignored by the loss). For scoring, each example keeps its word-level gold labels and the
position of each word's first sub-token (-1 when truncation cut the word off), so entity F1 is
computed on the words of the original sentence, strict IOB2, over the whole split: a truncated
word counts as predicted "O", never silently dropped.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from tunelab.data.collate import IGNORE
from tunelab.data.hub_columns import label_name, names_of, require_columns
from tunelab.tasks import register
from tunelab.tasks.base import ALL_METHODS, SupervisedTask


def align_labels(word_ids: Sequence[int | None], word_label_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """Token labels (-100 except first sub-tokens) and each word's first-token position (-1 if none)."""
    labels: list[int] = []
    starts = [-1] * len(word_label_ids)
    previous = None
    for pos, wid in enumerate(word_ids):
        if wid is None or wid == previous:
            labels.append(IGNORE)
        else:
            labels.append(word_label_ids[wid])
            starts[wid] = pos
        previous = wid
    return labels, starts


def encode_token_classification(records: list[dict], tokenizer, label2id: Mapping[str, int], max_length: int) -> list[dict]:
    enc = tokenizer([r["tokens"] for r in records], is_split_into_words=True, truncation=True, max_length=max_length)
    out = []
    for i, rec in enumerate(records):
        word_labels = [label2id[t] for t in rec["tags"]]
        labels, starts = align_labels(enc.word_ids(i), word_labels)
        item = {k: enc[k][i] for k in enc.keys()}
        item.update(labels=labels, word_labels=word_labels, word_starts=starts)
        out.append(item)
    return out


def _tag_sort_key(tag: str) -> tuple[str, str]:
    prefix, _, typ = tag.partition("-")
    return (typ, prefix)  # B-X next to I-X


@register
class TokenClassification(SupervisedTask):
    name = "token_classification"
    record_keys = ("tokens", "tags")
    auto_class = "AutoModelForTokenClassification"
    peft_task_type = "TOKEN_CLS"
    # Prompt tuning prepends virtual tokens, which shifts every token's position: it does not fit.
    methods = ALL_METHODS - {"prompt_tuning"}
    default_monitor = "val/f1"
    metric_names = ("f1", "precision", "recall")
    stratify_key = None
    truncation_note = "their cut words score as 'O'"

    def labels_of(self, record: Mapping[str, Any]):
        return record["tags"]

    def label_names(self, train: list[dict]) -> list[str]:
        seen = {t for r in train for t in r["tags"]}
        # "O" first keeps id 0 = outside, the convention of every NER head and hub dataset.
        return (["O"] if "O" in seen else []) + sorted(seen - {"O"}, key=_tag_sort_key)

    def encode(self, records, tokenizer, label2id, max_length):
        return encode_token_classification(records, tokenizer, label2id, max_length)

    def count_truncated(self, encoded: list[dict]) -> int:
        return sum(1 for e in encoded if -1 in e["word_starts"])

    def metric(self, label_names):
        from tunelab.metrics.entities import EntityF1

        return EntityF1(label_names)

    def metric_inputs(self, logits, batch, label_names):
        # Word-level predictions: each word's first sub-token; a word lost to truncation is "O".
        outside = label_names.index("O") if "O" in label_names else 0
        starts = batch["word_starts"]
        word_preds = logits.argmax(-1).gather(1, starts.clamp(min=0))
        word_preds = torch.where(starts >= 0, word_preds, torch.full_like(word_preds, outside))
        return word_preds, batch["word_labels"]

    def records_from_hub(self, dataset, columns, label_names):
        tok_col, tag_col = columns.get("tokens", "tokens"), columns.get("tags", "ner_tags")
        require_columns(dataset, [tok_col, tag_col])
        names = names_of(getattr(dataset.features[tag_col], "feature", None), label_names)
        return [{"tokens": list(row[tok_col]), "tags": [label_name(t, names) for t in row[tag_col]]} for row in dataset]

    def perturb(self, record, edit_text, edit_words):
        tokens, tags = edit_words(list(record["tokens"]), list(record["tags"]))
        return {**record, "tokens": tokens, "tags": tags}
