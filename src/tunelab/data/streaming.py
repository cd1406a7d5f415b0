"""Pretraining blocks produced on the fly, for corpora larger than memory."""

from __future__ import annotations

import os
from typing import Iterator, Mapping, Sequence

import torch
from torch.utils.data import IterableDataset

from tunelab.data.blocks import Layout, encode_documents, iter_blocks
from tunelab.data.corpus import hub_dataset, hub_split, hub_text_column, hub_texts, is_held_out, iter_documents


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
        self._layout = Layout(tokenizer, block_size)  # check the block size now, not in a worker
        self._dist = _rank_world((0, 1))  # captured in case workers cannot see the process group

    def _raw_documents(self) -> Iterator[str]:
        if self.files:
            for f in self.files:
                yield from iter_documents(f, self.text_key)
            return
        ds = hub_dataset(self.hub, streaming=True)[hub_split(self.hub, self.split)]
        yield from hub_texts(ds, hub_text_column(self.hub, self.text_key))

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
        rank, world = _rank_world(self._dist)
        info = torch.utils.data.get_worker_info()
        wid, nworkers = (info.id, info.num_workers) if info else (0, 1)
        shard, n_shards = rank * nworkers + wid, world * nworkers
        ids = encode_documents(self.tokenizer, self.documents(), batch=self.docs_per_batch)
        for index, block in enumerate(iter_blocks(ids, self._layout, self.name)):
            if index % n_shards == shard:
                yield torch.tensor(block, dtype=torch.long)
