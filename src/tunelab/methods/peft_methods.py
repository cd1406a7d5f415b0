"""PEFT methods through the `peft` library: LoRA, AdaLoRA, IA3, prefix tuning, prompt tuning.

Each is ``get_peft_model(model, <Config>)`` with the task head in ``modules_to_save`` so it
always trains. Which objective each method can serve:

* LoRA, AdaLoRA, IA3 inject into Linear layers: every objective (multiple choice has no peft
  TaskType, so it gets a plain ``PeftModel`` with the head saved alongside).
* Prefix tuning (virtual key/values in every layer) needs a peft TaskType: token and sequence
  classification.
* Prompt tuning prepends virtual tokens to the input, which shifts token positions: sequence
  classification only (it does not fit token classification or multiple choice).
"""

from __future__ import annotations

from typing import Any, Mapping

import lightning.pytorch as L
from torch import nn

from tunelab.errors import ConfigError
from tunelab.methods import register
from tunelab.methods.targets import check_targets, head_modules

TASK_TYPES = {"token_classification": "TOKEN_CLS", "sequence_classification": "SEQ_CLS", "multiple_choice": None}
SUPPORTED = {
    "lora": set(TASK_TYPES),
    "adalora": set(TASK_TYPES),
    "ia3": set(TASK_TYPES),
    "prefix_tuning": {"token_classification", "sequence_classification"},
    "prompt_tuning": {"sequence_classification"},
}


def check_supported(method: str, task: str) -> None:
    if task not in SUPPORTED[method]:
        raise ConfigError(
            f"method.name: {method} cannot serve {task}; it supports {', '.join(sorted(SUPPORTED[method]))}"
        )


def _peft_config(method: str, cfg: Mapping[str, Any], task: str, heads: list[str]):
    import peft

    task_type = TASK_TYPES[task]
    common = {"task_type": task_type} if task_type else {}
    targets = list(cfg["target_modules"]) if cfg.get("target_modules") else None
    if method == "lora":
        return peft.LoraConfig(r=int(cfg["r"]), lora_alpha=float(cfg["alpha"]), lora_dropout=float(cfg["dropout"]),
                               target_modules=targets, bias=cfg.get("bias", "none"), modules_to_save=heads, **common)
    if method == "adalora":
        if not cfg.get("total_step"):
            raise ConfigError("method.total_step: AdaLoRA needs the number of optimizer steps (set by train)")
        total = int(cfg["total_step"])
        # The schedule is given as fractions of training so one config fits any dataset size.
        tinit, tfinal = round(float(cfg["tinit_ratio"]) * total), round(float(cfg["tfinal_ratio"]) * total)
        if tinit + tfinal >= total:
            raise ConfigError(f"method.tinit_ratio + method.tfinal_ratio must be < 1 (got {tinit}+{tfinal} of {total} steps)")
        return peft.AdaLoraConfig(
            init_r=int(cfg["init_r"]), target_r=int(cfg["target_r"]), tinit=tinit,
            tfinal=tfinal, deltaT=int(cfg["deltaT"]), total_step=total,
            lora_alpha=float(cfg["alpha"]), lora_dropout=float(cfg["dropout"]), target_modules=targets,
            orth_reg_weight=float(cfg.get("orth_reg_weight", 0.5)), modules_to_save=heads, **common)
    if method == "ia3":
        ff = list(cfg["feedforward_modules"]) if cfg.get("feedforward_modules") else None
        return peft.IA3Config(target_modules=targets, feedforward_modules=ff, modules_to_save=heads, **common)
    if method == "prefix_tuning":
        return peft.PrefixTuningConfig(num_virtual_tokens=int(cfg["num_virtual_tokens"]),
                                       prefix_projection=bool(cfg.get("prefix_projection", False)), **common)
    if method == "prompt_tuning":
        return peft.PromptTuningConfig(num_virtual_tokens=int(cfg["num_virtual_tokens"]), **common)
    raise ConfigError(f"method.name: unknown peft method {method!r}")


def wrap_with_peft(method: str, model: nn.Module, cfg: Mapping[str, Any], task: str) -> nn.Module:
    import peft

    check_supported(method, task)
    if method in ("lora", "adalora", "ia3"):
        check_targets(model, cfg.get("target_modules"))
        if method == "ia3":
            check_targets(model, cfg.get("feedforward_modules"), "method.feedforward_modules")
    heads = head_modules(model)
    # Prompt-learning PeftModels of the TOKEN_CLS/SEQ_CLS types put the head (classifier) in
    # modules_to_save themselves; the tests check the head trains for every method.
    return peft.get_peft_model(model, _peft_config(method, cfg, task, heads))


class AdaLoraAllocator(L.Callback):
    """AdaLoRA re-allocates ranks from the gradients of the step just taken, after the optimizer
    step and before the gradients are zeroed. It masks lora_E in place, so it must also run
    before the next forward: ``on_train_batch_end`` is that point (Lightning zeroes gradients
    inside the next step's closure, after that step's forward, where masking would break
    autograd: "modified by an inplace operation")."""

    def __init__(self) -> None:
        self._last_step = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self._last_step:  # an optimizer step happened (accumulation aware)
            self._last_step = trainer.global_step
            pl_module.model.base_model.update_and_allocate(trainer.global_step)


for _name in SUPPORTED:
    register(_name)(lambda model, cfg, task, _m=_name: wrap_with_peft(_m, model, cfg, task))
