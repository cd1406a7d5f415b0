"""The network of a sequence: one encoder (shaped by the method axis) and its heads.

* task-incremental: one linear head per task (``heads["<task index>"]``), picked by the task id
  that every batch carries (``task_id``): the id is given at test time.
* task-agnostic: one head over the union of all tasks' label strings (``heads["all"]``); no id
  is used at test time (argmax over every label of every task).

The sentence representation is the first token's last hidden state (no pooler: MiniLM's and a
from-scratch model's pooler would differ in whether they are trained).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.errors import ConfigError

SETTINGS = ("task_incremental", "task_agnostic")
ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


class ContinualNet(nn.Module):
    def __init__(self, encoder: nn.Module, hidden: int, heads: Mapping[str, int], setting: str, dropout: float = 0.1):
        super().__init__()
        if setting not in SETTINGS:
            raise ConfigError(f"sequence.setting: {setting!r} is not one of {', '.join(SETTINGS)}")
        self.setting = setting
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({k: nn.Linear(hidden, n) for k, n in heads.items()})

    def head_key(self, task_id: int) -> str:
        return str(task_id) if self.setting == "task_incremental" else "all"

    def features(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        out = self.encoder(**{k: batch[k] for k in ENCODER_INPUTS if k in batch})
        return out.last_hidden_state[:, 0]

    def logits_by_head(self, h: torch.Tensor, task_ids: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """head key -> (row indices of the batch, their logits): a batch may mix tasks (replay, mtl)."""
        out = {}
        for t in torch.unique(task_ids).tolist():
            key = self.head_key(int(t))
            idx = (task_ids == t).nonzero(as_tuple=True)[0]
            if key in out:  # task-agnostic: every task shares one head
                idx = torch.cat([out[key][0], idx])
            out[key] = (idx, None)
        return {k: (idx, self.heads[k](self.dropout(h[idx]))) for k, (idx, _) in out.items()}

    def loss(self, h: torch.Tensor, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = h.new_zeros(())
        for idx, logits in self.logits_by_head(h, batch["task_id"]).values():
            total = total + F.cross_entropy(logits, batch["labels"][idx], reduction="sum")
        return total / h.shape[0]

    @torch.no_grad()
    def predict(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        h = self.features(batch)
        preds = torch.empty_like(batch["labels"])
        for idx, logits in self.logits_by_head(h, batch["task_id"]).values():
            preds[idx] = logits.argmax(-1)
        return preds


def build_encoder(model_cfg: Mapping[str, Any], task, tokenizer) -> tuple[nn.Module, int]:
    """The backbone without its head: the task's own loader, base model only."""
    from tunelab.models.backbone import build_model

    model = build_model(model_cfg, task, ["_", "__"], tokenizer)
    encoder = getattr(model, model.base_model_prefix)
    return encoder, int(model.config.hidden_size)


def apply_encoder_method(encoder: nn.Module, method: Mapping[str, Any]) -> nn.Module:
    """The method axis on a bare encoder (the heads live outside it and always train)."""
    name = method.get("name")
    if name == "full":
        for p in encoder.parameters():
            p.requires_grad_(True)
        return encoder
    if name == "adapter":
        from tunelab.methods.adapters import add_adapters

        return add_adapters(encoder, bottleneck=int(method.get("bottleneck", 64)),
                            target_modules=method.get("target_modules", ("attention.output.dense", "output.dense")),
                            activation=method.get("activation", "gelu"), dropout=float(method.get("dropout", 0.0)),
                            train_layer_norm=bool(method.get("train_layer_norm", True)), head_modules=[])
    if name == "lora":
        import peft

        return peft.get_peft_model(encoder, lora_config(encoder, method))
    raise ConfigError(f"method.name: continual learning composes with full, lora or adapter, not {name!r}")


def lora_config(encoder: nn.Module, method: Mapping[str, Any]):
    import peft

    from tunelab.methods.targets import resolve_targets

    targets = resolve_targets(encoder, method.get("target_modules"))
    return peft.LoraConfig(r=int(method["r"]), lora_alpha=float(method["alpha"]), lora_dropout=float(method["dropout"]),
                           target_modules=list(targets), bias=method.get("bias", "none"))
