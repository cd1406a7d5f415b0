"""Measure training throughput per epoch: wall seconds, samples/s and tokens/s (non-pad tokens).

Logged as ``train/epoch_seconds``, ``train/samples_per_s`` and ``train/tokens_per_s``, and kept on the
callback (``history``) so benchmarks read the numbers without parsing logs.
"""

from __future__ import annotations

import time

import lightning.pytorch as L


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
        }
        self.history.append(row)
        pl_module.log_dict({f"train/{k}": float(v) for k, v in row.items() if k != "epoch"}, rank_zero_only=True)
