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


def load_runs(data: str, adv: str) -> list[tuple[str, dict, dict]]:
    """(label, metrics, run_info) of <data>_<adv> and its other training radii <data>_<adv>_eps<E>."""
    found = []
    for d in sorted((ROOT / "logs" / "adversarial").glob(f"{data}_{adv}*")):
        if d.name != f"{data}_{adv}" and not d.name.startswith(f"{data}_{adv}_eps"):
            continue
        if (d / "metrics.json").is_file() and (d / "run_info.json").is_file():
            info = json.loads((d / "run_info.json").read_text())
            eps = info["config"]["adversarial"].get("eps")
            found.append((adv if eps is None else f"{adv} eps {eps:g}", json.loads((d / "metrics.json").read_text()), info))
    return sorted(found, key=lambda r: -(r[2]["config"]["adversarial"].get("eps") or 0))


def robust_order(key: str) -> tuple:
    """PGD radii in ascending order, then the text suites."""
    name = key.removeprefix("test/robust_")
    if name.startswith("pgd_eps"):
        return (0, float(name.removeprefix("pgd_eps").split("_")[0]), name)
    return (1, 0.0, name)


def median_epoch_seconds(info: dict) -> float:
    return statistics.median(t["epoch_seconds"] for t in info["throughput"])


def main() -> None:
    from tunelab.run_info import machine_header

    out = ["# Adversarial training and robustness (issue 5)", "", machine_header().rstrip(),
           "- commands (`TUNELAB_DATA_DIR=../shared/datasets` before each): `bash experiments/adversarial/run_compare.sh fpb`,",
           "  `EPS=1 bash experiments/adversarial/run_compare.sh fpb` (the eps-1 fpb runs were made when 1 was the default),",
           "  `EPOCHS=4 bash experiments/adversarial/run_compare.sh banking77` (2 epochs left it underfit: val acc 0.78),",
           "  `bash experiments/adversarial/run_compare.sh ncbi`; the epochs column says what each run did",
           "- all-MiniLM-L6-v2, full fine-tuning, seed 42; training attacks l2, radius eps as labelled (default 0.25);",
           "  PGD/FreeLB: 3 steps of 0.4 eps (FreeLB starts at radius 0.1 eps)",
           "- pgd_epsE: PGD-5 attack on embedding outputs, per-example l2 radius E (MiniLM's embedding outputs",
           "  have l2 norm ~10 per token, ~50 for a 25-token sentence); <suite>: seeded text perturbation of the test split at rate 0.1;",
           "  time/epoch vs none: median epoch seconds relative to `none`, same session", ""]
    for data, metric in DATASETS.items():
        runs = [r for adv in STRATEGIES for r in load_runs(data, adv)]
        if not runs:
            continue
        keys = {k for _, m, _ in runs for k in m if k.startswith("test/robust_") and k.endswith(f"_{metric}")}
        robust = sorted(keys, key=robust_order)
        none = [info for label, _, info in runs if label == "none"]
        base = median_epoch_seconds(none[0]) if none else None
        cols = [f"test {metric}", *(k.removeprefix("test/robust_").removesuffix(f"_{metric}") for k in robust),
                "s/epoch", "vs none", "epochs", "commit"]
        out += [f"## {data}", "", "| strategy | " + " | ".join(cols) + " |", "|" + " --- |" * (len(cols) + 1)]
        for label, m, info in runs:
            sec = median_epoch_seconds(info)
            vals = [f"{m[f'test/{metric}']:.4f}", *(f"{m[k]:.4f}" if k in m else "-" for k in robust),
                    f"{sec:.0f}", f"{sec / base:.2f}" if base else "-", str(len(info["throughput"])), info["git_commit"][:10]]
            out.append(f"| {label} | " + " | ".join(vals) + " |")
        out.append("")
    out += ["Anchor: FreeLB +1.1 GLUE points on BERT-base (Zhu et al. 2020). What the tables show:",
            "[findings.md](findings.md) (hand-written).", ""]
    (HERE / "results.md").write_text("\n".join(out))
    print("\n".join(out))


if __name__ == "__main__":
    main()
