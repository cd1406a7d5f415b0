"""results.md of the continual-learning study, from the committed run files.

    python experiments/continual/collect.py     # reads experiments/continual/results/*/cl_metrics.json

1. Summary per benchmark, setting and strategy, mean ± std over the orders run: ACC, BWT, FWT,
   forgetting (percentage points), how much of the seq -> mtl ACC gap it closes (per order, then
   averaged), wall time and trainable parameters.
2. The R heatmaps of `seq` and of the best strategy (highest mean ACC, neither seq nor mtl), first order.
3. Every run, one row.
4. Cost per task against seq (same benchmark, setting and order): fit (incl. the strategy's
   penalty and replayed items), finish (EWC's Fisher pass, LwF's teacher copy, replay's
   reservoir) and scoring, peak memory.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
COMMAND = "bash experiments/continual/run_cl.sh"
STRATEGIES = ("seq", "replay", "ewc", "lwf", "per_task_lora", "olora", "mtl")
ANCHORS = (
    "Anchors, from the O-LoRA repository's own logs (T5-large, 770M, all 15 tasks of the long order; "
    "standard order 1 = our cl_lfpt5 s42 tasks, with full training data): long order O-LoRA 72.2 / "
    "SeqLoRA 32.0 average accuracy; standard order 1 O-LoRA 78.4 / SeqFT 67.8. Ours is a 22M encoder "
    "(MiniLM) on a 10-task subset with capped data: compare the shape (the gap from seq to mtl and "
    "how much of it each strategy closes), not the digits.")


def pp(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def mean_std(values, scale: float = 100.0, digits: int = 1) -> str:
    vals = [v * scale for v in values if v is not None]
    if not vals:
        return "n/a"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def load_runs(results: Path = RESULTS) -> list[dict]:
    runs = []
    for path in sorted(results.glob("*/cl_metrics.json")):
        run = json.loads(path.read_text())
        if run.get("eval_split", "test") != "test":  # a knob-choosing run (tune_ewc.sh) is not a result
            continue
        run["_name"] = path.parent.name
        runs.append(run)
    return runs


def key(r: dict) -> tuple[str, str]:
    return r["sequence"], r["setting"]


def gap_closed(r: dict, seq: dict | None, mtl: dict | None) -> float | None:
    if not seq or not mtl or mtl["acc"] == seq["acc"]:
        return None
    return (r["acc"] - seq["acc"]) / (mtl["acc"] - seq["acc"])


def strategy_order(name: str) -> tuple[int, str]:
    return (STRATEGIES.index(name) if name in STRATEGIES else len(STRATEGIES), name)


def summary(runs: list[dict], by: dict) -> tuple[list[str], dict]:
    groups = defaultdict(list)
    for r in runs:
        groups[(*key(r), r["strategy"]["name"])].append(r)
    lines = ["| benchmark | setting | strategy | method | orders | ACC | BWT | FWT | forgetting | gap closed | wall s | trainable |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    best = {}
    for (bench, setting, name), rs in sorted(groups.items(), key=lambda kv: (kv[0][:2], strategy_order(kv[0][2]))):
        gaps = [gap_closed(r, by.get((bench, setting, r["order"], "seq")), by.get((bench, setting, r["order"], "mtl")))
                for r in rs]
        lines.append(f"| {bench} | {setting} | {name} | {rs[0]['method']['name']} | {len(rs)} | "
                     f"{mean_std([r['acc'] for r in rs])} | {mean_std([r['bwt'] for r in rs])} | "
                     f"{mean_std([r['fwt'] for r in rs])} | {mean_std([r['forgetting'] for r in rs])} | "
                     f"{mean_std(gaps, digits=0)}{'%' if any(g is not None for g in gaps) else ''} | "
                     f"{statistics.mean(r['wall_time_s'] for r in rs):.0f} | {rs[0]['trainable_params']:,} |")
        if name not in ("seq", "mtl"):
            acc = statistics.mean(r["acc"] for r in rs)
            if acc > best.get((bench, setting), ("", -1.0))[1]:
                best[(bench, setting)] = (name, acc)
    return lines, best


def heatmaps(runs: list[dict], best: dict) -> list[str]:
    lines = []
    for (bench, setting), (name, _) in sorted(best.items()):
        orders = sorted({r["order"] for r in runs if key(r) == (bench, setting)})
        for strategy in ("seq", name):
            run = next((r for o in orders for r in runs
                        if key(r) == (bench, setting) and r["order"] == o and r["strategy"]["name"] == strategy), None)
            if run is not None and (RESULTS / run["_name"] / "R.png").is_file():
                lines.append(f"- {bench}, {setting}, {strategy}, order {run['order']}: "
                             f"![R {run['_name']}](results/{run['_name']}/R.png)")
    return lines


def per_run(runs: list[dict], by: dict) -> list[str]:
    lines = ["| benchmark | setting | order | strategy | method | ACC | BWT | FWT | forgetting | gap closed | wall s | trainable |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (*key(r), r["order"], strategy_order(r["strategy"]["name"]))):
        bench, setting = key(r)
        g = gap_closed(r, by.get((bench, setting, r["order"], "seq")), by.get((bench, setting, r["order"], "mtl")))
        lines.append(f"| {bench} | {setting} | {r['order']} | {r['strategy']['name']} | {r['method']['name']} | "
                     f"{pp(r['acc'])} | {pp(r['bwt'])} | {pp(r['fwt'])} | {pp(r['forgetting'])} | "
                     f"{'n/a' if g is None else f'{100 * g:.0f}%'} | {r['wall_time_s']:.0f} | {r['trainable_params']:,} |")
    return lines


def cost_table(runs: list[dict], by: dict) -> list[str]:
    def mean(r, k):
        vals = [c.get(k) for c in r["costs"] if c.get(k) is not None]
        return sum(vals) / len(vals) if vals else None

    def peak(r, k):
        vals = [c.get(k) for c in r["costs"] if c.get(k) is not None]
        return max(vals) / 2**20 if vals else None

    lines = ["| benchmark | setting | order | strategy | fit s/task | finish s/task | score s/task | stage s/task | x seq | peak RSS MiB | peak CUDA MiB |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(runs, key=lambda r: (*key(r), r["order"], strategy_order(r["strategy"]["name"]))):
        seq = by.get((*key(r), r["order"], "seq"))
        stage = mean(r, "stage_s")
        ratio = f"{stage / mean(seq, 'stage_s'):.2f}" if seq and stage and mean(seq, "stage_s") else "n/a"
        cells = [mean(r, "fit_s"), mean(r, "finish_s"), mean(r, "score_s"), stage]
        mem = [peak(r, "peak_rss_bytes_so_far"), peak(r, "peak_cuda_bytes")]
        lines.append(f"| {key(r)[0]} | {key(r)[1]} | {r['order']} | {r['strategy']['name']} | "
                     + " | ".join("n/a" if v is None else f"{v:.1f}" for v in cells) + f" | {ratio} | "
                     + " | ".join("n/a" if v is None else f"{v:.0f}" for v in mem) + " |")
    return lines


def setup_lines(runs: list[dict]) -> list[str]:
    """What every number rests on: settings, caps, epochs, seeds, commits, as the run files say."""
    lines = []
    for bench in sorted({r["sequence"] for r in runs}):
        rs = [r for r in runs if r["sequence"] == bench]
        caps = sorted({json.dumps((m.get("caps") or {}), sort_keys=True) for r in rs for m in r["data"].values()})
        dropped = sorted({f"{t} {m['dropped_no_gold_label']}" for r in rs for t, m in r["data"].items()
                          if m.get("dropped_no_gold_label")})
        notes = sorted({f"{r['setting']} ({r['setting_note']})" for r in rs})
        lines.append(f"- {bench}: {len(rs)} runs; settings: {'; '.join(notes)}; epochs per task "
                     f"{sorted({r['epochs_per_task'] for r in rs})}; seeds {sorted({r['seed'] for r in rs})}; "
                     f"caps {'; '.join(caps)}" + (f"; dropped, no gold label: {'; '.join(dropped)}" if dropped else ""))
    commits = sorted({str(r.get("git_commit", "?"))[:10] for r in runs})
    lines.append(f"- commits: {', '.join(commits)}; model: {sorted({r['model'] for r in runs})}")
    return lines


def _chosen(folder: str) -> dict | None:
    """results/<folder>/chosen.json of a tune_*.sh grid run on validation (never test), if any."""
    f = RESULTS / folder / "chosen.json"
    return json.loads(f.read_text()) if f.is_file() else None


def _ratio(v) -> str:
    return "–" if v is None else f"{v:.3f}"


def tuning_sections() -> list[str]:
    """The knob grids chosen on validation: EWC's lam (tune_ewc.sh), the LoRA strategies' lr (tune_lora_lr.sh)."""
    lines = []
    if c := _chosen("tune_ewc"):
        lines += ["## Choosing EWC's lam (validation split, never test)", "",
                  f"`bash experiments/continual/tune_ewc.sh`: {c['bench']} order {c['order']}, R filled from each task's "
                  "validation split (`sequence.eval_split=validation`); lam 0 is seq. Chosen: the best validation ACC "
                  f"(ties to the smaller lam): **lam = {c['lam']:g}**, used by every ewc row above (conf/cl/ewc.yaml).", "",
                  "| lam | val ACC | val forgetting | max penalty / task loss (mean per stage) |", "|---|---|---|---|",
                  *(f"| {g['lam']:g} | {pp(g['val_acc'])} | {pp(g['forgetting'])} | {_ratio(g['max_penalty_over_loss'])} |"
                    for g in c["grid"]), ""]
    if c := _chosen("tune_lora"):
        lines += ["## Choosing the LoRA strategies' lr (validation split, never test)", "",
                  f"`bash experiments/continual/tune_lora_lr.sh`: per_task_lora on {c['bench']} order {c['order']}, R from "
                  f"each task's validation split. Chosen: **lr = {c['lr']:g}**, used by every per_task_lora and olora row "
                  "(run_cl.sh LORA_LR).", "",
                  "| lr | val ACC | R[i][i], each task just after training it |", "|---|---|---|",
                  *(f"| {g['lr']:g} | {pp(g['val_acc'])} | {' / '.join(pp(d) for d in g['diagonal'])} |" for g in c["grid"]), ""]
    return lines


def render(runs: list[dict], header: str) -> str:
    by = {(*key(r), r["order"], r["strategy"]["name"]): r for r in runs}
    table, best = summary(runs, by)
    parts = ["# Continual learning (issue 16): accuracy in %, MiniLM", "", header.rstrip("\n"),
             f"- command: `{COMMAND}` (knobs and budget in its header); metrics: README, 'Continual learning'",
             *setup_lines(runs), "", ANCHORS, "",
             "## Summary (mean ± std over orders)", "", *table, "",
             "gap closed: (ACC - ACC of seq) / (ACC of mtl - ACC of seq), same benchmark, setting and order.", "",
             "## R heatmaps: seq and the best strategy (highest mean ACC, neither seq nor mtl)", "",
             *(heatmaps(runs, best) or ["(no heatmap files)"]), "",
             *tuning_sections(),
             "## Every run", "", *per_run(runs, by), "",
             "## Cost per task (mean over stages; x seq: same benchmark, setting and order)", "",
             *cost_table(runs, by), ""]
    return "\n".join(parts)


def main() -> None:
    from tunelab.run_info import machine_header

    runs = load_runs()
    if not runs:
        print(f"no run files in {RESULTS}: results.md left as it is")
        return
    text = render(runs, machine_header())
    (HERE / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
