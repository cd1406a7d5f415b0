"""One LightningModule for supervised fine-tuning, whatever the task (``tunelab.tasks``).

It wraps a plain Hugging Face model handed to it; the method (full or PEFT) already shaped that
model, and the adversarial strategy is injected, so no subclass exists per combination.
Metrics are counted over the whole split (torchmetrics states, synced across processes) and
computed once per epoch, never averaged over batches.
"""

from __future__ import annotations

from typing import Any, Mapping

import lightning.pytorch as L
import torch
import torchmetrics
from torch import nn

from tunelab import tasks
from tunelab.adversarial import NoAdversary
from tunelab.adversarial.embedding import loss_fn, pgd_delta, split_inputs
from tunelab.errors import ConfigError
from tunelab.optim import build_optimizer

# position_ids: packed SFT rows restart them per example (the model then masks attention per example).
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "position_ids", "labels")


class FineTuneModule(L.LightningModule):
    def __init__(
        self,
        model: nn.Module,
        task: str,
        label_names: list[str],
        optim: Mapping[str, Any],
        adversary: Any = None,
        trainable_only_checkpoint: bool = False,
        robust_pgd: Mapping[str, Any] | None = None,
        fresh_weights: list[str] | None = None,
    ) -> None:
        super().__init__()
        # label_names and optim go into every checkpoint; the model weights are saved as state.
        self.save_hyperparameters(ignore=["model", "adversary"])
        # from_pretrained returns a model in eval mode, and Lightning >= 2.2 keeps each submodule's
        # mode at fit start: without this, dropout would silently stay off during training.
        self.model = model.train()
        self.task = tasks.get(task)  # the hyperparameter is the name; the object decides the rest
        self.label_names = list(label_names)
        self.optim_cfg = dict(optim)
        self.adversary = adversary or NoAdversary()
        self.val_metric = self.task.metric(self.label_names)
        self.test_metric = self.task.metric(self.label_names)
        # Losses as example-weighted metrics: Lightning 2.6's sync_dist mean keeps the example count
        # as an int and truncates it when dividing by the world size (81 examples on 2 ranks -> 40),
        # so a logged tensor's DDP mean was off whenever examples did not split evenly.
        self.val_loss = torchmetrics.MeanMetric()
        self.test_loss = torchmetrics.MeanMetric()
        self.test_report: dict | None = None
        # Test-time embedding-space PGD attacks, one metric per radius (test/robust_pgd_eps<e>_*).
        self.robust_pgd = dict(robust_pgd or {})
        self.pgd_eps = [float(e) for e in self.robust_pgd.get("eps") or []]
        self.robust_metrics = nn.ModuleList(self.task.metric(self.label_names) for _ in self.pgd_eps)
        self.attacks_enabled = True
        # PEFT runs keep only adapter and head weights in checkpoints; the frozen backbone is
        # rebuilt from its source. Lightning then loads non-strictly and we check the keys ourselves.
        self.trainable_only_checkpoint = trainable_only_checkpoint
        self.strict_loading = not trainable_only_checkpoint
        # Frozen but freshly initialised weights (e.g. the pooler of a classifier built from an MLM
        # export): not rebuildable from the source, so trainable-only checkpoints keep them too.
        self.fresh_weights = [f"model.{n}" for n in fresh_weights or []]

    @staticmethod
    def model_inputs(batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: batch[k] for k in MODEL_INPUTS if k in batch}

    def forward(self, batch: Mapping[str, torch.Tensor]):
        return self.model(**self.model_inputs(batch))

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss = self.adversary.training_loss(self.model, self.model_inputs(batch))
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def _eval_step(self, batch, metric, prefix: str) -> None:
        out = self(batch)
        n = batch["input_ids"].shape[0]
        loss = self.val_loss if prefix == "val" else self.test_loss
        loss.update(out.loss.detach(), weight=n)
        self.log(f"{prefix}/loss", loss, on_epoch=True, on_step=False, batch_size=n)
        self._update(metric, out.logits, batch)

    def _update(self, metric, logits: torch.Tensor, batch) -> None:
        metric.update(*self.task.metric_inputs(logits, batch, self.label_names))

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, self.val_metric, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval_step(batch, self.test_metric, "test")
        if self.attacks_enabled:
            for eps, metric in zip(self.pgd_eps, self.robust_metrics):
                self._update(metric, self._attacked_logits(batch, eps), batch)

    def _attacked_logits(self, batch, eps: float) -> torch.Tensor:
        """Logits under a PGD attack of radius eps on the embedding outputs (model in eval mode).

        Lightning evaluates under no_grad (inference_mode is turned off by the trainer builder
        when attacks are configured); gradients are enabled here only, and only w.r.t. delta.
        """
        cfg = self.robust_pgd
        inputs = self.model_inputs(batch)
        with torch.enable_grad():
            embeds, mask, rest = split_inputs(self.model, inputs)
            delta = pgd_delta(loss_fn(self.model, rest), embeds, mask, eps, int(cfg.get("steps", 5)),
                              float(cfg.get("step_ratio", 0.4)) * eps, cfg.get("norm", "l2"))
        with torch.no_grad():
            return self.model(inputs_embeds=embeds.detach() + delta, **rest).logits

    def _log_metric(self, metric, prefix: str) -> None:
        values = metric.compute()  # synced over processes
        sep = "/" if "/" not in prefix else "_"  # val/f1, test/f1, but test/robust_pgd_eps1_f1
        self.log_dict({f"{prefix}{sep}{k}": v for k, v in values.items()}, prog_bar=prefix in ("val", "test"))

    def on_validation_epoch_end(self) -> None:
        self._log_metric(self.val_metric, "val")
        self.val_metric.reset()

    def on_test_epoch_end(self) -> None:
        self._log_metric(self.test_metric, "test")
        self.test_report = self.test_metric.report()
        self.test_metric.reset()
        if self.attacks_enabled:
            for eps, metric in zip(self.pgd_eps, self.robust_metrics):
                self._log_metric(metric, f"test/robust_pgd_eps{eps:g}")
                metric.reset()

    # -- checkpoints ---------------------------------------------------------------------------
    def saved_keys(self) -> set[str]:
        """State-dict keys a checkpoint holds: all, or (PEFT) trainable weights + adapter state."""
        keys = set(self.state_dict())
        if not self.trainable_only_checkpoint:
            return keys
        trainable = {f"model.{n}" for n, p in self.model.named_parameters() if p.requires_grad}
        trainable |= set(self.fresh_weights)
        # peft keeps non-trainable adapter state too (AdaLoRA's ranknum): names with the adapter name.
        return {k for k in keys if k in trainable or ".default." in k or k.endswith(".default")}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.trainable_only_checkpoint:
            keep = self.saved_keys()
            checkpoint["state_dict"] = {k: v for k, v in checkpoint["state_dict"].items() if k in keep}
            checkpoint["tunelab_trainable_only"] = True

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        missing = self.saved_keys() - set(checkpoint["state_dict"])
        if missing:
            raise ConfigError(
                f"ckpt_path: checkpoint lacks {len(missing)} weights of this model/method (e.g. {sorted(missing)[0]}); "
                "was it trained with another method or model?"
            )

    def load_weights(self, state_dict: Mapping[str, torch.Tensor]) -> None:
        """Load a checkpoint's state dict outside Lightning (evaluate, export), with the same checks."""
        self.on_load_checkpoint({"state_dict": state_dict})
        self.load_state_dict(state_dict, strict=self.strict_loading)

    def configure_optimizers(self):
        total = self.trainer.estimated_stepping_batches  # float inf for a stream: optim refuses it
        opt, sched = build_optimizer(self.model, self.optim_cfg, total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
