"""Turn the composed config into objects: datamodule, model, module, callbacks, loggers, trainer.

Shared by ``train`` and ``evaluate`` so both see exactly the same data and model.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tunelab.adversarial import build_adversary
from tunelab.callbacks.rng_state import RNGStateCallback
from tunelab.data.datamodule import TaskDataModule
from tunelab.methods import apply_method
from tunelab.methods.peft_methods import AdaLoraAllocator
from tunelab.models.backbone import build_model, build_tokenizer
from tunelab.modules.finetune import FineTuneModule


def build_datamodule(cfg: DictConfig, tokenizer) -> TaskDataModule:
    dm = instantiate(cfg.data, tokenizer=tokenizer)
    dm.load()
    return dm


def planned_steps(cfg: DictConfig, dm: TaskDataModule) -> int:
    """Optimizer steps the run will take (AdaLoRA's schedule needs it before the trainer exists)."""
    per_epoch = math.ceil(len(dm.records["train"]) / int(cfg.data.batch_size))
    limit = cfg.trainer.get("limit_train_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        per_epoch = min(per_epoch, limit)
    steps = per_epoch * int(cfg.trainer.max_epochs) // int(cfg.trainer.get("accumulate_grad_batches") or 1)
    max_steps = cfg.trainer.get("max_steps")
    return min(steps, max_steps) if max_steps and max_steps > 0 else max(steps, 1)


def build_module(cfg: DictConfig, dm: TaskDataModule, tokenizer) -> FineTuneModule:
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    method_cfg = OmegaConf.to_container(cfg.method, resolve=True)
    if method_cfg.get("name") == "adalora" and not method_cfg.get("total_step"):
        method_cfg["total_step"] = planned_steps(cfg, dm)
    model = build_model(model_cfg, dm.task, dm.label_names, tokenizer)
    model = apply_method(model, method_cfg, dm.task)
    return FineTuneModule(
        model=model,
        task=dm.task,
        label_names=dm.label_names,
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        adversary=build_adversary(OmegaConf.to_container(cfg.adversarial, resolve=True)),
        # A from-scratch backbone cannot be rebuilt from a source, so its checkpoints keep everything.
        trainable_only_checkpoint=method_cfg.get("name") != "full" and not model_cfg.get("from_scratch"),
        robust_pgd=_robust_pgd(cfg),
    )


def _robust_pgd(cfg: DictConfig) -> dict | None:
    pgd = OmegaConf.to_container(cfg.get("robustness") or {}, resolve=True).get("pgd") or {}
    return pgd if pgd.get("eps") else None


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None and "_target_" in c]
    # Exact resume is not optional: RNG states always travel with the checkpoint.
    callbacks.append(RNGStateCallback())
    if cfg.method.get("name") == "adalora":
        callbacks.append(AdaLoraAllocator())
    return callbacks


def build_loggers(cfg: DictConfig) -> list[Any]:
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None and "_target_" in c]


def build_trainer(cfg: DictConfig, callbacks, loggers) -> L.Trainer:
    trainer_cfg = cfg.trainer
    if not loggers:  # LearningRateMonitor needs a logger; drop it rather than fail
        callbacks = [c for c in callbacks if type(c).__name__ != "LearningRateMonitor"]
    extra = {}
    if _robust_pgd(cfg):
        # A gradient-based attack at test time cannot run under inference_mode (no autograd at all);
        # plain no_grad is kept and the attack re-enables gradients for its own delta only.
        extra["inference_mode"] = False
    return instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False, **extra)


def build_tokenizer_from(cfg: DictConfig):
    return build_tokenizer(OmegaConf.to_container(cfg.model, resolve=True))
