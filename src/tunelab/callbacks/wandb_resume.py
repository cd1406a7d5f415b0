"""Keep the W&B run id in every checkpoint, so a resumed run continues the same W&B run.

``train`` reads it back (``wandb_id_from_checkpoint``) before creating the logger and passes
``id=<that id>, resume="allow"``: the curves continue instead of a second, partial run appearing.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as L
import torch

KEY = "tunelab_wandb_run_id"


class WandbRunId(L.Callback):
    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        for logger in trainer.loggers:
            if type(logger).__name__ == "WandbLogger":
                checkpoint[KEY] = logger.experiment.id


def wandb_id_from_checkpoint(path: str | Path) -> str | None:
    # mmap: only the small entry is read from a possibly large file.
    ckpt = torch.load(str(path), map_location="cpu", weights_only=False, mmap=True)
    return ckpt.get(KEY)
