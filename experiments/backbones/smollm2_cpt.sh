#!/usr/bin/env bash
# Issue 14: continued causal-LM pretraining of smollm2_135m (SmolLM2-135M-Instruct, Q4_1 GGUF dequantised:
# lossy against the hub weights) on pubmed_text. Validation perplexity before any training, after full
# CPT and after LoRA CPT, on the same 276 validation blocks of 256 tokens (70.7k tokens); tokens/s in
# each run's run_info.json (throughput). One run at a time:
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/backbones/smollm2_cpt.sh
# 1. smollm2_cpt_before  +experiment=clm_pubmed_smollm2_before (train=false: evaluation only)
# 2. smollm2_cpt_full    +experiment=clm_pubmed_smollm2       STEPS optimizer steps of 8 x 256 tokens
# 3. smollm2_cpt_lora    +experiment=clm_pubmed_smollm2_lora  STEPS steps (LoRA r=16 on q/k/v/o)
# Budget (2 CPU cores): STEPS (default 50) steps per training run; STEPS=-1 is one epoch (656 steps,
# 1.34M tokens). Measured with THREADS=1 next to another job (5-step smoke runs): LoRA 107 tokens/s
# (~19 s/step), full 66 tokens/s (~31 s/step), evaluation ~300 tokens/s (~4 min per validation pass);
# a training run validates twice (at the step cap, then the best checkpoint), so STEPS=50 is ~24 min
# (LoRA) and ~34 min (full) per run; one epoch would be ~3.5 h (LoRA) and ~5.7 h (full) at 1 thread.
# THREADS (default 1: safe beside another job; 2 when the machine is free) sets OMP_NUM_THREADS.
# test/* would score the validation split a second time (pubmed_text has no test split): it is
# skipped (trainer.limit_test_batches=0), val/perplexity is the number.
# Runs land in logs/backbones/<name>/ (skipped when done); their small files are copied to
# experiments/backbones/results/<name>/ (committed), with a greedy chat sample (generate.txt).
set -u
cd "$(dirname "$0")/../.."
steps=${STEPS:-50}
export OMP_NUM_THREADS=${THREADS:-1} MKL_NUM_THREADS=${THREADS:-1} TOKENIZERS_PARALLELISM=false
PROMPT=${PROMPT:-"What is the first-line treatment of type 2 diabetes? Answer in two sentences."}
run() {  # run <name> <overrides...>
  local name=$1; shift
  local dir="logs/backbones/$name"
  [ -f "$dir/metrics.json" ] && { echo "skip $dir"; return; }
  [ -f "experiments/backbones/results/$name/metrics.json" ] && { echo "skip $name (committed)"; return; }
  mkdir -p logs/backbones
  echo "=== $name $(date -u +%FT%TZ) STEPS=$steps THREADS=$OMP_NUM_THREADS"
  python train.py "$@" task_name="bb_$name" hydra.run.dir="$dir" trainer.limit_test_batches=0 \
    trainer.enable_progress_bar=false callbacks.progress_bar=null > "$dir.log" 2>&1 || { echo "FAILED $name (see $dir.log)"; return; }
  python experiments/_results.py copy backbones "$dir"
  local model="$dir"  # a training run: its hf_model (LoRA: merged into the base weights)
  [ "$name" = smollm2_cpt_before ] && model=smollm2_135m
  python generate.py model_path="$model" prompt="$PROMPT" temperature=0 max_new_tokens=60 > "$dir/generate.txt" 2>/dev/null \
    && { echo "$PROMPT"; cat "$dir/generate.txt"; } && cp "$dir/generate.txt" "experiments/backbones/results/$name/"
  [ "$name" = smollm2_cpt_before ] && rm -rf "$dir/hf_model"  # an unchanged copy of the zoo model (540 MB)
  return 0
}
run smollm2_cpt_before +experiment=clm_pubmed_smollm2_before
run smollm2_cpt_full +experiment=clm_pubmed_smollm2 trainer.max_steps="$steps"
run smollm2_cpt_lora +experiment=clm_pubmed_smollm2_lora trainer.max_steps="$steps"
for name in smollm2_cpt_before smollm2_cpt_full smollm2_cpt_lora; do
  python - "$name" <<'EOF'
import json, sys
from pathlib import Path
name = sys.argv[1]
for d in (Path("experiments/backbones/results") / name, Path("logs/backbones") / name):
    if (d / "metrics.json").is_file():
        m, info = json.loads((d / "metrics.json").read_text()), json.loads((d / "run_info.json").read_text())
        tps = [round(r["tokens_per_s"], 1) for r in info.get("throughput") or []]
        print(f"{name}: val/perplexity {m.get('val/perplexity', float('nan')):.3f}  tokens/s {tps or '-'}  "
              f"steps {info['config']['trainer']['max_steps']}  trainable {info['parameters']['trainable_pct']:.2f}%")
        break
EOF
done
