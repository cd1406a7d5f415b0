"""Train an experiment.

    python train.py +experiment=full_ncbi
    python train.py +experiment=full_ncbi model=tiny logger=csv debug=fdr
    python train.py -m +experiment=full_ncbi seed=1,2,3
    python train.py -m hparams_search=lora_optuna +experiment=lora_ncbi   # Optuna sweep

The task returns the optimized metric (``optimized_metric`` in conf/train.yaml) so sweepers can
use it. Under ``-m`` a failing job is recorded (``failed.json``) and reported failed to the
sweeper without ending the sweep (tunelab.sweeps.run_trial). The installed ``tunelab-train``
runs the same function (tunelab.cli.train_main) with the packaged configs.
"""

from pathlib import Path

from tunelab.cli import train_main

# This checkout's configs (an installed tunelab may ship another copy).
CONF = Path(__file__).resolve().parent / "conf"

if __name__ == "__main__":
    train_main(CONF)
