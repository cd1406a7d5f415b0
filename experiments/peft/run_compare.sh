#!/usr/bin/env bash
# Issue 3 comparison: full vs LoRA vs AdaLoRA vs IA3 vs adapter on NCBI-disease and PubMedQA,
# 3 seeds each, plus lora_medqa (first seed). One run at a time; seed-major order, so every
# method has its first seed before any method gets a second (a cut-short queue stays comparable).
# Runs land in logs/peft/<exp>_s<seed>/.
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/peft/run_compare.sh [ncbi|pubmedqa|medqa ...]
# Resumable: a run whose metrics.json exists (in logs/ or committed) is skipped. A finished run's metrics.json, run_info.json and
# test_report.json are copied to experiments/peft/results/<exp>_s<seed>/ (committed; collect.py reads them).
# Budget (2 CPU cores): every method gets the same epochs per dataset, NCBI_EPOCHS (default 3,
# the experiments say 5) and PUBMEDQA_EPOCHS (default 5, the experiments say 10); collect.py
# prints the epochs each run actually did.
set -u
cd "$(dirname "$0")/../.."
sets=("$@"); [ ${#sets[@]} -eq 0 ] && sets=(ncbi pubmedqa medqa)
seeds=(${SEEDS:-1 2 3})
run() {  # run <name> <seed> <overrides...>
  local name=$1 seed=$2; shift 2
  local dir="logs/peft/${name}_s${seed}"
  [ -f "$dir/metrics.json" ] && { echo "skip $dir"; return; }
  # a fresh checkout has no logs/: a run whose files are committed is done too
  [ -f "experiments/peft/results/${name}_s${seed}/metrics.json" ] && { echo "skip $name s$seed (committed)"; return; }
  echo "=== $name seed $seed $(date -u +%FT%TZ)"
  python train.py "$@" seed="$seed" hydra.run.dir="$dir" trainer.enable_progress_bar=false \
    callbacks.progress_bar=null > "$dir.log" 2>&1 || echo "FAILED $name s$seed (see $dir.log)"
  python experiments/_results.py copy peft "$dir"
}
mkdir -p logs/peft
ne=${NCBI_EPOCHS:-3}; pe=${PUBMEDQA_EPOCHS:-5}
for seed in "${seeds[@]}"; do
  for s in "${sets[@]}"; do
    case $s in
      ncbi)
        run full_ncbi "$seed" +experiment=full_ncbi task_name=peft_full_ncbi trainer.max_epochs=$ne
        run lora_ncbi "$seed" +experiment=lora_ncbi task_name=peft_lora_ncbi trainer.max_epochs=$ne
        run adalora_ncbi "$seed" +experiment=lora_ncbi method=adalora task_name=peft_adalora_ncbi trainer.max_epochs=$ne
        run ia3_ncbi "$seed" +experiment=lora_ncbi method=ia3 optim.lr=3e-3 task_name=peft_ia3_ncbi trainer.max_epochs=$ne
        run adapter_ncbi "$seed" +experiment=adapter_ncbi task_name=peft_adapter_ncbi trainer.max_epochs=$ne ;;
      pubmedqa)
        run full_pubmedqa "$seed" +experiment=full_pubmedqa task_name=peft_full_pubmedqa trainer.max_epochs=$pe
        run lora_pubmedqa "$seed" +experiment=lora_pubmedqa task_name=peft_lora_pubmedqa trainer.max_epochs=$pe
        run adalora_pubmedqa "$seed" +experiment=lora_pubmedqa method=adalora task_name=peft_adalora_pubmedqa trainer.max_epochs=$pe
        run ia3_pubmedqa "$seed" +experiment=lora_pubmedqa method=ia3 optim.lr=3e-3 task_name=peft_ia3_pubmedqa trainer.max_epochs=$pe
        run adapter_pubmedqa "$seed" +experiment=lora_pubmedqa method=adapter task_name=peft_adapter_pubmedqa trainer.max_epochs=$pe ;;
      medqa)
        [ "$seed" = "${seeds[0]}" ] && run lora_medqa "$seed" +experiment=lora_medqa ;;
    esac
  done
done
python experiments/peft/collect.py
