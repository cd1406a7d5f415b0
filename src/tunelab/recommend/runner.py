"""``run_recommend(cfg)``: fit one recommendation model on ML-100K, score the best checkpoint.

Top to bottom, like ``tunelab.training.train``: check the config (the ``rec`` group against
conf/rec/<name>.yaml too), read and split the data (datamodule.py), build the model of
``rec.name`` (builders.py), fit with the framework's trainer, callbacks and loggers (best and
last checkpoints, early stopping on ``data.monitor``, resume with ``ckpt_path``, W&B), then
validate and test the best checkpoint. A full-ranking model then ranks the whole catalogue for
every user at each stage (timed: the full-ranking inference cost) and writes
``candidates.json`` (its top-K, the reranker's input) and ``popularity.json`` (test metrics by
how often the target item was seen in training). The run directory gets ``metrics.json``
(``val/*``, ``test/*``, ``cost/*``) and ``run_info.json``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning.pytorch as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tunelab import builders, run_info
from tunelab.callbacks.wandb_resume import wandb_id_from_checkpoint
from tunelab.config_checks import _check_named_group, check_config, conf_dir
from tunelab.errors import ConfigError
from tunelab.models.backbone import count_parameters
from tunelab.quiet import quiet
from tunelab.recommend import candidates as cand_io
from tunelab.recommend import popularity
from tunelab.recommend.builders import BUILDERS
from tunelab.recommend.examples import STAGES

log = logging.getLogger(__name__)


def _costs(trainer: L.Trainer, fit_s: float) -> dict[str, float]:
    from tunelab.training import _throughput

    epochs = [row["epoch_seconds"] for row in _throughput(trainer)]
    out = {"cost/train_s": fit_s, "cost/epochs": float(len(epochs))}
    if epochs:
        out["cost/epoch_s"] = sum(epochs) / len(epochs)
    return out


def _rank_catalogue(module, dm, out: Path, k: int, source: str) -> dict[str, float]:
    # test first: its time (item table included) is the full-ranking cost; the other stages reuse the table
    stages, seconds = {}, 0.0
    for stage in ("test", *[s for s in STAGES if s != "test"]):
        stages[stage], took = cand_io.rank_all(module.net, dm, stage, k, prepare=stage == "test")
        seconds = seconds or took
    costs = {"cost/full_ranking_s": seconds, "cost/full_ranking_ms_per_user": 1000 * seconds / max(len(stages["test"]), 1)}
    cand_io.write(out / "candidates.json", dm, stages, k, source)
    popularity.write(out, dm)  # test metrics by the target item's training interactions
    return costs


def run_recommend(cfg: DictConfig) -> dict[str, float]:
    from tunelab.training import _best_checkpoint, _evaluate, _finish_wandb, _last_checkpoint, _throughput, _validation_ran

    started = time.perf_counter()
    quiet()
    check_config(cfg)
    _check_named_group(cfg, "rec", conf_dir())
    rec = OmegaConf.to_container(cfg.rec, resolve=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise ConfigError(f"ckpt_path: no such checkpoint {cfg.ckpt_path!r}")

    dm = instantiate(cfg.data)
    dm.load()
    built = BUILDERS[rec["name"]](cfg, rec, dm)
    dm.use(built.train, built.val, built.test)
    module = built.module
    wandb_id = wandb_id_from_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    loggers = builders.build_loggers(cfg, wandb_id)
    trainer = builders.build_trainer(cfg, builders.build_callbacks(cfg), loggers)
    params = count_parameters(module.net)
    info = {"config": OmegaConf.to_container(cfg, resolve=True), "parameters": params, "data": dm.meta,
            "git_commit": run_info.git_commit(), "torch": torch.__version__, "threads": torch.get_num_threads()}
    log.info("%s: %d trainable / %d total parameters; %d users, %d items", rec["name"], params["trainable"],
             params["total"], len(dm.split.users), dm.split.n_items)
    try:
        for lg in loggers:
            lg.log_hyperparams({**info["config"], "parameters": params, "data_meta": dm.meta, "git_commit": info["git_commit"]})
        run_info.write_json(out / "run_info.json", info)
        fit_s = 0.0
        if cfg.get("train", True):
            t0 = time.perf_counter()
            trainer.fit(module, datamodule=dm, ckpt_path=cfg.get("ckpt_path"), weights_only=False)
            fit_s = time.perf_counter() - t0
        # train=false ckpt_path=...: score that checkpoint (e.g. a reranker with a new fusion), no fit
        tested = _best_checkpoint(trainer) if cfg.get("train", True) else cfg.get("ckpt_path")
        if cfg.get("train", True) and not trainer.fast_dev_run and not _validation_ran(trainer):
            tested = _last_checkpoint(trainer, out)
            info["validation"] = {"ran": False, "tested_checkpoint": tested}
        metrics: dict[str, float] = {}
        if cfg.get("test", True):
            metrics = {k: v for k, v in _evaluate(trainer, module, dm, tested).items() if k.startswith(("val/", "test/"))}
            if cfg.get("train", True):  # a checkpoint scored again has no training cost of its own
                metrics.update(_costs(trainer, fit_s))
            if built.ranks_catalogue:
                metrics.update(_rank_catalogue(module, dm, out, int(rec["candidates_k"]), str(out)))
        metrics["params/trainable"] = float(params["trainable"])
        run_info.write_json(out / "metrics.json", metrics)
        info.update(wall_time_s=time.perf_counter() - started, throughput=_throughput(trainer), tested_checkpoint=tested)
        run_info.write_json(out / "run_info.json", info)
        for lg in loggers:
            if type(lg).__name__ == "WandbLogger":
                lg.experiment.summary.update({f"final/{k}": v for k, v in metrics.items()})
        shown = ", ".join(f"{k}={v:.4f}" for k, v in sorted(metrics.items()) if k.startswith("test/") and "cold" not in k)
        log.info("%s -> %s", shown, out / "metrics.json")
        return metrics
    finally:
        _finish_wandb(loggers)
