"""Raw-text corpora for language-model pretraining (MLM or CLM): documents -> fixed-size blocks.

Pipeline (``TextDataModule``):

1. ``load_corpus``: documents per split from local files (``.txt``: one document per non-blank
   line; ``.jsonl``: one ``{"text": ...}`` object per line), or from the hub when the files are
   absent. Without a validation file, a seeded fraction of the train documents is held out
   (``holdout_split``: per-document, so the in-memory and streaming paths hold out the same ones).
2. ``tokenize_and_block``: every document is tokenized without special tokens and followed by a
   separator ([SEP] for BERT-style tokenizers, else EOS); the concatenation is cut into pieces
   of ``block_size - n_special`` tokens, each wrapped with the model's special tokens (BERT:
   ``[CLS] ... [SEP]``; GPT-2: nothing), so every block is exactly ``block_size`` tokens long
   and needs no padding. The final partial block is dropped.
3. ``cached_blocks``: the block tensor is cached as ``<cache_dir>/<key>.pt``, keyed by the
   tokenizer, the block size and the data (file fingerprint, split, holdout recipe).
4. ``StreamingBlocks``: the same blocks, produced on the fly for corpora larger than memory.

The collator (MLM masking or CLM labels) is the caller's; the default only stacks blocks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from tunelab.data import readers, sources
from tunelab.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SPLITS = ("train", "validation")
OBJECTIVES = ("mlm", "clm")
CACHE_VERSION = 1  # bump when the block layout changes, to invalidate old cache files
DEFAULT_CACHE_DIR = "~/.cache/tunelab"


# --------------------------------------------------------------------------- reading documents


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


def _check_files(files: Mapping[str, str]) -> None:
    unknown = sorted(set(files) - set(SPLITS))
    if unknown:
        raise ConfigError(f"data.files: unknown split {unknown[0]!r}; use {', '.join(SPLITS)}")
    if files and "train" not in files:
        raise ConfigError("data.files.train: required (a validation file alone is not a corpus)")


def _local_paths(files: Mapping[str, str], root: Path, hub: Mapping | None) -> tuple[dict[str, Path] | None, str]:
    """``(resolved local files, "")`` if all exist; ``(None, why)`` if not but a hub id can stand in."""
    _check_files(files)
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


def _hub_kwargs(hub: Mapping) -> dict:
    return {k: hub[k] for k in ("data_files", "revision") if hub.get(k) is not None}


def _hub_text_column(hub: Mapping, text_key: str) -> str:
    return hub.get("text_column") or text_key


def load_corpus(
    files: Mapping[str, str], root: Path, hub: Mapping | None = None, text_key: str = "text"
) -> Corpus:
    """Documents per split (``train``, optional ``validation``): local files, else the hub."""
    paths, hint = _local_paths(files, root, hub)
    if paths is not None:
        splits = {k: read_documents(p, text_key) for k, p in paths.items()}
        meta = {"origin": "local", "files": {k: str(p) for k, p in paths.items()},
                "fingerprint": readers.fingerprint_files(list(paths.values())),
                "fingerprints": {k: readers.fingerprint_files(p) for k, p in paths.items()}}
        return Corpus(splits, meta)
    import datasets

    try:
        dsd = datasets.load_dataset(hub["path"], hub.get("name"), **_hub_kwargs(hub))
    except Exception as exc:  # network, missing repo, bad files: one line that says which
        raise _hub_failed(hint, hub, exc) from exc
    rename = dict(hub.get("splits") or {})
    col = _hub_text_column(hub, text_key)
    splits, fps = {}, {}
    for hub_split, ds in dsd.items():
        split = rename.get(hub_split, hub_split)
        if split not in SPLITS:
            continue  # e.g. a hub "test" split: not used for pretraining
        if col not in ds.column_names:
            raise DataError(f"hub dataset {hub['path']!r}: no column {col!r}; columns are {ds.column_names} "
                            "(set data.hub.text_column)")
        splits[split] = [t.strip() for t in ds[col] if isinstance(t, str) and t.strip()]
        fps[split] = ds._fingerprint
    if "train" not in splits:
        raise DataError(f"hub dataset {hub['path']!r}: no train split (have {sorted(dsd)}; map one with data.hub.splits)")
    meta = {"origin": "hub", "hub": dict(hub), "fingerprints": fps,
            "fingerprint": _sha({k: fps[k] for k in sorted(fps)})[:16]}
    return Corpus(splits, meta)


# --------------------------------------------------------------------------- validation holdout


def _check_fraction(fraction: float) -> None:
    if not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"data.validation_fraction: must be a number in (0, 1), got {fraction!r}")


def is_held_out(index: int, seed: int, fraction: float) -> bool:
    """Whether document ``index`` goes to validation: a seeded hash, so it needs no corpus size
    and the streaming path (which never sees the whole corpus) decides exactly the same."""
    h = hashlib.sha256(f"{seed}:{index}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64 < fraction


def holdout_split(docs: Sequence[str], fraction: float, seed: int, name: str = "corpus") -> tuple[list[str], list[str]]:
    """``(train, validation)``: each document is held out with probability ``fraction`` (seeded)."""
    _check_fraction(fraction)
    train, valid = [], []
    for i, doc in enumerate(docs):
        (valid if is_held_out(i, seed, fraction) else train).append(doc)
    if not valid or not train:
        raise DataError(f"{name}: validation_fraction {fraction:g} of {len(docs)} documents left "
                        f"{'no validation' if not valid else 'no train'} documents; give data.files.validation "
                        "or change data.validation_fraction")
    return train, valid


# --------------------------------------------------------------------------- tokenizing into blocks


def special_tokens_around(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence (BERT: [CLS], [SEP]; GPT-2: none)."""
    n = tokenizer.num_special_tokens_to_add()
    build = getattr(tokenizer, "build_inputs_with_special_tokens", None)
    if build is not None:
        marker = -7  # no real id; find where the sequence lands between the specials
        wrapped = list(build([marker]))
        i = wrapped.index(marker)
        prefix, suffix = wrapped[:i], wrapped[i + 1:]
    else:  # transformers 5 fast tokenizers: compare a probe encoded with and without specials
        plain = tokenizer("hello", add_special_tokens=False)["input_ids"]
        full = tokenizer("hello")["input_ids"]
        starts = [i for i in range(len(full) - len(plain) + 1) if full[i:i + len(plain)] == plain]
        if not plain or not starts:
            raise ConfigError("model.tokenizer: cannot tell where it adds special tokens")
        prefix, suffix = full[:starts[0]], full[starts[0] + len(plain):]
    if len(prefix) + len(suffix) != n:
        raise ConfigError(f"model.tokenizer: adds {n} special tokens but wraps a sequence in {prefix} ... {suffix}")
    return list(prefix), list(suffix)


def separator_id(tokenizer) -> int | None:
    """The id appended after each document: [SEP] (BERT-style), else EOS; None if it has neither."""
    sep = getattr(tokenizer, "sep_token_id", None)
    return sep if sep is not None else getattr(tokenizer, "eos_token_id", None)


def encode_documents(tokenizer, docs: Sequence[str], batch: int = 512) -> Iterator[list[int]]:
    """Token ids of each document, no special tokens, never truncated (in batches, for speed)."""
    for start in range(0, len(docs), batch):
        enc = tokenizer(
            list(docs[start:start + batch]), add_special_tokens=False, truncation=False, padding=False,
            return_attention_mask=False, return_token_type_ids=False,
            verbose=False,  # documents are longer than model_max_length by design
        )
        yield from enc["input_ids"]


class _Layout:
    """Block geometry for one tokenizer: specials around each block, separator, content length."""

    def __init__(self, tokenizer, block_size: int) -> None:
        self.prefix, self.suffix = special_tokens_around(tokenizer)
        self.sep = separator_id(tokenizer)
        self.block_size = block_size
        self.content = block_size - len(self.prefix) - len(self.suffix)
        if not isinstance(block_size, int) or self.content < 1:
            raise ConfigError(f"data.block_size: {block_size!r} leaves no room next to the tokenizer's "
                              f"{len(self.prefix) + len(self.suffix)} special tokens")

    def check(self, name: str, text_tokens: int, stream_tokens: int) -> None:
        """The two corpus errors: nothing to tokenize, or not enough for one block."""
        if text_tokens == 0:
            raise DataError(f"{name}: corpus has no text")
        if stream_tokens < self.content:
            raise DataError(f"{name}: corpus has {stream_tokens} tokens, fewer than one block of "
                            f"{self.block_size}; lower data.block_size")


def tokenize_and_block(docs: Sequence[str], tokenizer, block_size: int, name: str = "corpus") -> torch.Tensor:
    """Documents -> ``LongTensor (n_blocks, block_size)``: concatenated with separators, cut, wrapped."""
    lay = _Layout(tokenizer, block_size)
    flat: list[int] = []
    text_tokens = 0
    for ids in encode_documents(tokenizer, docs):
        text_tokens += len(ids)
        flat.extend(ids)
        if lay.sep is not None:
            flat.append(lay.sep)
    lay.check(name, text_tokens, len(flat))
    n = len(flat) // lay.content  # the final partial block is dropped
    body = torch.tensor(flat[: n * lay.content], dtype=torch.long).view(n, lay.content)
    pre = torch.tensor(lay.prefix, dtype=torch.long).expand(n, len(lay.prefix))
    post = torch.tensor(lay.suffix, dtype=torch.long).expand(n, len(lay.suffix))
    return torch.cat([pre, body, post], dim=1).contiguous()


# --------------------------------------------------------------------------- caching


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


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


# --------------------------------------------------------------------------- streaming


def _rank_world(fallback: tuple[int, int]) -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return fallback


class StreamingBlocks(IterableDataset):
    """Blocks produced on the fly from files read line by line (or a streamed hub split).

    Same documents, separators and block boundaries as ``tokenize_and_block`` on the same docs.
    Block ``i`` goes to shard ``i % (world_size * num_workers)``: every worker tokenizes the whole
    stream (to know the boundaries) but yields only its own blocks, so nothing is seen twice.
    ``holdout = {"fraction", "seed", "keep": "train"|"validation"}`` applies ``is_held_out``.
    """

    def __init__(
        self,
        tokenizer,
        block_size: int,
        files: Sequence[str | os.PathLike] = (),
        hub: Mapping | None = None,
        split: str = "train",
        text_key: str = "text",
        holdout: Mapping | None = None,
        limit_docs: int | None = None,
        name: str = "corpus",
        docs_per_batch: int = 256,
    ) -> None:
        super().__init__()
        self.tokenizer, self.block_size = tokenizer, block_size
        self.files, self.hub, self.split, self.text_key = [str(f) for f in files], hub, split, text_key
        self.holdout = dict(holdout) if holdout else None
        self.limit_docs, self.name, self.docs_per_batch = limit_docs, name, docs_per_batch
        self._layout = _Layout(tokenizer, block_size)  # check the block size now, not in a worker
        self._dist = _rank_world((0, 1))  # captured in case workers cannot see the process group

    def _raw_documents(self) -> Iterator[str]:
        if self.files:
            for f in self.files:
                yield from iter_documents(f, self.text_key)
            return
        import datasets

        inverse = {v: k for k, v in (self.hub.get("splits") or {}).items()}
        ds = datasets.load_dataset(self.hub["path"], self.hub.get("name"), split=inverse.get(self.split, self.split),
                                   streaming=True, **_hub_kwargs(self.hub))
        col = _hub_text_column(self.hub, self.text_key)
        for row in ds:
            text = row.get(col)
            if isinstance(text, str) and text.strip():
                yield text.strip()

    def documents(self) -> Iterator[str]:
        """The documents of this split: the first ``limit_docs``, then the holdout filter."""
        h = self.holdout
        for i, doc in enumerate(self._raw_documents()):
            if self.limit_docs is not None and i >= self.limit_docs:
                return
            if h and is_held_out(i, h["seed"], h["fraction"]) != (h["keep"] == "validation"):
                continue
            yield doc

    def __iter__(self) -> Iterator[torch.Tensor]:
        lay = self._layout
        rank, world = _rank_world(self._dist)
        info = torch.utils.data.get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info else (0, 1)
        shard, n_shards = rank * nworkers + wid, world * nworkers
        buf: list[int] = []
        index = text_tokens = stream_tokens = 0
        batch: list[str] = []
        docs = self.documents()
        while True:
            doc = next(docs, None)
            if doc is not None:
                batch.append(doc)
                if len(batch) < self.docs_per_batch:
                    continue
            for ids in encode_documents(self.tokenizer, batch, batch=self.docs_per_batch):
                text_tokens += len(ids)
                buf.extend(ids)
                if lay.sep is not None:
                    buf.append(lay.sep)
            batch = []
            n = len(buf) // lay.content
            for k in range(n):
                if index % n_shards == shard:
                    yield torch.tensor(lay.prefix + buf[k * lay.content:(k + 1) * lay.content] + lay.suffix,
                                       dtype=torch.long)
                index += 1
            stream_tokens += n * lay.content
            buf = buf[n * lay.content:]
            if doc is None:
                break
        lay.check(self.name, text_tokens, stream_tokens + len(buf))


# --------------------------------------------------------------------------- data module


def stack_blocks(blocks: Sequence[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Default collator: ``{"input_ids": (B, L), "attention_mask": ones}`` (blocks need no padding)."""
    ids = torch.stack(list(blocks))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


class _Blocks(Dataset):
    def __init__(self, blocks: torch.Tensor) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.blocks[i]


class TextDataModule(L.LightningDataModule):
    """Pretraining data: documents -> blocks of ``block_size`` tokens; batches by ``collator``.

    ``load()`` reads and splits the documents (no tokenizer needed); ``setup()`` builds the
    blocks (cached) or, with ``streaming=True``, the ``StreamingBlocks`` datasets.
    """

    def __init__(
        self,
        objective: str,
        files: Mapping[str, str],
        hub: Mapping | None = None,
        tokenizer=None,
        data_dir: str | None = None,
        block_size: int = 128,
        batch_size: int = 16,
        eval_batch_size: int = 32,
        validation_fraction: float = 0.05,
        seed: int = 42,
        streaming: bool = False,
        cache_dir: str | None = None,
        limit_docs: int | None = None,
        num_workers: int = 0,
        collator=None,
        name: str = "corpus",
        text_key: str = "text",
    ) -> None:
        super().__init__()
        if objective not in OBJECTIVES:
            raise ConfigError(f"data.objective: unknown objective {objective!r}; use {', '.join(OBJECTIVES)}")
        _check_files(dict(files or {}))
        self.objective, self.files, self.hub = objective, dict(files or {}), dict(hub) if hub else None
        self.tokenizer = tokenizer
        self.root = sources.data_dir(data_dir)
        self.block_size, self.batch_size, self.eval_batch_size = block_size, batch_size, eval_batch_size
        self.validation_fraction, self.seed = validation_fraction, seed
        self.streaming = streaming
        self.cache_dir = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
        self.limit_docs, self.num_workers = limit_docs, num_workers
        self.collator = collator or stack_blocks
        self.name, self.text_key = name, text_key
        self.docs: dict[str, list[str]] = {}
        self.datasets: dict[str, Dataset | IterableDataset] = {}
        self.meta: dict[str, Any] = {}

    @property
    def tokens_per_block(self) -> int:
        """Tokens the model sees per block (every block is full, no padding): ``block_size``."""
        return self.block_size

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> None:
        """Read the documents and make the validation split. Idempotent; needs no tokenizer."""
        if self.meta:
            return
        if self.streaming:  # only check the data can be reached; documents are read when iterated
            paths, hint = _local_paths(self.files, self.root, self.hub)
            if paths is not None:
                base = {"origin": "local", "files": {k: str(p) for k, p in paths.items()},
                        "fingerprint": readers.fingerprint_files(list(paths.values())),
                        "fingerprints": {k: readers.fingerprint_files(p) for k, p in paths.items()}}
                have_valid = "validation" in paths
            else:
                import datasets

                try:  # a streamed hub dataset has no _fingerprint: key on its spec (pin a revision)
                    names = datasets.get_dataset_split_names(self.hub["path"], self.hub.get("name"),
                                                             **_hub_kwargs(self.hub))
                except Exception as exc:
                    raise _hub_failed(hint, self.hub, exc) from exc
                rename = dict(self.hub.get("splits") or {})
                have_valid = "validation" in {rename.get(n, n) for n in names}
                fp = _sha(self.hub)[:16]
                base = {"origin": "hub", "hub": dict(self.hub), "fingerprint": fp,
                        "fingerprints": {"train": fp, "validation": fp}}
            self._paths = paths
        else:
            corpus = load_corpus(self.files, self.root, self.hub, self.text_key)
            base = corpus.meta
            docs = {k: v[: self.limit_docs] if self.limit_docs else v for k, v in corpus.items()}
            have_valid = "validation" in docs
            if not have_valid:
                docs["train"], docs["validation"] = holdout_split(docs["train"], self.validation_fraction,
                                                                  self.seed, self.name)
            self.docs = docs
        if have_valid:
            validation = {"made_by": "given", "description": "the given validation split"}
        else:
            _check_fraction(self.validation_fraction)
            validation = {
                "made_by": "tunelab seeded per-document holdout",
                "source": "train", "fraction": self.validation_fraction, "seed": self.seed,
                "description": f"seeded ({self.seed}) per-document holdout of ~{100 * self.validation_fraction:g}% "
                               "of the train documents",
            }
        self.meta = {**base, "name": self.name, "objective": self.objective, "streaming": self.streaming,
                     "limit_docs": self.limit_docs, "block_size": self.block_size, "validation": validation,
                     "sizes": {"documents": {k: len(v) for k, v in self.docs.items()} if self.docs else None}}

    def _data_key(self, split: str) -> dict:
        """What one split's documents depend on (for the cache key)."""
        held = self.meta["validation"]["made_by"] != "given"
        source = "train" if held else split
        return {"origin": self.meta["origin"], "fingerprint": self.meta["fingerprints"][source],
                "split": split, "text_key": self.text_key, "limit_docs": self.limit_docs,
                "holdout": {"fraction": self.validation_fraction, "seed": self.seed} if held else None}

    def _check_tokenizer(self) -> None:
        if self.tokenizer is None:
            raise ConfigError("data: a tokenizer is required before setup()")
        if self.objective == "mlm" and getattr(self.tokenizer, "mask_token_id", None) is None:
            raise ConfigError("model.tokenizer: objective 'mlm' needs a tokenizer with a mask token")

    def prepare_data(self) -> None:
        # Tokenize once per node and fill the cache, so every rank's setup() is a cache hit.
        self.load()
        if self.tokenizer is not None and not self.streaming:
            self._check_tokenizer()
            for split in SPLITS:
                cached_blocks(self.docs[split], self.tokenizer, self.block_size, self.cache_dir,
                              self._data_key(split), f"{self.name}/{split}")

    def setup(self, stage: str | None = None) -> None:
        self.load()
        if self.datasets:
            return
        self._check_tokenizer()
        lay = _Layout(self.tokenizer, self.block_size)
        self.meta["content_tokens_per_block"] = lay.content
        self.meta["tokens_per_block"] = self.tokens_per_block
        self.meta["separator"] = self.tokenizer.convert_ids_to_tokens(lay.sep) if lay.sep is not None else None
        if self.streaming:
            for split in SPLITS:
                self.datasets[split] = self._streaming(split)
            return
        blocks = {}
        for split in SPLITS:
            blocks[split] = cached_blocks(self.docs[split], self.tokenizer, self.block_size, self.cache_dir,
                                          self._data_key(split), f"{self.name}/{split}")
            self.datasets[split] = _Blocks(blocks[split])
        self.meta["sizes"]["blocks"] = {k: len(v) for k, v in blocks.items()}
        self.meta["sizes"]["tokens"] = {k: v.numel() for k, v in blocks.items()}

    def _streaming(self, split: str) -> StreamingBlocks:
        held = self.meta["validation"]["made_by"] != "given"
        source = "train" if held else split
        holdout = {"fraction": self.validation_fraction, "seed": self.seed, "keep": split} if held else None
        files = [self._paths[source]] if self._paths is not None else ()
        return StreamingBlocks(self.tokenizer, self.block_size, files=files, hub=None if files else self.hub,
                               split=source, text_key=self.text_key, holdout=holdout,
                               limit_docs=self.limit_docs, name=f"{self.name}/{split}")

    # -- loaders ---------------------------------------------------------------------------
    def _loader(self, split: str, train: bool) -> DataLoader:
        ds = self.datasets[split]
        shuffle = train and not isinstance(ds, IterableDataset)  # a stream is read in file order
        collator = self.collator
        if not train and hasattr(collator, "for_evaluation"):
            collator = collator.for_evaluation(self.seed)  # MLM: the same masks on every evaluation
        return DataLoader(
            ds,
            batch_size=self.batch_size if train else self.eval_batch_size,
            shuffle=shuffle,
            collate_fn=collator,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # Its own generator: the shuffle order depends on the seed only, not the global RNG.
            generator=torch.Generator().manual_seed(self.seed) if shuffle else None,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("validation", train=False)
