"""Where a dataset's records come from: local files under the data directory, or the hub.

A data config names both. Local files win when they exist (offline, reproducible); when they
are absent and the config names a public hub id, ``datasets.load_dataset`` fetches it and
``records_from_hub`` converts the hub's columns (ClassLabel ids, other column names) to the
same canonical records the local readers produce. The record schema and the hub conversion
belong to the task (``tunelab.tasks``); the local file formats are the reader registry
(``tunelab.data.formats``).

A dataset without a given validation/test split gets a seeded stratified one (``carve_splits``),
and the split is recorded in the run metadata so every result can say how it was made.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from tunelab import tasks
from tunelab.data import formats, readers
from tunelab.errors import ConfigError, DataError
from tunelab.tasks.base import SupervisedTask

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


def read_local(task: SupervisedTask, fmt: str, files: Mapping[str, str], root: Path, options: Mapping) -> dict[str, list[dict]]:
    """Read the files with the registered reader for ``fmt``; check the records fit the task."""
    out = formats.read(fmt, {k: resolve(v, root) for k, v in files.items()}, options)
    task.check_records(out, fmt)
    return out


def load_from_hub(task: str | SupervisedTask, hub: Mapping[str, Any]) -> dict[str, list[dict]]:
    """``datasets.load_dataset(path, name, data_files=...)`` then canonical records per split."""
    import datasets

    task = tasks.get(task)
    kwargs = {k: hub[k] for k in ("name", "data_files", "revision") if hub.get(k) is not None}
    try:
        dsd = datasets.load_dataset(hub["path"], **kwargs)
    except Exception as exc:  # network, missing repo, bad files: one line that says which
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"data.source.hub.path: could not load {hub['path']!r}: {first}") from exc
    rename = dict(hub.get("splits") or {})
    return {
        rename.get(split, split): task.records_from_hub(ds, hub.get("columns") or {}, hub.get("label_names"))
        for split, ds in dsd.items()
    }


def carve_splits(splits: dict[str, list[dict]], spec: Mapping[str, Any], task: str | SupervisedTask) -> dict[str, list[dict]]:
    """Replace ``spec.source`` with seeded, stratified ``spec.fractions`` of it; keep the other splits.

    The source may be any split, not only train: MedQA ships just its official test file, so
    ``{source: test, fractions: {train: 0.8, validation: 0.1, test: 0.1}}`` cuts all three from it.
    """
    source = spec.get("source", "train")
    if source not in splits:
        raise ConfigError(f"data.split.source: no split {source!r}; splits are {sorted(splits)}")
    parts = readers.stratified_split(splits[source], dict(spec["fractions"]), seed=int(spec["seed"]),
                                     label_key=tasks.get(task).stratify_key)
    clash = set(parts) & (set(splits) - {source})
    if clash:
        raise ConfigError(f"data.split.fractions: {sorted(clash)} already given by the dataset")
    rest = {k: v for k, v in splits.items() if k != source}
    return {**rest, **parts}


def load_splits(
    task: str | SupervisedTask,
    source: Mapping[str, Any],
    split: Mapping[str, Any] | None,
    root: Path,
) -> LoadedSplits:
    """Local files if all exist, else the hub; then carve splits; then check none is empty."""
    task = tasks.get(task)  # a pretraining objective is refused by TaskDataModule, which calls this
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


# -- extra training files (data.extra_train) -----------------------------------------------------
def _extra_path(path: str, root: Path) -> Path:
    p = Path(str(path)).expanduser()
    if p.is_absolute() or p.exists():
        return p
    if (root / p).exists():
        return root / p
    raise DataError(f"data.extra_train: {path}: no such file (a relative path is read from the working "
                    f"directory {Path.cwd()}, then from the data dir {root})")


def read_records_jsonl(path: Path, task: SupervisedTask) -> list[dict]:
    """JSON lines already in the task's record schema (serve.py's feedback.jsonl): the record keys
    are kept (``text_pair`` too), anything else (the ``feedback`` metadata) is dropped. A last line
    without its newline that is not JSON is a write still in progress: skipped, not an error."""
    import json
    import logging

    records = []
    lines = path.read_bytes().split(b"\n")
    for lineno, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if lineno == len(lines):  # no newline after it: cut mid-write
                logging.getLogger(__name__).warning("%s:%d: partial last line skipped", path, lineno)
                continue
            raise DataError(f"{path}:{lineno}: invalid JSON: {exc}") from None
        missing = [k for k in task.record_keys if k not in (obj if isinstance(obj, dict) else {})]
        if missing:
            raise DataError(f"{path}:{lineno}: a {task.name} record needs {list(task.record_keys)}; missing {missing}")
        record = {k: obj[k] for k in (*task.record_keys, "text_pair") if k in obj}
        if "tokens" in record and len(record["tokens"]) != len(record.get("tags", record["tokens"])):
            raise DataError(f"{path}:{lineno}: {len(record['tokens'])} tokens but {len(record['tags'])} tags")
        records.append(record)
    return records


def read_extra_train(task: str | SupervisedTask, paths, source: Mapping[str, Any], root: Path) -> tuple[list[dict], list[dict]]:
    """Records to add to the training split, and what run_info records about each file.

    A ``.jsonl`` file holds records in the task's schema (serve.py's feedback); any other file is
    read with the data config's own format and options (more files like the training file).
    """
    task = tasks.get(task)
    records: list[dict] = []
    meta: list[dict] = []
    for given in paths:
        path = _extra_path(given, root)
        if path.suffix.lower() == ".jsonl":
            found = read_records_jsonl(path, task)
        else:
            fmt = source.get("format")
            if not fmt:
                raise ConfigError(f"data.extra_train: {given}: not .jsonl and the data config names no format")
            found = read_local(task, fmt, {"train": str(path)}, root, dict(source.get("options") or {}))["train"]
        task.check_records({"train": found}, str(path))
        records += found
        meta.append({"path": str(path.resolve()), "records": len(found), "fingerprint": readers.fingerprint_files([path])})
    return records, meta
