#!/usr/bin/env bash
# Issue 17: SASRec, the text two-tower model (MiniLM item tower, LoRA) and the cross-encoder reranker
# of the text model's top-50, on MovieLens-100K, 3 seeds each, one run at a time, 1 thread.
# Resumable: a finished run (metrics.json) is skipped, an interrupted one resumes from its last.ckpt.
#   bash experiments/recommendation/run_rec.sh              # everything, then collect.py
#   SEEDS="1" MODELS="sasrec text" bash experiments/recommendation/run_rec.sh
#   MODELS=text_frozen bash experiments/recommendation/run_rec.sh    # optional 4th row: frozen MiniLM item tower
#
# BUDGET (measured with experiments/recommendation/time_epochs.sh: capped runs on the real data,
# OMP_NUM_THREADS=1, while other jobs kept the 2-core machine at load ~6, so a quiet machine is faster):
#   sasrec: 5 batches of 128 users in 3.2 s -> ~5 ms/user -> ~4.7 s per epoch (943 users); validation
#           (full ranking, 943 users) ~0.5 s every 5 epochs. max_epochs 100, early stopping after 3
#           validations without gain -> at most ~8 min per seed (less when it stops early). A 20-epoch
#           check (seed 42) ran at ~2.6 s per epoch: val HR@10 0.115 / 0.147 / 0.151 / 0.159 at epochs
#           5/10/15/20 (NDCG@10 0.082), still rising, so the cap stays at 100 with early stopping.
#   text (MiniLM + LoRA): 5 batches of 32 users in 34.1 s, of which ~12 s is the epoch's item-cache
#           refresh (1,682 item texts) -> ~4.4 s per batch -> ~2.4 min per epoch (30 batches + refresh)
#           + ~15 s validation (the item table, then 943 users); 5 epochs + test + candidates (14 s
#           full ranking of all users, table included) + loading -> ~14 min per seed.
#           A full LoRA epoch measured later at a lower machine load: 45 s (+ 17 s full ranking,
#           111 s wall for fit + val + test + candidates), val HR@10 0.057 after that epoch. A 5-epoch check of
#           the frozen variant (method=head_only: no encoder pass after the first cache, ~19 s/epoch):
#           val HR@10 0.070 / 0.084 / 0.110 / 0.126 / 0.121, so 5 epochs is where it flattens.
#   rerank (MiniLM cross-encoder, full): 5 batches of 8 users x 4 pairs in 12.4 s -> ~2.5 s per batch
#           -> ~4.9 min per epoch (118 batches); reranking 935 ms per user (50 pairs) x 100 users x
#           (val + test) ~3.1 min; 1 epoch + loading -> ~8.5 min per seed.
#   Total, 3 seeds: sasrec <= 24 min + text ~42 min + rerank ~26 min = <= ~92 min of one CPU thread,
#   within the 1-2 CPU-hour budget (MODELS=text_frozen, 30 epochs, adds ~10 min per seed). Knobs if a
#   quiet machine leaves room: the text model's epochs (trainer.max_epochs; early stopping on
#   val/ndcg_10 keeps the best), rec.eval_users=null (all 943 users reranked: ~15 min per evaluation).
# The epoch caps come from this budget; within them the checkpoint is chosen on validation only
# (val/ndcg_10: best checkpoint, early stopping); the test split is read once, by that checkpoint.
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline} WANDB_SILENT=true
export TUNELAB_DATA_DIR=${TUNELAB_DATA_DIR:-$(cd .. && pwd)/shared/datasets}
SEEDS=${SEEDS:-"1 2 3"}
MODELS=${MODELS:-"sasrec text rerank"}
FIRST=${FIRST:-text}  # the first stage whose top-50 the reranker reorders (text, hybrid)
LOGGER=${LOGGER:-wandb}
ROOT=${ROOT:-logs/recommendation}  # run folders; COPY=0 leaves experiments/recommendation/results alone
COPY=${COPY:-1}; EXTRA=${EXTRA:-}  # EXTRA: more overrides for every run (smoke tests: "model=tiny debug=fdr")
copy() { [ "$COPY" = 1 ] && python experiments/_results.py copy recommendation "$1" "$2" || true; }
for seed in $SEEDS; do
  for model in $MODELS; do
    name="${model}_s${seed}"; out="$ROOT/$name"
    if [ -f "$out/metrics.json" ]; then echo "done: $name"; copy "$out" "$name"; continue; fi
    extra=()
    [ -f "$out/checkpoints/last.ckpt" ] && extra+=("ckpt_path=$out/checkpoints/last.ckpt")
    if [ "$model" = rerank ]; then
      cands="$ROOT/${FIRST}_s${seed}/candidates.json"
      [ -f "$cands" ] || { echo "skip $name: no $cands (run the $FIRST model of seed $seed first)"; continue; }
      extra+=("rec.candidates=$cands")
    fi
    exp=$model
    # optional (not in the default MODELS): the text model with a frozen MiniLM, cheap enough for more epochs
    [ "$model" = text_frozen ] && { exp=text; extra+=("method=head_only" "trainer.max_epochs=${FROZEN_EPOCHS:-30}"); }
    echo "run: $name"
    python train.py +experiment=rec_ml100k_$exp seed=$seed logger=$LOGGER callbacks.progress_bar=null \
      trainer.enable_progress_bar=false paths.output_dir="$out" hydra.run.dir="$out" "${extra[@]}" $EXTRA
    copy "$out" "$name"
  done
done
if [ "$COPY" = 1 ]; then python experiments/recommendation/collect.py; fi
