"""Tokenization and sub-word label alignment (plus sequence-pair and multiple-choice encoding).

Token classification follows the field's correct recipe: the first sub-token of each word carries
the word's label, every other sub-token, special token and pad gets -100 (ignored by the loss).
For scoring, each example also keeps its word-level gold labels and the position of each word's
first sub-token (-1 when truncation cut the word off), so entity F1 is computed on the words of
the original sentence: a truncated word counts as predicted "O", never silently dropped.
"""

from __future__ import annotations

from typing import Sequence

from tunelab.errors import DataError

IGNORE = -100


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


def encode_token_classification(records: list[dict], tokenizer, label2id: dict[str, int], max_length: int) -> list[dict]:
    enc = tokenizer(
        [r["tokens"] for r in records],
        is_split_into_words=True,
        truncation=True,
        max_length=max_length,
    )
    out = []
    for i, rec in enumerate(records):
        word_labels = [label2id[t] for t in rec["tags"]]
        labels, starts = align_labels(enc.word_ids(i), word_labels)
        item = {k: enc[k][i] for k in enc.keys()}
        item.update(labels=labels, word_labels=word_labels, word_starts=starts)
        out.append(item)
    return out


def encode_sequence_classification(records: list[dict], tokenizer, label2id: dict[str, int], max_length: int) -> list[dict]:
    texts = [r["text"] for r in records]
    pairs = [r["text_pair"] for r in records] if records and "text_pair" in records[0] else None
    enc = tokenizer(texts, pairs, truncation=True, max_length=max_length)
    return [{**{k: enc[k][i] for k in enc.keys()}, "labels": label2id[r["label"]]} for i, r in enumerate(records)]


def encode_multiple_choice(records: list[dict], tokenizer, label2id: dict[str, int], max_length: int) -> list[dict]:
    """Encode ``{"question", "choices", "label"}`` records as one (question, choice) pair per choice.

    Each example gets ``input_ids``/``attention_mask`` (and ``token_type_ids`` when the tokenizer
    makes them) as lists of ``n_choices`` token lists, ``labels`` = the correct choice's id, and
    ``truncated`` = how many of its pairs lost tokens. Truncation is ``only_first``: the long
    question stem is cut from the left (its end holds the question) and every option is kept whole;
    a pair whose option alone does not fit falls back to ``longest_first``.
    """
    firsts, seconds, owner = [], [], []
    for i, rec in enumerate(records):
        if not rec["choices"]:
            raise DataError(f"multiple-choice record {i + 1} has no choices")
        for choice in rec["choices"]:
            firsts.append(rec["question"])
            seconds.append(choice)
            owner.append(i)
    if not firsts:
        return []
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    unique_q = list(dict.fromkeys(firsts))
    q_len = dict(zip(unique_q, (len(x) for x in tokenizer(unique_q, add_special_tokens=False, verbose=False)["input_ids"])))
    c_len = [len(x) for x in tokenizer(seconds, add_special_tokens=False, verbose=False)["input_ids"]]
    # only_first can cut the question to any length >= 1 but never touches the option: it fails
    # (fast tokenizers raise) when the option and the special tokens alone reach max_length.
    fits = [c + specials < max_length for c in c_len]
    encoded: list[dict | None] = [None] * len(firsts)
    for strategy, keep in (("only_first", True), ("longest_first", False)):
        idx = [j for j, f in enumerate(fits) if f is keep]
        if not idx:
            continue
        # Cut the stem from the LEFT: a USMLE stem ends with the actual question ("Which of the
        # following..."), which right-truncation removed for 194 of 1273 MedQA items at 256 tokens.
        side, tokenizer.truncation_side = tokenizer.truncation_side, "left"
        try:
            enc = tokenizer([firsts[j] for j in idx], [seconds[j] for j in idx], truncation=strategy, max_length=max_length)
        finally:
            tokenizer.truncation_side = side
        for n, j in enumerate(idx):
            encoded[j] = {k: enc[k][n] for k in enc.keys()}
    out: list[dict] = []
    for j, pair in enumerate(encoded):
        i = owner[j]
        if i == len(out):
            rec = records[i]
            label = label2id[rec["label"]]
            if not 0 <= label < len(rec["choices"]):
                raise DataError(f"multiple-choice record {i + 1}: label {rec['label']!r} has id {label}, but it has {len(rec['choices'])} choices")
            out.append({**{k: [] for k in pair}, "labels": label, "truncated": 0})
        for k, v in pair.items():
            out[i][k].append(v)
        full = q_len[firsts[j]] + c_len[j] + specials
        out[i]["truncated"] += int(full > len(pair["input_ids"]))
    return out


def encode(task: str, records: list[dict], tokenizer, label2id: dict[str, int], max_length: int) -> list[dict]:
    if task == "token_classification":
        fn = encode_token_classification
    elif task == "multiple_choice":
        fn = encode_multiple_choice
    else:
        fn = encode_sequence_classification
    return fn(records, tokenizer, label2id, max_length)


def count_truncated(encoded: list[dict]) -> int:
    """Examples that lost tokens that matter: a word with no sub-token left (token classification)
    or a (question, choice) pair that was cut (multiple choice)."""
    return sum(1 for e in encoded if -1 in e.get("word_starts", []) or e.get("truncated", 0) > 0)
