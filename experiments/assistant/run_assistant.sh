#!/usr/bin/env bash
# Issue 18: instruction-tuned SmolLM2-135M-Instruct as a customer-service / writing assistant, with
# retrieval. One run at a time, in this order; resumable (a step whose metrics.json exists, in logs/
# or committed under experiments/assistant/results/, is skipped). Finished runs' small files
# (metrics.json, run_info.json, test_report.json, samples.jsonl) are copied to
# experiments/assistant/results/<run>/ (committed); collect.py writes results.md from them.
#   TUNELAB_DATA_DIR=../shared/datasets bash experiments/assistant/run_assistant.sh [step ...]
# steps (default: all, in this order): bench index intent sft_bitext sft_bitext_lora sft_medquad
#   sft_medquad_lora gen_bitext gen_medquad base_ppl (base_ppl: the untuned model's response
#   perplexity on the same capped validation/test batches, train=false: the SFT table's reference)
#
# Budget arithmetic (measured 2026-12-05 with capped smoke runs on the real data, 1 thread, on this
# 2-core machine while other jobs ran, load average 3-5: noisy, and a quiet machine is faster):
#   SFT full, bitext, batch 8:  18.5 s/step (58 real tokens/s, ~1,070 tokens/step), peak RSS 6.0 GB
#   SFT LoRA r16, bitext, batch 8: 11.4 s/step (94 real tokens/s; 1.8M trainable), peak RSS 5.8 GB
#   SFT full, medquad (max_length 512), batch 8: 9.9 s/step (79 tokens/s, ~785 tokens/step), 4.8 GB
#   train.py smoke (2 steps + 2 val + 2 test batches + checkpoints): bitext LoRA 2:40, medquad full 6:31
#   greedy generation, KV cache, batch 8, 128 new tokens, base model on 8 bitext test questions:
#     20.9 tokens/s without retrieval (85 tokens/reply), 16.1 tokens/s with RAG k=2 (longer prompts);
#     batch 1 (32 new tokens): 10.8 tokens/s
#   MiniLM index over 3,609 bitext questions: 50 s, 11 ms a query; me5_small 98 s, 28 ms
# A whole bitext epoch (451 steps) would take 2.3 h full: the SFT runs are capped by steps instead.
#   sft_bitext       SFT_STEPS=120 x 18.5 s     = 37 min (960 pairs, 27% of an epoch)
#   sft_bitext_lora  120 x 11.4 s               = 23 min
#   sft_medquad      MEDQUAD_STEPS=120 x 9.9 s  = 20 min (up to ~37 under load); LoRA ~13 min
#   evaluation inside each SFT run: EVAL_BATCHES=20 batches of 8, validated at the cap and again
#     with the test split after fit: 60 forward batches x ~5 s = 5 min x 4 runs = 20 min
#   intent_bitext: MiniLM, 1 epoch, max_length 128, 3,609 replies  ~ 12 min
#   gen_bitext on GEN_CAP_BITEXT=64 test questions (a seeded sample), MAX_NEW=128, batch 8:
#     base 64 x 85 / 20.9 = 4 min + RAG 64 x 105 / 16.1 = 7 min; each tuned model at most
#     64 x 128 / 20.9 = 6.5 min + 64 x 128 / 16.1 = 8.5 min: 11 + 2 x 15 = 41 min
#   gen_medquad: 3 models x GEN_CAP_MEDQUAD=40 x MAX_NEW_MEDQUAD=192 / ~20 tokens/s = 3 x 6.4 = 19 min
#   bench (full and LoRA, bitext and medquad): 4 x 3 = 12 min; index (MiniLM, me5_small): 4 min
# Total ~ 3.4 h of one thread (THREADS=2 on a quiet machine: less).
# The bench step rerun at 13:01-13:10 UTC (load ~3) measured faster: full 13.7 s/step (95 tokens/s),
# LoRA 8.6 s/step (152 tokens/s), medquad full 17.5 s/step (1,880 tokens/step), generation ~16
# tokens/s at batch 1 and ~53 at batch 8 (64 new tokens); peak RSS 7-12 GB (results.md, Cost).
set -u
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=${THREADS:-1} WANDB_MODE=${WANDB_MODE:-offline}
steps=("$@"); [ ${#steps[@]} -eq 0 ] && steps=(bench index intent sft_bitext sft_bitext_lora sft_medquad sft_medquad_lora gen_bitext gen_medquad base_ppl)
SFT_STEPS=${SFT_STEPS:-120}
MEDQUAD_STEPS=${MEDQUAD_STEPS:-120}
EVAL_BATCHES=${EVAL_BATCHES:-20}
GEN_CAP_BITEXT=${GEN_CAP_BITEXT:-64}
GEN_CAP_MEDQUAD=${GEN_CAP_MEDQUAD:-40}
MAX_NEW=${MAX_NEW:-128}
MAX_NEW_MEDQUAD=${MAX_NEW_MEDQUAD:-192}
L=logs/assistant
R=experiments/assistant/results
mkdir -p "$L"

done_already() {  # done_already <name>: finished in logs/ or committed
  [ -f "$L/$1/metrics.json" ] && { echo "skip $1"; return 0; }
  [ -f "$R/$1/metrics.json" ] && { echo "skip $1 (committed)"; return 0; }
  return 1
}
keep() {  # keep <name>: copy the small files of a finished run to results/ (samples too)
  python experiments/_results.py copy assistant "$L/$1" "$1" > /dev/null
  for f in samples.jsonl bench.json; do [ -f "$L/$1/$f" ] && [ -d "$R/$1" ] && cp "$L/$1/$f" "$R/$1/"; done
  return 0
}
train_run() {  # train_run <name> <max_steps> <overrides...>
  local name=$1 max=$2; shift 2
  done_already "$name" && return
  echo "=== $name $(date -u +%FT%TZ)"
  python train.py "$@" task_name="as_$name" hydra.run.dir="$L/$name" trainer.max_steps="$max" \
    trainer.limit_val_batches="$EVAL_BATCHES" trainer.limit_test_batches="$EVAL_BATCHES" \
    trainer.enable_progress_bar=false callbacks.progress_bar=null > "$L/$name.log" 2>&1 || echo "FAILED $name (see $L/$name.log)"
  keep "$name"
}
model_dir() {  # the hf_model of a training run, found in logs/ (weights are never committed)
  [ -d "$L/$1/hf_model" ] && echo "$L/$1/hf_model" || echo ""
}
gen_run() {  # gen_run <name> <model> <data> <cap> <max_new> [evaluate options...]
  local name=$1 model=$2 data=$3 cap=$4 max_new=$5; shift 5
  done_already "$name" && return
  [ -n "$model" ] || { echo "MISSING model for $name (train it first)"; return; }
  echo "=== $name $(date -u +%FT%TZ)"
  python -m tunelab.assistant.evaluate --model "$model" --data "$data" --out "$L/$name" --cap "$cap" \
    --max-new-tokens "$max_new" --batch-size 8 --threads "$OMP_NUM_THREADS" "$@" > "$L/$name.log" 2>&1 \
    || echo "FAILED $name (see $L/$name.log)"
  keep "$name"
}
bench_run() {  # bench_run <name> <data> <method> [max_length]
  local name=$1; done_already "$name" && return
  echo "=== $name $(date -u +%FT%TZ)"
  mkdir -p "$L/$1"
  python -m tunelab.assistant.bench --data "$2" --method "$3" --max-length "${4:-384}" --steps 6 --gen-prompts 8 \
    --max-new-tokens 64 --threads "$OMP_NUM_THREADS" --out "$L/$1/bench.json" > "$L/$1.log" 2>&1 \
    && python - "$L/$1" <<'PY' || echo "FAILED $name (see $L/$1.log)"
import json, sys, pathlib
d = pathlib.Path(sys.argv[1]); b = json.loads((d / "bench.json").read_text())
(d / "metrics.json").write_text(json.dumps({"train_tokens_per_s": b["train"]["tokens_per_s"], "peak_rss_mb": b["peak_rss_mb"]}))
(d / "run_info.json").write_text(json.dumps({"machine": b["machine"], "model": b["model"], "method": b["method"]}))
PY
  keep "$name"
}
INDEX=$L/index/bitext_minilm.pt
for s in "${steps[@]}"; do
  case $s in
    bench)
      bench_run bench_bitext_full bitext_sft full; bench_run bench_bitext_lora bitext_sft lora
      bench_run bench_medquad_full medquad_sft full 512; bench_run bench_medquad_lora medquad_sft lora 512 ;;
    index)
      for enc in minilm me5_small; do
        name=retrieval_bitext_$enc
        done_already "$name" && continue
        mkdir -p "$L/index" "$L/$name"
        python -m tunelab.assistant.build_index --data bitext_sft --encoder $enc --out "$L/index/bitext_$enc.pt" \
          --eval-split test --k 5 --threads "$OMP_NUM_THREADS" > "$L/$name.log" 2>&1 \
          && cp "$L/index/bitext_$enc.pt.metrics.json" "$L/$name/metrics.json" \
          && echo "{\"encoder\": \"$enc\"}" > "$L/$name/run_info.json" || echo "FAILED $name"
        keep "$name"
      done ;;
    intent) train_run intent_bitext 100000 +experiment=intent_bitext trainer.max_epochs=1 data.max_length=128 ;;
    sft_bitext) train_run sft_bitext "$SFT_STEPS" +experiment=sft_bitext ;;
    sft_bitext_lora) train_run sft_bitext_lora "$SFT_STEPS" +experiment=sft_bitext_lora ;;
    sft_medquad) train_run sft_medquad "$MEDQUAD_STEPS" +experiment=sft_medquad ;;
    sft_medquad_lora) train_run sft_medquad_lora "$MEDQUAD_STEPS" +experiment=sft_medquad_lora ;;
    base_ppl)
      train_run sft_bitext_base 0 +experiment=sft_bitext train=false
      train_run sft_medquad_base 0 +experiment=sft_medquad train=false ;;
    gen_bitext)
      judge=(); [ -d "$L/intent_bitext" ] && judge=(--intent-model "$L/intent_bitext")
      [ -f "$INDEX" ] || { mkdir -p "$L/index"; python -m tunelab.assistant.build_index --data bitext_sft --out "$INDEX"; }
      for m in base:smollm2_135m full:$(model_dir sft_bitext) lora:$(model_dir sft_bitext_lora); do
        gen_run "gen_bitext_${m%%:*}" "${m#*:}" bitext_sft "$GEN_CAP_BITEXT" "$MAX_NEW" ${judge[@]+"${judge[@]}"}
        gen_run "gen_bitext_${m%%:*}_rag" "${m#*:}" bitext_sft "$GEN_CAP_BITEXT" "$MAX_NEW" --index "$INDEX" --k 2 ${judge[@]+"${judge[@]}"}
      done ;;
    gen_medquad)
      for m in base:smollm2_135m full:$(model_dir sft_medquad) lora:$(model_dir sft_medquad_lora); do
        gen_run "gen_medquad_${m%%:*}" "${m#*:}" medquad_sft "$GEN_CAP_MEDQUAD" "$MAX_NEW_MEDQUAD"
      done ;;
    *) echo "unknown step $s"; exit 2 ;;
  esac
done
python experiments/assistant/collect.py
