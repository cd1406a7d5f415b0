"""Run report: one table and a few plots over every run below a folder.

    python -m tunelab.report logs/multiruns/2026-11-30_12-00-00 [--out DIR] [--metric val/f1]

A run directory is any folder holding ``metrics.json`` or ``run_info.json`` (a failed sweep
trial also leaves ``failed.json``). For each run the report reads the metrics, the run info
(wall time), the command-line overrides (``.hydra/overrides.yaml``) and the Lightning CSV
history (``csv/metrics.csv``). It prints a markdown table and writes ``report.md``,
``learning_curves.png`` and one ``param_<name>.png`` per parameter that varies across runs.

W&B history is not parsed: an offline run keeps its per-step history only in the binary
``run-*.wandb`` protobuf log (``files/wandb-summary.json`` holds final values only), so runs
logged to W&B alone get no learning curve; ``wandb_offline_runs`` reads their config/summary.

Figures are built on the non-interactive Agg canvas without touching pyplot's global backend,
so the module is safe to import from a notebook (which shows the same figures inline).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

MARKERS = ("metrics.json", "run_info.json", "failed.json")
DEFAULT = "(default)"  # x label of runs that do not override a parameter
LABEL_KEYS = {"task_name", "tags"}
LOG_DECADES = 1.0  # a numeric parameter spanning at least this many decades gets a log x-axis


@dataclass
class Run:
    path: Path
    overrides: dict[str, str]
    metrics: dict[str, Any]
    info: dict[str, Any]
    history: list[dict[str, float]] | None
    failed: bool
    name: str = ""  # path relative to the folder searched ("." when it is the run itself)


# --------------------------------------------------------------------------- reading runs

def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def parse_overrides(items: list | None) -> dict[str, str]:
    """``["+experiment=x", "optim.lr=1e-4"]`` -> ``{"experiment": "x", "optim.lr": "1e-4"}``."""
    out: dict[str, str] = {}
    for item in items or []:
        key, _, value = str(item).partition("=")
        out[key.lstrip("+~")] = value
    return out


def read_history(path: Path) -> list[dict[str, float]] | None:
    """Rows of a Lightning CSVLogger file; blank cells (not logged at that step) are left out."""
    if not path.is_file():
        return None
    rows = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rec = {}
            for key, value in row.items():
                try:
                    rec[key] = float(value)
                except (TypeError, ValueError):
                    continue  # blank, or a short line of a file still being written
            rows.append(rec)
    return rows


def _natural_key(text: str) -> list:
    # Multirun jobs 0, 1, ..., 10 sort numerically, not as strings.
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def find_runs(root: str | Path) -> list[Run]:
    """Every run directory below ``root`` (``root`` itself included), in natural path order."""
    root = Path(root)
    if not root.is_dir():
        return []
    dirs = {p.parent for marker in MARKERS for p in root.rglob(marker) if p.is_file()}
    runs = []
    for d in sorted(dirs, key=lambda p: _natural_key(str(p.relative_to(root)))):
        try:
            overrides = yaml.safe_load((d / ".hydra" / "overrides.yaml").read_text())
        except (OSError, yaml.YAMLError):
            overrides = None
        runs.append(Run(
            path=d,
            overrides=parse_overrides(overrides if isinstance(overrides, list) else None),
            metrics=_read_json(d / "metrics.json"),
            info=_read_json(d / "run_info.json"),
            history=read_history(d / "csv" / "metrics.csv"),
            failed=(d / "failed.json").is_file(),
            name=str(d.relative_to(root)),
        ))
    return runs


def metric_columns(runs: list[Run]) -> list[str]:
    """Union of the ``val/*`` then ``test/*`` keys over all runs, each group sorted."""
    keys = {k for r in runs for k in r.metrics}
    return [k for prefix in ("val/", "test/") for k in sorted(keys) if k.startswith(prefix)]


def monitored_metric(run: Run) -> str | None:
    """The metric the run itself selected checkpoints on: its config's ``optimized_metric``
    (or ``data.monitor``), as recorded in run_info.json."""
    config = run.info.get("config")
    if not isinstance(config, dict):
        return None
    data = config.get("data") if isinstance(config.get("data"), dict) else {}
    for value in (config.get("optimized_metric"), data.get("monitor")):
        if isinstance(value, str) and value and "${" not in value:
            return value
    return None


def default_metric(runs: list[Run]) -> str | None:
    """The runs' own monitored metric (PubMedQA monitors val/macro_f1, not the alphabetically
    first val/acc); failing that, the first ``val/`` key of the first run that has one."""
    for r in runs:
        metric = monitored_metric(r)
        if metric and any(metric in other.metrics for other in runs):
            return metric
    for r in runs:
        for key in r.metrics:
            if key.startswith("val/"):
                return key
    return None


def _value(run: Run, metric: str) -> float | None:
    v = run.metrics.get(metric)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


# --------------------------------------------------------------------------- table

def _cell(text: str) -> str:
    return str(text).replace("|", r"\|").replace("\n", " ")


def shared_overrides(runs: list[Run]) -> dict[str, str]:
    """Overrides every run has with the same value (a sweep's fixed command line); none for one run."""
    if len(runs) < 2:
        return {}
    first = runs[0].overrides
    return {k: v for k, v in first.items() if all(r.overrides.get(k) == v for r in runs[1:])}


def _short(value: str) -> str:
    # Optuna samples floats like 0.00019182157424526137: four significant digits are enough to read.
    x = _float(value)
    return f"{x:.4g}" if x is not None and len(value) > 8 else value


def runs_table(runs: list[Run], metrics: list[str] | None = None) -> str:
    """Markdown table: path, the overrides that differ between runs, one column per metric,
    wall time (min), status. Overrides shared by every run are left to ``shared_overrides``."""
    metrics = metric_columns(runs) if metrics is None else metrics
    shared = shared_overrides(runs)
    header = ["path", "overrides", *metrics, "wall time (min)", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in runs:
        values = [_value(r, m) for m in metrics]
        wall = r.info.get("wall_time_s")
        row = [
            r.name or str(r.path),
            " ".join(f"{k}={_short(v)}" for k, v in r.overrides.items() if k not in shared),
            *("" if v is None else f"{v:.4f}" for v in values),
            f"{wall / 60:.1f}" if isinstance(wall, (int, float)) else "",
            # No metrics.json and no failed.json: still running, or killed before it finished.
            "failed" if r.failed else ("ok" if r.metrics else "incomplete"),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- parameters

def _float(text: str) -> float | None:
    try:
        x = float(text)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def varying_params(runs: list[Run]) -> dict[str, str]:
    """Override keys with >= 2 distinct values, mapped to their axis kind.

    ``"log"``: all numeric, positive, spanning >= 1.5 decades; ``"linear"``: all numeric;
    ``"categorical"``: anything else, including a key left at its default (``"(default)"``) in
    some runs.
    """
    # Labels, not parameters: a per-run task_name would get a plot of one point per name.
    keys = list(dict.fromkeys(k for r in runs for k in r.overrides if k not in LABEL_KEYS))
    out = {}
    for key in keys:
        values = {r.overrides.get(key) for r in runs}  # None: not overridden in that run
        if len(values) < 2:
            continue
        nums = [_float(v) for v in values]
        if any(x is None for x in nums):  # includes "set in some runs, default in others"
            out[key] = "categorical"
        elif min(nums) > 0 and math.log10(max(nums) / min(nums)) >= LOG_DECADES:
            out[key] = "log"
        else:
            out[key] = "linear"
    return out


def _label(run: Run, keys) -> str:
    shown = " ".join(f"{k.rsplit('.', 1)[-1]}={_short(run.overrides[k])}" for k in keys if k in run.overrides)
    return f"{run.name} {shown}".strip()


# --------------------------------------------------------------------------- figures

def _figure(**kw) -> Figure:
    fig = Figure(**kw)
    FigureCanvasAgg(fig)  # Agg canvas: renders PNGs with no display and no pyplot state
    return fig


def val_curve(history: list[dict[str, float]], metric: str | None) -> list[tuple[float, float]]:
    """(epoch, metric) per validation during training.

    train.py validates the best checkpoint once more after fit, and Lightning logs that row at
    epoch = the number of epochs run, one past the last trained epoch; it repeats the best value
    rather than measuring a new epoch, so rows past the last epoch with a training row are left
    out (all rows are kept when no row is a training one, e.g. an evaluation-only run).
    """
    trained = [row["epoch"] for row in history if "epoch" in row and any(k.startswith("train/") for k in row)]
    last = max(trained, default=math.inf)
    return [(row["epoch"], row[metric]) for row in history
            if metric in row and "epoch" in row and row["epoch"] <= last]


def learning_curves_figure(runs: list[Run], metric: str | None) -> Figure | None:
    """Validation metric vs epoch and train/loss vs step, one line per run with a CSV history."""
    with_csv = [r for r in runs if r.history]
    if not with_csv:
        return None
    keys = varying_params(runs)
    # One legend for both panels, outside them on the right (a sweep has a dozen long labels).
    fig = _figure(figsize=(14, 4.5), layout="constrained")
    ax_val, ax_loss = fig.subplots(1, 2)
    # tab10 repeats its colours after 10 runs; a 12-trial sweep needs tab20's to tell them apart.
    palette = colormaps["tab10" if len(with_csv) <= 10 else "tab20"]
    for i, r in enumerate(with_csv):
        label = _label(r, keys)
        pts = val_curve(r.history, metric)
        line = None
        if pts:
            (line,) = ax_val.plot(*zip(*pts), marker="o", label=label, color=palette(i % palette.N))
        # Logged with on_step only it is "train/loss"; with on_epoch too Lightning adds "_step".
        loss = "train/loss" if any("train/loss" in row for row in r.history) else "train/loss_step"
        pts = [(row["step"], row[loss]) for row in r.history if loss in row and "step" in row]
        if pts:  # same colour as the run's validation line; labelled once
            ax_loss.plot(*zip(*pts), alpha=0.8, color=palette(i % palette.N),
                         label=None if line else label)
    ax_val.set(xlabel="epoch", ylabel=metric or "", title=f"{metric or '(no metric)'} per epoch")
    ax_loss.set(xlabel="step", ylabel="train/loss", title="training loss")
    ax_val.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in (ax_val, ax_loss):
        ax.grid(alpha=0.3)
    handles, labels = [], []
    for ax in (ax_val, ax_loss):
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles and len(with_csv) <= 30:
        fig.legend(handles, labels, loc="outside right upper", fontsize="small")
    return fig


def param_figures(runs: list[Run], metric: str) -> dict[str, Figure]:
    """``{param: figure}``: the metric against each parameter that varies across scored runs."""
    scored = [r for r in runs if not r.failed and _value(r, metric) is not None]
    figs = {}
    for key, kind in varying_params(scored).items():
        pts = [(r.overrides.get(key, DEFAULT), _value(r, metric)) for r in scored]
        fig = _figure(figsize=(5, 4), layout="constrained")
        ax = fig.subplots()
        if kind == "categorical":
            cats = sorted({x for x, _ in pts}, key=_natural_key)
            ax.scatter([cats.index(x) for x, _ in pts], [y for _, y in pts])
            ax.set_xticks(range(len(cats)), cats, rotation=30 if len(cats) > 4 else 0)
            ax.set_xlim(-0.5, len(cats) - 0.5)
        else:
            ax.scatter([float(x) for x, _ in pts], [y for _, y in pts])
            ax.set_xscale("log" if kind == "log" else "linear")
        ax.set(xlabel=key, ylabel=metric, title=f"{metric} vs {key}")
        ax.grid(alpha=0.3)
        figs[key] = fig
    return figs


def plot_learning_curves(runs: list[Run], metric: str | None, out: str | Path) -> Path | None:
    """Write ``<out>/learning_curves.png``; None (nothing written) when no run has a CSV history."""
    fig = learning_curves_figure(runs, metric)
    if fig is None:
        return None
    path = Path(out) / "learning_curves.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def plot_params(runs: list[Run], metric: str, out: str | Path) -> list[Path]:
    """Write ``<out>/param_<name>.png`` per varying parameter; returns the files written."""
    paths = []
    for key, fig in param_figures(runs, metric).items():
        path = Path(out) / f"param_{re.sub(r'[^A-Za-z0-9._-]', '_', key)}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=100)
        paths.append(path)
    return paths


# --------------------------------------------------------------------------- sweeps and W&B

def optuna_results(root: str | Path) -> list[tuple[Path, dict]]:
    """``(path, {best_params, best_value})`` for each ``optimization_results.yaml`` below root."""
    out = []
    for p in sorted(Path(root).rglob("optimization_results.yaml")):
        try:
            data = yaml.safe_load(p.read_text())
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(data, dict):
            out.append((p, data))
    return out


def wandb_offline_runs(root: str | Path) -> list[dict[str, Any]]:
    """One dict per ``wandb/offline-run-*`` below root: path, id, group, config, summary,
    history (a list of logged rows) and ``finished`` (an exit record was written)."""
    from tunelab.wandb_offline import read_run

    root = Path(root)
    out = []
    for d in sorted(root.rglob("wandb/offline-run-*")):
        if d.is_dir():
            run = read_run(d)
            config = {k: v for k, v in run["config"].items() if not str(k).startswith("_")}
            summary = {k: v for k, v in run["summary"].items() if not str(k).startswith("_")}
            out.append({"path": str(d.relative_to(root)), "id": run["id"], "group": run["group"], "config": config,
                        "summary": summary, "history": run["history"], "finished": run["exit_code"] is not None,
                        "exit_code": run["exit_code"]})
    return out


# --------------------------------------------------------------------------- CLI

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tunelab.report", description=__doc__.split("\n")[0])
    parser.add_argument("dir", help="a run, a multirun, or any folder of runs (e.g. logs)")
    parser.add_argument("--out", help="where report.md and the PNGs go (default: <dir>/report)")
    parser.add_argument("--metric", help="metric to plot (default: the runs' monitored metric, optimized_metric in run_info.json)")
    args = parser.parse_args(argv)

    runs = find_runs(args.dir)
    if not runs:
        print(f"error: {args.dir}: no runs found (looked for metrics.json / run_info.json)", file=sys.stderr)
        return 2
    metric = args.metric or default_metric(runs)
    if args.metric and not any(args.metric in r.metrics for r in runs):
        print(f"error: --metric: {args.metric!r} is in no run's metrics.json "
              f"(available: {', '.join(metric_columns(runs))})", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path(args.dir) / "report"
    out.mkdir(parents=True, exist_ok=True)

    shared = shared_overrides(runs)
    text = (f"overrides shared by every run: {' '.join(f'{k}={v}' for k, v in shared.items())}\n\n"
            if shared else "") + runs_table(runs)
    for path, res in optuna_results(args.dir):
        text += f"\n\nOptuna ({path.parent.name}): best value {res.get('best_value')} with {res.get('best_params')}"
    print(text)
    (out / "report.md").write_text(text + "\n")

    written = [out / "report.md"]
    curves = plot_learning_curves(runs, metric, out)
    if curves is None:
        print("learning curves: no run has csv/metrics.csv (W&B history is not parsed)", file=sys.stderr)
    else:
        written.append(curves)
    if metric:
        written += plot_params(runs, metric, out)
    print(f"\nmetric: {metric}\nwrote: " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
