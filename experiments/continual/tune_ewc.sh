#!/usr/bin/env bash
# Choose EWC's lam on VALIDATION (sequence.eval_split=validation: R filled from each task's valid
# split, test never read), one order, then use it for every order of the matrix (run_cl.sh EWC_LAM).
# lam=100 (the first default) measured ACC = seq's on cl_lfpt5 s42 test: its penalty was negligible
# against the task loss, so the grid spans 1e3..1e6; seq is the lam=0 reference. Each run's
# cl_metrics.json (costs: task_loss_mean / penalty_mean per stage) is kept under
# experiments/continual/results/tune_ewc/; the chosen lam (best validation ACC, ties to the smaller)
# is printed and written to chosen.json.
#   bash experiments/continual/tune_ewc.sh            # cl_lfpt5, order s42, seed 42
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} TUNELAB_DATA_DIR=${TUNELAB_DATA_DIR:-$(cd .. && pwd)/shared/datasets}
BENCH=${BENCH:-cl_lfpt5}; ORDER=${ORDER:-s42}; SEED=${SEED:-42}; LAMS=${LAMS:-"1e3 1e4 1e5 1e6"}
R=experiments/continual/results/tune_ewc; mkdir -p "$R"
for lam in 0 $LAMS; do
  if [ "$lam" = 0 ]; then name=${BENCH}_${ORDER}_seq_val; cl=(cl=seq); else name=${BENCH}_${ORDER}_ewc_lam${lam}_val; cl=(cl=ewc cl.lam=$lam); fi
  out=logs/continual/tune/$name
  [ -f "$R/$name/cl_metrics.json" ] && { echo "done: $name"; continue; }
  python train.py +experiment=$BENCH "${cl[@]}" sequence.order=$ORDER sequence.eval_split=validation seed=$SEED \
    logger=${LOGGER:-csv} paths.output_dir="$out" hydra.run.dir="$out" > "logs/continual/tune_$name.log" 2>&1 \
    || { echo "FAILED $name (logs/continual/tune_$name.log; rerun to resume)"; continue; }
  mkdir -p "$R/$name" && cp "$out"/{cl_metrics.json,R.csv} "$R/$name/"
  echo "$name ACC $(python -c "import json,sys; print(round(json.load(open(sys.argv[1]))['acc'],4))" "$R/$name/cl_metrics.json")"
done
python - "$R" "$BENCH" "$ORDER" <<'PY'
import json, pathlib, sys
root, bench, order = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rows = []
for f in sorted(root.glob(f"{bench}_{order}_*_val/cl_metrics.json")):
    m = json.loads(f.read_text())
    lam = float(m["strategy"].get("lam", 0.0)) if m["strategy"]["name"] == "ewc" else 0.0
    ratio = [c["penalty_mean"] / c["task_loss_mean"] for c in m["costs"][1:] if c.get("task_loss_mean")]
    rows.append((lam, m["acc"], m["forgetting"], max(ratio) if ratio else None))
rows.sort()
for lam, acc, fg, ratio in rows:
    print(f"lam {lam:g}: val ACC {acc:.4f} forgetting {fg:.4f} max penalty/loss {ratio}")
best = max(rows, key=lambda r: (round(r[1], 6), -r[0]))
(root / "chosen.json").write_text(json.dumps({"bench": bench, "order": order, "lam": best[0], "val_acc": best[1],
                                               "grid": [{"lam": r[0], "val_acc": r[1], "forgetting": r[2],
                                                         "max_penalty_over_loss": r[3]} for r in rows]}, indent=1))
print(f"chosen lam {best[0]:g}")
PY
