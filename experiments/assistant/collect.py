"""Collect the runs of run_assistant.sh into experiments/assistant/results.md (issue 18).

Reads the committed run files experiments/assistant/results/<run>/ and finished runs under
logs/assistant/ not copied yet (copying them there, samples.jsonl and bench.json too).
Run names: bench_<data>_<method>, retrieval_bitext_<encoder>, intent_bitext, sft_<data>[_lora],
gen_<data>_<base|full|lora>[_rag].

    python experiments/assistant/collect.py
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE.parent))

import _results  # noqa: E402

RESULTS_MD = HERE / "results.md"
LOGS = ROOT / "logs" / "assistant"
EXTRA_FILES = ("samples.jsonl", "bench.json")
MODELS = {"base": "SmolLM2-135M-Instruct zero-shot", "full": "SFT full", "lora": "SFT LoRA r16"}


def _f(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def runs() -> dict[str, dict]:
    found = _results.run_dirs("assistant", LOGS)
    out = {}
    for name, d in found.items():
        for f in EXTRA_FILES:  # what _results does not copy
            src = LOGS / name / f
            if src.is_file() and d != LOGS / name and not (d / f).is_file():
                shutil.copyfile(src, d / f)
        run = _results.load_run(d)
        if run:
            run["bench"] = json.loads((d / "bench.json").read_text()) if (d / "bench.json").is_file() else None
            run["samples"] = [json.loads(x) for x in (d / "samples.jsonl").read_text().splitlines()] \
                if (d / "samples.jsonl").is_file() else []
            out[name] = run
    return out


def retrieval_table(r: dict) -> list[str]:
    rows = [n for n in r if n.startswith("retrieval_")]
    if not rows:
        return []
    lines = ["## Retrieval: a same-intent training pair for each bitext test question", "",
             "Exact cosine top-k over the 3,609 training questions (mean-pooled, normalised embeddings); "
             "450 test questions.", "",
             "| encoder | Recall@1 | Recall@5 | MRR | index build (s) | per query (ms) | peak RSS (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for n in rows:
        m = r[n]["metrics"]
        lines.append(f"| {m.get('encoder', n)} | {_f(m['recall@1'])} | {_f(m.get('recall@5'))} | {_f(m['mrr'])} | "
                     f"{_f(m.get('build_s'), 1)} | {_f(1000 * m.get('query_s_per_question', 0), 1)} | {m.get('peak_rss_mb')} |")
    return lines + [""]


def sft_table(r: dict) -> list[str]:
    rows = [n for n in r if n.startswith(("sft_", "intent_"))]
    if not rows:
        return []
    lines = ["## Training runs", "",
             "SFT: loss and perplexity over response tokens only (validation / test batches capped as "
             "run_assistant.sh says); intent_bitext: the reply-intent judge (accuracy, macro-F1).", "",
             "| run | steps | trainable params | val | test | wall (min) |", "| --- | --- | --- | --- | --- | --- |"]
    for n in rows:
        m, info = r[n]["metrics"], r[n]["info"]
        trainer = (info.get("config") or {}).get("trainer", {})
        steps = trainer.get("max_steps")
        if n.startswith("intent_"):  # run_assistant.sh caps it by epochs (max_steps is only a ceiling)
            steps = f"{trainer.get('max_epochs')} epoch(s)"
        untrained = (info.get("config") or {}).get("train") is False  # base_ppl: the reference row
        if untrained:
            steps = "0 (base model)"
        if n.startswith("sft_"):
            val = f"ppl {_f(m.get('val/perplexity'), 2)} (loss {_f(m.get('val/response_loss'))})"
            test = f"ppl {_f(m.get('test/perplexity'), 2)} (loss {_f(m.get('test/response_loss'))})"
        else:
            val = f"acc {_f(m.get('val/acc'))}, F1 {_f(m.get('val/macro_f1'))}"
            test = f"acc {_f(m.get('test/acc'))}, F1 {_f(m.get('test/macro_f1'))}"
        params = None if untrained else (info.get("parameters") or {}).get("trainable")
        wall = info.get("wall_time_s")
        lines.append(f"| {n} | {steps} | {params:,} | {val} | {test} | {_f(wall / 60 if wall else None, 1)} |"
                     if params else f"| {n} | {steps} | – | {val} | {test} | {_f(wall / 60 if wall else None, 1)} |")
    return lines + [""]


def generation_table(r: dict, data: str) -> list[str]:
    rows = [n for n in r if n.startswith(f"gen_{data}_")]
    if not rows:
        return []
    any_m = r[rows[0]]["metrics"]
    dec = any_m.get("decoding", {})
    lines = [f"## Generation on {data}'s test split", "",
             f"Greedy decoding, KV cache, max_new_tokens {dec.get('max_new_tokens')}, batch {dec.get('batch_size')}, "
             f"on a seeded sample of {any_m.get('n')} test questions (the cap is run_assistant.sh's). ROUGE-L: "
             "mean F-measure (rouge-score, stemmed); BLEU: sacrebleu corpus score." + (
                 " RAG: the top-2 retrieved training answers (MiniLM index) in the prompt. Intent: the reply's "
                 "intent by intent_bitext (its accuracy on the reference replies, the judge's ceiling, in brackets)."
                 if data == "bitext" else " No retrieval and no intent judge here (customer-service only)."), "",
             "| model | retrieval | ROUGE-L | BLEU | intent acc | generated tokens/s | peak RSS (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for n in rows:
        m = r[n]["metrics"]
        kind = n[len(f"gen_{data}_"):].removesuffix("_rag")
        intent = "–" if "intent_acc" not in m else f"{_f(m['intent_acc'])} ({_f(m.get('intent_acc_references'))})"
        lines.append(f"| {MODELS.get(kind, kind)} | {'top-2' if n.endswith('_rag') else 'none'} | {_f(m['rouge_l'])} | "
                     f"{_f(m['bleu'], 2)} | {intent} | {_f(m['generation']['tokens_per_s'], 1)} | {m.get('peak_rss_mb')} |")
    return lines + [""]


def cost_table(r: dict) -> list[str]:
    rows = [n for n in r if n.startswith("bench_") and r[n]["bench"]]
    if not rows:
        return []
    lines = ["## Cost", "",
             "Capped runs of `python -m tunelab.assistant.bench` on the real data (6 optimizer steps after one "
             "warm-up, batch 8, the training batching; generation: 8 test questions, 64 new tokens, greedy, KV "
             "cache). Training tokens/s counts real (non-padding) tokens.", "",
             "| run | device, dtype, threads | trainable params | train tokens/s | s/step | generation tokens/s, batch 1 | batch 8 | peak RSS (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for n in rows:
        b = r[n]["bench"]
        lines.append(f"| {n} | {b['device']}, {b['dtype']}, {b['machine']['threads']} | {b['trainable_params']:,} | "
                     f"{_f(b['train']['tokens_per_s'], 1)} | {_f(b['train']['s_per_step'], 1)} | "
                     f"{_f(b['generation']['batch1']['tokens_per_s'], 1)} | {_f(b['generation']['batch8']['tokens_per_s'], 1)} | "
                     f"{b['peak_rss_mb']} |")
    return lines + [""]


def samples(r: dict) -> list[str]:
    rows = [n for n in r if n.startswith("gen_") and r[n]["samples"]]
    if not rows:
        return []
    lines = ["## Samples", "", "The first 10 replies of each generation run (all of them: results/<run>/samples.jsonl); "
             "long texts cut at 300 characters here.", ""]
    cut = lambda s: (s[:300] + " …") if len(s) > 300 else s  # noqa: E731
    for n in rows:
        lines += [f"### {n}", ""]
        for i, s in enumerate(r[n]["samples"], 1):
            q = cut(s["question"]).replace("\n", " ")
            extra = f" (intent {s['group']} → reply read as {s['predicted_intent']})" if "predicted_intent" in s else ""
            lines += [f"{i}. **Q:** {q}{extra}", f"   - **reply:** {cut(s['reply']).replace(chr(10), ' ')}",
                      f"   - **reference:** {cut(s['reference']).replace(chr(10), ' ')}"]
        lines.append("")
    return lines


def main() -> int:
    r = runs()
    lines = ["# Assistant: instruction-tuned SmolLM2-135M-Instruct with retrieval (issue 18)", "",
             f"_{_results.NOTE}; collected {time.strftime('%Y-%m-%d')}; commands: experiments/assistant/run_assistant.sh._",
             "", "model=smollm2_135m is converted from a Q4_1 GGUF source (dequantised to fp32): every number here "
             "is from a 4-bit source.", ""]
    lines += cost_table(r) + retrieval_table(r) + sft_table(r)
    for data in ("bitext", "medquad"):
        lines += generation_table(r, data)
    lines += samples(r)
    _results.write_results(RESULTS_MD, lines, len(r))
    print(f"{RESULTS_MD}: {len(r)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
