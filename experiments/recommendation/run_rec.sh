#!/usr/bin/env bash
# Issue 17: SASRec, the text two-tower model (MiniLM item tower, LoRA) and the cross-encoder reranker
# of the text model's top-50, on MovieLens-100K, 3 seeds each, one run at a time, 1 thread.
# Resumable: a finished run (metrics.json) is skipped, an interrupted one resumes from its last.ckpt.
#   bash experiments/recommendation/run_rec.sh              # everything, then collect.py
#   SEEDS="1" MODELS="sasrec text" bash experiments/recommendation/run_rec.sh
#
# BUDGET (measured with experiments/recommendation/time_epochs.sh: capped runs on the real data,
# OMP_NUM_THREADS=1, while other jobs kept the 2-core machine at load ~6, so a quiet machine is faster):
#   @@BUDGET@@
# Epochs were chosen on validation only (early stopping on val/ndcg_10; the test split is read once,
# by the best checkpoint).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline} WANDB_SILENT=true
export TUNELAB_DATA_DIR=${TUNELAB_DATA_DIR:-$(cd .. && pwd)/shared/datasets}
SEEDS=${SEEDS:-"1 2 3"}
MODELS=${MODELS:-"sasrec text rerank"}
LOGGER=${LOGGER:-wandb}
for seed in $SEEDS; do
  for model in $MODELS; do
    name="${model}_s${seed}"; out="logs/recommendation/$name"
    if [ -f "$out/metrics.json" ]; then echo "done: $name"; python experiments/_results.py copy recommendation "$out" "$name"; continue; fi
    extra=()
    [ -f "$out/checkpoints/last.ckpt" ] && extra+=("ckpt_path=$out/checkpoints/last.ckpt")
    if [ "$model" = rerank ]; then
      cands="logs/recommendation/text_s${seed}/candidates.json"
      [ -f "$cands" ] || { echo "skip $name: no $cands (run the text model of seed $seed first)"; continue; }
      extra+=("rec.candidates=$cands")
    fi
    echo "run: $name"
    python train.py +experiment=rec_ml100k_$model seed=$seed logger=$LOGGER callbacks.progress_bar=null \
      trainer.enable_progress_bar=false paths.output_dir="$out" hydra.run.dir="$out" "${extra[@]}"
    python experiments/_results.py copy recommendation "$out" "$name"
  done
done
python experiments/recommendation/collect.py
