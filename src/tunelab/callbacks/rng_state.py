"""Save every RNG state in the checkpoint and restore it when training resumes.

Without it, a resumed run draws different dropout masks than the uninterrupted run would have,
and ends with different metrics. Restoring happens in ``on_train_start`` (after Lightning loaded
the checkpoint, before the first resumed batch).
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as L
from lightning.fabric.utilities.seed import _collect_rng_states, _set_rng_states

KEY = "tunelab_rng_states"


class RNGStateCallback(L.Callback):
    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint[KEY] = _collect_rng_states(include_cuda=False)

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._pending = checkpoint.get(KEY)

    def on_train_start(self, trainer, pl_module) -> None:
        if self._pending is not None:
            _set_rng_states(self._pending)
            self._pending = None
