"""Evaluate a checkpoint on a split.

    python evaluate.py +experiment=full_ncbi ckpt_path=<run>/checkpoints/epoch03.ckpt [split=validation]
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import tunelab.config  # noqa: F401  (registers resolvers before composing)
from tunelab.cli import check_experiment_override, run_or_exit

CONF = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    from tunelab.evaluation import evaluate

    metrics = run_or_exit(evaluate, cfg)
    for key, value in sorted(metrics.items()):
        print(f"{key}: {value:.4f}")


if __name__ == "__main__":
    check_experiment_override(sys.argv[1:], CONF)
    main()
