#!/usr/bin/env bash
# Issue 5 comparison: none vs FGM vs PGD-3 vs FreeLB-3 on Financial PhraseBank, BANKING77 and
# NCBI-disease; clean metrics plus robust ones (PGD attack at several radii, text perturbations).
# One run at a time; runs land in logs/adversarial/<data>_<strategy>/ (skipped if done; an
# interrupted one resumes from its last.ckpt).
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/adversarial/run_compare.sh [fpb banking77 ncbi]
# Budget (2 CPU cores; PGD-3 and FreeLB-3 cost ~4 passes per step): every strategy gets EPOCHS
# epochs (default 2; the experiments say 5-6); collect.py prints the epochs each run did.
# Attack radii are per-example l2 norms over all tokens; MiniLM's embedding outputs have norm ~10 per
# token (~50 for a 25-token sentence), so 0.1-1 is 0.2-2% of the input and 1 is the training radius.
set -u
cd "$(dirname "$0")/../.."
sets=("$@"); [ ${#sets[@]} -eq 0 ] && sets=(fpb banking77 ncbi)
epochs=${EPOCHS:-2}
ROBUST=("robustness.pgd.eps=[0.1,0.25,0.5,1]" "robustness.suites=[typo,keyboard,word_drop,word_dup]" "robustness.rate=0.1")
mkdir -p logs/adversarial
for s in "${sets[@]}"; do
  for adv in none fgm pgd freelb; do
    dir="logs/adversarial/${s}_${adv}"
    [ -f "$dir/metrics.json" ] && { echo "skip $dir"; continue; }
    resume=(); [ -f "$dir/checkpoints/last.ckpt" ] && resume=("ckpt_path=$dir/checkpoints/last.ckpt")
    echo "=== $s $adv $(date -u +%FT%TZ) ${resume[*]}"
    python train.py +experiment="full_$s" adversarial="$adv" "${ROBUST[@]}" task_name="adv_${s}_${adv}" trainer.max_epochs="$epochs" \
      hydra.run.dir="$dir" trainer.enable_progress_bar=false callbacks.progress_bar=null "${resume[@]}" \
      >> "$dir.log" 2>&1 || echo "FAILED $s $adv (see $dir.log)"
  done
done
python experiments/adversarial/collect.py
