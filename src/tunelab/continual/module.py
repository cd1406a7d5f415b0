"""The one LightningModule of a continual stage: the net's task loss plus the injected strategy's
penalty. Everything specific to a strategy is in the strategy object."""

from __future__ import annotations

from typing import Any, Mapping

import lightning.pytorch as L

from tunelab.optim import build_optimizer


class ContinualModule(L.LightningModule):
    def __init__(self, net, strategy, optim: Mapping[str, Any]) -> None:
        super().__init__()
        self.net = net
        self.strategy = strategy
        self.optim_cfg = dict(optim)
        # running sums stay tensors on the device: a float() per step would sync a GPU every step
        self._sums = {"task_loss": 0.0, "penalty": 0.0, "steps": 0}

    def training_step(self, batch, batch_idx: int):
        h = self.net.features(batch)
        loss = self.net.loss(h, batch)
        extra = self.strategy.penalty(self.net, batch, h)
        n = batch["input_ids"].shape[0]
        self._sums["task_loss"] = self._sums["task_loss"] + loss.detach()
        self._sums["steps"] += 1
        if extra is not None:
            self.log("train/penalty", extra.detach(), batch_size=n)
            self._sums["penalty"] = self._sums["penalty"] + extra.detach()
            loss = loss + extra
        self.log("train/loss", loss.detach(), prog_bar=True, batch_size=n)
        return loss

    def configure_optimizers(self):
        opt, sched = build_optimizer(self.net, self.optim_cfg, self.trainer.estimated_stepping_batches)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def loss_means(self) -> dict[str, float | None]:
        """Mean task loss and mean strategy penalty over this stage's training steps."""
        steps = self._sums["steps"]
        if not steps:
            return {"task_loss_mean": None, "penalty_mean": None}
        return {k + "_mean": float(self._sums[k]) / steps for k in ("task_loss", "penalty")}
