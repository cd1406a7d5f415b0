"""Save every RNG state in the checkpoint and restore it when training resumes.

Without it, a resumed run draws different dropout masks than the uninterrupted run would have,
and ends with different metrics. Restoring happens in ``on_train_start`` (after Lightning loaded
the checkpoint, before the first resumed batch).

What travels: torch's CPU generator, Python's and numpy's, and on a GPU the CUDA generator of
the device this process trains on (dropout on GPU draws from it, not from the CPU one). Only
that device's: ``torch.cuda.get_rng_state_all`` would create a CUDA context on every visible
GPU in every DDP process. Under DDP each rank's states differ (dynamic padding makes ranks draw
different amounts), so every rank's states are gathered into the checkpoint and each rank gets
its own back; a checkpoint resumed with another world size falls back to rank 0's states.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as L
import torch
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states

KEY = "tunelab_rng_states"
CUDA = "torch.cuda.device"  # our key: one device's state (Lightning's "torch.cuda" is all devices)


def collect_states(device: torch.device) -> dict[str, Any]:
    states = _collect_rng_states(include_cuda=False)
    if device.type == "cuda":
        states[CUDA] = torch.cuda.get_rng_state(device)
    return states


def set_states(states: dict[str, Any], device: torch.device) -> None:
    _set_rng_states(states)  # CPU torch, numpy, Python (and Lightning's all-device CUDA key if present)
    if CUDA in states and device.type == "cuda":
        torch.cuda.set_rng_state(states[CUDA], device)


def _distributed(trainer) -> bool:
    return trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()


def gather_per_rank(trainer, states: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rank's states, in rank order (a collective: every rank saves the checkpoint)."""
    if not _distributed(trainer):
        return [states]
    gathered: list[Any] = [None] * trainer.world_size
    torch.distributed.all_gather_object(gathered, states)
    return gathered


def states_for_rank(saved: dict[str, Any], rank: int, world_size: int) -> dict[str, Any]:
    per_rank = saved.get("per_rank")
    if per_rank is None:
        return saved  # a checkpoint from before per-rank states: one process's states
    return per_rank[rank] if len(per_rank) == world_size else per_rank[0]


class RNGStateCallback(L.Callback):
    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[KEY] = {"per_rank": gather_per_rank(trainer, collect_states(pl_module.device))}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        saved = checkpoint.get(KEY)
        self._pending = None if saved is None else states_for_rank(saved, trainer.global_rank, trainer.world_size)

    def on_train_start(self, trainer, pl_module) -> None:
        if self._pending is not None:
            set_states(self._pending, pl_module.device)
            self._pending = None
