"""Exact resume on each accelerator: 2 epochs + resume for 2 more == 4 epochs, bit for bit.

A plain Lightning module with heavy dropout, so the resumed run matches only if the generator
that dropout draws from (CPU's on CPU, the device's on a GPU) continues where it was cut. Only
Lightning and our RNG callback are involved: the GPU case runs on a bare GPU machine with no
tunelab dependencies installed (PYTHONPATH=src). The GPU case skips without CUDA (CI has none).
"""

from __future__ import annotations

import lightning.pytorch as L
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from tunelab.callbacks.rng_state import RNGStateCallback


class DropoutRegressor(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 1))

    def training_step(self, batch, batch_idx):
        x, y = batch
        return nn.functional.mse_loss(self.net(x).squeeze(-1), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.05)


def _loader() -> DataLoader:
    g = torch.Generator().manual_seed(123)
    x = torch.randn(64, 16, generator=g)
    # Its own generator, as tunelab's loaders have: creating an iterator draws a seed from it, and
    # Lightning creates a resumed run's first iterator before on_train_start restores the states.
    return DataLoader(TensorDataset(x, x.sum(1)), batch_size=8, shuffle=False, generator=torch.Generator().manual_seed(0))


def _fit(accelerator: str, epochs: int, ckpt_dir, ckpt_path=None) -> dict[str, torch.Tensor]:
    L.seed_everything(0, verbose=False)  # what a fresh (resumed) process does first
    module = DropoutRegressor()
    trainer = L.Trainer(
        accelerator=accelerator, devices=1, max_epochs=epochs, deterministic=True, logger=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[RNGStateCallback(), ModelCheckpoint(dirpath=ckpt_dir, save_last=True)],
    )
    trainer.fit(module, train_dataloaders=_loader(), ckpt_path=ckpt_path, weights_only=False)
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


@pytest.mark.parametrize("accelerator", [
    "cpu",
    pytest.param("gpu", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")),
])
def test_resume_is_bit_exact(tmp_path, accelerator):
    full = _fit(accelerator, 4, tmp_path / "full")
    _fit(accelerator, 2, tmp_path / "cut")
    resumed = _fit(accelerator, 4, tmp_path / "resumed", ckpt_path=str(tmp_path / "cut" / "last.ckpt"))
    assert full.keys() == resumed.keys()
    for key in full:
        assert torch.equal(full[key], resumed[key]), f"{key} differs after resume on {accelerator}"
