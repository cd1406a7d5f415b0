"""last.ckpt is the newest epoch, whatever the monitored metric did (an interrupted run resumes
where it stopped, not at the best epoch)."""

from __future__ import annotations

import torch

from tests.helpers import ner_overrides, write_synthetic_ner
from tunelab.training import train


def test_last_checkpoint_follows_every_epoch_even_without_improvement(tiny_cfg, tmp_path):
    data = tmp_path / "data"
    write_synthetic_ner(data, n_train=64)  # 4 batches of 16 an epoch
    # mode=min on F1: no epoch after the first counts as an improvement, so only epoch00 is "best".
    train(tiny_cfg(*ner_overrides(data), "trainer.max_epochs=3", "optimized_mode=min", "test=false",
                   "callbacks.early_stopping.patience=10", f"paths.output_dir={tmp_path / 'run'}"))
    ckpts = tmp_path / "run" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["epoch00.ckpt", "last.ckpt"]
    last = torch.load(ckpts / "last.ckpt", weights_only=False)
    # Lightning 2.6's save_last wrote last.ckpt only with a top-k save: it stayed at epoch 0, step 4.
    assert (last["epoch"], last["global_step"]) == (2, 12)
