"""Table of every finished continual run: ACC, BWT, FWT, forgetting, wall time, trainable
parameters, and how much of the seq -> mtl ACC gap each strategy closes (same benchmark/order).

    python experiments/continual/collect.py     # reads experiments/continual/results/*/cl_metrics.json
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent


def pct(v):
    return "n/a" if v is None else f"{100 * v:.1f}"


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
    (HERE / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
