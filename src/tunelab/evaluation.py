"""``evaluate(cfg)``: score a checkpoint on one split; writes metrics.json and the per-class report.

The label vocabulary comes from the checkpoint (it was built from the training data of that run);
if the configured data yields a different one, the checkpoint and data do not belong together.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as L
import torch
from omegaconf import DictConfig

from tunelab import builders, run_info
from tunelab.config_checks import check_config
from tunelab.errors import ConfigError
from tunelab.metrics.classification import format_report
from tunelab.quiet import quiet

SPLITS = ("train", "validation", "test")


def load_checkpoint(path: str) -> dict:
    if not Path(path).is_file():
        raise ConfigError(f"ckpt_path: no such checkpoint {path!r}")
    # weights_only=False: our checkpoints hold RNG states and hyperparameters (only load your own).
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a damaged file that still looks like a zip: one line, not a traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"ckpt_path: {path} could not be loaded: {first}") from None


def evaluate(cfg: DictConfig) -> dict[str, float]:
    quiet()
    check_config(cfg)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    if cfg.split not in SPLITS:
        raise ConfigError(f"split: {cfg.split!r} is not one of {', '.join(SPLITS)}")
    ckpt = load_checkpoint(cfg.ckpt_path)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = builders.build_tokenizer_from(cfg)
    dm = builders.build_datamodule(cfg, tokenizer)
    dm.eval_split = cfg.split
    saved = list(ckpt.get("hyper_parameters", {}).get("label_names", []))
    if saved != dm.label_names:
        raise ConfigError(
            f"ckpt_path: checkpoint labels {saved[:5]}... differ from data {dm.name!r} labels {dm.label_names[:5]}...; "
            "pass the experiment the checkpoint was trained with"
        )
    module = builders.build_module(cfg, dm, tokenizer)
    module.load_weights(ckpt["state_dict"])
    trainer = builders.build_trainer(cfg, [], [])
    (result,) = trainer.test(module, datamodule=dm, verbose=False)
    metrics = {f"{cfg.split}/{k.split('/', 1)[1]}": float(v) for k, v in result.items() if k.startswith("test/")}
    if not trainer.is_global_zero:  # every rank holds the synced metrics; one writes them
        return metrics
    run_info.write_json(out / "metrics.json", metrics)
    if module.test_report is not None:
        run_info.write_json(out / f"{cfg.split}_report.json", module.test_report)
        (out / f"{cfg.split}_report.txt").write_text(format_report(module.test_report) + "\n")
    return metrics
