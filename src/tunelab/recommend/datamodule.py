"""The LightningDataModule of a recommendation run: reads ML-100K once, splits it, serves loaders.

Which examples it serves is the model's to say (``use``): SASRec and the text model train on
history windows and are scored on ranking queries, the reranker on text pairs. The module owns the
data and the loaders; the builders decide the datasets (composition, not subclasses per model).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import lightning.pytorch as L
import torch
from torch.utils.data import DataLoader, Dataset

from tunelab.errors import ConfigError
from tunelab.recommend import movielens
from tunelab.recommend.examples import EpochSampler
from tunelab.recommend.split import Split, leave_one_out, order_histories

FILES = ("ratings", "items")


class RecDataModule(L.LightningDataModule):
    def __init__(self, name: str, data_dir: str, files: dict[str, str], seed: int = 42, batch_size: int = 128,
                 eval_batch_size: int = 256, max_len: int = 50, cold_max: int = 5, num_workers: int = 0,
                 monitor: str = "val/ndcg_10", tokenizer: Any = None) -> None:
        super().__init__()
        self.name, self.data_dir, self.files = name, data_dir, dict(files)
        self.seed, self.batch_size, self.eval_batch_size = seed, batch_size, eval_batch_size
        self.max_len, self.cold_max, self.num_workers, self.monitor = max_len, cold_max, num_workers, monitor
        self.tokenizer = tokenizer  # unused: the builders tokenize item text (accepted like every data module)
        self.split: Split | None = None
        self.item_ids: list[str] = []
        self.texts: list[str] = []
        self.meta: dict = {}
        self.sets: dict[str, Dataset | None] = {"train": None, "val": None, "test": None}

    def path(self, key: str) -> Path:
        if key not in self.files or not self.files[key]:
            raise ConfigError(f"data.files.{key}: required (the {key} file, relative to data_dir)")
        p = Path(self.files[key])
        return p if p.is_absolute() else Path(self.data_dir) / p

    def load(self) -> None:
        for key in FILES:
            self.path(key)
        genres = movielens.read_genre_names(self.path("genres")) if self.files.get("genres") else movielens.GENRES
        items = movielens.read_items(self.path("items"), genres)
        self.item_ids = list(items)
        self.texts = ["", *items.values()]  # row 0: padding
        index = {item: i + 1 for i, item in enumerate(self.item_ids)}
        histories, repeats = order_histories(movielens.read_interactions(self.path("ratings")), index, self.seed,
                                             str(self.path("ratings")))
        self.split = leave_one_out(histories, len(self.item_ids), self.cold_max)
        digest = hashlib.sha256()
        for key in FILES:
            digest.update(self.path(key).read_bytes())
        self.meta = {"name": self.name, "fingerprint": digest.hexdigest()[:16],
                     "files": {k: str(self.path(k)) for k in FILES}, "repeat_interactions_dropped": repeats,
                     "split": {"protocol": "leave-one-out (last = test, second-last = validation)",
                               "tie_break": "seeded shuffle", "seed": self.seed, **self.split.meta},
                     "interaction": "every rating, whatever its value"}

    def use(self, train: Dataset | None = None, val: Dataset | None = None, test: Dataset | None = None) -> None:
        self.sets = {"train": train, "val": val, "test": test}

    def _loader(self, stage: str, batch_size: int, sampler=None) -> DataLoader:
        ds = self.sets[stage]
        if ds is None:
            raise ConfigError(f"rec.name: the model's builder gave no {stage} examples")
        # Its own generator: each new iterator draws a base seed, which from the global generator
        # would shift every later dropout mask (and a resumed run would then differ).
        return DataLoader(ds, batch_size=batch_size, sampler=sampler, collate_fn=ds.collate, num_workers=self.num_workers,
                          generator=torch.Generator().manual_seed(self.seed))

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", self.batch_size, EpochSampler(len(self.sets["train"]), self.seed))

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", self.eval_batch_size)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", self.eval_batch_size)
