#!/usr/bin/env bash
# Issue 6 real sweep: 12 Optuna TPE trials (seeded) over LoRA's lr, r, alpha and dropout on
# NCBI-disease, then the run report (table + plots) into experiments/sweeps/lora_ncbi/.
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/sweeps/run_lora_ncbi.sh
# Budget (2 CPU cores, ~4 min per trial): TRIAL_EPOCHS epochs per trial (default 2; lora_ncbi says 5).
# The sweep goes to logs/sweeps/lora_ncbi; a CSV logger beside W&B gives the report its learning
# curves (an offline W&B run keeps its history in a binary log the report does not parse).
set -eu
cd "$(dirname "$0")/../.."
dir=logs/sweeps/lora_ncbi
python train.py -m hparams_search=lora_optuna +experiment=lora_ncbi "logger=[wandb,csv]" \
  trainer.max_epochs="${TRIAL_EPOCHS:-2}" hydra.sweeper.n_trials="${TRIALS:-12}" \
  hydra.sweep.dir="$dir" trainer.enable_progress_bar=false callbacks.progress_bar=null
python -m tunelab.report "$dir" --out experiments/sweeps/lora_ncbi
cp "$dir/best_experiment.yaml" experiments/sweeps/lora_ncbi/best_experiment.yaml
