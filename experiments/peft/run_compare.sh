#!/usr/bin/env bash
# Issue 3 comparison: full vs LoRA vs AdaLoRA vs IA3 vs adapter on NCBI-disease and PubMedQA,
# 3 seeds each, one run at a time, then lora_medqa. Runs land in logs/peft/<exp>_s<seed>/.
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/peft/run_compare.sh [ncbi|pubmedqa|medqa ...]
# Resumable: a run whose metrics.json exists is skipped.
set -u
cd "$(dirname "$0")/../.."
sets=("$@"); [ ${#sets[@]} -eq 0 ] && sets=(ncbi pubmedqa medqa)
seeds=(${SEEDS:-1 2 3})
run() {  # run <name> <seed> <overrides...>
  local name=$1 seed=$2; shift 2
  local dir="logs/peft/${name}_s${seed}"
  [ -f "$dir/metrics.json" ] && { echo "skip $dir"; return; }
  echo "=== $name seed $seed $(date -u +%FT%TZ)"
  python train.py "$@" seed="$seed" hydra.run.dir="$dir" trainer.enable_progress_bar=false \
    callbacks.progress_bar=null > "$dir.log" 2>&1 || echo "FAILED $name s$seed (see $dir.log)"
}
mkdir -p logs/peft
for s in "${sets[@]}"; do
  for seed in "${seeds[@]}"; do
    case $s in
      ncbi)
        run full_ncbi "$seed" +experiment=full_ncbi task_name=peft_full_ncbi
        run lora_ncbi "$seed" +experiment=lora_ncbi task_name=peft_lora_ncbi
        run adalora_ncbi "$seed" +experiment=lora_ncbi method=adalora task_name=peft_adalora_ncbi
        run ia3_ncbi "$seed" +experiment=lora_ncbi method=ia3 optim.lr=3e-3 task_name=peft_ia3_ncbi
        run adapter_ncbi "$seed" +experiment=adapter_ncbi task_name=peft_adapter_ncbi ;;
      pubmedqa)
        run full_pubmedqa "$seed" +experiment=full_pubmedqa task_name=peft_full_pubmedqa
        run lora_pubmedqa "$seed" +experiment=lora_pubmedqa task_name=peft_lora_pubmedqa
        run adalora_pubmedqa "$seed" +experiment=lora_pubmedqa method=adalora task_name=peft_adalora_pubmedqa
        run ia3_pubmedqa "$seed" +experiment=lora_pubmedqa method=ia3 optim.lr=3e-3 task_name=peft_ia3_pubmedqa
        run adapter_pubmedqa "$seed" +experiment=lora_pubmedqa method=adapter task_name=peft_adapter_pubmedqa ;;
      medqa)
        [ "$seed" = "${seeds[0]}" ] && run lora_medqa "$seed" +experiment=lora_medqa ;;
    esac
  done
done
python experiments/peft/collect.py
