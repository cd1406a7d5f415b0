"""Hyperparameter sweeps: the Optuna presets, failed trials, the best trial as an experiment, W&B.

The two sweeps through the real CLI (a subprocess, like test_cli_errors.py) use the tiny random
BERT on synthetic NER data, one epoch per trial. W&B 0.31 offline runs keep their config, group,
summary and exit code only in the binary ``run-*.wandb`` log (no ``files/config.yaml``), so the
tests read that log (``wandb_records``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT, compose
from tests.helpers import read_finished_wandb_run, write_synthetic_ner
from tunelab import sweeps
from tunelab.errors import ConfigError

PRESETS = {"lora_optuna": "lora_ncbi", "full_optuna": "full_ncbi"}
WANDB_SWEEP = ROOT / "experiments" / "sweeps" / "wandb_sweep.yaml"


# ------------------------------------------------------------------------------------- helpers

def compose_with_hydra(overrides: list[str]):
    import tunelab.config  # noqa: F401
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
        return hydra_compose(config_name="train", overrides=overrides, return_hydra_config=True)


def sample_overrides(params: dict[str, str]) -> list[str]:
    """One value per Optuna search-space entry (parsed as the sweeper parses it)."""
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    dists, fixed = create_params_from_overrides([f"{k}={v}" for k, v in params.items()])
    assert not fixed, fixed
    out = []
    for name, dist in dists.items():
        value = dist.choices[-1] if hasattr(dist, "choices") else dist.high
        out.append(f"{name}={value}")
    return out


def scalar(text: str):
    """An override's value as Hydra reads it (YAML 1.1 would keep ``1e-05`` a string)."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return yaml.safe_load(text)


def wandb_run_summary(run_dir: Path) -> dict:
    """{"group", "config", "exit_code"} of a finished offline W&B run."""
    run = read_finished_wandb_run(run_dir)
    return {"group": run["group"], "config": run["config"], "exit_code": run["exit_code"]}


def run_sweep(tmp_path: Path, data_dir: Path, *args: str, n_trials: int = 3,
              sweep_dir: str = "sweep") -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    cmd = [sys.executable, "train.py", "-m", "hparams_search=lora_optuna", "+experiment=lora_ncbi",
           "model=tiny", "logger=wandb", "trainer.max_epochs=1", "trainer.accelerator=cpu",
           "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
           f"hydra.sweeper.n_trials={n_trials}", f"hydra.sweep.dir={tmp_path / sweep_dir}",
           # the synthetic data (tests.helpers.ner_overrides minus its optim.* values: swept here)
           f"paths.data_dir={data_dir}", "data.source.files.train=train.tsv",
           "data.source.files.validation=devel.tsv", "data.source.files.test=test.tsv", *args]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture
def ner_data(tmp_path):
    folder = tmp_path / "data"
    write_synthetic_ner(folder)
    return folder


def job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))


def job_overrides(job: Path) -> dict[str, str]:
    return dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()))


def compose_copied_experiment(tmp_path: Path, best_file: Path, name: str, *overrides: str):
    """Compose best_file as if it were copied to conf/experiment/<name>.yaml.

    It goes in under another name: conf/experiment may hold a real <name>.yaml (lora_ncbi_best,
    from the committed sweep), which the search path would find first.
    """
    extra = tmp_path / "extra_conf"
    (extra / "experiment").mkdir(parents=True, exist_ok=True)
    (extra / "experiment" / f"copied_{name}.yaml").write_text(best_file.read_text())
    return compose([f"+experiment=copied_{name}", f"hydra.searchpath=[file://{extra}]", *overrides])


# ------------------------------------------------------------------------------- presets (fast)

@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_composes_with_its_experiment(preset):
    cfg = compose_with_hydra([f"hparams_search={preset}", f"+experiment={PRESETS[preset]}"])
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_ == "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    assert (sweeper.direction, sweeper.n_trials, sweeper.n_jobs, sweeper.storage) == ("maximize", 12, 1, None)
    assert sweeper.max_failure_rate == 1.0  # failed trials never end the sweep
    assert sweeper.sampler._target_ == "optuna.samplers.TPESampler"
    assert (sweeper.sampler.seed, sweeper.sampler.n_startup_trials) == (1234, 4)
    assert cfg.hydra.callbacks.best_experiment._target_ == "tunelab.sweeps.WriteBestExperiment"
    assert cfg.hydra.runtime.choices["hydra/sweeper"] == "optuna"
    assert cfg.method.name == ("lora" if preset == "lora_optuna" else "full")
    assert cfg.optimized_metric == "val/f1" and cfg.optimized_mode == "max"
    header = (CONF / "hparams_search" / f"{preset}.yaml").read_text().splitlines()
    assert header[0] == "# @package _global_"
    assert f"python train.py -m hparams_search={preset} +experiment={PRESETS[preset]}" in header[1]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_groups_wandb_by_study_and_leaves_other_loggers_alone(preset, tmp_path):
    from hydra.core.hydra_config import HydraConfig
    from tunelab import builders

    cfg = compose_with_hydra([f"hparams_search={preset}", f"+experiment={PRESETS[preset]}"])
    HydraConfig.instance().set_config(cfg)  # what a sweep job has: ${hydra:...} resolves
    try:
        assert cfg.logger.wandb.group == cfg.hydra.sweeper.study_name == PRESETS[preset]
    finally:
        HydraConfig.instance().cfg = None  # a process-wide singleton: later tests expect none
    # With the wandb logger off, the preset's group entry (no _target_) builds nothing W&B.
    csv_only = compose_with_hydra([f"hparams_search={preset}", f"+experiment={PRESETS[preset]}", "logger=csv",
                                  f"paths.output_dir={tmp_path}"])
    assert [type(lg).__name__ for lg in builders.build_loggers(csv_only)] == ["CSVLogger"]
    assert "WandbRunId" not in [type(c).__name__ for c in builders.build_callbacks(csv_only)]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_searched_param_is_a_valid_override(preset):
    base = [f"+experiment={PRESETS[preset]}"]
    params = compose_with_hydra([f"hparams_search={preset}", *base]).hydra.sweeper.params
    trial = sample_overrides(OmegaConf.to_container(params))
    cfg = compose([*base, *trial])
    for override in trial:
        key, value = override.split("=", 1)
        assert OmegaConf.select(cfg, key) == pytest.approx(scalar(value)), override


# ------------------------------------------------------------------------------ W&B sweep file

def test_wandb_sweep_file_parses_and_its_params_are_overrides():
    spec = yaml.safe_load(WANDB_SWEEP.read_text())
    assert spec["program"] == "train.py" and spec["method"] == "bayes"
    assert spec["metric"] == {"name": "val/f1", "goal": "maximize"}
    assert spec["command"] == ["${env}", "python", "${program}", "+experiment=lora_ncbi",
                               "logger.wandb.offline=false", "${args_no_hyphens}"]
    params = spec["parameters"]
    assert set(params) == {"optim.lr", "method.r", "method.alpha", "method.dropout"}
    fixed = [a for a in spec["command"] if not a.startswith("$") and a not in ("python",)]
    trial = []
    for name, p in params.items():
        value = p["values"][0] if "values" in p else (p["min"] + p["max"]) / 2
        trial.append(f"{name}={value}")
    cfg = compose([*fixed, *trial])
    assert cfg.method.name == "lora" and cfg.logger.wandb.offline is False
    for override in trial:
        key, value = override.split("=", 1)
        assert OmegaConf.select(cfg, key) == pytest.approx(scalar(value)), override
    head = WANDB_SWEEP.read_text().splitlines()[:3]
    assert any("wandb sweep experiments/sweeps/wandb_sweep.yaml" in line for line in head)
    assert any("wandb agent <entity/project/id>" in line for line in head)


# --------------------------------------------------------------------- best trial as experiment

def test_best_experiment_file_extends_the_base_experiment(tmp_path):
    results = {"name": "optuna", "best_value": 0.75,
               "best_params": {"optim.lr": 0.0021, "method.r": 16, "method.alpha": 32, "method.dropout": 0.05}}
    task = ["hparams_search=lora_optuna", "+experiment=lora_ncbi", "model=tiny", "hydra.sweeper.n_trials=3",
            "method.alpha=choice(8,32)", "trainer.max_epochs=2"]
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "overrides": {"task": task},
                                         "runtime": {"choices": {"method": "lora", "model": "tiny"}}},
                               "optimized_metric": "val/f1"})
    OmegaConf.save(OmegaConf.create(results), tmp_path / "optimization_results.yaml")
    sweeps.WriteBestExperiment().on_multirun_end(config=config)

    best = tmp_path / "best_experiment.yaml"
    lines = best.read_text().splitlines()
    assert lines[0] == "# @package _global_"  # Hydra reads the package only from the leading lines
    assert lines[1] == "# python train.py +experiment=lora_ncbi_best model=tiny trainer.max_epochs=2"
    assert f"cp {best} conf/experiment/lora_ncbi_best.yaml" in lines[2]
    assert "best_value val/f1 = 0.75" in best.read_text() and str(tmp_path) in lines[3]
    body = yaml.safe_load(best.read_text())
    assert body == {"defaults": ["lora_ncbi", "_self_"], "task_name": "lora_ncbi_best",
                    "optim": {"lr": 0.0021}, "method": {"r": 16, "alpha": 32, "dropout": 0.05}}

    cfg = compose_copied_experiment(tmp_path, best, "lora_ncbi_best", "model=tiny", "trainer.max_epochs=2")
    assert (cfg.method.name, cfg.method.r, cfg.method.alpha, cfg.method.dropout) == ("lora", 16, 32, 0.05)
    assert cfg.optim.lr == 0.0021 and cfg.task_name == "lora_ncbi_best" and cfg.data.name == "ncbi_disease"
    # the same values as the dotlist of the best params on top of the base experiment (own task_name)
    ref = compose(["+experiment=lora_ncbi", "model=tiny", "trainer.max_epochs=2", "task_name=lora_ncbi_best",
                   *(f"{k}={v}" for k, v in results["best_params"].items())])
    assert OmegaConf.to_container(ref, resolve=False) == OmegaConf.to_container(cfg, resolve=False)


def test_best_experiment_group_choice_and_no_base(tmp_path):
    name, text = sweeps.best_experiment_text({"best_params": {"method": "ia3", "optim.lr": 0.002}, "best_value": 1},
                                             ["+experiment=lora_ncbi", "method=choice(lora,ia3)"], tmp_path,
                                             group_choices={"method": "lora"})
    assert yaml.safe_load(text)["defaults"] == ["lora_ncbi", {"override /method": "ia3"}, "_self_"]
    (tmp_path / "best.yaml").write_text(text)
    cfg = compose_copied_experiment(tmp_path, tmp_path / "best.yaml", name)
    assert cfg.method.name == "ia3" and cfg.optim.lr == 0.002
    assert cfg.task_name == name == "lora_ncbi_best"  # its own runs, not lora_ncbi's

    name, text = sweeps.best_experiment_text({"best_params": {"optim.lr": 0.002}, "best_value": 1},
                                             ["data=ncbi_disease"], tmp_path)
    assert name == "best" and "defaults" not in yaml.safe_load(text) and yaml.safe_load(text)["task_name"] == "best"
    assert text.splitlines()[1] == "# python train.py +experiment=best data=ncbi_disease"


def test_no_results_no_best_experiment(tmp_path):
    config = OmegaConf.create({"hydra": {"sweep": {"dir": str(tmp_path)}, "overrides": {"task": []}}})
    sweeps.WriteBestExperiment().on_multirun_end(config=config)  # e.g. the basic sweeper
    assert not (tmp_path / "best_experiment.yaml").exists()


# ---------------------------------------------------------------------------- run_trial (fast)

def _cfg(tmp_path: Path):
    return OmegaConf.create({"paths": {"output_dir": str(tmp_path / "job")}, "optimized_metric": "val/f1"})


def test_single_run_keeps_one_line_error_and_exit_2(tmp_path, capsys):
    def train_fn(cfg):
        raise ConfigError("optim.lr: must be positive")

    with pytest.raises(SystemExit) as exc:
        sweeps.run_trial(train_fn, _cfg(tmp_path), multirun=False)
    assert exc.value.code == 2
    assert capsys.readouterr().err.strip() == "error: optim.lr: must be positive"
    assert not (tmp_path / "job" / "failed.json").exists()
    assert sweeps.run_trial(lambda cfg: {"val/f1": 0.5}, _cfg(tmp_path), multirun=False) == 0.5


def _wandb_train_fn(tmp_path: Path, fail: bool):
    """Mimics training.train: a W&B run closed by training._finish_wandb in a finally."""
    from lightning.pytorch.loggers import WandbLogger

    from tunelab.training import _finish_wandb

    def train_fn(cfg):
        logger = WandbLogger(project="tunelab", save_dir=str(tmp_path / "job"), offline=True, group="g")
        try:
            logger.log_hyperparams({"optim": {"lr": -1.0}})
            if fail:
                raise ValueError("Invalid learning rate: -1.0\n(second line)")
            return {"val/f1": 0.25}
        finally:
            _finish_wandb([logger])

    return train_fn


def test_multirun_failure_is_recorded_and_wandb_run_failed(tmp_path):
    import wandb

    original = wandb.finish
    with pytest.raises(ValueError, match="Invalid learning rate"):
        sweeps.run_trial(_wandb_train_fn(tmp_path, fail=True), _cfg(tmp_path), multirun=True)
    assert wandb.finish is original and wandb.run is None
    failed = json.loads((tmp_path / "job" / "failed.json").read_text())
    assert failed["error"] == "ValueError: Invalid learning rate: -1.0 (second line)"
    assert failed["overrides"] == []  # no Hydra job here
    (run,) = (tmp_path / "job" / "wandb").glob("offline-run-*")
    assert wandb_run_summary(run)["exit_code"] == 1


def test_multirun_success_returns_metric_and_wandb_run_ok(tmp_path):
    value = sweeps.run_trial(_wandb_train_fn(tmp_path, fail=False), _cfg(tmp_path), multirun=True)
    assert value == 0.25 and not (tmp_path / "job" / "failed.json").exists()
    (run,) = (tmp_path / "job" / "wandb").glob("offline-run-*")
    assert wandb_run_summary(run)["exit_code"] == 0


def test_nan_objective_fails_the_optuna_trial(tmp_path, monkeypatch):
    monkeypatch.setattr(sweeps, "_optuna_sweep", lambda: True)
    with pytest.raises(sweeps.NonFiniteObjective, match="val/f1"):
        sweeps.run_trial(lambda cfg: {"val/f1": math.nan}, _cfg(tmp_path), multirun=True)
    assert "NonFiniteObjective" in json.loads((tmp_path / "job" / "failed.json").read_text())["error"]


def test_optuna_rejects_nan_so_trials_must_raise():
    """Why run_trial re-raises instead of returning NaN: optuna 2.10's tell refuses NaN."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize")
    trial = study.ask()
    with pytest.raises(ValueError):
        study.tell(trial, values=[math.nan])
    with pytest.raises(ValueError):  # the sweeper's fallback for a bad value: raises again
        study.tell(trial, state=optuna.trial.TrialState.FAIL, values=[math.nan])


# ----------------------------------------------------------------------- sweeps through the CLI

@pytest.mark.slow
def test_optuna_sweep_end_to_end(tmp_path, ner_data):
    proc = run_sweep(tmp_path, ner_data)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"optim.lr", "method.r", "method.alpha", "method.dropout"}

    jobs = job_dirs(sweep)
    assert [j.name for j in jobs] == ["0", "1", "2"]
    groups, scores = set(), []
    for job in jobs:
        metrics = json.loads((job / "metrics.json").read_text())
        scores.append(metrics["val/f1"])
        assert not (job / "failed.json").exists()
        (run,) = (job / "wandb").glob("offline-run-*")
        wb = wandb_run_summary(run)
        assert wb["exit_code"] == 0
        groups.add(wb["group"])
        ov = job_overrides(job)  # the trial's sampled values reached the logged config
        assert wb["config"]["optim"]["lr"] == pytest.approx(float(ov["optim.lr"]))
        assert wb["config"]["method"]["r"] == int(ov["method.r"]) and wb["config"]["method"]["name"] == "lora"
    assert groups == {"lora_ncbi"}  # the study's name (task_name by default), not the dataset
    assert results["best_value"] == pytest.approx(max(scores))

    best = sweep / "best_experiment.yaml"
    text = best.read_text()
    assert text.startswith("# @package _global_\n# python train.py +experiment=lora_ncbi_best model=tiny ")
    assert yaml.safe_load(text)["defaults"] == ["lora_ncbi", "_self_"]
    cmd = text.splitlines()[1].split()[3:]  # the sweep's fixed overrides (model=tiny ...)
    assert not any(a.startswith(("hydra.", "hparams_search", "+experiment")) for a in cmd[1:])
    cfg = compose_copied_experiment(tmp_path, best, "lora_ncbi_best", *cmd[1:])
    for key, value in results["best_params"].items():
        assert OmegaConf.select(cfg, key) == pytest.approx(value), key
    assert cfg.model.from_scratch is not None and cfg.trainer.max_epochs == 1


@pytest.mark.slow
def test_failed_trial_is_recorded_and_the_sweep_goes_on(tmp_path, ner_data):
    import optuna

    db = tmp_path / "study.db"
    # lr 0.002 makes a test callback raise inside fit, after the W&B run started.
    proc = run_sweep(tmp_path, ner_data, "optim.lr=choice(0.001,0.002)",
                     "+callbacks.boom._target_=tests.helpers.RaiseAtTrainStart", "+callbacks.boom.lr=${optim.lr}",
                     "+callbacks.boom.when_lr=0.002",
                     f"hydra.sweeper.storage=sqlite:///{db}", "hydra.sweeper.study_name=failing")
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = tmp_path / "sweep"
    study = optuna.load_study(study_name="failing", storage=f"sqlite:///{db}")
    states = {t.number: t.state for t in study.trials}
    assert len(states) == 3
    failed = {n for n, s in states.items() if s == optuna.trial.TrialState.FAIL}
    complete = {n for n, s in states.items() if s == optuna.trial.TrialState.COMPLETE}
    assert failed and complete and failed | complete == {0, 1, 2}  # seeded: both outcomes occur

    for job in job_dirs(sweep):
        (run,) = (job / "wandb").glob("offline-run-*")
        exit_code = wandb_run_summary(run)["exit_code"]
        if int(job.name) in failed:
            info = json.loads((job / "failed.json").read_text())
            assert info["error"] == "ValueError: test failure at lr 0.002"
            assert "optim.lr=0.002" in info["overrides"] and "+experiment=lora_ncbi" in info["overrides"]
            assert not (job / "metrics.json").exists()
            assert exit_code == 1
        else:
            assert not (job / "failed.json").exists() and (job / "metrics.json").is_file()
            assert job_overrides(job)["optim.lr"] == "0.001" and exit_code == 0
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_params"]["optim.lr"] == 0.001
    assert results["best_value"] == pytest.approx(study.best_value)
    # the searched-over choice is not repeated on the re-run command
    assert "choice" not in (sweep / "best_experiment.yaml").read_text()


@pytest.mark.slow
def test_interrupted_sweep_resumes_with_the_trials_left(tmp_path, ner_data):
    """What experiments/sweeps/run_lora_ncbi.sh does after an interruption, on the tiny model."""
    import optuna
    from tunelab import sweep_resume

    url = f"sqlite:///{tmp_path / 'study.db'}"
    store = [f"hydra.sweeper.storage={url}", "hydra.sweeper.study_name=resume"]
    first = run_sweep(tmp_path, ner_data, *store, n_trials=2, sweep_dir="part0")
    assert first.returncode == 0, first.stderr[-3000:]
    optuna.load_study(study_name="resume", storage=url).ask()  # the trial the interruption cut short

    assert sweep_resume.trials_left(url, "resume", 4) == 1
    second = run_sweep(tmp_path, ner_data, *store, n_trials=1, sweep_dir="part1")
    assert second.returncode == 0, second.stderr[-3000:]

    study = optuna.load_study(study_name="resume", storage=url)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE", "FAIL", "COMPLETE"]
    scores = [json.loads((job / "metrics.json").read_text())["val/f1"]
              for part in ("part0", "part1") for job in job_dirs(tmp_path / part)]
    assert len(scores) == 3  # part1 numbered its job 0 in its own dir: nothing overwritten
    groups = {wandb_run_summary(run)["group"] for part in ("part0", "part1")
              for run in (tmp_path / part).glob("*/wandb/offline-run-*")}
    assert groups == {"resume"}  # both parts' trials in the study's one W&B group
    results = yaml.safe_load((tmp_path / "part1" / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(max(scores)) == pytest.approx(study.best_value)
    assert sweep_resume.trials_left(url, "resume", 4) == 0
