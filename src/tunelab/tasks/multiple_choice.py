"""Multiple choice: ``{"question": str, "choices": [str, ...], "label": "A"|"B"|...}`` records.

One (question, choice) pair per choice, one score per pair, softmax over the choices.
"""

from __future__ import annotations

from typing import Mapping

from tunelab.data import readers
from tunelab.data.hub_columns import require_columns
from tunelab.errors import DataError
from tunelab.tasks import register
from tunelab.tasks.base import ALL_METHODS, SupervisedTask


def encode_multiple_choice(records: list[dict], tokenizer, label2id: Mapping[str, int], max_length: int) -> list[dict]:
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
                raise DataError(f"multiple-choice record {i + 1}: label {rec['label']!r} has id {label}, "
                                f"but it has {len(rec['choices'])} choices")
            out.append({**{k: [] for k in pair}, "labels": label, "truncated": 0})
        for k, v in pair.items():
            out[i][k].append(v)
        full = q_len[firsts[j]] + c_len[j] + specials
        out[i]["truncated"] += int(full > len(pair["input_ids"]))
    return out


@register
class MultipleChoice(SupervisedTask):
    name = "multiple_choice"
    record_keys = ("question", "choices", "label")
    auto_class = "AutoModelForMultipleChoice"  # one score per (question, option) pair
    peft_task_type = None  # peft has no TaskType for it: a plain PeftModel with the head saved
    # Prefix tuning needs a peft TaskType; prompt tuning shifts positions of every pair.
    methods = ALL_METHODS - {"prefix_tuning", "prompt_tuning"}
    default_monitor = "val/acc"
    truncation_note = "the question stem was cut, every option kept"
    serve_io = "choice"

    def label_names(self, train: list[dict]) -> list[str]:
        # The label id must be the position of the correct choice, so the names are the choice
        # letters A, B, ... up to the number of choices: this is the sorted set of answer letters
        # seen in train whenever every position is the answer at least once (MedQA: A-D), and it
        # stays right when one is not (a small `limit`), where "sorted letters seen" would shift ids.
        n = max((len(r["choices"]) for r in train), default=0)
        letters = [chr(ord("A") + i) for i in range(n)]
        extra = sorted({r["label"] for r in train} - set(letters))
        if extra:
            raise DataError(f"train split: multiple-choice label(s) {extra} are not choice letters {letters}")
        return letters

    def encode(self, records, tokenizer, label2id, max_length):
        return encode_multiple_choice(records, tokenizer, label2id, max_length)

    @staticmethod
    def length(item) -> int:
        return max(len(c) for c in item["input_ids"])  # the longest choice decides the padding

    def records_from_hub(self, dataset, columns, label_names):
        # e.g. GBaker/MedQA-USMLE-4-options: question, options {A..D} (a struct column), answer_idx.
        q_col, opt_col = columns.get("question", "question"), columns.get("options", "options")
        ans_col = columns.get("label", "answer_idx")
        require_columns(dataset, [q_col, opt_col, ans_col])
        out = []
        for i, row in enumerate(dataset):
            options = row[opt_col]
            if isinstance(options, dict):  # a struct column fills absent keys with None
                options = {k: v for k, v in options.items() if v is not None}
            try:
                out.append(readers.multiple_choice_record({"q": row[q_col], "o": options, "a": row[ans_col]}, "q", "o", "a"))
            except ValueError as exc:
                raise DataError(f"hub dataset: row {i + 1}: {exc}") from None
        return out

    def perturb(self, record, edit_text, edit_words):
        return {**record, "question": edit_text(record["question"])}
