"""What a sequence leaves: R.csv (rows "init", then one per stage), cl_metrics.json, R.png, and,
with a W&B logger, a table and the heatmap image."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def write_csv(path: Path, tasks: list[str], rows: list[tuple[str, list[float]]]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["after", *tasks])
        for label, row in rows:
            w.writerow([label, *[f"{v:.6f}" for v in row]])


def heatmap(path: Path, tasks: list[str], rows: list[tuple[str, list[float]]], title: str) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib missing: no heatmap")
        return None
    data = [[100 * v for v in row] for _, row in rows]
    fig, ax = plt.subplots(figsize=(1 + 0.7 * len(tasks), 1 + 0.5 * len(rows)))
    im = ax.imshow(data, vmin=0, vmax=100, cmap="viridis")
    ax.set_xticks(range(len(tasks)), tasks, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), [r[0] for r in rows])
    for i, row in enumerate(data):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", color="w", fontsize=7)
    ax.set_xlabel("scored on task")
    ax.set_ylabel("after training")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def to_wandb(loggers, tasks, rows, metrics: dict, image: Path | None) -> None:
    for lg in loggers:
        if type(lg).__name__ != "WandbLogger":
            continue
        import wandb

        run = lg.experiment
        table = wandb.Table(columns=["after", *tasks], data=[[label, *row] for label, row in rows])
        payload = {"cl/R": table, **{f"cl/{k}": v for k, v in metrics.items() if isinstance(v, (int, float))}}
        if image is not None:
            payload["cl/R_heatmap"] = wandb.Image(str(image))
        run.log(payload)
        run.summary.update({f"final/cl_{k}": v for k, v in metrics.items() if isinstance(v, (int, float))})


def log_row(loggers, stage: int, tasks: list[str], row: list[float]) -> None:
    for lg in loggers:
        if type(lg).__name__ == "WandbLogger":
            lg.experiment.log({**{f"cl/acc_{t}": v for t, v in zip(tasks, row)}, "cl/stage": stage})
