"""Validate when ``trainer.max_steps`` ends a run mid-epoch.

Lightning stops at ``max_steps`` without validating when the cap falls inside an epoch, so the
monitored metric never exists: early stopping crashed ("conditioned on metric val/... which is
not available") and no best checkpoint was chosen. Lightning does validate before stopping when
``trainer.should_stop`` is set, so this callback sets it at the step that reaches the cap.
"""

from __future__ import annotations

import lightning.pytorch as L


class ValidateAtStepCap(L.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        cap = trainer.max_steps
        if cap is not None and cap > 0 and trainer.global_step >= cap:
            trainer.should_stop = True
