"""Hyperparameter sweeps: one trial of a multirun, and the best trial written back as an experiment.

``run_trial(train_fn, cfg)`` is what train.py calls. In a single run it keeps the CLI behaviour
(a ``TunelabError`` is one line ``error: ...`` and exit code 2). Under ``-m`` a failing trial
must be recorded as failed without ending the sweep, so it:

* logs the error in one line and writes ``<job output dir>/failed.json``
  (``{"error": "<Type>: <message>", "overrides": [...], "traceback": "..."}``);
* makes sure the job's W&B run is finished as failed (exit code 1): ``train`` does so in its
  ``finally`` when an exception propagates, and a run still open afterwards is finished here;
* re-raises. Hydra stores the exception in the job's result; the Optuna sweeper then tells the
  study the trial FAILED, and with ``hydra.sweeper.max_failure_rate: 1.0`` (conf/hparams_search)
  goes on with the next trial. (Returning NaN does not work with optuna 2.10.1 and
  hydra-optuna-sweeper 1.3.0: ``study.tell`` raises on NaN and the sweeper's fallback
  ``tell(state=FAIL, values=[nan])`` raises again, ending the sweep. For the same reason a
  trial whose objective comes out NaN/inf under the Optuna sweeper is treated as failed.)

``WriteBestExperiment`` is a Hydra callback (``hydra.callbacks`` in conf/hparams_search/*.yaml):
at the end of the sweep it turns ``<sweep dir>/optimization_results.yaml`` into
``<sweep dir>/best_experiment.yaml``, an experiment file that extends the sweep's base experiment.
"""

from __future__ import annotations

import json
import logging
import math
import shlex
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Mapping

from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)

FAILED_FILE = "failed.json"
BEST_FILE = "best_experiment.yaml"
RESULTS_FILE = "optimization_results.yaml"


class NonFiniteObjective(RuntimeError):
    """The optimized metric of a trial is missing, NaN or infinite: Optuna cannot record it."""


def _hydra_config():
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get() if HydraConfig.initialized() else None


def in_multirun() -> bool:
    from hydra.types import RunMode

    hc = _hydra_config()
    return hc is not None and hc.mode == RunMode.MULTIRUN


def _optuna_sweep() -> bool:
    hc = _hydra_config()
    return hc is not None and "optuna" in str(OmegaConf.select(hc, "sweeper._target_", default="")).lower()


def _one_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


def _job_overrides() -> list[str]:
    hc = _hydra_config()
    return list(hc.overrides.task) if hc is not None else []


def _output_dir(cfg: DictConfig) -> Path:
    hc = _hydra_config()
    if hc is not None:
        return Path(hc.runtime.output_dir)
    return Path(cfg.paths.output_dir)


def record_failure(cfg: DictConfig, exc: BaseException) -> Path:
    """Log a failed trial in one line and write ``<job output dir>/failed.json``."""
    error = _one_line(exc)
    overrides = _job_overrides()
    out = _output_dir(cfg)
    out.mkdir(parents=True, exist_ok=True)
    path = out / FAILED_FILE
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    path.write_text(json.dumps({"error": error, "overrides": overrides, "traceback": tb}, indent=2) + "\n")
    log.error("trial failed: %s (overrides: %s; details in %s)", error, " ".join(overrides), path)
    return path


def _finish_open_wandb_run_as_failed() -> None:
    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=1)


def objective(metrics: Mapping[str, float] | None, cfg: DictConfig) -> float | None:
    """The trial's value: ``metrics[cfg.optimized_metric]`` (None when absent)."""
    value = (metrics or {}).get(cfg.get("optimized_metric"))
    return None if value is None else float(value)


def run_trial(train_fn: Callable[[DictConfig], Mapping[str, float]], cfg: DictConfig,
              multirun: bool | None = None) -> float | None:
    """Run ``train_fn(cfg)`` and return the optimized metric; see the module docstring."""
    from tunelab.cli import run_or_exit

    multirun = in_multirun() if multirun is None else multirun
    if not multirun:
        return objective(run_or_exit(train_fn, cfg), cfg)
    try:
        metrics = train_fn(cfg)  # train() finishes its W&B run with exit code 1 when it raises
        value = objective(metrics, cfg)
        if _optuna_sweep() and (value is None or not math.isfinite(value)):
            raise NonFiniteObjective(
                f"optimized_metric {cfg.get('optimized_metric')!r} is {value} (metrics: {sorted(metrics or {})})"
            )
        return value
    except Exception as exc:
        _finish_open_wandb_run_as_failed()
        record_failure(cfg, exc)
        raise


# ----------------------------------------------------------------------------------------------
# The best trial as an experiment file.


def _parse_overrides(lines: list[str]):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_overrides(lines)


def base_experiment(task_overrides: list[str]) -> str | None:
    """The experiment named by the sweep's ``+experiment=NAME`` override (None if none or a sweep)."""
    for ov in _parse_overrides(task_overrides):
        if ov.key_or_group == "experiment" and not ov.is_delete() and not ov.is_sweep_override():
            value = ov.value()
            return str(value) if value else None
    return None


def _nest(params: Mapping[str, Any]) -> dict:
    body: dict = {}
    for key, value in params.items():
        node = body
        *parents, leaf = key.lstrip("+~").split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return body


def best_experiment_text(results: Mapping[str, Any], task_overrides: list[str], sweep_dir: Path,
                         group_choices: Mapping[str, Any] | None = None, metric: str | None = None) -> tuple[str, str]:
    """(suggested experiment name, YAML text) for the best trial in ``results``.

    ``best_params`` keys that name a config group (in ``group_choices``, e.g. ``method``) become
    ``override /<group>: <choice>`` defaults; the others nested keys. The sweep's remaining
    command-line overrides (not swept, not ``hydra.*``) go on the command in the header so the
    command re-runs the best trial exactly.
    """
    best = dict(results.get("best_params") or {})
    group_choices = group_choices or {}
    base = base_experiment(task_overrides)
    name = f"{base}_best" if base else "best"

    groups = {k: v for k, v in best.items() if k.lstrip("+") in group_choices}
    values = {k: v for k, v in best.items() if k not in groups and not k.startswith("hydra.")}
    extra = []
    for ov in _parse_overrides(task_overrides):
        key = ov.key_or_group
        if key in ("experiment", "hparams_search") or key.startswith("hydra.") or key == "hydra":
            continue
        if ov.is_sweep_override() or ov.get_key_element() in best or key in best:
            continue
        extra.append(shlex.quote(ov.input_line))

    metric_name = f" {metric}" if metric else ""
    lines = [
        "# @package _global_",
        f"# python train.py +experiment={name}" + "".join(f" {e}" for e in extra),
        f"# (after: cp {shlex.quote(str(sweep_dir / BEST_FILE))} conf/experiment/{name}.yaml)",
        f"# Best trial of the sweep in {sweep_dir}: best_value{metric_name} = {results.get('best_value')}",
    ]
    defaults = ([base] if base else []) + [{f"override /{k.lstrip('+')}": v} for k, v in groups.items()]
    doc: dict = {}
    if defaults:
        doc["defaults"] = [*defaults, "_self_"]
    # Every experiment names its runs after itself (logs/<task_name>, the W&B run name): the
    # re-runs of the best trial must not land among the base experiment's runs.
    doc["task_name"] = name
    doc.update(_nest(values))
    text = "\n".join(lines) + "\n" + OmegaConf.to_yaml(OmegaConf.create(doc), sort_keys=False)
    return name, text


try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover
    _HydraCallback = object  # type: ignore[misc,assignment]


class WriteBestExperiment(_HydraCallback):
    """Hydra callback: ``<sweep dir>/best_experiment.yaml`` from the Optuna sweeper's results."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(str(config.hydra.sweep.dir))
        results_path = sweep_dir / RESULTS_FILE
        if not results_path.is_file():
            log.warning("no %s in %s: no best experiment written", RESULTS_FILE, sweep_dir)
            return
        results = OmegaConf.to_container(OmegaConf.load(results_path), resolve=True)
        if "best_params" not in results:  # multi-objective: a Pareto front, no single best
            log.warning("%s has no best_params (multi-objective?): no best experiment written", results_path)
            return
        task = list(OmegaConf.select(config, "hydra.overrides.task", default=[]) or [])
        choices = OmegaConf.select(config, "hydra.runtime.choices", default={}) or {}
        try:
            metric = OmegaConf.select(config, "optimized_metric", default=None)
        except Exception:  # an interpolation that only resolves inside a job
            metric = None
        name, text = best_experiment_text(results, task, sweep_dir, group_choices=choices, metric=metric)
        out = sweep_dir / BEST_FILE
        out.write_text(text)
        log.info("best trial written as an experiment: %s (copy to conf/experiment/%s.yaml)", out, name)
