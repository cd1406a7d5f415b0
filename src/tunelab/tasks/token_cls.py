"""Token classification (NER): ``{"tokens": [str], "tags": [str]}`` records, IOB2 tags.

Labels go on the first sub-token of each word; every other sub-token, special token and pad gets
-100 (ignored by the loss). For scoring, each example keeps its word-level gold labels and the
position of each word's first sub-token (-1 when truncation cut the word off), so entity F1 is
computed on the words of the original sentence, strict IOB2, over the whole split: a truncated
word counts as predicted "O", never silently dropped.

``data.encode_options.word_separator`` (default null: the words go to the tokenizer as they are,
``is_split_into_words=True``) joins the words with that separator into one text, tokenized as the
model was pretrained, and maps tokens back to words through ``offset_mapping`` (fast tokenizers
only). It is meant for character-level tags (cMedQANER: ``""``): a SentencePiece vocabulary has
multi-character Chinese tokens, and pre-split words would each become ``"▁" + char``. A token
takes the label of the first word it starts to cover; a word whose first character lies in a
token already labelled for an earlier word (``头痛`` for ``头`` ``痛``) shares that token's
``word_starts`` position, and its predicted tag is derived from that token's: ``B-X``/``I-X`` ->
``I-X``, ``O`` -> ``O`` (``word_predictions``). Gold tags are never touched, so the score is on
the original characters, comparable across tokenizers; an entity that starts or ends inside a
token cannot be predicted exactly.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from tunelab.data.collate import IGNORE
from tunelab.data.hub_columns import label_name, names_of, require_columns
from tunelab.errors import ConfigError
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


def align_offsets(offsets: Sequence[tuple[int, int]], special: Sequence[bool], char_word: Sequence[int],
                  word_label_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """Token labels and word start positions from character offsets into the joined text.

    ``char_word[c]`` is the word of character ``c`` (-1: a separator). A token covers the words of
    the characters in its span; where two spans overlap (XLM-R's lone ``"▁"`` gets the span of
    the character after it) the later token keeps the shared characters. A token is labelled with
    the first word it covers that no earlier token covers, and becomes the position of every word
    it is the first to cover; any other token, and a special token, gets -100. A word no kept token
    covers (cut by truncation) has position -1.
    """
    labels: list[int] = []
    starts = [-1] * len(word_label_ids)
    content = [i for i, sp in enumerate(special) if not sp]
    next_start = {a: offsets[b][0] for a, b in itertools.pairwise(content)}
    for pos, (begin, end) in enumerate(offsets):
        label = IGNORE
        if not special[pos]:
            nxt = next_start.get(pos)
            if nxt is not None and begin <= nxt < end:
                end = nxt
            for c in range(begin, end):
                wid = char_word[c]
                if wid >= 0 and starts[wid] == -1:
                    starts[wid] = pos
                    if label == IGNORE:
                        label = word_label_ids[wid]
        labels.append(label)
    return labels, starts


def _check_fast(tokenizer) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"data.encode_options.word_separator: needs a fast tokenizer (offset mapping); "
                          f"{type(tokenizer).__name__} is a slow one")


def encode_token_classification(records: list[dict], tokenizer, label2id: Mapping[str, int], max_length: int,
                                word_separator: str | None = None) -> list[dict]:
    word_labels = [[label2id[t] for t in r["tags"]] for r in records]
    if word_separator is None:
        enc = tokenizer([r["tokens"] for r in records], is_split_into_words=True, truncation=True,
                        max_length=max_length)
        aligned = [align_labels(enc.word_ids(i), word_labels[i]) for i in range(len(records))]
    else:
        _check_fast(tokenizer)
        texts, char_words = [], []
        for r in records:
            char_word: list[int] = []
            for w, word in enumerate(r["tokens"]):
                if w:
                    char_word.extend([-1] * len(word_separator))
                char_word.extend([w] * len(word))
            texts.append(word_separator.join(r["tokens"]))
            char_words.append(char_word)
        enc = tokenizer(texts, truncation=True, max_length=max_length, return_offsets_mapping=True)
        aligned = []
        for i in range(len(records)):
            special = [sid is None for sid in enc.sequence_ids(i)]
            aligned.append(align_offsets(enc["offset_mapping"][i], special, char_words[i], word_labels[i]))
    out = []
    for i in range(len(records)):
        labels, starts = aligned[i]
        item = {k: enc[k][i] for k in enc if k != "offset_mapping"}
        item.update(labels=labels, word_labels=word_labels[i], word_starts=starts)
        out.append(item)
    return out


def word_predictions(token_preds: torch.Tensor, word_starts: torch.Tensor, label_names: Sequence[str]) -> torch.Tensor:
    """Word-level label ids from token-level ones, (batch, n_tokens) -> (batch, n_words).

    Each word takes the prediction of the token at its ``word_starts`` position; a word sharing
    that position with the word before it (its first character sits in a token an earlier word
    starts: ``word_separator`` encodings) continues that token's entity (``B-X``/``I-X`` ->
    ``I-X``; ``O``, or a type without an ``I-`` label, -> ``O``); a word with no token (-1:
    truncated) is ``O``. The one place that turns token predictions into word tags: evaluation
    and any prediction output must agree.
    """
    names = list(label_names)
    outside = names.index("O") if "O" in names else 0
    inside = []
    for name in names:
        prefix, _, etype = name.partition("-")
        inside.append(names.index(f"I-{etype}") if prefix in ("B", "I") and f"I-{etype}" in names else outside)
    preds = token_preds.gather(1, word_starts.clamp(min=0))
    shared = torch.zeros_like(word_starts, dtype=torch.bool)
    shared[:, 1:] = (word_starts[:, 1:] == word_starts[:, :-1]) & (word_starts[:, 1:] >= 0)
    preds = torch.where(shared, torch.tensor(inside, device=preds.device)[preds], preds)
    return torch.where(word_starts >= 0, preds, torch.full_like(preds, outside))


def word_tags(token_preds: Sequence[int], word_starts: Sequence[int], label_names: Sequence[str]) -> list[str]:
    """``word_predictions`` for one example, as tag strings (for prediction outputs)."""
    ids = word_predictions(torch.tensor([list(token_preds)]), torch.tensor([list(word_starts)]), label_names)
    return [label_names[i] for i in ids[0].tolist()]


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
    serve_io = "tokens"  # word tags, as entity spans of the request's text

    def labels_of(self, record: Mapping[str, Any]):
        return record["tags"]

    def label_names(self, train: list[dict]) -> list[str]:
        seen = {t for r in train for t in r["tags"]}
        # "O" first keeps id 0 = outside, the convention of every NER head and hub dataset.
        return (["O"] if "O" in seen else []) + sorted(seen - {"O"}, key=_tag_sort_key)

    encode_options: ClassVar[Mapping[str, str]] = {"word_separator": "null (words as given) or a string joining them"}

    def check_encode_options(self, options):
        options = super().check_encode_options(options)
        sep = options.get("word_separator")
        if sep is not None and not isinstance(sep, str):
            raise ConfigError(f"data.encode_options.word_separator: must be a string or null, got {sep!r}")
        return options

    def encode(self, records, tokenizer, label2id, max_length, word_separator=None):
        return encode_token_classification(records, tokenizer, label2id, max_length, word_separator)

    def count_truncated(self, encoded: list[dict]) -> int:
        return sum(1 for e in encoded if -1 in e["word_starts"])

    def metric(self, label_names):
        from tunelab.metrics.entities import EntityF1

        return EntityF1(label_names)

    def metric_inputs(self, logits, batch, label_names):
        # Word-level predictions (see word_predictions); a word lost to truncation is "O".
        return word_predictions(logits.argmax(-1), batch["word_starts"], label_names), batch["word_labels"]

    def records_from_hub(self, dataset, columns, label_names):
        tok_col, tag_col = columns.get("tokens", "tokens"), columns.get("tags", "ner_tags")
        require_columns(dataset, [tok_col, tag_col])
        names = names_of(getattr(dataset.features[tag_col], "feature", None), label_names)
        return [{"tokens": list(row[tok_col]), "tags": [label_name(t, names) for t in row[tag_col]]} for row in dataset]

    def perturb(self, record, edit_text, edit_words):
        tokens, tags = edit_words(list(record["tokens"]), list(record["tags"]))
        return {**record, "tokens": tokens, "tags": tags}
