"""LightningDataModule for language-model pretraining (the ``mlm`` / ``clm`` tasks).

Pipeline: documents per split (``corpus``: local files or the hub; a seeded per-document holdout
when no validation file is given) -> fixed-size blocks (``blocks``), cached by tokenizer and data
(``block_cache``) or produced on the fly (``streaming``) -> batches, masked or labelled by the
task's collator. Instantiated by ``_target_`` from ``conf/data/pubmed_text.yaml`` like every other
datamodule; the tokenizer is set before ``setup`` (it may be trained on ``docs`` first).

Batches come from ``SeededBatchSampler`` like the supervised path: the order of epoch ``e``
depends only on (seed, e), so a resumed run sees the batches an uninterrupted one would, and
under DDP each rank takes its own share (training) and each block is scored once (evaluation).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping, Sequence

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader, Dataset, IterableDataset

from tunelab import tasks
from tunelab.data import readers, sources
from tunelab.data.block_cache import DEFAULT_CACHE_DIR, cached_blocks
from tunelab.data.blocks import Layout
from tunelab.data.corpus import (
    SPLITS, check_files, check_fraction, holdout_split, hub_dataset, load_corpus, local_paths, our_split, sha,
)
from tunelab.data.samplers import SeededBatchSampler
from tunelab.data.streaming import StreamingBlocks
from tunelab.errors import ConfigError

log = logging.getLogger(__name__)


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
    """Pretraining data: documents -> blocks of ``block_size`` tokens; batches by the task's collator.

    ``load()`` reads and splits the documents (no tokenizer needed); ``setup()`` builds the
    blocks (cached) or, with ``streaming=True``, the ``StreamingBlocks`` datasets.
    """

    def __init__(
        self,
        task: str,
        files: Mapping[str, str] | None = None,
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
        mlm_probability: float = 0.15,
        whole_word_mask: bool = False,
        collator=None,
        name: str = "corpus",
        text_key: str = "text",
        monitor: str | None = None,  # read by the config (optimized_metric), not used here
    ) -> None:
        super().__init__()
        self.task = tasks.get(task)
        if not self.task.pretraining:
            raise ConfigError(f"data.task: {task} is not a pretraining objective; use one of "
                              f"{', '.join(n for n in tasks.names() if tasks.get(n).pretraining)}")
        check_files(dict(files or {}))
        self.files, self.hub = dict(files or {}), dict(hub) if hub else None
        self.tokenizer = tokenizer
        self.root = sources.data_dir(data_dir)
        self.block_size, self.batch_size, self.eval_batch_size = block_size, batch_size, eval_batch_size
        self.validation_fraction, self.seed = validation_fraction, seed
        self.streaming = streaming
        self.cache_dir = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
        self.limit_docs, self.num_workers = limit_docs, num_workers
        self.collator_options = {"mlm_probability": mlm_probability, "whole_word_mask": whole_word_mask}
        self.collator = collator  # None: the task's, made in setup() once the tokenizer is known
        self.name, self.text_key = name, text_key
        self.docs: dict[str, list[str]] = {}
        self.datasets: dict[str, Dataset | IterableDataset] = {}
        self.meta: dict[str, Any] = {}
        self._paths: dict[str, Path] | None = None

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
            paths, hint = local_paths(self.files, self.root, self.hub)
            if paths is not None:
                base = {"origin": "local", "files": {k: str(p) for k, p in paths.items()},
                        "fingerprint": readers.fingerprint_files(list(paths.values())),
                        "fingerprints": {k: readers.fingerprint_files(p) for k, p in paths.items()}}
                have_valid = "validation" in paths
            else:  # a streamed hub dataset has no _fingerprint: key on its spec (pin a revision)
                names = list(hub_dataset(self.hub, hint, streaming=True))
                have_valid = "validation" in {our_split(self.hub, n) for n in names}
                fp = sha(self.hub)[:16]
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
            check_fraction(self.validation_fraction)
            validation = {
                "made_by": "tunelab seeded per-document holdout",
                "source": "train", "fraction": self.validation_fraction, "seed": self.seed,
                "description": f"seeded ({self.seed}) per-document holdout of ~{100 * self.validation_fraction:g}% "
                               "of the train documents",
            }
        self.meta = {**base, "name": self.name, "task": self.task.name, "objective": self.task.name,
                     "streaming": self.streaming, "limit_docs": self.limit_docs, "block_size": self.block_size,
                     "validation": validation,
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
        self.task.check_tokenizer(self.tokenizer)

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
        if self.collator is None:
            self.collator = self.task.collator(self.tokenizer, **self.collator_options)
        lay = Layout(self.tokenizer, self.block_size)
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
        collator = self.collator or stack_blocks
        if not train and hasattr(collator, "for_evaluation"):
            collator = collator.for_evaluation(self.seed)  # MLM: the same masks on every evaluation
        batch_size = self.batch_size if train else self.eval_batch_size
        common = {"collate_fn": collator, "num_workers": self.num_workers, "persistent_workers": self.num_workers > 0}
        if isinstance(ds, IterableDataset):  # a stream is read in file order and shards itself by rank
            return DataLoader(ds, batch_size=batch_size, **common)
        sampler = SeededBatchSampler([self.block_size] * len(ds), batch_size, seed=self.seed, shuffle=train,
                                     group_by_length=False, drop_uneven=train)
        # Its own generator: creating an iterator then draws from it, not from the global RNG,
        # so dropout masks do not depend on when Lightning builds the iterator (exact resume).
        return DataLoader(ds, batch_sampler=sampler, generator=torch.Generator().manual_seed(self.seed), **common)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("validation", train=False)
