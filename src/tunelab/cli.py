"""The Hydra entry points and their shared error handling: bad input is one line and exit code 2.

``python train.py ...`` (from a checkout) and the installed ``tunelab-train ...`` run the same
function, :func:`train_main`; likewise evaluate, export, generate, serve and predict. The configs live at the
repository's top level (``conf/``); ``src/tunelab/conf`` is a symbolic link to them, so an
editable install reads the checkout's files and a built wheel ships them as package data
(setuptools copies through the link): the console scripts work from any directory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from tunelab.errors import TunelabError

PACKAGE = Path(__file__).resolve().parent


def conf_dir() -> Path:
    """The configs: inside the package (wheel, or the link in a checkout), else the checkout's."""
    for candidate in (PACKAGE / "conf", PACKAGE.parents[1] / "conf"):
        if (candidate / "train.yaml").is_file():
            return candidate.resolve()  # messages name the real folder, not the link
    print(f"error: no tunelab configs found (looked in {PACKAGE / 'conf'}); reinstall tunelab", file=sys.stderr)
    sys.exit(2)


def run_or_exit(fn: Callable, *args):
    try:
        return fn(*args)
    except TunelabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


def check_experiment_override(argv: list[str], conf_dir: Path) -> None:
    """Fail fast, in one line, on ``+experiment=NAME`` naming no file (Hydra's message spans many)."""
    for arg in argv:
        key, sep, value = arg.lstrip("+~").partition("=")
        if sep and key in ("experiment", "hparams_search", "debug") and value and value != "null":
            group = conf_dir / key
            for name in value.split(","):  # multirun comma lists
                if not (group / f"{name}.yaml").is_file():
                    available = sorted(p.stem for p in group.glob("*.yaml") if not p.stem.startswith("_"))
                    print(f"error: {key}={name}: no such config in {group}; available: {', '.join(available)}", file=sys.stderr)
                    sys.exit(2)


def _hydra_run(task: Callable[[Any], Any], config_name: str, job_name: str, conf: Path | None,
               check_experiment: bool = True) -> None:
    """Compose ``<conf>/<config_name>.yaml`` with the command line and run ``task(cfg)``.

    The job is named like the script (``train``, not this module's ``cli``): Hydra names the log
    file after it and the console script must write what ``python train.py`` writes.
    """
    import hydra

    import tunelab.config  # noqa: F401  (registers resolvers before composing)

    conf = conf or conf_dir()
    if check_experiment:
        check_experiment_override(sys.argv[1:], conf)
    # Hydra reports a bad override (unknown key or group option, bad syntax) on many lines:
    # compose once first and say it in one.
    from tunelab.config_checks import check_overrides as check_composes

    check_composes(sys.argv[1:], conf, config_name)
    if not any(a.startswith(("hydra.job.name=", "+hydra.job.name=")) for a in sys.argv[1:]):
        # Appended, not prepended: an override before `-m` makes argparse reject everything after it.
        sys.argv = [*sys.argv, f"hydra.job.name={job_name}"]
    hydra.main(version_base="1.3", config_path=str(conf), config_name=config_name)(task)()


def _train(cfg):
    from tunelab.sweeps import run_trial
    from tunelab.training import train

    return run_trial(train, cfg)  # the optimized metric, for sweepers


def _evaluate(cfg) -> None:
    from tunelab.evaluation import evaluate

    metrics = run_or_exit(evaluate, cfg)
    for key, value in sorted(metrics.items()):
        print(f"{key}: {value:.4f}")


def _export(cfg) -> None:
    from tunelab.export import export

    for kind, path in run_or_exit(export, cfg).items():
        print(f"{kind}: {path}")


def _generate(cfg) -> None:
    from tunelab.generation import generate
    from tunelab.quiet import quiet

    quiet()
    prompts = list(cfg.prompts) if cfg.prompts else [cfg.prompt]
    for text in run_or_exit(generate, cfg.model_path, prompts, cfg, cfg.seed):
        print(text)


def _assist(cfg) -> None:
    from omegaconf import OmegaConf

    from tunelab.assistant.answer import answer
    from tunelab.quiet import quiet

    quiet()
    cfg = OmegaConf.to_container(cfg, resolve=True)
    out = run_or_exit(answer, cfg)
    if cfg.get("show_retrieved"):
        for hit in out["retrieved"]:
            print(f"[retrieved {hit['score']:.3f} {hit['group']}] {hit['prompt']}")
    print(out["reply"])


def _serve(cfg) -> None:
    from omegaconf import OmegaConf

    from tunelab.serving.app import serve

    run_or_exit(serve, OmegaConf.to_container(cfg, resolve=True))


def _predict(cfg) -> None:
    from omegaconf import OmegaConf

    from tunelab.serving.batch import predict_file

    done = run_or_exit(predict_file, OmegaConf.to_container(cfg, resolve=True))
    print(f"{done['output']}: {done['written']} lines written, {done['skipped']} already there")


# Console scripts (pyproject [project.scripts]) call these with no argument; the scripts in a
# checkout pass their own conf/. They return None: a console script exits with the return value.
def train_main(conf: Path | None = None) -> None:
    _hydra_run(_train, "train", "train", conf)


def evaluate_main(conf: Path | None = None) -> None:
    _hydra_run(_evaluate, "eval", "evaluate", conf)


def export_main(conf: Path | None = None) -> None:
    _hydra_run(_export, "export", "export", conf)


def generate_main(conf: Path | None = None) -> None:
    _hydra_run(_generate, "generate", "generate", conf, check_experiment=False)


def _model_is_model_path() -> None:
    """``model=X`` on a serve/predict command line means ``model_path=X``: ``model`` is a config
    group of train.yaml, so Hydra would read ``model=X`` as choosing conf/model/X.yaml."""
    sys.argv = [f"model_path={a[len('model='):]}" if a.startswith("model=") else a for a in sys.argv]


def serve_main(conf: Path | None = None) -> None:
    _model_is_model_path()
    _hydra_run(_serve, "serve", "serve", conf, check_experiment=False)


def assist_main(conf: Path | None = None) -> None:
    _model_is_model_path()
    _hydra_run(_assist, "assist", "assist", conf, check_experiment=False)


def predict_main(conf: Path | None = None) -> None:
    _model_is_model_path()
    _hydra_run(_predict, "predict", "predict", conf, check_experiment=False)
