#!/usr/bin/env bash
# Issue 6: the NCBI LoRA sweep's best trial re-run as an experiment (after run_lora_ncbi.sh).
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/sweeps/rerun_best.sh
#   SEEDS="42 1 2" bash experiments/sweeps/rerun_best.sh   # the two 5-epoch runs per seed (default 42)
# conf/experiment/lora_ncbi_best.yaml is the sweep's best_experiment.yaml, committed as is. Runs:
#   repro        its header command: the trial's own 2 epochs -> must give the trial's val/f1 again
#   best_5ep     python train.py +experiment=lora_ncbi_best (the experiment's 5 epochs)
#   default_5ep  python train.py +experiment=lora_ncbi (the hand-set lr 1e-3, r 8, alpha 16), 5 epochs
# into logs/sweeps/lora_ncbi_rerun/<name>/ (a finished run is skipped, a cut one resumes from its
# last.ckpt); then the run report into experiments/sweeps/lora_ncbi_rerun/.
set -eu
cd "$(dirname "$0")/../.."
dir=logs/sweeps/lora_ncbi_rerun
mkdir -p "$dir"
# Line 2 is "# python train.py <overrides>", shell-quoted (it holds the progress-bar overrides already).
eval "header=($(sed -n 2p conf/experiment/lora_ncbi_best.yaml | sed 's/^# python train.py //'))"
run() {
  local name=$1; shift
  [ -f "$dir/$name/metrics.json" ] && { echo "skip $name"; return; }
  local resume=(); [ -f "$dir/$name/checkpoints/last.ckpt" ] && resume=("ckpt_path=$dir/$name/checkpoints/last.ckpt")
  echo "=== $name $(date -u +%FT%TZ): $*"
  python train.py "$@" task_name="lora_ncbi_$name" hydra.run.dir="$dir/$name" "${resume[@]}" >> "$dir/$name.log" 2>&1
}
quiet=(trainer.enable_progress_bar=false callbacks.progress_bar=null "logger=[wandb,csv]")
run repro "${header[@]}"
for seed in ${SEEDS:-42}; do
  suffix=""; [ "$seed" != 42 ] && suffix="_s$seed"  # seed 42 (train.yaml's) keeps the plain names
  run "best_5ep$suffix" +experiment=lora_ncbi_best seed="$seed" "${quiet[@]}"
  run "default_5ep$suffix" +experiment=lora_ncbi seed="$seed" "${quiet[@]}"
done
python -m tunelab.report "$dir" --out experiments/sweeps/lora_ncbi_rerun
