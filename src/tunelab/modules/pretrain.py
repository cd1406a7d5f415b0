"""One LightningModule for language-model pretraining: masked LM or causal LM.

Reports loss and perplexity over the whole validation split. For masked LM the vocabulary
projection (30522-way for MiniLM: most of the compute) runs only at the ~15% masked positions:
the backbone's hidden states are gathered there and the MLM head is applied to those alone.
"""

from __future__ import annotations

from typing import Any, Mapping

import lightning.pytorch as L
import torch
import torch.nn.functional as F
from torch import nn

from tunelab.data.encoding import IGNORE
from tunelab.methods.targets import head_modules
from tunelab.metrics.perplexity import Perplexity
from tunelab.optim import build_optimizer

OBJECTIVES = ("mlm", "clm")


class PretrainModule(L.LightningModule):
    def __init__(self, model: nn.Module, objective: str, optim: Mapping[str, Any], masked_only_logits: bool = True) -> None:
        super().__init__()
        self.save_hyperparameters(ignore=["model"])
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}")
        self.model = model.train()  # from_pretrained leaves eval mode; Lightning keeps it (dropout off)
        self.objective = objective
        self.optim_cfg = dict(optim)
        heads = head_modules(model)
        # Gathering before the head needs a single head module applied to hidden states (BERT's `cls`).
        self.head_name = heads[0] if (objective == "mlm" and masked_only_logits and len(heads) == 1) else None
        self.val_ppl = Perplexity()
        self.test_ppl = Perplexity()

    def lm_loss(self, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        """Mean token loss and the number of predicted tokens it averages over."""
        if self.objective == "clm":
            out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
            ids = batch["input_ids"]
            return out.loss, ids.shape[0] * (ids.shape[1] - 1)
        labels = batch["labels"]
        selected = labels != IGNORE
        n = int(selected.sum())
        if self.head_name is None:
            return self.model(**batch).loss, n
        base = getattr(self.model, self.model.base_model_prefix)
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        hidden = base(**inputs).last_hidden_state
        logits = getattr(self.model, self.head_name)(hidden[selected])
        return F.cross_entropy(logits.float(), labels[selected]), n

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
        opt, sched = build_optimizer(self.model, self.optim_cfg, int(self.trainer.estimated_stepping_batches))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
