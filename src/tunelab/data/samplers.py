"""Seeded batch order, optionally grouped by length.

The order of epoch ``e`` depends only on (seed, e): a run resumed at an epoch boundary sees the
same batches as an uninterrupted one. Lightning calls ``set_epoch`` on ``dataloader.sampler`` and
``dataloader.batch_sampler.sampler`` only (not on the batch sampler itself), so the epoch lives in a
small ``sampler`` object that this batch sampler reads.

Length grouping (as in Hugging Face's ``group_by_length``): shuffle, cut into mega-batches of
``mega`` batches, sort each mega-batch by length, then shuffle the resulting batches. Batches hold
similar lengths (little padding) yet the order stays random.

Under DDP, training ranks take every ``world``-th batch of the same global order (the last
incomplete round is dropped so ranks stay in step); evaluation ranks take every ``world``-th
example of the length-sorted order, so each example is scored exactly once and no rank is empty.
"""

from __future__ import annotations

import random
from typing import Iterator, Sequence

import torch.distributed as dist


class EpochCounter:
    """The ``batch_sampler.sampler`` Lightning sets the epoch on."""

    def __init__(self) -> None:
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class SeededBatchSampler:
    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        seed: int,
        shuffle: bool = True,
        group_by_length: bool = False,
        mega: int = 50,
        drop_uneven: bool = True,
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.shuffle = shuffle
        self.group_by_length = group_by_length
        self.mega = mega
        # Training drops the last incomplete round so ranks stay in step; evaluation shards
        # examples instead (ranks may differ by one batch) so every example is scored once.
        self.drop_uneven = drop_uneven
        self.sampler = EpochCounter()

    @property
    def epoch(self) -> int:
        return self.sampler.epoch

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def _world(self) -> tuple[int, int]:
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _global_batches(self) -> list[list[int]]:
        idx = list(range(len(self.lengths)))
        rng = random.Random(self.seed * 100_003 + self.epoch)
        if self.shuffle:
            rng.shuffle(idx)
        if self.group_by_length:
            size = self.batch_size * self.mega
            chunks = [sorted(idx[i : i + size], key=lambda j: -self.lengths[j]) for i in range(0, len(idx), size)]
            idx = [j for c in chunks for j in c]
        batches = [idx[i : i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        if self.group_by_length and self.shuffle:
            rng.shuffle(batches)
        return batches

    def _eval_batches(self, rank: int, world: int) -> list[list[int]]:
        """Evaluation under DDP: every world-th example of the length-sorted order, then batches.
        Each example is scored once and every rank gets work (Lightning rejects an empty loader)."""
        order = [i for b in self._global_batches() for i in b][rank::world]
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        # A generator: the order is computed at the first batch, not when the iterator is made.
        # On resume Lightning builds the iterator before it sets the epoch.
        rank, world = self._world()
        if world > 1 and not self.drop_uneven:
            yield from self._eval_batches(rank, world)
            return
        batches = self._global_batches()
        usable = len(batches) - len(batches) % world if world > 1 else len(batches)
        yield from batches[rank:usable:world]

    def __len__(self) -> int:
        rank, world = self._world()
        n = -(-len(self.lengths) // self.batch_size)
        if world == 1:
            return n
        if self.drop_uneven:
            return n // world
        mine = len(range(rank, len(self.lengths), world))
        return -(-mine // self.batch_size)
