"""``train(cfg)``: fit, then validate and test the best checkpoint; returns the metrics.

Kept apart from the Hydra entry point so tests call it with a composed config. Every run leaves
in its output directory: ``metrics.json`` (``val/*`` and ``test/*`` of the best checkpoint),
``run_info.json`` (resolved config, parameter counts, data fingerprint and split, git commit),
``labels.json`` and, at test time, ``test_report.json``/``.txt`` (per-class scores).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

import lightning.pytorch as L
import torch
from omegaconf import DictConfig, OmegaConf

from tunelab import builders, run_info, summary
from tunelab.callbacks.wandb_resume import wandb_id_from_checkpoint
from tunelab.config_checks import check_checkpoint, check_config
from tunelab.errors import ConfigError
from tunelab.metrics.classification import format_report
from tunelab.models.backbone import count_parameters
from tunelab.quiet import quiet

log = logging.getLogger(__name__)


def _finish_wandb(loggers) -> None:
    # One failed trial must not poison the next run of a multirun: always close the W&B run,
    # marked failed (exit code 1) when an exception is on its way out.
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        import wandb

        if wandb.run is not None:
            wandb.finish(exit_code=1 if sys.exc_info()[0] is not None else 0)


def _best_checkpoint(trainer: L.Trainer) -> str | None:
    cb = trainer.checkpoint_callback
    if cb is None or trainer.fast_dev_run:
        return None  # evaluate the weights in memory
    return cb.best_model_path or None


def _validation_ran(trainer: L.Trainer) -> bool:
    return any(k.startswith("val/") for k in trainer.callback_metrics)


def _no_validation_reason(cfg: DictConfig) -> str:
    t = cfg.trainer
    if t.get("limit_val_batches") in (0, 0.0):
        return "trainer.limit_val_batches=0"
    every = t.get("check_val_every_n_epoch")
    if every and t.get("max_epochs") and int(every) > int(t.max_epochs):
        return f"trainer.check_val_every_n_epoch={every} > max_epochs={t.max_epochs}"
    if t.get("max_steps") and t.max_steps > 0:
        return f"the step cap trainer.max_steps={t.max_steps} came before the first validation"
    return "no validation batches"


def _last_checkpoint(trainer: L.Trainer, out: Path) -> str:
    """last.ckpt, written now if no validation end or epoch end wrote one (a run that never validated
    with check_val_every_n_epoch > epochs has no save point of its own)."""
    path = out / "checkpoints" / "last.ckpt"
    if not path.is_file():
        trainer.save_checkpoint(str(path))
    return str(path)


def _evaluate(trainer: L.Trainer, module, dm, ckpt: str | None) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for result in trainer.validate(module, datamodule=dm, ckpt_path=ckpt, weights_only=False, verbose=False):
        metrics.update(result)
    for result in trainer.test(module, datamodule=dm, ckpt_path=ckpt, weights_only=False, verbose=False):
        metrics.update(result)
    return run_info.to_floats(metrics)


def _evaluate_suites(cfg: DictConfig, trainer: L.Trainer, module, dm) -> dict[str, float]:
    """The test split again under each seeded text perturbation suite: test/robust_<suite>_<metric>."""
    rob = cfg.get("robustness") or {}
    metrics: dict[str, float] = {}
    module.attacks_enabled = False  # the PGD attack already ran on the clean test split
    try:
        for suite in rob.get("suites") or []:
            loader = dm.perturbed_test_dataloader(suite, float(rob.rate), int(rob.seed))
            (result,) = trainer.test(module, dataloaders=loader, verbose=False)  # weights already loaded
            for key, value in result.items():
                if key.startswith("test/") and "/robust_" not in key:
                    metrics[f"test/robust_{suite}_{key.split('/', 1)[1]}"] = float(value)
    finally:
        module.attacks_enabled = True
    return metrics


def _throughput(trainer: L.Trainer) -> list[dict]:
    for cb in trainer.callbacks:
        if hasattr(cb, "history") and type(cb).__name__ == "ThroughputMonitor":
            return cb.history
    return []


def train(cfg: DictConfig) -> dict[str, float]:
    if cfg.get("cl") is not None:  # a continual-learning sequence (tunelab.continual)
        from tunelab.continual import run_sequence

        return run_sequence(cfg)
    if cfg.get("rec") is not None:  # a recommendation model on interaction data (tunelab.recommend)
        from tunelab.recommend import run_recommend

        return run_recommend(cfg)
    started = time.perf_counter()
    quiet()
    check_config(cfg)  # bad values and unknown keys: one line before anything is built
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise ConfigError(f"ckpt_path: no such checkpoint {cfg.ckpt_path!r}")

    pretraining = builders.is_pretraining(cfg)
    if pretraining:
        tokenizer, dm, module = builders.build_pretraining(cfg)
    else:
        tokenizer = builders.build_tokenizer_from(cfg)
        dm = builders.build_datamodule(cfg, tokenizer)
        if cfg.get("ckpt_path"):  # resuming another task's or label set's checkpoint: one line
            check_checkpoint(cfg.ckpt_path, dm.label_names)
        module = builders.build_module(cfg, dm, tokenizer)
    # A resumed run continues the W&B run its checkpoint belongs to.
    wandb_id = wandb_id_from_checkpoint(cfg.ckpt_path) if cfg.get("ckpt_path") else None
    loggers = builders.build_loggers(cfg, wandb_id)
    trainer = builders.build_trainer(cfg, builders.build_callbacks(cfg), loggers)

    params = count_parameters(module.model)
    info = {
        "config": OmegaConf.to_container(cfg, resolve=True),
        "parameters": params,
        "data": dm.meta,
        "git_commit": run_info.git_commit(),
        "torch": torch.__version__,
    }
    if (source := run_info.model_source(cfg.model.get("name_or_path"))) is not None:
        info["model_source"] = source  # a zoo backbone: which route and file, and whether lossy
    log.info("parameters: %d trainable / %d total (%.2f%%)", params["trainable"], params["total"], params["trainable_pct"])
    try:
        for lg in loggers:
            lg.log_hyperparams({**info["config"], "parameters": params, "data_meta": dm.meta, "git_commit": info["git_commit"]})
        if trainer.is_global_zero:
            run_info.write_json(out / "run_info.json", info)
            if not pretraining:
                run_info.write_json(out / "labels.json", dm.label_names)

        if cfg.get("train", True):
            trainer.fit(module, datamodule=dm, ckpt_path=cfg.get("ckpt_path"), weights_only=False)
        metrics: dict[str, float] = {}
        tested = _best_checkpoint(trainer) if cfg.get("train", True) else None
        if cfg.get("train", True) and not trainer.fast_dev_run and not _validation_ran(trainer):
            # Early stopping and best-checkpoint selection had nothing to go on: test the last weights.
            reason = _no_validation_reason(cfg)
            tested = _last_checkpoint(trainer, out)
            log.warning("no validation ran during training (%s): no early stopping, no best checkpoint; "
                        "testing %s", reason, tested)
            info["validation"] = {"ran": False, "reason": reason, "tested_checkpoint": tested}
        if cfg.get("test", True):
            ckpt = tested
            metrics = _evaluate(trainer, module, dm, ckpt)
            metrics = {k: v for k, v in metrics.items() if k.startswith(("val/", "test/"))}
            if trainer.is_global_zero and getattr(module, "test_report", None) is not None:
                run_info.write_json(out / "test_report.json", module.test_report)
                (out / "test_report.txt").write_text(format_report(module.test_report) + "\n")
            if not pretraining:
                metrics.update(_evaluate_suites(cfg, trainer, module, dm))
        if (pretraining or getattr(dm.task, "generative", False)) and trainer.is_global_zero:
            # The best checkpoint's weights (loaded by validate/test above) as a Hugging Face folder
            # that fine-tuning experiments load with model.name_or_path=<run>/hf_model.
            save_hf_model(module.model, tokenizer, out)
        if trainer.is_global_zero:
            run_info.write_json(out / "metrics.json", metrics)
            best = tested or _best_checkpoint(trainer)
            info.update(wall_time_s=time.perf_counter() - started, throughput=_throughput(trainer),
                        checkpoint_bytes=Path(best).stat().st_size if best else None, tested_checkpoint=best)
            run_info.write_json(out / "run_info.json", info)
            for lg in loggers:
                if hasattr(lg, "experiment") and type(lg).__name__ == "WandbLogger":
                    lg.experiment.summary.update({f"final/{k}": v for k, v in metrics.items()})
            summary.print_summary(metrics, out, best, summary.offline_wandb_dir(loggers))
        return metrics
    finally:
        _finish_wandb(loggers)


def save_hf_model(model, tokenizer, out: Path) -> None:
    """``<out>/hf_model``: a plain Hugging Face folder that fine-tuning and generate.py load.

    A peft run (LoRA, AdaLoRA, IA3 on a causal LM) is merged into its base weights there, and its
    adapter alone goes to ``<out>/hf_adapter`` (a few MB, for PeftModel.from_pretrained); prefix and
    prompt tuning cannot be merged (virtual tokens), so their ``hf_model`` is the adapter folder,
    which generate.py merges onto the base model it names."""
    import copy

    from peft import PeftModel

    if isinstance(model, PeftModel):
        model.save_pretrained(str(out / "hf_adapter"))
        tokenizer.save_pretrained(str(out / "hf_adapter"))
        if not model.active_peft_config.is_prompt_learning:
            model = copy.deepcopy(model).merge_and_unload()  # the trained module stays as it was
    if getattr(model.config, "use_cache", None) is False:
        model.config.use_cache = True  # trained without a KV cache (builders); generation wants one
    model.save_pretrained(str(out / "hf_model"))
    tokenizer.save_pretrained(str(out / "hf_model"))

