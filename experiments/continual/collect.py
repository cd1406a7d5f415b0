"""Table of every finished continual run: ACC, BWT, FWT, forgetting, wall time, trainable
parameters, and how much of the seq -> mtl ACC gap each strategy closes (same benchmark/order);
then the cost table: seconds per task (fit, the strategy's finish pass, scoring) and peak memory
of each strategy against seq (same benchmark/order).

    python experiments/continual/collect.py     # reads experiments/continual/results/*/cl_metrics.json
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pct(v):
    return "n/a" if v is None else f"{100 * v:.1f}"


def cost_table(by: dict) -> list[str]:
    """fit_s includes the strategy's penalty and replayed items; finish_s is EWC's Fisher pass,
    LwF's teacher copy, replay's reservoir. Peak RSS is the process's (ru_maxrss), CUDA the stage's."""
    def mean(r, key):
        vals = [c.get(key) for c in r["costs"] if c.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    def peak(r, key):
        vals = [c.get(key) for c in r["costs"] if c.get(key) is not None]
        return max(vals) / 2**20 if vals else None

    lines = ["| benchmark | order | strategy | fit s/task | finish s/task | score s/task | stage s/task | x seq | peak RSS MiB | peak CUDA MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for (bench, order, name), r in sorted(by.items()):
        seq = by.get((bench, order, "seq"))
        stage = mean(r, "stage_s")
        ratio = f"{stage / mean(seq, 'stage_s'):.2f}" if seq and stage and mean(seq, "stage_s") else "n/a"
        cells = [mean(r, "fit_s"), mean(r, "finish_s"), mean(r, "score_s"), stage]
        mem = [peak(r, "peak_rss_bytes_so_far"), peak(r, "peak_cuda_bytes")]
        lines.append(f"| {bench} | {order} | {name} | " + " | ".join("n/a" if v is None else f"{v:.1f}" for v in cells)
                     + f" | {ratio} | " + " | ".join("n/a" if v is None else f"{v:.0f}" for v in mem) + " |")
    return lines


def main() -> None:
    runs = [json.loads(p.read_text()) for p in sorted((HERE / "results").glob("*/cl_metrics.json"))]
    by = {(r["sequence"], r["order"], r["strategy"]["name"]): r for r in runs}
    lines = ["| benchmark | order | strategy | method | setting | ACC | BWT | FWT | forgetting | gap closed | wall s | trainable |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (bench, order, name), r in sorted(by.items()):
        seq, mtl = by.get((bench, order, "seq")), by.get((bench, order, "mtl"))
        gap = "n/a"
        if seq and mtl and mtl["acc"] != seq["acc"]:
            gap = f"{100 * (r['acc'] - seq['acc']) / (mtl['acc'] - seq['acc']):.0f}%"
        lines.append(f"| {bench} | {order} | {name} | {r['method']['name']} | {r['setting']} | {pct(r['acc'])} | "
                     f"{pct(r['bwt'])} | {pct(r['fwt'])} | {pct(r['forgetting'])} | {gap} | "
                     f"{r['wall_time_s']:.0f} | {r['trainable_params']:,} |")
    text = "# Continual learning results (accuracy %, MiniLM)\n\n" + "\n".join(lines) + "\n"
    text += "\n## Cost per task (mean over stages; x seq: the same benchmark and order)\n\n" + "\n".join(cost_table(by)) + "\n"
    (HERE / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
