"""One log line per validation: epoch, step and the epoch's metrics.

Progress bars are off in batch jobs (and CI logs); this line is what a user tails instead.
"""

from __future__ import annotations

import logging

import lightning.pytorch as L

log = logging.getLogger("tunelab")


class EpochSummary(L.Callback):
    def on_validation_end(self, trainer, pl_module) -> None:
        # Only during fit: trainer.validate() of the best checkpoint is reported in metrics.json.
        if trainer.sanity_checking or not trainer.is_global_zero or trainer.state.fn != "fit":
            return
        shown = {k: float(v) for k, v in sorted(trainer.callback_metrics.items())
                 if k.startswith(("val/", "train/loss"))}
        log.info("epoch %d step %d: %s", trainer.current_epoch, trainer.global_step,
                 ", ".join(f"{k}={v:.4f}" for k, v in shown.items()))
