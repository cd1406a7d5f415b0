#!/usr/bin/env bash
# Short capped runs on the real data at one thread: seconds per training batch and per evaluation,
# the numbers behind run_rec.sh's budget. Writes logs/recommendation/timing/<model>/metrics.json
# (cost/epoch_s over LIMIT batches, cost/full_ranking_s) and prints them.
#   bash experiments/recommendation/time_epochs.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TUNELAB_DATA_DIR=${TUNELAB_DATA_DIR:-$(cd .. && pwd)/shared/datasets}
LIMIT=${LIMIT:-5}
MODELS=${MODELS:-"sasrec text rerank"}
for model in $MODELS; do
  out=logs/recommendation/timing/$model
  rm -rf "$out"
  extra=""
  [ "$model" = rerank ] && extra="rec.candidates=logs/recommendation/timing/text/candidates.json rec.eval_users=20"
  python train.py +experiment=rec_ml100k_$model trainer.max_epochs=1 trainer.limit_train_batches=$LIMIT \
    logger=csv callbacks.progress_bar=null trainer.enable_progress_bar=false $extra \
    paths.output_dir="$out" hydra.run.dir="$out"
  python - "$out" "$LIMIT" <<'PY'
import json, sys
m = json.load(open(f"{sys.argv[1]}/metrics.json")); info = json.load(open(f"{sys.argv[1]}/run_info.json"))
t = info["throughput"][0] if info.get("throughput") else {}
print(sys.argv[1], f"{sys.argv[2]} batches: {t.get('epoch_seconds', float('nan')):.1f} s ({t.get('samples_per_s', float('nan')):.1f} users/s),",
      f"fit incl. validation {m.get('cost/train_s', float('nan')):.1f} s, full ranking {m.get('cost/full_ranking_s', float('nan')):.1f} s,",
      f"rerank {m.get('test/rerank_ms_per_user', float('nan')):.0f} ms/user, wall {info['wall_time_s']:.0f} s")
PY
done
