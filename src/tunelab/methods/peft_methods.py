"""PEFT methods through the `peft` library: LoRA, AdaLoRA, IA3, prefix tuning, prompt tuning.

Each is ``get_peft_model(model, <Config>)`` with the task head in ``modules_to_save`` so it
always trains. Which task each method can serve is the task's to say (``task.methods``): LoRA,
AdaLoRA and IA3 inject into Linear layers and fit every objective (a task without a peft TaskType,
like multiple choice, gets a plain ``PeftModel`` with the head saved alongside); prefix tuning
needs a peft TaskType; prompt tuning shifts token positions, so only sequence-level tasks take it.

For a pretraining objective (causal LM) the "head" is the pretrained vocabulary projection, usually
tied to the word embeddings: it is not put in ``modules_to_save`` (that would train an untied
full copy of it), unless it was freshly initialised because the source had none. ``target_modules:
auto`` picks the architecture's attention projections (``targets.DEFAULT_TARGETS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as L
from torch import nn

from tunelab.errors import ConfigError
from tunelab.methods import register
from tunelab.methods.targets import check_targets, head_modules, resolve_targets

PEFT_METHODS = ("lora", "adalora", "ia3", "prefix_tuning", "prompt_tuning")


def _peft_config(method: str, cfg: Mapping[str, Any], task, heads: list[str]):
    import peft

    common = {"task_type": task.peft_task_type} if task.peft_task_type else {}
    targets = list(cfg["target_modules"]) if cfg.get("target_modules") else None
    if method == "lora":
        return peft.LoraConfig(r=int(cfg["r"]), lora_alpha=float(cfg["alpha"]), lora_dropout=float(cfg["dropout"]),
                               target_modules=targets, bias=cfg.get("bias", "none"), modules_to_save=heads, **common)
    if method == "adalora":
        if not cfg.get("total_step"):
            where = ("pretraining does not fill it in: set method.total_step=<steps> (= trainer.max_steps)"
                     if task.pretraining else "set by train")
            raise ConfigError(f"method.total_step: AdaLoRA needs the number of optimizer steps ({where})")
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


def wrap_with_peft(method: str, model: nn.Module, cfg: Mapping[str, Any], task) -> nn.Module:
    import peft

    task.check_method(method)
    cfg = dict(cfg)
    if method in ("lora", "adalora"):
        cfg["target_modules"] = resolve_targets(model, cfg.get("target_modules"))
        check_targets(model, cfg["target_modules"], suggest=True)
    elif method == "ia3":
        if cfg.get("target_modules") == "auto":  # peft's own per-architecture IA3 defaults
            cfg["target_modules"] = None
        check_targets(model, cfg.get("target_modules"))
        check_targets(model, cfg.get("feedforward_modules"), "method.feedforward_modules")
    heads = head_modules(model)
    # A language model's head (pretraining, or instruction tuning: sft's ``generative``) is its
    # pretrained vocabulary projection, tied to the embeddings: it trains only if it is new.
    if task.pretraining or getattr(task, "generative", False):
        from tunelab.models.backbone import FRESH_ATTR

        fresh = {id(p) for p in getattr(model, FRESH_ATTR, [])}
        heads = [h for h in heads if any(id(p) in fresh for p in getattr(model, h).parameters())]
    # Prompt-learning PeftModels of the TOKEN_CLS/SEQ_CLS types put the head (classifier) in
    # modules_to_save themselves; the tests check the head trains for every method.
    return peft.get_peft_model(model, _peft_config(method, cfg, task, heads))


class AdaLoraAllocator(L.Callback):
    """AdaLoRA re-allocates ranks from the gradients of the step just taken, after the optimizer
    step and before the gradients are zeroed. It masks lora_E in place, so it must also run
    before the next forward: ``on_train_batch_end`` is that point (Lightning zeroes gradients
    inside the next step's closure, after that step's forward, where masking would break
    autograd: "modified by an inplace operation").

    The allocator's sensitivity averages (``ipt``, ``exp_avg_ipt``, ``exp_avg_unc``) steer which
    ranks survive; they travel with the checkpoint (``state_dict``), so a resumed run prunes the
    same ranks as an uninterrupted one instead of restarting the averages from zero."""

    STATE = ("ipt", "exp_avg_ipt", "exp_avg_unc")

    def __init__(self) -> None:
        self._last_step = 0
        self._pending: dict | None = None

    def state_dict(self) -> dict:
        alloc = getattr(self, "_allocator", None)
        state = {k: {n: t.detach().cpu().clone() for n, t in getattr(alloc, k).items()} for k in self.STATE} if alloc else {}
        return {"last_step": self._last_step, **state}

    def load_state_dict(self, state: dict) -> None:
        self._last_step = int(state.get("last_step", 0))
        self._pending = {k: state[k] for k in self.STATE if k in state}

    def on_train_start(self, trainer, pl_module) -> None:
        self._allocator = pl_module.model.base_model.rankallocator
        if self._pending:
            device = pl_module.device
            for k, tensors in self._pending.items():
                setattr(self._allocator, k, {n: t.to(device) for n, t in tensors.items()})
            self._pending = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step != self._last_step:  # an optimizer step happened (accumulation aware)
            self._last_step = trainer.global_step
            pl_module.model.base_model.update_and_allocate(trainer.global_step)


for _name in PEFT_METHODS:
    register(_name)(lambda model, cfg, task, _m=_name: wrap_with_peft(_m, model, cfg, task))
