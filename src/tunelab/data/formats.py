"""The reader registry: ``data.source.format`` -> the reader that turns files into records.

Two shapes of format:

* per split: one file per split (``data.source.files: {train: ..., validation: ..., test: ...}``,
  any subset; ``data.split`` carves the rest), each read by ``reader(path, **options)``;
* whole: one reader takes all the named files and returns the splits itself (PubMedQA: the
  labelled items plus the official test ids -> ``train`` and ``test``).

A new format is one ``register_format`` call next to its reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from tunelab.data import assist_readers, readers
from tunelab.errors import ConfigError


@dataclass(frozen=True)
class Format:
    reader: Callable
    # None: one file per split. A tuple: the exact file keys a whole-dataset reader takes.
    files: tuple[str, ...] | None = None
    takes_options: bool = True


_FORMATS: dict[str, Format] = {}


def register_format(name: str, reader: Callable, files: tuple[str, ...] | None = None,
                    takes_options: bool = True) -> None:
    _FORMATS[name] = Format(reader, files, takes_options)


def names() -> list[str]:
    return sorted(_FORMATS)


def read(fmt: str, paths: Mapping[str, Path], options: Mapping) -> dict[str, list[dict]]:
    """Records per split from resolved ``paths`` (``{file key: path}``)."""
    if fmt not in _FORMATS:
        raise ConfigError(f"data.source.format: unknown format {fmt!r}; use {', '.join(names())}")
    spec = _FORMATS[fmt]
    if options and not spec.takes_options:
        raise ConfigError(f"data.source.options: format {fmt} takes no options, got {sorted(options)}")
    if spec.files is None:
        return {split: spec.reader(path, **options) for split, path in paths.items()}
    if sorted(paths) != sorted(spec.files):
        want = ", ".join(f"{k}: ..." for k in spec.files)
        raise ConfigError(f"data.source.files: format {fmt} needs exactly {{{want}}}, got keys {sorted(paths)}")
    return spec.reader(*(paths[k] for k in spec.files), **options)


register_format("conll", readers.read_conll)
register_format("delimited", readers.read_delimited_pairs)
register_format("table", readers.read_table)
register_format("columns", readers.read_columns)
register_format("multiple_choice_jsonl", readers.read_multiple_choice_jsonl)
register_format("pubmedqa", readers.read_pubmedqa, files=("all", "test_ids"), takes_options=False)
register_format("sentence_label_json", readers.read_sentence_label_json)
register_format("bitext", assist_readers.read_bitext)
register_format("medquad", assist_readers.read_medquad, files=("root",))
