"""One LightningModule for language-model pretraining; the objective (``tunelab.tasks``: mlm,
clm) computes the loss. Reports loss and perplexity over the whole validation split.

``clip_block_size`` keeps the data's blocks within the positions the model can embed
(``max_position_embeddings``, less the virtual tokens of prefix/prompt tuning).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as L
import torch
from torch import nn

from tunelab import tasks
from tunelab.errors import ConfigError
from tunelab.metrics.perplexity import Perplexity
from tunelab.optim import build_optimizer

log = logging.getLogger(__name__)

# Position ids start after padding_idx in these architectures: max_position_embeddings - (pad + 1) usable.
_OFFSET_POSITIONS = {"roberta", "xlm-roberta", "camembert", "mpnet", "data2vec-text"}


def max_block_size(model: nn.Module) -> int | None:
    """The longest block ``model`` can take: its position table (``max_position_embeddings``,
    GPT-2's ``n_positions``) less prompt learning's virtual tokens; None if it has no such limit."""
    config = getattr(model, "config", None)
    limit = getattr(config, "max_position_embeddings", None)
    if not isinstance(limit, int) or limit <= 0:
        return None
    if getattr(config, "model_type", None) in _OFFSET_POSITIONS:
        limit -= int(getattr(config, "pad_token_id", None) or 1) + 1
    peft_config = getattr(model, "active_peft_config", None)
    if getattr(peft_config, "is_prompt_learning", False):
        limit -= int(peft_config.num_virtual_tokens or 0)
    return limit


def clip_block_size(dm, model: nn.Module) -> int:
    """Lower ``dm.block_size`` (before ``setup``) to what the model can embed; returns the size used."""
    limit = max_block_size(model)
    if limit is not None and dm.block_size > limit:
        log.warning("data.block_size=%d exceeds the %d positions the model can embed: clipped to %d",
                    dm.block_size, limit, limit)
        if getattr(dm, "meta", None):
            dm.meta.update(block_size=limit, block_size_requested=dm.block_size)
        dm.block_size = limit
    return dm.block_size


class PretrainModule(L.LightningModule):
    def __init__(self, model: nn.Module, objective: str, optim: Mapping[str, Any], masked_only_logits: bool = True) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        self.task = tasks.get(objective)
        if not self.task.pretraining:
            raise ConfigError(f"data.task: {objective} is not a pretraining objective")
        self.model = model.train()  # from_pretrained leaves eval mode; Lightning keeps it (dropout off)
        self.optim_cfg = dict(optim)
        # MLM: apply the vocabulary projection only at the masked positions (most of the compute).
        self.head_name = self.task.logits_head(model) if masked_only_logits else None
        self.val_ppl = Perplexity()
        self.test_ppl = Perplexity()

    def lm_loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Mean token loss and the number of predicted tokens it averages over."""
        return self.task.loss(self.model, batch, self.head_name)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        loss, _ = self.lm_loss(batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=batch["input_ids"].shape[0])
        return loss

    def _eval(self, batch, metric: Perplexity) -> None:
        loss, n = self.lm_loss(batch)
        if n:
            metric.update(loss, n)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, self.val_ppl)

    def test_step(self, batch, batch_idx: int) -> None:
        self._eval(batch, self.test_ppl)

    def _log(self, metric: Perplexity, prefix: str) -> None:
        self.log_dict({f"{prefix}/{k}": v for k, v in metric.compute().items()}, prog_bar=True)
        metric.reset()

    def on_validation_epoch_end(self) -> None:
        self._log(self.val_ppl, "val")

    def on_test_epoch_end(self) -> None:
        self._log(self.test_ppl, "test")

    def configure_optimizers(self):
        opt, sched = build_optimizer(self.model, self.optim_cfg, self.trainer.estimated_stepping_batches)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
