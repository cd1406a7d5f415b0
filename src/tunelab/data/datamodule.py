"""LightningDataModule for supervised tasks: what is read, encoded and scored is the task's
(``tunelab.tasks``); this module only reads, splits, batches and shards.

``prepare_data`` only checks that the data can be reached (it never sets state); ``setup`` reads,
splits, builds the label vocabulary from the training split, and tokenizes on every process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader

from tunelab import tasks
from tunelab.data import sources
from tunelab.data.collate import PadCollator
from tunelab.data.samplers import SeededBatchSampler
from tunelab.errors import ConfigError

log = logging.getLogger(__name__)


class _ListDataset:
    def __init__(self, items: list[dict]) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


class TaskDataModule(L.LightningDataModule):
    def __init__(
        self,
        task: str,
        name: str,
        source: Mapping[str, Any],
        tokenizer=None,
        split: Mapping[str, Any] | None = None,
        data_dir: str | None = None,
        max_length: int = 256,
        batch_size: int = 16,
        eval_batch_size: int = 64,
        group_by_length: bool = True,
        pad_to_max_length: bool = False,
        num_workers: int = 0,
        limit: int | None = None,
        seed: int = 42,
        monitor: str | None = None,  # read by the config (optimized_metric), not used here
        eval_split: str = "test",
        encode_options: Mapping[str, Any] | None = None,
        extra_train: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.task = tasks.get(task)
        if self.task.pretraining:
            raise ConfigError(f"data.task: {task} is a pretraining objective; use _target_: tunelab.data.text.TextDataModule")
        self.name = name
        self.source = dict(source)
        self.split_spec = dict(split) if split else None
        self.root = sources.data_dir(data_dir)
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.group_by_length = group_by_length
        self.pad_to_max_length = pad_to_max_length
        self.num_workers = num_workers
        self.limit = limit
        self.seed = seed
        self.eval_split = eval_split
        # Task-specific keyword options of encode (e.g. token_classification's word_separator),
        # checked in load(): a ConfigError raised here would reach the user wrapped by Hydra.
        self.encode_options = dict(encode_options or {})
        # More training records (serve.py's feedback.jsonl, more files like train): train split only.
        self.extra_train = list(extra_train or [])
        self.label_names: list[str] | None = None
        self.meta: dict[str, Any] = {}
        self.encoded: dict[str, list[dict]] = {}

    # -- loading ---------------------------------------------------------------------------
    def load(self) -> None:
        """Read, split and check the data; build labels. Idempotent; needs no tokenizer."""
        if self.label_names is not None:
            return
        self.encode_options = self.task.check_encode_options(self.encode_options)
        loaded = sources.load_splits(self.task, self.source, self.split_spec, self.root)
        splits = loaded.splits
        if self.limit:  # a fixed prefix: a quick, still deterministic, subset for smoke runs
            splits = {k: v[: self.limit] for k, v in splits.items()}
        extra_meta = None
        if self.extra_train:  # after `limit`: a smoke run still sees every correction
            extra, extra_meta = sources.read_extra_train(self.task, self.extra_train, self.source, self.root)
            splits = {**splits, "train": splits["train"] + extra}
        self.label_names = self.task.label_names(splits["train"])
        self.task.check_known(self.label_names, splits, loaded.meta.get("files", {}))
        self.records = splits
        self.meta = {**loaded.meta, "name": self.name, "task": self.task.name, "limit": self.limit,
                     "num_labels": len(self.label_names)}
        if extra_meta is not None:
            self.meta["extra_train"] = extra_meta

    def prepare_data(self) -> None:
        sources.load_splits(self.task, self.source, self.split_spec, self.root)

    def setup(self, stage: str | None = None) -> None:
        self.load()
        if self.encoded:
            return
        if self.tokenizer is None:
            raise ConfigError("data: a tokenizer is required before setup()")
        label2id = {n: i for i, n in enumerate(self.label_names)}
        for split in ("train", "validation", "test"):
            self.encoded[split] = self._encode(self.records[split], label2id)
            cut = self.task.count_truncated(self.encoded[split])
            if cut:
                log.warning("%s/%s: %d examples truncated at %d tokens; %s",
                            self.name, split, cut, self.max_length, self.task.truncation_note)
            self.meta.setdefault("truncated", {})[split] = cut

    # -- loaders ---------------------------------------------------------------------------
    def _collator(self) -> PadCollator:
        return PadCollator(self.tokenizer.pad_token_id, self.max_length if self.pad_to_max_length else None)

    def _loader(self, split: str, train: bool) -> DataLoader:
        items = self.encoded[split]
        sampler = SeededBatchSampler(
            [self.task.length(it) for it in items],
            self.batch_size if train else self.eval_batch_size,
            seed=self.seed,
            shuffle=train,
            # Evaluation batches are sorted by length too: same scores, much less padding.
            group_by_length=self.group_by_length if train else True,
            drop_uneven=train,
        )
        return DataLoader(
            _ListDataset(items),
            batch_sampler=sampler,
            collate_fn=self._collator(),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # Its own generator: creating an iterator then draws from it, not from the global RNG,
            # so dropout masks do not depend on when Lightning builds the iterator (exact resume).
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("validation", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.eval_split, train=False)

    def perturbed_test_dataloader(self, suite: str, rate: float, seed: int) -> DataLoader:
        """The evaluation split after a seeded text perturbation suite (robustness evaluation)."""
        from tunelab.robustness.perturb import perturb_records

        key = f"{self.eval_split}:{suite}:{rate}:{seed}"
        if key not in self.encoded:
            records = perturb_records(self.records[self.eval_split], self.task, suite, rate, seed)
            label2id = {n: i for i, n in enumerate(self.label_names)}
            self.encoded[key] = self._encode(records, label2id)
        return self._loader(key, train=False)

    def _encode(self, records: list[dict], label2id: Mapping[str, int]) -> list[dict]:
        return self.task.encode(records, self.tokenizer, label2id, self.max_length, **self.encode_options)
