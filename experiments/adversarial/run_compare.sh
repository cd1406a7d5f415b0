#!/usr/bin/env bash
# Issue 5 comparison: none vs FGM vs PGD-3 vs FreeLB-3 on Financial PhraseBank, BANKING77 and
# NCBI-disease; clean metrics plus robust ones (PGD attack at several radii, text perturbations).
# One run at a time; runs land in logs/adversarial/<data>_<strategy>/ (skipped if done; an
# interrupted one resumes from its last.ckpt); a finished run's small result files are copied to
# experiments/adversarial/results/<data>_<strategy>[_eps<E>]/ (committed; collect.py reads them).
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/adversarial/run_compare.sh [fpb banking77 ncbi]
#   EPS=1 bash experiments/adversarial/run_compare.sh fpb   # a radius other than the conf default (0.25):
#     fgm/pgd/freelb only, into <data>_<strategy>_eps1/, step size 0.4 eps and FreeLB start 0.1 eps
# (fpb's unsuffixed fgm/pgd/freelb dirs hold runs made when the default was 1; collect.py labels
# every run by the eps in its run_info.json, not by its directory name.)
# Budget (2 CPU cores; PGD-3 and FreeLB-3 cost ~4 passes per step): every strategy gets EPOCHS
# epochs (default 2; the experiments say 5-6); collect.py prints the epochs each run did.
# Attack radii are per-example l2 norms over all tokens; MiniLM's embedding outputs have norm ~10 per
# token (~50 for a 25-token sentence), so 0.1-1 is 0.2-2% of the input.
set -u
cd "$(dirname "$0")/../.."
sets=("$@"); [ ${#sets[@]} -eq 0 ] && sets=(fpb banking77 ncbi)
epochs=${EPOCHS:-2}
eps=${EPS:-}
strategies=(none fgm pgd freelb); [ -n "$eps" ] && strategies=(fgm pgd freelb)
ROBUST=("robustness.pgd.eps=[0.1,0.25,0.5,1]" "robustness.suites=[typo,keyboard,word_drop,word_dup]" "robustness.rate=0.1")
mkdir -p logs/adversarial
scaled() { python -c "print($1 * $eps)"; }  # a knob in proportion to the training radius
for s in "${sets[@]}"; do
  for adv in "${strategies[@]}"; do
    dir="logs/adversarial/${s}_${adv}"; radius=()
    if [ -n "$eps" ]; then
      dir="${dir}_eps$eps"; radius=("adversarial.eps=$eps")
      [ "$adv" != fgm ] && radius+=("adversarial.step_size=$(scaled 0.4)")
      [ "$adv" = freelb ] && radius+=("adversarial.init_mag=$(scaled 0.1)")
    fi
    [ -f "$dir/metrics.json" ] && { echo "skip $dir"; continue; }
    resume=(); [ -f "$dir/checkpoints/last.ckpt" ] && resume=("ckpt_path=$dir/checkpoints/last.ckpt")
    echo "=== $dir $(date -u +%FT%TZ) ${radius[*]} ${resume[*]}"
    python train.py +experiment="full_$s" adversarial="$adv" "${radius[@]}" "${ROBUST[@]}" task_name="adv_${s}_${adv}" \
      trainer.max_epochs="$epochs" hydra.run.dir="$dir" trainer.enable_progress_bar=false callbacks.progress_bar=null \
      "${resume[@]}" >> "$dir.log" 2>&1 || echo "FAILED $dir (see $dir.log)"
    python experiments/_results.py copy adversarial "$dir"
  done
done
python experiments/adversarial/collect.py
