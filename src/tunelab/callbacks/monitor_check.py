"""The monitored metric must exist once validation has run.

Early stopping is non-strict so that runs without validation (``limit_val_batches=0``, a step cap
before the first validation) train and test instead of crashing; this check keeps the other half
of strictness: a misspelled ``optimized_metric`` would otherwise never stop early and never pick a
best checkpoint, silently.
"""

from __future__ import annotations

import lightning.pytorch as L

from tunelab.errors import ConfigError


class MonitorCheck(L.Callback):
    def __init__(self, monitor: str) -> None:
        self.monitor = monitor

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        logged = sorted(k for k in trainer.callback_metrics if k.startswith("val/"))
        if logged and self.monitor not in trainer.callback_metrics:
            raise ConfigError(f"optimized_metric: {self.monitor!r} is not logged by validation; it logs {', '.join(logged)}")
