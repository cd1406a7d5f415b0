#!/usr/bin/env bash
# Issue 6 real sweep: 12 Optuna TPE trials (seeded) over LoRA's lr, r, alpha and dropout on
# NCBI-disease, then the run report (table + plots) into experiments/sweeps/lora_ncbi/.
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/sweeps/run_lora_ncbi.sh
# Budget (2 CPU cores, ~4 min per trial): TRIAL_EPOCHS epochs per trial (default 2; lora_ncbi says 5).
# The sweep goes to logs/sweeps/lora_ncbi; a CSV logger beside W&B gives the report its learning
# curves (an offline W&B run keeps its history in a binary log the report does not parse).
# Resumable: the study lives in <dir>/study.db; run the script again after an interruption and
# it launches only the trials left into the next <dir>/part<N>/ (tunelab.sweep_resume says why).
set -eu
cd "$(dirname "$0")/../.."
dir=logs/sweeps/lora_ncbi
trials=${TRIALS:-12}
mkdir -p "$dir"
storage="sqlite:///$dir/study.db"
left=$(python -m tunelab.sweep_resume "$storage" lora_ncbi "$trials")
if [ "$left" -gt 0 ]; then
  part="$dir/part$(find "$dir" -maxdepth 1 -name 'part*' -type d | wc -l)"
  echo "sweep: $left of $trials trials left -> $part"
  python train.py -m hparams_search=lora_optuna +experiment=lora_ncbi "logger=[wandb,csv]" \
    trainer.max_epochs="${TRIAL_EPOCHS:-2}" hydra.sweeper.n_trials="$left" \
    hydra.sweeper.storage="$storage" hydra.sweeper.study_name=lora_ncbi \
    hydra.sweep.dir="$part" trainer.enable_progress_bar=false callbacks.progress_bar=null
fi
python -m tunelab.report "$dir" --out experiments/sweeps/lora_ncbi
# The last part's best_experiment.yaml is the whole study's best (the study is loaded from storage).
last=$(find "$dir" -maxdepth 2 -name best_experiment.yaml | sort -V | tail -1)
cp "$last" experiments/sweeps/lora_ncbi/best_experiment.yaml
