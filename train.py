"""Train an experiment.

    python train.py +experiment=full_ncbi
    python train.py +experiment=full_ncbi model=tiny logger=csv debug=fdr
    python train.py -m +experiment=full_ncbi seed=1,2,3
    python train.py -m hparams_search=lora_optuna +experiment=lora_ncbi   # Optuna sweep

Returns the optimized metric (``optimized_metric`` in conf/train.yaml) so sweepers can use it.
Under ``-m`` a failing job is recorded (``failed.json``) and reported failed to the sweeper
without ending the sweep (tunelab.sweeps.run_trial).
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

import tunelab.config  # noqa: F401  (registers resolvers before composing)
from tunelab.cli import check_experiment_override
from tunelab.sweeps import run_trial

CONF = Path(__file__).resolve().parent / "conf"


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from tunelab.training import train

    return run_trial(train, cfg)


if __name__ == "__main__":
    check_experiment_override(sys.argv[1:], CONF)
    main()
