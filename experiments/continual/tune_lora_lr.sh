#!/usr/bin/env bash
# Choose the LoRA strategies' lr on VALIDATION (sequence.eval_split=validation, test never read):
# per_task_lora over a grid, one order; olora and per_task_lora then use it for every order
# (run_cl.sh LORA_LR). The first lr, 1e-3, was O-LoRA's own (T5-large), not chosen here, and left
# per_task_lora below seq on cl_lfpt5 s42 test (61.6 vs 63.7 ACC). Run files are kept under
# experiments/continual/results/tune_lora/; the chosen lr is printed and written to chosen.json.
#   bash experiments/continual/tune_lora_lr.sh        # cl_lfpt5, order s42, seed 42
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TUNELAB_DATA_DIR=${TUNELAB_DATA_DIR:-$(cd .. && pwd)/shared/datasets}
BENCH=${BENCH:-cl_lfpt5}; ORDER=${ORDER:-s42}; SEED=${SEED:-42}; LRS=${LRS:-"1e-3 3e-3 1e-2"}
R=experiments/continual/results/tune_lora; mkdir -p "$R" logs/continual
for lr in $LRS; do
  name=${BENCH}_${ORDER}_per_task_lora_lr${lr}_val; out=logs/continual/tune/$name
  [ -f "$R/$name/cl_metrics.json" ] && { echo "done: $name"; continue; }
  python train.py +experiment=$BENCH cl=per_task_lora method=lora optim.lr=$lr sequence.order=$ORDER \
    sequence.eval_split=validation seed=$SEED logger=${LOGGER:-csv} paths.output_dir="$out" hydra.run.dir="$out" \
    > "logs/continual/tune_$name.log" 2>&1 || { echo "FAILED $name (logs/continual/tune_$name.log)"; continue; }
  mkdir -p "$R/$name" && cp "$out"/{cl_metrics.json,R.csv} "$R/$name/"
done
python - "$R" "$BENCH" "$ORDER" <<'PY'
import json, pathlib, sys
root, bench, order = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = []
for f in root.glob(f"{bench}_{order}_per_task_lora_lr*_val/cl_metrics.json"):
    m = json.loads(f.read_text())
    lr = float(f.parent.name.split("_lr")[1].removesuffix("_val"))
    rows.append((lr, m["acc"], [row[i] for i, row in enumerate(m["R"])]))  # R[i][i]: each task just trained
rows.sort()
for lr, acc, diag in rows:
    print(f"lr {lr:g}: val ACC {acc:.4f} diagonal {[round(d, 3) for d in diag]}")
best = max(rows, key=lambda r: (round(r[1], 6), -r[0]))
(root / "chosen.json").write_text(json.dumps({"bench": bench, "order": order, "strategy": "per_task_lora", "lr": best[0],
    "val_acc": best[1], "grid": [{"lr": r[0], "val_acc": r[1], "diagonal": r[2]} for r in rows]}, indent=1))
print(f"chosen lr {best[0]:g}")
PY
