"""Measure training throughput per epoch: wall seconds, samples/s, tokens/s and peak memory.

Logged as ``train/epoch_seconds``, ``train/samples_per_s``, ``train/tokens_per_s`` and
``train/peak_mem_mb``, and kept on the callback (``history``) so benchmarks read the numbers
without parsing logs. Peak memory is the GPU's peak allocation on CUDA, else the process's peak
resident set size (ru_maxrss: a high-water mark over the whole process life, model load included).
"""

from __future__ import annotations

import resource
import sys
import time

import lightning.pytorch as L
import torch


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10  # bytes on macOS, KiB on Linux


class ThroughputMonitor(L.Callback):
    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self._start = 0.0
        self._samples = 0
        self._tokens = 0
        self._padded = 0
        self._last_batch_end = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        self._samples = self._tokens = self._padded = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        ids = batch["input_ids"]
        self._samples += ids.shape[0]
        self._padded += ids.numel()
        self._tokens += int(batch["attention_mask"].sum()) if "attention_mask" in batch else ids.numel()
        self._last_batch_end = time.perf_counter()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        # Validation runs inside the epoch in Lightning; its time is excluded by measuring
        # up to the last training batch only.
        seconds = self._last_batch_end - self._start
        if not self._samples or not seconds:
            return
        row = {
            "epoch": trainer.current_epoch,
            "epoch_seconds": seconds,
            "samples": self._samples,
            "samples_per_s": self._samples / seconds,
            "tokens_per_s": self._tokens / seconds,
            "padding_fraction": 1.0 - self._tokens / max(self._padded, 1),
            "peak_mem_mb": peak_memory_mb(pl_module.device),
        }
        self.history.append(row)
        pl_module.log_dict({f"train/{k}": float(v) for k, v in row.items() if k != "epoch"}, rank_zero_only=True)

    # Kept in the checkpoint, so a resumed run reports every epoch, not only those after the resume.
    def state_dict(self) -> dict:
        return {"history": list(self.history)}

    def load_state_dict(self, state_dict: dict) -> None:
        # Merged, not replaced: validate/test with the best checkpoint also restore callback
        # state, and that checkpoint's history may end before the last epoch.
        known = {row["epoch"] for row in self.history}
        restored = [row for row in state_dict.get("history", []) if row["epoch"] not in known]
        self.history = sorted(self.history + restored, key=lambda row: row["epoch"])
