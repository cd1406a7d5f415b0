"""Where a dataset's records come from: local files under the data directory, or the hub.

A data config names both. Local files win when they exist (offline, reproducible); when they
are absent and the config names a public hub id, ``datasets.load_dataset`` fetches it and
``records_from_hub`` converts the hub's columns (ClassLabel ids, other column names) to the
same canonical records the local readers produce:

* token classification: ``{"tokens": [str], "tags": [str]}``
* sequence classification: ``{"text": str, "label": str}`` (optionally ``"text_pair": str``)
* multiple choice: ``{"question": str, "choices": [str, ...], "label": "A"|"B"|...}``

Local formats (``data.source.format``) and their ``data.source.files``:

* ``conll``, ``delimited``, ``table``, ``multiple_choice_jsonl``: one file per split,
  ``{train: ..., validation: ..., test: ...}`` (any subset; ``data.split`` carves the rest).
* ``pubmedqa``: ``{all: pubmedqa/ori_pqal.json, test_ids: pubmedqa/test_ground_truth.json}``,
  read into the official ``train`` (500) and ``test`` (500) splits.

A dataset without a given validation/test split gets a seeded stratified one (``carve_splits``),
and the split is recorded in the run metadata so every result can say how it was made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tunelab.data import readers
from tunelab.errors import ConfigError, DataError

TOKEN_TASKS = {"token_classification"}
SEQUENCE_TASKS = {"sequence_classification"}
MULTIPLE_CHOICE_TASKS = {"multiple_choice"}
ALL_TASKS = TOKEN_TASKS | SEQUENCE_TASKS | MULTIPLE_CHOICE_TASKS
PER_SPLIT_FORMATS = ("conll", "delimited", "table", "multiple_choice_jsonl")
PUBMEDQA_FILES = ("all", "test_ids")
DATA_DIR_ENV = "TUNELAB_DATA_DIR"


def data_dir(explicit: str | os.PathLike | None = None) -> Path:
    """The folder relative data paths resolve against: explicit > $TUNELAB_DATA_DIR > ./data."""
    return Path(explicit or os.environ.get(DATA_DIR_ENV) or "data").expanduser()


@dataclass
class LoadedSplits:
    """Canonical records per split plus what a run must record about where they came from."""

    splits: dict[str, list[dict]]
    meta: dict[str, Any] = field(default_factory=dict)


def resolve(path: str, root: Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else root / p


def read_local(task: str, fmt: str, files: Mapping[str, str], root: Path, options: Mapping) -> dict[str, list[dict]]:
    """Read each split's file with the reader for ``fmt`` (``pubmedqa``: one file, two splits)."""
    known = (*PER_SPLIT_FORMATS, "pubmedqa")
    if fmt not in known:
        raise ConfigError(f"data.source.format: unknown format {fmt!r}; use {', '.join(known)}")
    if fmt == "pubmedqa":
        if sorted(files) != sorted(PUBMEDQA_FILES):
            raise ConfigError(
                f"data.source.files: format pubmedqa needs exactly {{all: <ori_pqal.json>, "
                f"test_ids: <test_ground_truth.json>}}, got keys {sorted(files)}"
            )
        if options:
            raise ConfigError(f"data.source.options: format pubmedqa takes no options, got {sorted(options)}")
        out = readers.read_pubmedqa(resolve(files["all"], root), resolve(files["test_ids"], root))
    else:
        out = {}
        for split, rel in files.items():
            path = resolve(rel, root)
            if fmt == "conll":
                out[split] = readers.read_conll(path, **options)
            elif fmt == "delimited":
                out[split] = readers.read_delimited_pairs(path, **options)
            elif fmt == "table":
                out[split] = readers.read_table(path, **options)
            else:
                out[split] = readers.read_multiple_choice_jsonl(path, **options)
    _check_task_shape(task, out, fmt)
    return out


def _check_task_shape(task: str, splits: Mapping[str, list[dict]], origin: str) -> None:
    if task in TOKEN_TASKS:
        want = ["tokens", "tags"]
    elif task in MULTIPLE_CHOICE_TASKS:
        want = ["question", "choices", "label"]
    else:
        want = ["text", "label"]
    for split, records in splits.items():
        if records and any(k not in records[0] for k in want):
            raise ConfigError(f"data.source: {origin} gives {sorted(records[0])} records, task {task!r} needs {want}")


def records_from_hub(dataset, task: str, columns: Mapping[str, str], label_names: list[str] | None) -> list[dict]:
    """Convert one split of a hub dataset to canonical records.

    Label columns may be ClassLabel (names come from the features), plain ints (names come from
    the config's ``label_names``) or strings. Shared by the hub path and its offline tests.
    """
    feats = dataset.features
    if task in MULTIPLE_CHOICE_TASKS:
        # e.g. GBaker/MedQA-USMLE-4-options: question, options {A..D} (a struct column), answer_idx.
        q_col, opt_col = columns.get("question", "question"), columns.get("options", "options")
        ans_col = columns.get("label", "answer_idx")
        _require_columns(dataset, [q_col, opt_col, ans_col])
        out = []
        for i, row in enumerate(dataset):
            options = row[opt_col]
            if isinstance(options, dict):  # a struct column fills absent keys with None
                options = {k: v for k, v in options.items() if v is not None}
            try:
                out.append(readers.multiple_choice_record(
                    {"q": row[q_col], "o": options, "a": row[ans_col]}, "q", "o", "a"))
            except ValueError as exc:
                raise DataError(f"hub dataset: row {i + 1}: {exc}") from None
        return out
    if task in TOKEN_TASKS:
        tok_col, tag_col = columns.get("tokens", "tokens"), columns.get("tags", "ner_tags")
        _require_columns(dataset, [tok_col, tag_col])
        names = _names_of(getattr(feats[tag_col], "feature", None), label_names, f"hub column {tag_col!r}")
        return [
            {"tokens": list(row[tok_col]), "tags": [_name(t, names) for t in row[tag_col]]}
            for row in dataset
        ]
    text_col, label_col = columns.get("text", "text"), columns.get("label", "label")
    # Optional second text; a dotted name reaches into a struct column (PubMedQA:
    # "context.contexts"), and a list value is joined with spaces, as the local reader does.
    pair_col = columns.get("text_pair")
    _require_columns(dataset, [text_col, label_col] + ([pair_col.split(".")[0]] if pair_col else []))
    names = _names_of(feats[label_col], label_names, f"hub column {label_col!r}")
    out = []
    for row in dataset:
        if not row[text_col]:  # hub copies have the same empty rows as the files; drop them alike
            continue
        rec = {"text": row[text_col], "label": _name(row[label_col], names)}
        if pair_col:
            rec["text_pair"] = _text_at(row, pair_col)
        out.append(rec)
    return out


def _text_at(row: Mapping, dotted: str) -> str:
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise DataError(f"hub dataset: no field {dotted!r} in a row with keys {sorted(row)}")
        value = value[part]
    return " ".join(str(v).strip() for v in value) if isinstance(value, list) else str(value)


def _require_columns(dataset, cols: list[str]) -> None:
    missing = [c for c in cols if c not in dataset.column_names]
    if missing:
        raise DataError(f"hub dataset: no column {missing[0]!r}; columns are {dataset.column_names}")


def _names_of(feature, label_names: list[str] | None, where: str) -> list[str] | None:
    names = getattr(feature, "names", None)
    return list(names) if names else (list(label_names) if label_names else None)


def _name(value, names: list[str] | None) -> str:
    if isinstance(value, str):
        return readers.normalize_tag(value) if value[:2] in ("B_", "I_") else value
    if names is None:
        raise DataError(f"hub dataset: label {value!r} is an id but no label names are known (set data.source.hub.label_names)")
    return names[int(value)]


def load_from_hub(task: str, hub: Mapping[str, Any]) -> dict[str, list[dict]]:
    """``datasets.load_dataset(path, name, data_files=...)`` then canonical records per split."""
    import datasets

    kwargs = {k: hub[k] for k in ("name", "data_files", "revision") if hub.get(k) is not None}
    try:
        dsd = datasets.load_dataset(hub["path"], **kwargs)
    except Exception as exc:  # network, missing repo, bad files: one line that says which
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"data.source.hub.path: could not load {hub['path']!r}: {first}") from exc
    rename = dict(hub.get("splits") or {})
    return {
        rename.get(split, split): records_from_hub(ds, task, hub.get("columns") or {}, hub.get("label_names"))
        for split, ds in dsd.items()
    }


def carve_splits(splits: dict[str, list[dict]], spec: Mapping[str, Any], task: str) -> dict[str, list[dict]]:
    """Replace ``spec.source`` with seeded, stratified ``spec.fractions`` of it; keep the other splits.

    The source may be any split, not only train: MedQA ships just its official test file, so
    ``{source: test, fractions: {train: 0.8, validation: 0.1, test: 0.1}}`` cuts all three from it.
    """
    source = spec.get("source", "train")
    if source not in splits:
        raise ConfigError(f"data.split.source: no split {source!r}; splits are {sorted(splits)}")
    label_key = "label" if task in SEQUENCE_TASKS | MULTIPLE_CHOICE_TASKS else None
    parts = readers.stratified_split(splits[source], dict(spec["fractions"]), seed=int(spec["seed"]), label_key=label_key)
    clash = set(parts) & (set(splits) - {source})
    if clash:
        raise ConfigError(f"data.split.fractions: {sorted(clash)} already given by the dataset")
    rest = {k: v for k, v in splits.items() if k != source}
    return {**rest, **parts}


def load_splits(
    task: str,
    source: Mapping[str, Any],
    split: Mapping[str, Any] | None,
    root: Path,
) -> LoadedSplits:
    """Local files if all exist, else the hub; then carve splits; then check none is empty."""
    if task not in ALL_TASKS:
        raise ConfigError(f"data.task: unknown task {task!r}; known: {sorted(ALL_TASKS)}")
    files = dict(source.get("files") or {})
    paths = [resolve(p, root) for p in files.values()]
    hub = source.get("hub")
    missing = [p for p in paths if not p.exists()]
    if files and not missing:
        splits = read_local(task, source["format"], files, root, dict(source.get("options") or {}))
        meta = {"origin": "local", "files": {k: str(resolve(v, root)) for k, v in files.items()},
                "fingerprint": readers.fingerprint_files(paths)}
    else:
        where = f"{missing[0]}: no such file" if missing else "data.source.files: none given"
        hint = f"{where} (data dir {root}; set {DATA_DIR_ENV} to the datasets folder)"
        if not (hub and hub.get("path")):
            raise DataError(f"{hint} and no hub id to fall back on")
        try:
            splits = load_from_hub(task, hub)
        except DataError as exc:
            raise DataError(f"{hint}, and the hub fallback failed: {exc}") from exc
        meta = {"origin": "hub", "hub": dict(hub), "fingerprint": _fingerprint_records(splits)}
    if split:
        source_name = split.get("source", "train")
        source_size = len(splits.get(source_name, []))
        splits = carve_splits(splits, split, task)
        meta["split"] = {"made_by": "tunelab seeded stratified split", **{k: split[k] for k in split}}
        meta["split"]["source"] = source_name
        meta["split"]["fractions"] = dict(split["fractions"])
        meta["split"]["source_size"] = source_size
        meta["split"]["description"] = _describe_split(meta["split"], meta)
    for name in ("train", "validation", "test"):
        if name not in splits:
            raise ConfigError(f"data: no {name!r} split (have {sorted(splits)}); set data.source.files.{name} or data.split")
        if not splits[name]:
            where = meta.get("files", {}).get(name, name)
            raise DataError(f"{where}: split {name!r} is empty")
    meta["sizes"] = {k: len(v) for k, v in splits.items()}
    return LoadedSplits(splits=splits, meta=meta)


def _describe_split(spec: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """One line for a results table, e.g. "seeded (42) stratified 80/10/10 train/validation/test
    split of the given 'test' split (1273 records, medqa_usmle/test.jsonl)"."""
    fr = spec["fractions"]
    pct = "/".join(f"{100 * float(f):g}" for f in fr.values())
    origin = meta.get("files", {}).get(spec["source"])
    where = f", {Path(origin).parent.name}/{Path(origin).name}" if origin else ""
    return (f"seeded ({spec.get('seed')}) stratified {pct} {'/'.join(fr)} split of the given "
            f"{spec['source']!r} split ({spec['source_size']} records{where})")


def _fingerprint_records(splits: Mapping[str, list[dict]]) -> str:
    import hashlib
    import json

    h = hashlib.sha256(json.dumps({k: v for k, v in sorted(splits.items())}, sort_keys=True).encode())
    return h.hexdigest()[:16]
