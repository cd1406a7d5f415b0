#!/usr/bin/env bash
# Issue 14: the zoo's stronger backbones beside MiniLM on the same recipe (same epochs, lr, batch,
# seed), one run at a time. Runs land in logs/backbones/<model>_<set>[_<variant>]_s<seed>/.
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/backbones/run_backbones.sh [set ...]
# sets: ncbi (mpnet + minilm, SEEDS), ncbi_lr (mpnet at lr 5e-5 and 2e-4: the validation sweep),
#       cmedqa_ner_lr (me5_small at lr 3e-4: the validation sweep; run with EPOCHS=10),
#       bc5cdr fpb banking77 (mpnet + minilm, first seed), cmedqa_ner chnsenticorp atec (me5_small + minilm)
# Resumable: a run whose metrics.json exists (in logs/ or committed) is skipped. A finished run's small files
# are copied to experiments/backbones/results/<run>/ (committed; collect.py reads them).
# Budget (2 CPU cores): EPOCHS (default 3) for every run, whatever the experiment file says.
# MODELS (default "all") limits a set to some backbones, e.g. MODELS=minilm.
set -u
cd "$(dirname "$0")/../.."
sets=("$@"); [ ${#sets[@]} -eq 0 ] && sets=(ncbi)
seeds=(${SEEDS:-1 2 3})
ep=${EPOCHS:-3}
run() {  # run <name> <seed> <overrides...>
  local name=$1 seed=$2; shift 2
  local dir="logs/backbones/${name}_s${seed}"
  [ "${MODELS:-all}" = all ] || [[ " $MODELS " == *" ${name%%_*} "* ]] || [[ " $MODELS " == *" me5_small "* && $name == me5_small_* ]] || return 0
  [ -f "$dir/metrics.json" ] && { echo "skip $dir"; return; }
  [ -f "experiments/backbones/results/${name}_s${seed}/metrics.json" ] && { echo "skip $name s$seed (committed)"; return; }
  echo "=== $name seed $seed $(date -u +%FT%TZ)"
  python train.py "$@" seed="$seed" trainer.max_epochs="$ep" task_name="bb_$name" hydra.run.dir="$dir" \
    trainer.enable_progress_bar=false callbacks.progress_bar=null > "$dir.log" 2>&1 || echo "FAILED $name s$seed (see $dir.log)"
  python experiments/_results.py copy backbones "$dir"
}
pair() {  # pair <set> <experiment> <strong model> <seed> [overrides...]: the strong backbone, then minilm
  local set=$1 exp=$2 model=$3 seed=$4; shift 4
  run "${model}_${set}" "$seed" +experiment="$exp" model="$model" "$@"
  run "minilm_${set}" "$seed" +experiment="$exp" model=minilm "$@"
}
mkdir -p logs/backbones
for seed in "${seeds[@]}"; do
  for s in "${sets[@]}"; do
    first=$([ "$seed" = "${seeds[0]}" ] && echo 1 || echo 0)
    case $s in
      ncbi) pair ncbi full_ncbi mpnet "$seed" ;;
      ncbi_lr) [ "$first" = 1 ] && for lr in 5e-5 2e-4; do
          run "mpnet_ncbi_lr$lr" "$seed" +experiment=full_ncbi model=mpnet optim.lr=$lr; done ;;
      bc5cdr) [ "$first" = 1 ] && pair bc5cdr full_bc5cdr mpnet "$seed" ;;
      fpb) [ "$first" = 1 ] && pair fpb full_fpb mpnet "$seed" ;;
      banking77) [ "$first" = 1 ] && pair banking77 full_banking77 mpnet "$seed" ;;
      cmedqa_ner) [ "$first" = 1 ] && pair cmedqa_ner full_cmedqa_ner me5_small "$seed" ;;
      cmedqa_ner_lr) [ "$first" = 1 ] && for lr in 3e-4; do
          run "me5_small_cmedqa_ner_lr$lr" "$seed" +experiment=full_cmedqa_ner model=me5_small optim.lr=$lr; done ;;
      chnsenticorp) [ "$first" = 1 ] && pair chnsenticorp full_chnsenticorp me5_small "$seed" ;;
      atec) [ "$first" = 1 ] && pair atec full_atec me5_small "$seed" ;;
      *) echo "unknown set $s"; exit 2 ;;
    esac
  done
done
