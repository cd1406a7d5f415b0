"""The resume state of a sequence, written atomically after every stage: the net's weights, the
strategy's memory, the rows of R so far and per-stage costs. A sequence interrupted during stage k
restarts stage k from the state written after stage k-1 (each stage is seeded by its index, so the
result equals an uninterrupted run)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

FILE = "cl_state.pt"


def save(out: Path, state: dict) -> None:
    path = Path(out) / FILE
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # never a half-written state: the old one or the new one


def load(out: Path) -> dict | None:
    path = Path(out) / FILE
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)  # our own file
