"""Benchmark: dynamic padding + length grouping vs fixed padding to 128, NCBI-disease, MiniLM.

    TUNELAB_DATA_DIR=../shared/datasets python experiments/foundation/bench_padding.py --repeats 2

Each repeat trains one epoch of each recipe, in this one process, on the same model, data, seed
and truncation (128 tokens), alternating the recipes so drift in machine load hits both. It
reports the median training samples/s (validation excluded), the ratio measured in the same run,
and the test entity F1 after that epoch. Writes bench_padding.md beside this file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

RECIPES = {
    "dynamic padding + length grouping": ["data.pad_to_max_length=false", "data.group_by_length=true"],
    "fixed padding to 128 (seed recipe)": ["data.pad_to_max_length=true", "data.group_by_length=false"],
}


def run_once(overrides: list[str], out: Path) -> dict:
    from tests.conftest import compose
    from tunelab.training import train

    cfg = compose([
        "+experiment=full_ncbi", "logger=csv", "trainer.max_epochs=1", "data.max_length=128",
        "trainer.enable_progress_bar=false", "callbacks.progress_bar=null",
        f"paths.output_dir={out}", *overrides,
    ])
    metrics = train(cfg)
    info = json.loads((out / "run_info.json").read_text())
    (tp,) = info["throughput"]
    return {"samples_per_s": tp["samples_per_s"], "padding_fraction": tp["padding_fraction"],
            "epoch_seconds": tp["epoch_seconds"], "test_f1": metrics["test/f1"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads (the machine has 2 cores)")
    args = ap.parse_args()
    import torch

    import tests.conftest  # noqa: F401  (imported first: it pins torch to 1 thread, set back below)

    results: dict[str, list[dict]] = {name: [] for name in RECIPES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            for i, (name, overrides) in enumerate(RECIPES.items()):
                torch.set_num_threads(args.threads)  # importing the test config pins 1 thread
                res = run_once(overrides, Path(tmp) / f"{r}_{i}")
                print(f"repeat {r} {name}: {res}", flush=True)
                results[name].append(res)
            write_table(results, r + 1, args.repeats)  # after every repeat: a cut-short run still reports


def write_table(results: dict[str, list[dict]], done: int, planned: int) -> None:
    from tunelab.run_info import machine_header as header

    med = {n: statistics.median(x["samples_per_s"] for x in rs) for n, rs in results.items()}
    dyn, fixed = list(RECIPES)
    lines = [
        "# Padding benchmark: NCBI-disease, all-MiniLM-L6-v2, full fine-tuning, 1 epoch", "",
        header().rstrip(),
        f"- command: `TUNELAB_DATA_DIR=../shared/datasets python experiments/foundation/bench_padding.py --repeats {planned}`",
        f"- repeats completed: {done} of {planned} (each repeat = one epoch of each recipe, alternating)",
        "- batch 16, lr 1e-4, truncation at 128 tokens for both recipes; samples/s over training batches only",
        "",
        "| recipe | median samples/s | runs (samples/s) | padding share of tokens | test entity F1 after 1 epoch |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, rs in results.items():
        runs = ", ".join(f"{x['samples_per_s']:.1f}" for x in rs)
        f1 = ", ".join(f"{x['test_f1']:.4f}" for x in rs)
        pad = statistics.median(x["padding_fraction"] for x in rs)
        lines.append(f"| {name} | {med[name]:.1f} | {runs} | {pad:.1%} | {f1} |")
    lines += ["", f"Speed-up of dynamic padding + grouping over fixed padding (same run): **{med[dyn] / med[fixed]:.2f}x**", ""]
    (HERE / "bench_padding.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
