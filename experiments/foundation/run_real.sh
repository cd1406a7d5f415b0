#!/usr/bin/env bash
# Real runs of issue 2, one at a time (2 cores: never two trainings at once).
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/foundation/run_real.sh [experiment ...]
# Each run writes logs/foundation/<experiment>/ (metrics.json, run_info.json, test_report.txt);
# Their small result files are copied to experiments/foundation/results/<experiment>/ (committed);
# `python experiments/foundation/collect.py` turns them into results.md.
set -u
cd "$(dirname "$0")/../.."
exps=("$@")
[ ${#exps[@]} -eq 0 ] && exps=(full_ncbi full_fpb full_bc5cdr full_cmedqa_ner full_banking77 full_chnsenticorp)
for e in "${exps[@]}"; do
  echo "=== $e $(date -u +%FT%TZ)"
  python train.py +experiment="$e" hydra.run.dir="logs/foundation/$e" trainer.enable_progress_bar=false callbacks.progress_bar=null \
    > "logs/foundation/$e.log" 2>&1 || echo "FAILED $e (see logs/foundation/$e.log)"
  python experiments/_results.py copy foundation "logs/foundation/$e"
  python experiments/foundation/collect.py
done
