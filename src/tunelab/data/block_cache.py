"""The block cache: tokenized blocks saved as ``<cache_dir>/<key>.pt``, keyed by what they depend
on (tokenizer identity, block size, layout, the data), written atomically."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

import torch

from tunelab.data.blocks import separator_id, tokenize_and_block
from tunelab.data.corpus import sha as _sha

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the block layout changes, to invalidate old cache files
DEFAULT_CACHE_DIR = "~/.cache/tunelab"


def tokenizer_fingerprint(tokenizer) -> str:
    """sha256 of the tokenizer's definition (vocab/merges, normalizer, post-processor...)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        # Truncation/padding are per-call state that a previous call may have changed: not identity.
        spec.pop("truncation", None)
        spec.pop("padding", None)
        return _sha(spec)[:16]
    return _sha(tokenizer.get_vocab())[:16]


def cache_key(tokenizer, block_size: int, data_key: Any) -> str:
    """What the blocks depend on: tokenizer identity and size, block size, layout, and the data."""
    return _sha({
        "version": CACHE_VERSION,
        "tokenizer": tokenizer_fingerprint(tokenizer),
        "len_tokenizer": len(tokenizer),
        "separator": separator_id(tokenizer),
        "block_size": block_size,
        "data": data_key,
    })[:24]


def cached_blocks(
    docs: Sequence[str],
    tokenizer,
    block_size: int,
    cache_dir: str | os.PathLike | None,
    data_key: Any,
    name: str = "corpus",
) -> torch.Tensor:
    """``tokenize_and_block`` through a cache file ``<cache_dir>/<cache_key>.pt``.

    ``data_key`` identifies ``docs`` (e.g. file fingerprint + split + holdout recipe; for the hub,
    the dataset's ``_fingerprint``). ``cache_dir=None`` disables caching.
    """
    if cache_dir is None:
        return tokenize_and_block(docs, tokenizer, block_size, name)
    folder = Path(cache_dir).expanduser()
    path = folder / f"{cache_key(tokenizer, block_size, data_key)}.pt"
    if path.is_file():
        try:
            blocks = torch.load(path, weights_only=True)
            if isinstance(blocks, torch.Tensor) and blocks.dim() == 2 and blocks.shape[1] == block_size:
                log.info("%s: %d blocks from cache %s", name, len(blocks), path)
                return blocks
        except Exception as exc:  # a truncated or foreign file: rebuild it
            log.warning("%s: ignoring unreadable cache %s (%s)", name, path, exc)
    blocks = tokenize_and_block(docs, tokenizer, block_size, name)
    folder.mkdir(parents=True, exist_ok=True)
    # Atomic: write a temp file in the same folder, then rename over the target, so a concurrent
    # reader (another DDP rank) sees either no file or a whole one.
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(blocks, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return blocks
