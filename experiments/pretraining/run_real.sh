#!/usr/bin/env bash
# Issue 4 real runs, one at a time; runs land in logs/pretraining/<name>/ (skipped when done), their small
# result files in experiments/<pretraining|peft>/results/<name>/ (committed; collect.py reads them).
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/pretraining/run_real.sh
# 1. dapt_pubmed_before: MiniLM's fresh MLM head fitted alone (encoder frozen), 1 epoch -> "before" perplexity
# 2. dapt_pubmed: continued MLM of all of MiniLM, 1 epoch -> "after" perplexity, exports hf_model
# 3. full_ncbi_from_dapt vs full_ncbi, seeds 1-3, NCBI_EPOCHS each (default 3). The full_ncbi runs are
#    the PEFT comparison's (logs/peft/full_ncbi_s<seed>, same overrides); missing ones are run here.
# 4. mlm_pubmed_scratch and clm_pubmed_scratch for SCRATCH_EPOCHS (default 1): tokens/s and perplexity.
set -u
cd "$(dirname "$0")/../.."
seeds=(${SEEDS:-1 2 3}); ne=${NCBI_EPOCHS:-3}; se=${SCRATCH_EPOCHS:-1}
run() {  # run <dir> <overrides...>
  local dir=$1; shift
  [ -f "$dir/metrics.json" ] && { echo "skip $dir"; return; }
  mkdir -p "$(dirname "$dir")"
  echo "=== $dir $(date -u +%FT%TZ)"
  python train.py "$@" hydra.run.dir="$dir" trainer.enable_progress_bar=false callbacks.progress_bar=null \
    > "$dir.log" 2>&1 || echo "FAILED $dir (see $dir.log)"
  python experiments/_results.py copy "$(basename "$(dirname "$dir")")" "$dir"  # logs/<study>/<name>
}
run logs/pretraining/dapt_pubmed_before +experiment=dapt_pubmed_before
run logs/pretraining/dapt_pubmed +experiment=dapt_pubmed
dapt=logs/pretraining/dapt_pubmed/hf_model
for seed in "${seeds[@]}"; do
  run "logs/pretraining/full_ncbi_from_dapt_s$seed" +experiment=full_ncbi_from_dapt "model.name_or_path=$dapt" \
    seed="$seed" trainer.max_epochs="$ne"
  run "logs/peft/full_ncbi_s$seed" +experiment=full_ncbi task_name=peft_full_ncbi seed="$seed" trainer.max_epochs="$ne"
done
run logs/pretraining/mlm_pubmed_scratch +experiment=mlm_pubmed_scratch trainer.max_epochs="$se"
run logs/pretraining/clm_pubmed_scratch +experiment=clm_pubmed_scratch trainer.max_epochs="$se"
python experiments/pretraining/collect.py
