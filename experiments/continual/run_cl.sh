#!/usr/bin/env bash
# Every strategy x order on cl_olora (10 tasks) and cl_lfpt5 (4 tasks), MiniLM, task-incremental.
# Resumable: a finished run (cl_metrics.json) is skipped; an interrupted one resumes at its task.
#   EPOCHS=1 TRAIN_CAP=1000 TEST_CAP=500 bash experiments/continual/run_cl.sh
#   STRATEGIES="seq replay" BENCH=cl_olora_long ORDERS=long bash experiments/continual/run_cl.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} TUNELAB_DATA_DIR=${TUNELAB_DATA_DIR:-$(cd .. && pwd)/shared/datasets}
EPOCHS=${EPOCHS:-1}; TRAIN_CAP=${TRAIN_CAP:-1000}; TEST_CAP=${TEST_CAP:-500}; SEED=${SEED:-42}
STRATEGIES=${STRATEGIES:-"seq replay ewc lwf per_task_lora olora mtl"}
BENCH=${BENCH:-"cl_olora_long cl_lfpt5"}
for bench in $BENCH; do
  case $bench in cl_olora_long) orders=${ORDERS:-"long seed1 seed2"}; caps="sequence.train_cap=$TRAIN_CAP sequence.test_cap=$TEST_CAP";;
                 cl_lfpt5) orders=${ORDERS:-"s42 s142 s242"}; caps="";; esac
  for order in $orders; do for cl in $STRATEGIES; do
    method=full; case $cl in per_task_lora|olora) method=lora;; esac
    name="${bench}_${order}_${cl}_${method}"; out="logs/continual/$name"
    [ -f "$out/cl_metrics.json" ] && { echo "done: $name"; continue; }
    python train.py +experiment=$bench cl=$cl method=$method sequence.order=$order trainer.max_epochs=$EPOCHS \
      seed=$SEED $caps logger=${LOGGER:-csv} paths.output_dir="$out" hydra.run.dir="$out"
    python experiments/_results.py copy continual "$out" "$name"
    mkdir -p "experiments/continual/results/$name" && cp "$out"/{cl_metrics.json,R.csv,R.png} "experiments/continual/results/$name/" 2>/dev/null || true
  done; done
done
python experiments/continual/collect.py
