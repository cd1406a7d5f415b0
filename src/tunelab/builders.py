"""Turn the composed config into objects: datamodule, model, module, callbacks, loggers, trainer.

Shared by ``train`` and ``evaluate`` so both see exactly the same data and model.
"""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tunelab import tasks
from tunelab.adversarial import build_adversary
from tunelab.errors import ConfigError
from tunelab.callbacks.monitor_check import MonitorCheck
from tunelab.callbacks.rng_state import RNGStateCallback
from tunelab.callbacks.step_cap import ValidateAtStepCap
from tunelab.callbacks.wandb_resume import WandbRunId
from tunelab.data.datamodule import TaskDataModule
from tunelab.methods import apply_method
from tunelab.methods.peft_methods import AdaLoraAllocator
from tunelab.models.backbone import FRESH_ATTR, build_model, build_tokenizer, fresh_parameter_names
from tunelab.modules.finetune import FineTuneModule


def task_of(cfg: DictConfig):
    """The task object the data config names (``data.task``)."""
    return tasks.get(cfg.data.get("task"))


def build_datamodule(cfg: DictConfig, tokenizer) -> TaskDataModule:
    dm = instantiate(cfg.data, tokenizer=tokenizer)
    dm.load()
    return dm


def world_size(trainer_cfg) -> int:
    """Processes the trainer will start: devices x nodes (``auto`` counts the visible GPUs)."""
    devices = trainer_cfg.get("devices", 1)
    if isinstance(devices, (list, tuple)) or OmegaConf.is_list(devices):
        n = len(devices)
    elif devices in ("auto", -1, "-1"):
        import torch

        n = torch.cuda.device_count() if trainer_cfg.get("accelerator") not in ("cpu",) else 1
        n = max(n, 1)
    else:
        n = int(devices)
    return n * int(trainer_cfg.get("num_nodes") or 1)


def planned_steps(cfg: DictConfig, dm: TaskDataModule) -> int:
    """Optimizer steps the run will take (AdaLoRA's schedule needs it before the trainer exists).

    The same arithmetic as Lightning's ``estimated_stepping_batches`` on our sampler: each of
    ``world`` ranks takes ``batches // world`` batches per epoch (the last incomplete round is
    dropped), ``limit_train_batches`` caps those, and an epoch ends with a step even when its
    last accumulation window is short.
    """
    batches = math.ceil(len(dm.records["train"]) / int(cfg.data.batch_size))
    world = world_size(cfg.trainer)
    per_rank = batches // world if world > 1 else batches
    limit = cfg.trainer.get("limit_train_batches")
    if isinstance(limit, int) and not isinstance(limit, bool):
        per_rank = min(per_rank, limit)
    elif isinstance(limit, float):
        per_rank = int(per_rank * limit)
    accumulate = int(cfg.trainer.get("accumulate_grad_batches") or 1)
    steps = math.ceil(per_rank / accumulate) * int(cfg.trainer.max_epochs)
    max_steps = cfg.trainer.get("max_steps")
    return min(steps, max_steps) if max_steps and max_steps > 0 else max(steps, 1)


def build_module(cfg: DictConfig, dm: TaskDataModule, tokenizer) -> FineTuneModule:
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    method_cfg = OmegaConf.to_container(cfg.method, resolve=True)
    if method_cfg.get("name") == "adalora" and not method_cfg.get("total_step"):
        method_cfg["total_step"] = planned_steps(cfg, dm)
    if getattr(dm.task, "generative", False):  # a causal LM trained on labelled pairs (sft): no head to size
        from tunelab.models.backbone import build_lm_model

        model = build_lm_model(model_cfg, dm.task, tokenizer)
        # No KV cache in training: with one (the default), transformers 5 skips the packed-sequence
        # mask and packed examples attend to each other (tests/unit/test_sft_task.py); it also holds
        # every layer's keys and values for nothing. save_hf_model turns it back on for generation.
        model.config.use_cache = False
    else:
        model = build_model(model_cfg, dm.task, dm.label_names, tokenizer)
    fresh = getattr(model, FRESH_ATTR, [])
    model = apply_method(model, method_cfg, dm.task)
    return FineTuneModule(
        model=model,
        task=dm.task.name,
        label_names=dm.label_names,
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        adversary=build_adversary(OmegaConf.to_container(cfg.adversarial, resolve=True)),
        # A from-scratch backbone cannot be rebuilt from a source, so its checkpoints keep everything.
        trainable_only_checkpoint=method_cfg.get("name") != "full" and not model_cfg.get("from_scratch"),
        robust_pgd=_robust_pgd(cfg),
        fresh_weights=fresh_parameter_names(model, fresh),
    )


def _robust_pgd(cfg: DictConfig) -> dict | None:
    pgd = OmegaConf.to_container(cfg.get("robustness") or {}, resolve=True).get("pgd") or {}
    return pgd if pgd.get("eps") else None


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    no_validation = cfg.trainer.get("limit_val_batches") in (0, 0.0)
    # Without validation, early stopping and best-checkpoint selection have nothing to monitor.
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()
                 if c is not None and "_target_" in c and not (no_validation and c.get("monitor"))]
    # Exact resume is not optional: RNG states always travel with the checkpoint.
    callbacks.append(RNGStateCallback())
    # A step cap ends the run with a validation; the monitored metric must exist when one ran.
    callbacks += [ValidateAtStepCap(), MonitorCheck(cfg.optimized_metric)]
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
    from tunelab.trainer_checks import check_trainer

    # FSDP/DeepSpeed on CPU, a GPU trainer without CUDA: one line, not Lightning's traceback.
    check_trainer(cfg)
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
def is_pretraining(cfg: DictConfig) -> bool:
    return task_of(cfg).pretraining


def build_pretraining(cfg: DictConfig):
    """Tokenizer (loaded, or trained on the corpus), text datamodule, LM model, PretrainModule."""
    from pathlib import Path

    from tunelab.models.backbone import build_lm_model
    from tunelab.modules.pretrain import PretrainModule, clip_block_size

    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    dm = instantiate(cfg.data, tokenizer=None)
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
    model = build_lm_model(model_cfg, dm.task, tokenizer)
    model = apply_method(model, OmegaConf.to_container(cfg.method, resolve=True), dm.task)
    clip_block_size(dm, model)  # before setup() cuts the corpus into blocks
    module = PretrainModule(model, dm.task.name, OmegaConf.to_container(cfg.optim, resolve=True))
    return tokenizer, dm, module
