"""Collect logs/adversarial/<data>_<strategy>/ into experiments/adversarial/results.md."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "src"))

DATASETS = {"fpb": "acc", "banking77": "acc", "ncbi": "f1"}
STRATEGIES = ["none", "fgm", "pgd", "freelb"]


def main() -> None:
    from tunelab.run_info import machine_header

    out = ["# Adversarial training and robustness (issue 5)", "", machine_header().rstrip(),
           "- command: `TUNELAB_DATA_DIR=../shared/datasets bash experiments/adversarial/run_compare.sh`",
           "- all-MiniLM-L6-v2, full fine-tuning, seed 42; training attacks eps 1 (l2), PGD/FreeLB 3 steps of 0.4",
           "- pgd_epsE: PGD-5 attack on embedding outputs, per-example l2 radius E (MiniLM's embedding outputs",
           "  have l2 norm ~10 per token, ~50 for a 25-token sentence); <suite>: seeded text perturbation of the test split at rate 0.1;",
           "  time/epoch vs none: median epoch seconds relative to `none`, same session", ""]
    for data, metric in DATASETS.items():
        runs = {}
        for adv in STRATEGIES:
            d = ROOT / "logs" / "adversarial" / f"{data}_{adv}"
            if (d / "metrics.json").is_file():
                runs[adv] = (json.loads((d / "metrics.json").read_text()), json.loads((d / "run_info.json").read_text()))
        if not runs:
            continue
        robust = sorted({k for m, _ in runs.values() for k in m if k.startswith("test/robust_") and k.endswith(f"_{metric}")})
        base = statistics.median(t["epoch_seconds"] for t in runs["none"][1]["throughput"]) if "none" in runs else None
        cols = [f"test {metric}", *(k.removeprefix("test/robust_").removesuffix(f"_{metric}") for k in robust), "s/epoch", "vs none", "epochs", "commit"]
        out += [f"## {data}", "", "| strategy | " + " | ".join(cols) + " |", "|" + " --- |" * (len(cols) + 1)]
        for adv, (m, info) in runs.items():
            sec = statistics.median(t["epoch_seconds"] for t in info["throughput"])
            vals = [f"{m[f'test/{metric}']:.4f}", *(f"{m[k]:.4f}" if k in m else "-" for k in robust),
                    f"{sec:.0f}", f"{sec / base:.2f}" if base else "-", str(len(info["throughput"])), info["git_commit"][:10]]
            out.append(f"| {adv} | " + " | ".join(vals) + " |")
        out.append("")
    out += ["Anchor: FreeLB +1.1 GLUE points on BERT-base (Zhu et al. 2020).", ""]
    (HERE / "results.md").write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
