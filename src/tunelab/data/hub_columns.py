"""Helpers for converting hub dataset rows to canonical records (each task's ``records_from_hub``).

Label columns may be ClassLabel (names come from the features), plain ints (names come from the
config's ``label_names``) or strings.
"""

from __future__ import annotations

from typing import Any, Mapping

from tunelab.data import readers
from tunelab.errors import DataError


def require_columns(dataset, cols: list[str]) -> None:
    missing = [c for c in cols if c not in dataset.column_names]
    if missing:
        raise DataError(f"hub dataset: no column {missing[0]!r}; columns are {dataset.column_names}")


def names_of(feature, label_names: list[str] | None) -> list[str] | None:
    names = getattr(feature, "names", None)
    return list(names) if names else (list(label_names) if label_names else None)


def label_name(value, names: list[str] | None) -> str:
    if isinstance(value, str):
        return readers.normalize_tag(value) if value[:2] in ("B_", "I_") else value
    if names is None:
        raise DataError(f"hub dataset: label {value!r} is an id but no label names are known "
                        "(set data.source.hub.label_names)")
    return names[int(value)]


def text_at(row: Mapping, dotted: str) -> str:
    """A (possibly dotted: ``context.contexts``) field; a list value is joined with spaces."""
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise DataError(f"hub dataset: no field {dotted!r} in a row with keys {sorted(row)}")
        value = value[part]
    return " ".join(str(v).strip() for v in value) if isinstance(value, list) else str(value)


def text_label_records(dataset, columns: Mapping[str, str], label_names: list[str] | None,
                       pair_default: str | None = None) -> list[dict]:
    """``{"text", "label"[, "text_pair"]}`` records; rows with an empty text are dropped (the local
    readers drop the same rows)."""
    text_col, label_col = columns.get("text", "text"), columns.get("label", "label")
    pair_col = columns.get("text_pair", pair_default)
    require_columns(dataset, [text_col, label_col] + ([pair_col.split(".")[0]] if pair_col else []))
    names = names_of(dataset.features[label_col], label_names)
    out = []
    for row in dataset:
        if not row[text_col]:
            continue
        rec = {"text": row[text_col], "label": label_name(row[label_col], names)}
        if pair_col:
            rec["text_pair"] = text_at(row, pair_col)
        out.append(rec)
    return out
