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
from tunelab.errors import ConfigError
from tunelab.callbacks.rng_state import RNGStateCallback
from tunelab.callbacks.wandb_resume import WandbRunId
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
    if "_target_" in ((cfg.get("logger") or {}).get("wandb") or {}):
        callbacks.append(WandbRunId())
    if cfg.method.get("name") == "adalora":
        callbacks.append(AdaLoraAllocator())
    return callbacks


def build_loggers(cfg: DictConfig, wandb_id: str | None = None) -> list[Any]:
    loggers = []
    for name, c in (cfg.get("logger") or {}).items():
        if c is None or "_target_" not in c:
            continue
        extra = {"id": wandb_id, "resume": "allow"} if (wandb_id and name == "wandb") else {}
        loggers.append(instantiate(c, **extra))
    return loggers


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


# -- pretraining ----------------------------------------------------------------------------------
PRETRAIN_TASKS = ("mlm", "clm")
PRETRAIN_METHODS = ("full", "head_only")  # head_only fits a fresh LM head on a frozen encoder


def is_pretraining(cfg: DictConfig) -> bool:
    return cfg.data.get("task") in PRETRAIN_TASKS


def build_pretraining(cfg: DictConfig):
    """Tokenizer (loaded, or trained on the corpus), text datamodule, LM model, PretrainModule."""
    from pathlib import Path

    from tunelab.data.lm_collate import CLMCollator, MLMCollator
    from tunelab.data.text import TextDataModule
    from tunelab.models.backbone import build_lm_model
    from tunelab.modules.pretrain import PretrainModule

    data = OmegaConf.to_container(cfg.data, resolve=True)
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    objective = data["task"]
    dm = TextDataModule(
        objective=objective, files=data["files"], hub=data.get("hub"), data_dir=data.get("data_dir"),
        block_size=data["block_size"], batch_size=data["batch_size"], eval_batch_size=data["eval_batch_size"],
        validation_fraction=data.get("validation_fraction", 0.05), seed=data.get("seed", 42),
        streaming=data.get("streaming", False), cache_dir=data.get("cache_dir"), limit_docs=data.get("limit_docs"),
        num_workers=data.get("num_workers", 0), name=data.get("name", "corpus"),
    )
    dm.load()
    train_tok = model_cfg.get("train_tokenizer")
    if train_tok:
        from tunelab.data.tokenizer_training import train_tokenizer

        if not getattr(dm, "docs", None):
            raise ConfigError("model.train_tokenizer: training a tokenizer reads the corpus in memory; set data.streaming=false")
        out = Path(cfg.paths.output_dir) / "tokenizer"
        tokenizer = train_tokenizer(train_tok["kind"], dm.docs["train"], int(train_tok["vocab_size"]), out)
    else:
        tokenizer = build_tokenizer(model_cfg)
    dm.tokenizer = tokenizer
    dm.collator = (MLMCollator(tokenizer, float(data.get("mlm_probability", 0.15)), bool(data.get("whole_word_mask", False)))
                   if objective == "mlm" else CLMCollator())
    model = build_lm_model(model_cfg, objective, tokenizer)
    method = cfg.method.get("name")
    if method not in PRETRAIN_METHODS:  # silently training everything would be a wrong result
        raise ConfigError(f"method.name: {method} cannot serve {objective} pretraining; it supports "
                          f"{', '.join(PRETRAIN_METHODS)}")
    model = apply_method(model, OmegaConf.to_container(cfg.method, resolve=True), objective)
    module = PretrainModule(model, objective, OmegaConf.to_container(cfg.optim, resolve=True))
    return tokenizer, dm, module
