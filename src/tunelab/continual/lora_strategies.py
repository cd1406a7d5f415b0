"""Strategies that own the LoRA adapters: one peft adapter per task on a frozen backbone.

* ``per_task_lora``: task k trains only adapter ``t<k>`` (and its head); task j is scored with
  adapter ``t<j>`` (a task not trained yet: no adapter). Needs the task id: task-incremental only.
* ``olora`` (Wang et al. 2023, O-LoRA): every adapter so far is active (their updates add up), only
  the newest trains, with ``orth_lambda * sum_layers sum_{i<k} |A_i A_k^T|_1`` (zero when the new
  subspace is orthogonal to the earlier ones) plus ``l2_lambda * sum ||new LoRA weights||_2``
  (the paper's lambda_2; its scripts set it to 0). No task id is needed to pick adapters.

Both need ``method=lora`` (its r, alpha, dropout, target_modules size every adapter).
"""

from __future__ import annotations

import contextlib
import copy

import torch

from tunelab.continual.strategies import Sequential
from tunelab.errors import ConfigError


def adapter_name(stage: int) -> str:
    return f"t{stage}"


def orthogonality_penalty(previous: list[torch.Tensor], new: torch.Tensor) -> torch.Tensor:
    """O-LoRA's loss for one layer: sum_i sum |A_i @ A_new^T| (A: rank x in_features)."""
    total = new.new_zeros(())
    for a in previous:
        total = total + torch.abs(a @ new.T).sum()
    return total


def lora_a(net, name: str) -> dict[str, torch.Tensor]:
    """Layer -> lora_A weight of adapter ``name``."""
    out = {}
    for mod_name, mod in net.named_modules():
        A = getattr(mod, "lora_A", None)
        if A is not None and name in A:
            out[mod_name] = A[name].weight
    return out


class _LoRAPerTask(Sequential):
    def check(self, setting, method):
        if method != "lora":
            raise ConfigError(f"cl={self.name} adds one LoRA adapter per task: use method=lora (got method={method})")

    def _peft(self, net):
        enc = net.encoder
        if not hasattr(enc, "add_adapter") or not hasattr(enc, "peft_config"):
            raise ConfigError(f"cl={self.name}: the encoder is not a peft model (method=lora builds one)")
        return enc

    def _add(self, net, stage: int) -> None:
        enc = self._peft(net)
        name = adapter_name(stage)
        if name not in enc.peft_config:
            first = next(iter(enc.peft_config.values()))
            enc.add_adapter(name, copy.deepcopy(first))
        if "default" in enc.peft_config:
            # get_peft_model's own adapter: never trained here, it would only be counted (and
            # saved) as dead weight. Its config was the template of t0.
            enc.base_model.set_adapter(name)
            enc.delete_adapter("default")

    def _only_trainable(self, net, name: str) -> None:
        for n, p in net.encoder.named_parameters():
            p.requires_grad_(f".{name}." in n and "lora_" in n)


class PerTaskLoRA(_LoRAPerTask):
    name = "per_task_lora"

    def check(self, setting, method):
        super().check(setting, method)
        if setting != "task_incremental":
            raise ConfigError("cl=per_task_lora picks an adapter by task id: it needs sequence.setting=task_incremental")

    def prepare(self, net, stage):
        self._add(net, stage)
        self._peft(net).base_model.set_adapter(adapter_name(stage))
        self._only_trainable(net, adapter_name(stage))

    def eval_context(self, net, task_id):
        enc = self._peft(net)
        name = adapter_name(task_id)
        if name in enc.peft_config:
            enc.base_model.set_adapter(name)
            return contextlib.nullcontext()
        return enc.disable_adapter()  # a task not trained yet: the bare backbone


class OLoRA(_LoRAPerTask):
    name = "olora"

    def __init__(self, orth_lambda: float = 0.5, l2_lambda: float = 0.0) -> None:
        self.orth_lambda, self.l2_lambda = float(orth_lambda), float(l2_lambda)
        self.stage = -1

    def prepare(self, net, stage):
        for s in range(stage + 1):
            self._add(net, s)
        self._peft(net).base_model.set_adapter([adapter_name(s) for s in range(stage + 1)])
        self._only_trainable(net, adapter_name(stage))
        self.stage = stage

    def penalty(self, net, batch, h):
        if self.stage < 0:
            return None
        total = h.new_zeros(())
        new = lora_a(net, adapter_name(self.stage))
        if self.orth_lambda and self.stage > 0:
            prev = [lora_a(net, adapter_name(s)) for s in range(self.stage)]
            for layer, a_new in new.items():
                total = total + self.orth_lambda * orthogonality_penalty([p[layer].detach() for p in prev], a_new)
        if self.l2_lambda:
            tag = f".{adapter_name(self.stage)}."
            for n, p in net.encoder.named_parameters():
                if tag in n and "lora_" in n:
                    total = total + self.l2_lambda * torch.norm(p, p=2)
        return total

    def state_dict(self):
        return {"stage": self.stage}

    def load_state_dict(self, state, net):
        self.stage = int(state.get("stage", -1))
