"""Turn the composed config into objects: datamodule, model, module, callbacks, loggers, trainer.

Shared by ``train`` and ``evaluate`` so both see exactly the same data and model.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as L
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tunelab.adversarial import build_adversary
from tunelab.callbacks.rng_state import RNGStateCallback
from tunelab.data.datamodule import TaskDataModule
from tunelab.methods import apply_method
from tunelab.models.backbone import build_model, build_tokenizer
from tunelab.modules.finetune import FineTuneModule


def build_datamodule(cfg: DictConfig, tokenizer) -> TaskDataModule:
    dm = instantiate(cfg.data, tokenizer=tokenizer)
    dm.load()
    return dm


def build_module(cfg: DictConfig, dm: TaskDataModule, tokenizer) -> FineTuneModule:
    model_cfg = OmegaConf.to_container(cfg.model, resolve=True)
    model = build_model(model_cfg, dm.task, dm.label_names, tokenizer)
    model = apply_method(model, OmegaConf.to_container(cfg.method, resolve=True), dm.task)
    return FineTuneModule(
        model=model,
        task=dm.task,
        label_names=dm.label_names,
        optim=OmegaConf.to_container(cfg.optim, resolve=True),
        adversary=build_adversary(OmegaConf.to_container(cfg.adversarial, resolve=True)),
    )


def build_callbacks(cfg: DictConfig) -> list[L.Callback]:
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None and "_target_" in c]
    # Exact resume is not optional: RNG states always travel with the checkpoint.
    return callbacks + [RNGStateCallback()]


def build_loggers(cfg: DictConfig) -> list[Any]:
    return [instantiate(c) for c in (cfg.get("logger") or {}).values() if c is not None and "_target_" in c]


def build_trainer(cfg: DictConfig, callbacks, loggers) -> L.Trainer:
    trainer_cfg = cfg.trainer
    if not loggers:  # LearningRateMonitor needs a logger; drop it rather than fail
        callbacks = [c for c in callbacks if type(c).__name__ != "LearningRateMonitor"]
    return instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False)


def build_tokenizer_from(cfg: DictConfig):
    return build_tokenizer(OmegaConf.to_container(cfg.model, resolve=True))
