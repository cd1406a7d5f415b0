"""Datasets and collation: training windows, ranking queries, reranker text pairs.

Batches name the item-id sequence ``input_ids`` (and carry ``attention_mask``) like text
batches, so the framework's callbacks (throughput) read them unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from tunelab.recommend.split import Split

STAGES = ("train", "val", "test")


def left_pad(seqs: Sequence[Sequence[int]]) -> torch.Tensor:
    width = max(max((len(s) for s in seqs), default=1), 1)
    out = torch.zeros(len(seqs), width, dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            out[i, width - len(s):] = torch.as_tensor(list(s), dtype=torch.long)
    return out


class EpochSampler(Sampler):
    """Yields ``(index, epoch)``: a seeded order per epoch, and the epoch for the dataset's own
    per-example randomness. Lightning calls ``set_epoch`` on a loader's sampler each epoch, so
    a resumed run draws exactly what the uninterrupted one would have."""

    def __init__(self, n: int, seed: int, shuffle: bool = True) -> None:
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n) if self.shuffle else range(self.n)
        return iter([(int(i), self.epoch) for i in order])


class WindowSet(Dataset):
    """One training window per user per epoch: a random end point in the training sequence (all of
    it is seen over the epochs), the ``max_len`` items before it as input, each next item as label."""

    def __init__(self, split: Split, max_len: int, seed: int) -> None:
        self.rows = [r for r, seq in enumerate(split.train) if len(seq) >= 2]
        self.train, self.max_len, self.seed = split.train, max_len, seed

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key) -> list[int]:
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        seq = self.train[self.rows[i]]
        end = int(np.random.default_rng([self.seed, epoch, i]).integers(2, len(seq) + 1))
        return seq[max(0, end - self.max_len - 1):end]

    @staticmethod
    def collate(windows: list[list[int]]) -> dict[str, torch.Tensor]:
        ids = left_pad([w[:-1] for w in windows])
        return {"input_ids": ids, "labels": left_pad([w[1:] for w in windows]), "attention_mask": (ids > 0).long()}


def query(split: Split, row: int, stage: str) -> tuple[list[int], int] | None:
    """(history, target) of a user at a stage: val ranks the second-last item after the training
    sequence, test the last after training + validation; ``train`` the last training item after
    the rest (the reranker's training queries). The history is also the set of seen items."""
    if stage == "val":
        return split.train[row], split.val[row]
    if stage == "test":
        return split.train[row] + [split.val[row]], split.test[row]
    if stage == "train":
        return (split.train[row][:-1], split.train[row][-1]) if len(split.train[row]) >= 2 else None
    raise ValueError(f"stage {stage!r} is not one of {STAGES}")


class QuerySet(Dataset):
    def __init__(self, split: Split, stage: str, max_len: int, rows: Sequence[int] | None = None) -> None:
        rows = range(len(split.users)) if rows is None else rows
        self.items = []
        for r in rows:
            q = query(split, r, stage)
            if q is not None:
                self.items.append({"row": r, "history": q[0], "target": q[1], "cold": split.cold(r)})
        self.max_len = max_len

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        ids = left_pad([it["history"][-self.max_len:] for it in items])
        return {"input_ids": ids, "attention_mask": (ids > 0).long(), "seen": left_pad([it["history"] for it in items]),
                "targets": torch.tensor([it["target"] for it in items]),
                "cold": torch.tensor([it["cold"] for it in items]), "rows": torch.tensor([it["row"] for it in items])}


def history_text(texts: Sequence[str], history: Sequence[int], recent: int) -> str:
    """The query side of a reranker pair: the latest ``recent`` items' texts, most recent first."""
    return " ; ".join(texts[i] for i in reversed(history[-recent:]))


class PairCollator:
    def __init__(self, tokenizer, max_length: int) -> None:
        self.tokenizer, self.max_length = tokenizer, max_length

    def __call__(self, firsts: list[str], seconds: list[str]) -> dict[str, torch.Tensor]:
        # The history side is cut, never the candidate's own text.
        return dict(self.tokenizer(firsts, seconds, truncation="only_first", max_length=self.max_length,
                                   padding=True, return_tensors="pt"))


class PairTrainSet(Dataset):
    """One group per user and epoch: the positive (the last training item) first, then ``negatives``
    hard negatives drawn from the first stage's top-K for that query (what the reranker will see)."""

    def __init__(self, split: Split, texts: Sequence[str], candidates: dict[int, list[int]], negatives: int,
                 recent: int, seed: int, collator: PairCollator) -> None:
        self.groups = []
        for r, cands in sorted(candidates.items()):
            q = query(split, r, "train")
            if q is None:
                continue
            pool = [c for c in cands if c != q[1]]
            if len(pool) >= negatives:
                self.groups.append((history_text(texts, q[0], recent), q[1], pool))
        self.texts, self.negatives, self.seed, self.collator = texts, negatives, seed, collator

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, key) -> list[tuple[str, str]]:
        i, epoch = key if isinstance(key, tuple) else (key, 0)
        first, pos, pool = self.groups[i]
        picks = np.random.default_rng([self.seed, epoch, i]).choice(len(pool), self.negatives, replace=False)
        return [(first, self.texts[pos])] + [(first, self.texts[pool[j]]) for j in picks]

    def collate(self, groups: list[list[tuple[str, str]]]) -> dict[str, torch.Tensor]:
        pairs = [p for g in groups for p in g]
        batch = self.collator([a for a, _ in pairs], [b for _, b in pairs])
        batch["group"] = torch.tensor(self.negatives + 1)
        return batch


class PairEvalSet(Dataset):
    """Per user: the first stage's top-K as pairs, where the target sits in it (-1: not in it) and
    its first-stage rank (kept when the reranker cannot move it)."""

    def __init__(self, split: Split, texts: Sequence[str], stage: str, ranked: dict[int, tuple[list[int], int]],
                 rows: Sequence[int], recent: int, collator: PairCollator) -> None:
        self.items = []
        for r in rows:
            q = query(split, r, stage)
            if q is None or r not in ranked:
                continue
            cands, rank = ranked[r]
            self.items.append({"first": history_text(texts, q[0], recent), "cands": cands,
                               "pos": cands.index(q[1]) if q[1] in cands else -1, "rank": rank, "cold": split.cold(r)})
        self.texts, self.collator = texts, collator

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]

    def collate(self, items: list[dict]) -> dict[str, torch.Tensor]:
        firsts = [it["first"] for it in items for _ in it["cands"]]
        batch = self.collator(firsts, [self.texts[c] for it in items for c in it["cands"]])
        batch.update(n_cands=torch.tensor([len(it["cands"]) for it in items]), pos=torch.tensor([it["pos"] for it in items]),
                     first_rank=torch.tensor([float(it["rank"]) for it in items]),
                     cold=torch.tensor([it["cold"] for it in items]))
        return batch
