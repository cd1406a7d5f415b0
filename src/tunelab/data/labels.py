"""The label vocabulary: built from the training split only, saved with the checkpoint.

A label that appears in validation/test but never in training cannot be predicted, and silently
mapping it would inflate or deflate scores, so it is an error naming the split.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from tunelab.errors import DataError


def build_label_names(task: str, train: list[dict]) -> list[str]:
    if task == "token_classification":
        seen = {t for r in train for t in r["tags"]}
        # "O" first keeps id 0 = outside, the convention of every NER head and hub dataset.
        return (["O"] if "O" in seen else []) + sorted(seen - {"O"}, key=_tag_sort_key)
    if task == "multiple_choice":
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
    return sorted({r["label"] for r in train})


def _tag_sort_key(tag: str) -> tuple[str, str]:
    prefix, _, typ = tag.partition("-")
    return (typ, prefix)  # B-X next to I-X


def labels_of(task: str, record: dict) -> Iterable[str]:
    return record["tags"] if task == "token_classification" else [record["label"]]


def check_known(task: str, names: list[str], splits: Mapping[str, list[dict]], files: Mapping[str, str]) -> None:
    known = set(names)
    for split, records in splits.items():
        for i, rec in enumerate(records):
            for lab in labels_of(task, rec):
                if lab not in known:
                    where = files.get(split, split)
                    raise DataError(
                        f"{where}: label {lab!r} (record {i + 1} of split {split!r}) never appears in the training split"
                    )
