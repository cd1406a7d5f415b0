"""Raw-text corpora for pretraining: documents per split, from local files or the hub, and the
seeded per-document validation holdout.

Local files: ``.txt`` (one document per non-blank line) or ``.jsonl`` (one ``{"text": ...}``
object per line). When they are absent and the config names a hub dataset, ``hub_dataset`` is the
one place that calls ``datasets.load_dataset`` (in memory or streamed) and ``hub_texts`` the one
place that turns its rows into documents.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from tunelab.data import readers, sources
from tunelab.errors import ConfigError, DataError

SPLITS = ("train", "validation")


def iter_documents(path: str | os.PathLike, text_key: str = "text") -> Iterator[str]:
    """Yield the documents of one file, line by line (never the whole file in memory)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{path}: no such file")
    suffix = p.suffix.lower()
    if suffix not in (".txt", ".jsonl"):
        raise DataError(f"{path}: unknown corpus format {suffix or '(no suffix)'!r}; use .txt or .jsonl")
    for lineno, line in readers._iter_lines(p, "utf-8"):
        if not line.strip():
            continue
        if suffix == ".txt":
            yield line.strip()
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from None
        if not isinstance(obj, dict) or text_key not in obj:
            keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
            raise DataError(f"{path}:{lineno}: no {text_key!r} key (got {keys})")
        if not isinstance(obj[text_key], str):
            raise DataError(f"{path}:{lineno}: {text_key!r} is {type(obj[text_key]).__name__}, not a string")
        if obj[text_key].strip():  # an empty document is skipped like a blank line
            yield obj[text_key].strip()


def read_documents(path: str | os.PathLike, text_key: str = "text") -> list[str]:
    """All documents of a ``.txt`` (one per non-blank line) or ``.jsonl`` (``text_key``) file."""
    return list(iter_documents(path, text_key))


class Corpus(dict):
    """``{split: [document, ...]}`` plus ``meta``: origin, files, fingerprints per split."""

    def __init__(self, splits: Mapping[str, list[str]], meta: Mapping[str, Any]) -> None:
        super().__init__(splits)
        self.meta = dict(meta)


def check_files(files: Mapping[str, str]) -> None:
    unknown = sorted(set(files) - set(SPLITS))
    if unknown:
        raise ConfigError(f"data.files: unknown split {unknown[0]!r}; use {', '.join(SPLITS)}")
    if files and "train" not in files:
        raise ConfigError("data.files.train: required (a validation file alone is not a corpus)")


def local_paths(files: Mapping[str, str], root: Path, hub: Mapping | None) -> tuple[dict[str, Path] | None, str]:
    """``(resolved local files, "")`` if all exist; ``(None, why)`` if not but a hub id can stand in."""
    check_files(files)
    paths = {k: sources.resolve(v, root) for k, v in files.items()}
    missing = [p for p in paths.values() if not p.is_file()]
    if paths and not missing:
        return paths, ""
    where = f"{missing[0]}: no such file" if missing else "data.files: none given"
    hint = f"{where} (data dir {root}; set {sources.DATA_DIR_ENV} to the datasets folder)"
    if hub and hub.get("path"):
        return None, hint
    raise DataError(f"{hint} and no hub id to fall back on")


def _hub_failed(hint: str, hub: Mapping, exc: Exception) -> DataError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"{hint}, and the hub fallback failed: data.hub.path: could not load {hub['path']!r}: {first}")


def hub_dataset(hub: Mapping, hint: str = "data.files: none given", streaming: bool = False):
    """``datasets.load_dataset`` of the configured hub corpus (a DatasetDict, or an
    IterableDatasetDict when streaming); any failure is one line that says which."""
    import datasets

    kwargs = {k: hub[k] for k in ("data_files", "revision") if hub.get(k) is not None}
    try:
        return datasets.load_dataset(hub["path"], hub.get("name"), streaming=streaming, **kwargs)
    except Exception as exc:  # network, missing repo, bad files
        raise _hub_failed(hint, hub, exc) from exc


def hub_split(hub: Mapping, split: str) -> str:
    """The hub's name for our split (``data.hub.splits`` maps hub names to ours)."""
    inverse = {v: k for k, v in (hub.get("splits") or {}).items()}
    return inverse.get(split, split)


def our_split(hub: Mapping, hub_name: str) -> str:
    return dict(hub.get("splits") or {}).get(hub_name, hub_name)


def hub_texts(rows: Iterable[Mapping], column: str) -> Iterator[str]:
    """The non-empty, stripped texts of one column (in memory or streamed alike)."""
    for row in rows:
        text = row.get(column)
        if isinstance(text, str) and text.strip():
            yield text.strip()


def hub_text_column(hub: Mapping, text_key: str) -> str:
    return hub.get("text_column") or text_key


def load_corpus(
    files: Mapping[str, str], root: Path, hub: Mapping | None = None, text_key: str = "text"
) -> Corpus:
    """Documents per split (``train``, optional ``validation``): local files, else the hub."""
    paths, hint = local_paths(files, root, hub)
    if paths is not None:
        splits = {k: read_documents(p, text_key) for k, p in paths.items()}
        meta = {"origin": "local", "files": {k: str(p) for k, p in paths.items()},
                "fingerprint": readers.fingerprint_files(list(paths.values())),
                "fingerprints": {k: readers.fingerprint_files(p) for k, p in paths.items()}}
        return Corpus(splits, meta)
    dsd = hub_dataset(hub, hint)
    col = hub_text_column(hub, text_key)
    splits, fps = {}, {}
    for name, ds in dsd.items():
        split = our_split(hub, name)
        if split not in SPLITS:
            continue  # e.g. a hub "test" split: not used for pretraining
        if col not in ds.column_names:
            raise DataError(f"hub dataset {hub['path']!r}: no column {col!r}; columns are {ds.column_names} "
                            "(set data.hub.text_column)")
        splits[split] = list(hub_texts(ds, col))
        fps[split] = ds._fingerprint
    if "train" not in splits:
        raise DataError(f"hub dataset {hub['path']!r}: no train split (have {sorted(dsd)}; map one with data.hub.splits)")
    meta = {"origin": "hub", "hub": dict(hub), "fingerprints": fps,
            "fingerprint": sha({k: fps[k] for k in sorted(fps)})[:16]}
    return Corpus(splits, meta)


def sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- validation holdout


def check_fraction(fraction: float) -> None:
    if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"data.validation_fraction: must be a number in (0, 1), got {fraction!r}")


def is_held_out(index: int, seed: int, fraction: float) -> bool:
    """Whether document ``index`` goes to validation: a seeded hash, so it needs no corpus size
    and the streaming path (which never sees the whole corpus) decides exactly the same."""
    h = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < fraction


def holdout_split(docs: Sequence[str], fraction: float, seed: int, name: str = "corpus") -> tuple[list[str], list[str]]:
    """``(train, validation)``: each document is held out with probability ``fraction`` (seeded)."""
    check_fraction(fraction)
    train, valid = [], []
    for i, doc in enumerate(docs):
        (valid if is_held_out(i, seed, fraction) else train).append(doc)
    if not valid or not train:
        raise DataError(f"{name}: validation_fraction {fraction:g} of {len(docs)} documents left "
                        f"{'no validation' if not valid else 'no train'} documents; give data.files.validation "
                        "or change data.validation_fraction")
    return train, valid
